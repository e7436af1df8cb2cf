"""The removal fill (handler.compositing.removal.fill_hole) on a synthetic lit, textured wall."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from handler.compositing.removal import fill_hole

HEIGHT, WIDTH = 240, 200
NECK_TOP, SHOULDER, NECK_LEFT, NECK_RIGHT = 40, 120, 85, 115


@pytest.fixture(scope="module")
def lighting() -> np.ndarray:
    """HxW float32 light falling off from a spot above the middle of the frame (levels 140..220)."""
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    return 140 + 80 * np.exp(-((xs - WIDTH / 2) ** 2 + (ys - 10) ** 2) / (2 * 70.0 ** 2))


@pytest.fixture(scope="module")
def bottle_hole() -> np.ndarray:
    """HxW bool: a wide body under a narrow neck, so the outline changes width."""
    hole = np.zeros((HEIGHT, WIDTH), bool)
    hole[SHOULDER:230, 60:140] = True
    hole[NECK_TOP:SHOULDER, NECK_LEFT:NECK_RIGHT] = True
    return hole


def grey(levels: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(levels, 0, 255)[..., None], 3, axis=2).astype(np.uint8)


def fine_texture(strength: float) -> np.ndarray:
    noise = cv2.GaussianBlur(np.random.default_rng(1).standard_normal((HEIGHT, WIDTH)).astype(np.float32), (0, 0), 1.5)
    return strength * noise / noise.std()


def filled(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Green channel of the fill as float32 (the wall is grey)."""
    return fill_hole(image, hole, np.zeros_like(hole))[..., 1].astype(np.float32)


def test_fill_meets_the_wall_without_a_step_along_the_top_of_the_outline(lighting, bottle_hole):
    top_edge = bottle_hole.copy()
    top_edge[1:] &= ~bottle_hole[:-1]
    step = filled(grey(lighting), bottle_hole) - lighting
    assert np.abs(step[top_edge]).mean() < 1.0


def test_fill_texture_is_not_a_mirror_image_of_the_wall_beside_the_hole(lighting, bottle_hole):
    out = filled(grey(lighting + fine_texture(6.0)), bottle_hole)
    detail = out - cv2.GaussianBlur(out, (0, 0), 2)
    rows = slice(NECK_TOP + 5, SHOULDER - 5)
    inside = detail[rows, NECK_LEFT + 2:NECK_LEFT + 7]
    # mirrored about the last wall pixel left of the neck, column NECK_LEFT - 1
    mirrored = detail[rows, NECK_LEFT - 8:NECK_LEFT - 3][:, ::-1]
    assert np.corrcoef(inside.ravel(), mirrored.ravel())[0, 1] < 0.5


def test_fill_keeps_the_texture_strength_of_the_wall(lighting, bottle_hole):
    out = filled(grey(lighting + fine_texture(6.0)), bottle_hole)
    detail = out - cv2.GaussianBlur(out, (0, 0), 2)
    box = np.ones((9, 9), np.uint8)
    deep_inside = cv2.erode(bottle_hole.astype(np.uint8), box).astype(bool)
    wall = ~cv2.dilate(bottle_hole.astype(np.uint8), box).astype(bool)
    assert detail[deep_inside].std() == pytest.approx(detail[wall].std(), rel=0.25)


def test_fill_leaves_pixels_outside_the_hole_unchanged(lighting, bottle_hole):
    image = grey(lighting + fine_texture(6.0))
    out = fill_hole(image, bottle_hole, np.zeros_like(bottle_hole))
    assert np.array_equal(out[~bottle_hole], image[~bottle_hole])


def test_edges_beside_the_hole_are_not_copied_into_it_as_ghosts(lighting):
    """A dark strut beside the hole (a launch tower's, a window frame's) stays outside: the
    texture copied into the hole is the wall's grain, not the strut."""
    image = grey(lighting + fine_texture(3.0))
    strut = 40
    image[:, strut:strut + 2] = 30
    hole = np.zeros((HEIGHT, WIDTH), bool)
    hole[60:200, 60:140] = True
    out = filled(image, hole)
    columns = out[70:190, 62:138].mean(axis=0)
    # no column of the fill is much darker than the fill around it
    assert (np.median(columns) - columns).max() < 6


def test_the_texture_of_another_surface_is_not_copied(lighting):
    """Strong texture on a surface of another colour beside the hole (hair beside a wall)
    does not reach the fill, which takes the wall's grain."""
    image = grey(lighting + fine_texture(2.0)).astype(np.float32)
    rng = np.random.default_rng(3)
    hair = cv2.GaussianBlur(rng.standard_normal((HEIGHT, 40)).astype(np.float32), (0, 0), 1.0) * 40
    image[:, 10:50] = np.stack([60 + hair, 45 + hair, 30 + hair], axis=2)
    image = np.clip(image, 0, 255).astype(np.uint8)
    hole = np.zeros((HEIGHT, WIDTH), bool)
    hole[40:220, 80:160] = True
    out = fill_hole(image, hole, np.zeros_like(hole)).astype(np.float32)
    detail = out[..., 1] - cv2.GaussianBlur(out[..., 1], (0, 0), 2)
    wall = image[40:220, 165:195, 1].astype(np.float32)
    wall_detail = wall - cv2.GaussianBlur(wall, (0, 0), 2)
    assert detail[50:210, 85:155].std() < 2 * wall_detail.std()
