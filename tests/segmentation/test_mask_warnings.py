"""mask_warnings: when a mask deserves a second look, in words the user can act on."""
from __future__ import annotations

import numpy as np

from handler.segmentation.quality import LOW_SCORE, mask_warnings

HEIGHT, WIDTH = 200, 300
BOX = (100.0, 40.0, 200.0, 160.0)


def ellipse(cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH] + 0.5
    return ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0


def filled(box) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), bool)
    x0, y0, x1, y1 = (int(v) for v in box)
    mask[max(0, y0):y1, max(0, x0):x1] = True
    return mask


def reasons(warnings) -> list[str]:
    return [reason for warning in warnings for reason in warning.details["reasons"]]


def test_a_product_inside_its_box_with_a_good_score_has_no_warning():
    assert mask_warnings(ellipse(150, 100, 42, 52), BOX, 0.9) == []


def test_low_score_is_warned_with_the_score():
    (warning,) = mask_warnings(ellipse(150, 100, 42, 52), BOX, LOW_SCORE - 0.1)
    assert warning.code == "mask_suspicious"
    assert warning.details["reasons"] == ["low_score"]
    assert "score 0.40" in warning.message


def test_a_mask_filling_its_box_to_the_edges_is_warned():
    warnings = mask_warnings(filled(BOX), BOX, 0.9)
    assert reasons(warnings) == ["touches_box_edges"]
    assert warnings[0].details["box_sides_touched"] == 4


def test_touching_two_sides_is_normal():
    corner = filled((150, 100, 200, 160))      # a product in the box's lower right corner
    assert mask_warnings(corner, BOX, 0.9) == []


def test_a_mask_far_smaller_than_its_box_is_warned():
    warnings = mask_warnings(ellipse(150, 100, 8, 10), BOX, 0.9)
    assert reasons(warnings) == ["much_smaller_than_box"]
    assert warnings[0].details["share_of_box"] < 0.1


def test_every_reason_goes_into_one_warning():
    warnings = mask_warnings(filled(BOX), BOX, 0.1)
    assert len(warnings) == 1
    assert reasons(warnings) == ["low_score", "touches_box_edges"]


def test_without_a_box_only_the_score_counts():
    assert mask_warnings(ellipse(150, 100, 5, 5), None, 0.9) == []
    assert reasons(mask_warnings(ellipse(150, 100, 5, 5), None, 0.2)) == ["low_score"]


def test_without_a_score_only_the_box_counts():
    assert reasons(mask_warnings(filled(BOX), BOX, None)) == ["touches_box_edges"]


def test_a_box_past_the_image_is_measured_where_it_overlaps():
    box = (-50.0, -50.0, 100.0, 80.0)
    assert reasons(mask_warnings(filled(box), box, 0.9)) == ["touches_box_edges"]
    assert mask_warnings(filled(box), (400.0, 300.0, 500.0, 400.0), 0.9) == []


def test_the_message_says_what_to_do():
    (warning,) = mask_warnings(ellipse(150, 100, 8, 10), BOX, 0.9)
    assert "Add a point on the product" in warning.message
    assert warning.as_dict() == {"code": "mask_suspicious", "message": warning.message,
                                 "details": warning.details}
