"""The learned fill's pipeline (handler.inpainting.fill) with fake networks: no weights needed.

What is checked is the pipeline around the network: the crop and its context, what the
network sees, that only hole pixels change, the soft seam, the grain, the fallbacks and the
reuse of the network's output at another resolution.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from handler.inpainting import fill as fill_module
from handler.inpainting.fill import MODEL_SIDE, Crop, LearnedFill, crop_for, network_view, seam_weight


class FakeNetwork:
    """Answers a flat colour (RGB 0..255) everywhere, or the given 512 image; records its inputs."""

    def __init__(self, colour=(40, 200, 90), image: np.ndarray | None = None):
        self.colour, self.image = colour, image
        self.inputs: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor, rows=None) -> torch.Tensor:
        assert x.shape == (1, 4, MODEL_SIDE, MODEL_SIDE) and x.dtype == torch.float32
        self.inputs.append(x.clone())
        self.rows = rows
        if self.image is not None:
            rgb = torch.from_numpy(self.image.astype(np.float32)).permute(2, 0, 1)[None]
        else:
            rgb = torch.tensor(self.colour, dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, 512, 512)
        return rgb / 127.5 - 1

    @property
    def known(self) -> np.ndarray:
        """The last input's known mask, 512x512 bool."""
        return (self.inputs[-1][0, 0] > 0).numpy()


def textured(height: int, width: int, spread: float = 8.0, seed: int = 0) -> np.ndarray:
    """A lit wall with fine grain of the given spread (levels), HxWx3 uint8."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 120 + 60 * xs / width + 30 * ys / height
    grain = rng.normal(0, spread, (height, width)).astype(np.float32)
    return np.clip(np.stack([base + grain, base * 0.9 + grain, base * 0.8 + grain], axis=2), 0, 255).astype(np.uint8)


def ellipse(shape, centre, axes) -> np.ndarray:
    hole = np.zeros(shape, np.uint8)
    cv2.ellipse(hole, centre, axes, 0, 0, 360, 1, -1)
    return hole.astype(bool)


def no_cover(hole):
    return np.zeros_like(hole)


def test_only_hole_pixels_change(scene_with_hole):
    image, hole = scene_with_hole
    out = LearnedFill(FakeNetwork())(image, hole, no_cover(hole))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(out[~hole], image[~hole])
    assert (out[hole] != image[hole]).any(axis=1).mean() > 0.95


@pytest.fixture
def scene_with_hole():
    image = textured(600, 800)
    return image, ellipse(image.shape[:2], (420, 300), (90, 160))


def test_the_network_sees_no_hole_pixel_as_known(scene_with_hole):
    image, hole = scene_with_hole
    network = FakeNetwork()
    fill = LearnedFill(network)
    fill(image, hole, no_cover(hole))
    crop = fill.memo.crop
    # the hole mapped to 512 by area: a 512 px that overlaps any hole pixel must be hole
    hole_crop = hole[crop.y:crop.y + crop.side, crop.x:crop.x + crop.side].astype(np.float32)
    share = cv2.resize(hole_crop, (512, 512), interpolation=cv2.INTER_AREA)
    assert not (network.known & (share > 0)).any()
    # and hole pixels are zero in the RGB channels, known ones are the scene
    x = network.inputs[-1][0]
    assert float(x[1:, ~torch.from_numpy(network.known)].abs().max()) == 0
    assert float(x[1:, torch.from_numpy(network.known)].abs().mean()) > 0.1


def test_the_seam_is_soft_and_inside_the_hole(scene_with_hole):
    image, hole = scene_with_hole
    out = LearnedFill(FakeNetwork())(image, hole, no_cover(hole))
    change = np.abs(out.astype(np.float32) - image).mean(axis=2)
    distance = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    rim = change[(distance > 0) & (distance <= 1.5)].mean()
    deep = change[distance > 10].mean()
    # the outermost ring of the hole is mostly the scene, the inside the network's
    assert rim < 0.5 * deep
    by_depth = [change[(distance > d) & (distance <= d + 1)].mean() for d in range(0, 6)]
    assert all(a <= b + 1.0 for a, b in zip(by_depth[:-1], by_depth[1:], strict=True))


def test_seam_weight_rises_from_the_rim_to_one_and_ignores_the_frame_border():
    hole = np.zeros((40, 60), bool)
    hole[10:30, 0:30] = True          # touches the left border of the frame
    weight = seam_weight(hole, (0, 10, 30, 30), 3.0)
    assert weight.shape == (20, 30)
    assert weight[10, 15] == 1.0      # deep inside
    assert 0 < weight[0, 15] < 0.3    # the rim row next to kept pixels
    assert weight[10, 0] == 1.0       # at the frame's border: no seam


def test_a_small_hole_is_seen_at_its_own_resolution():
    image = textured(960, 1280)
    hole = ellipse(image.shape[:2], (600, 500), (40, 70))
    fill = LearnedFill(FakeNetwork())
    fill(image, hole, no_cover(hole))
    assert fill.memo.crop.side == MODEL_SIDE       # 1:1, neither blown up nor shrunk


@pytest.mark.parametrize("axes", [(300, 420), (560, 200)])
def test_a_large_hole_keeps_context_around_it(axes):
    """Holes that the plain pipeline would show at ~450 of 512 px keep a third of the input as scene."""
    image = textured(1400, 1800)
    hole = ellipse(image.shape[:2], (900, 700), axes)
    network = FakeNetwork()
    LearnedFill(network)(image, hole, no_cover(hole))
    rows = np.flatnonzero((~network.known).any(axis=1))
    columns = np.flatnonzero((~network.known).any(axis=0))
    extent = max(rows[-1] - rows[0], columns[-1] - columns[0]) + 1
    assert extent <= 0.7 * MODEL_SIDE
    # scene on every side of the hole in the network's view
    assert min(rows[0], 511 - rows[-1], columns[0], 511 - columns[-1]) >= 40


def test_crop_for_shifts_inside_the_image_and_reflects_only_what_is_missing():
    inside = crop_for((1100, 400, 1200, 600), (960, 1280))
    assert inside.side == 512 and inside.x + inside.side == 1280 and 0 <= inside.y
    small = crop_for((200, 200, 280, 400), (427, 640))   # a photo smaller than the network's input
    assert small.side == 512 and small.y < 0 and small.y + small.side > 427
    big = crop_for((100, 100, 1100, 900), (960, 1280))
    assert big.side == 1280 and big.x == 0


def test_network_view_reflects_past_the_image():
    image = textured(427, 640)
    hole = np.zeros(image.shape[:2], bool)
    hole[200:400, 200:280] = True
    pixels, known = network_view(image, hole, Crop(0, -43, 512))
    assert pixels.shape == (512, 512, 3) and known.shape == (512, 512)
    assert np.array_equal(pixels[43:470], image[:, :512])
    assert np.array_equal(pixels[42], image[1, :512])          # reflected about the first row
    assert not known[443:].all()                                 # the hole reflected too


def test_grain_is_restored_where_the_output_is_enlarged():
    """A flat network output enlarged 2x gets the scene's grain back; one at 1:1 with the
    scene's own grain gets almost none added."""
    image = textured(1400, 1400, spread=8.0)
    hole = ellipse(image.shape[:2], (700, 700), (300, 300))
    out = LearnedFill(FakeNetwork(colour=(150, 140, 120)))(image, hole, no_cover(hole))
    inner = ellipse(image.shape[:2], (700, 700), (250, 250))

    def detail(pixels):
        grey = pixels.astype(np.float32).mean(axis=2)
        return grey - cv2.GaussianBlur(grey, (5, 5), 0)

    ring = ~hole & ellipse(image.shape[:2], (700, 700), (340, 340))
    assert detail(out)[inner].std() == pytest.approx(detail(image)[ring].std(), rel=0.25)


def test_no_grain_is_added_to_an_output_that_has_it():
    truth = textured(512, 512, spread=8.0, seed=3)
    image = truth.copy()
    hole = ellipse(image.shape[:2], (256, 256), (60, 100))
    image[hole] = (30, 60, 200)
    out = LearnedFill(FakeNetwork(image=truth))(image, hole, no_cover(hole))
    deep = cv2.erode(hole.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert np.abs(out[deep].astype(int) - truth[deep]).mean() < 2.0


def test_nothing_visible_goes_to_the_fallback_without_the_network(scene_with_hole):
    image, hole = scene_with_hole
    network, calls = FakeNetwork(), []

    def fallback(image, hole, covered):
        calls.append(1)
        return image.copy()

    fill = LearnedFill(network, fallback=fallback)
    fill(image, hole, hole.copy())
    assert calls == [1] and network.inputs == [] and not fill.used_network


def test_a_failing_network_falls_back_and_says_why(scene_with_hole):
    image, hole = scene_with_hole

    def broken(x, rows=None):
        raise MemoryError

    fill = LearnedFill(broken, fallback=lambda image, hole, covered: image.copy())
    assert np.array_equal(fill(image, hole, no_cover(hole)), image)
    assert "out of memory" in fill.fallback_reason and not fill.used_network
    with pytest.raises(MemoryError):
        LearnedFill(broken)(image, hole, no_cover(hole))


def test_the_output_is_reused_for_the_same_hole_at_another_resolution(scene_with_hole):
    image, hole = scene_with_hole
    network = FakeNetwork(image=textured(512, 512, seed=5))
    fill = LearnedFill(network)
    small = fill(image, hole, no_cover(hole))
    k = 2.5
    size = (round(image.shape[1] * k), round(image.shape[0] * k))
    big_image = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
    big_hole = cv2.resize(hole.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    big = fill(big_image, big_hole, no_cover(big_hole))
    assert fill.network_runs == 1 and len(network.inputs) == 1
    assert np.array_equal(big[~big_hole], big_image[~big_hole])
    # the same fill, enlarged: compare at the small size, away from the rim
    shrunk = cv2.resize(big, image.shape[1::-1], interpolation=cv2.INTER_AREA)
    deep = cv2.erode(hole.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert np.abs(shrunk[deep].astype(int) - small[deep]).mean() < 6


def _enlarged_region(image, hole, k, margin):
    """The image and hole enlarged k times, cut to the hole's box plus `margin` px (what a
    full-size render gives the fill): (region image, region hole)."""
    size = (round(image.shape[1] * k), round(image.shape[0] * k))
    big_image = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
    big_hole = cv2.resize(hole.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    ys, xs = np.nonzero(big_hole)
    top, left = max(ys.min() - margin, 0), max(xs.min() - margin, 0)
    bottom, right = ys.max() + 1 + margin, xs.max() + 1 + margin
    return big_image[top:bottom, left:right], big_hole[top:bottom, left:right]


def test_the_output_is_reused_for_a_region_around_the_hole_at_another_resolution(scene_with_hole):
    image, hole = scene_with_hole
    fill = LearnedFill(FakeNetwork(image=textured(512, 512, seed=5)))
    fill(image, hole, no_cover(hole))
    region, region_hole = _enlarged_region(image, hole, 2.5, margin=60)
    out = fill(region, region_hole, no_cover(region_hole))
    assert fill.network_runs == 1
    assert np.array_equal(out[~region_hole], region[~region_hole])


def test_a_region_of_another_scene_runs_the_network_again(scene_with_hole):
    image, hole = scene_with_hole
    fill = LearnedFill(FakeNetwork())
    fill(image, hole, no_cover(hole))
    region, region_hole = _enlarged_region(255 - image, hole, 2.5, margin=60)
    fill(region, region_hole, no_cover(region_hole))
    assert fill.network_runs == 2


def test_a_different_hole_runs_the_network_again(scene_with_hole):
    image, hole = scene_with_hole
    network = FakeNetwork()
    fill = LearnedFill(network)
    fill(image, hole, no_cover(hole))
    fill(image, np.roll(hole, 150, axis=1), no_cover(hole))
    assert fill.network_runs == 2


def test_the_fill_is_deterministic(scene_with_hole):
    image, hole = scene_with_hole
    a = LearnedFill(FakeNetwork())(image, hole, no_cover(hole))
    b = LearnedFill(FakeNetwork())(image, hole, no_cover(hole))
    assert np.array_equal(a, b)


def test_a_hole_in_a_tiny_image_is_enlarged_for_the_network_and_shrunk_back():
    image = textured(120, 160)
    hole = ellipse(image.shape[:2], (80, 60), (20, 30))
    network = FakeNetwork(colour=(0, 255, 0))
    out = LearnedFill(network)(image, hole, no_cover(hole))
    assert np.array_equal(out[~hole], image[~hole])
    deep = cv2.erode(hole.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert (out[deep][:, 1] > 200).all()


def test_every_constant_is_what_the_docstring_says():
    assert fill_module.MIN_CROP == MODEL_SIDE == 512
    assert 0 < fill_module.NOISE_DETAIL_SHARE < 1


class RowsOnlyNetwork(FakeNetwork):
    """Answers its colour on the rows asked for, and garbage elsewhere."""

    def __call__(self, x, rows=None):
        out = super().__call__(x, rows).clone()
        lo, hi = rows
        out[..., :lo, :] = 5.0
        out[..., hi:, :] = -5.0
        return out


@pytest.mark.parametrize("shape, centre, axes", [((600, 800), (420, 300), (90, 160)),
                                                  ((120, 160), (80, 60), (20, 30)),
                                                  ((1400, 1800), (900, 700), (300, 420))])
def test_the_fill_reads_only_the_rows_it_asks_the_network_for(shape, centre, axes):
    image = textured(*shape)
    hole = ellipse(shape, centre, axes)
    network = RowsOnlyNetwork(colour=(40, 200, 90))
    limited = LearnedFill(network)(image, hole, no_cover(hole))
    lo, hi = network.rows
    assert 0 <= lo < hi <= MODEL_SIDE and (lo, hi) != (0, MODEL_SIDE) or shape == (120, 160)
    assert np.array_equal(limited, LearnedFill(FakeNetwork(colour=(40, 200, 90)))(image, hole, no_cover(hole)))
