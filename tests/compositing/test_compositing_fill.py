"""replace_product with an injected fill (the learned inpainter's seam) and the removal margin."""
from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from handler.compositing import CompositeSettings, Frame, replace_product
from handler.compositing.pipeline import FILL_CONTEXT_PX
from handler.compositing.removal import disc

from support.paths import REPO


class RecordingFill:
    """A fill that paints the hole magenta and everything else black (which must not show),
    remembering what it was given."""

    def __init__(self):
        self.calls = []

    def __call__(self, image, hole, covered):
        self.calls.append((image.copy(), hole.copy(), covered.copy()))
        out = np.zeros_like(image)
        out[hole] = (255, 0, 255)
        return out


def grown(mask: np.ndarray, px: int) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), disc(px)).astype(bool) if px else mask.copy()


@pytest.fixture
def fill():
    return RecordingFill()


def test_the_fill_gets_the_mask_grown_by_remove_margin_and_only_hole_pixels_change(scene, jar, fill):
    settings = CompositeSettings(scale=0.6, remove_margin=6)
    plain = replace_product(scene.image, scene.mask, jar, CompositeSettings(scale=0.6, remove_old=False))
    result = replace_product(scene.image, scene.mask, jar, settings, fill=fill)
    (image, hole, covered), = fill.calls
    assert hole.sum() == grown(scene.mask, 6).sum()
    assert covered.any() and not (covered & ~hole).any()
    # outside the grown mask the result is what it is without removal: the fill's black never shows
    outside = ~grown(scene.mask, 6)
    assert np.array_equal(result.image[outside], plain.image[outside])
    # and the part of the hole the product does not reach is the fill's
    visible = grown(scene.mask, 6) & (np.abs(result.image.astype(int) - plain.image).max(axis=2) > 0)
    bare = visible & (result.image == (255, 0, 255)).all(axis=2)
    assert bare.sum() > 0.7 * visible.sum()


def test_remove_margin_zero_repaints_the_mask_alone(scene, jar, fill):
    replace_product(scene.image, scene.mask, jar, CompositeSettings(scale=0.6, remove_margin=0), fill=fill)
    assert fill.calls[0][1].sum() == scene.mask.sum()


def test_a_frame_at_a_larger_scale_scales_the_margin(scene, jar, fill):
    replace_product(scene.image, scene.mask, jar, CompositeSettings(scale=0.6, remove_margin=4), fill=fill,
                    frame=Frame(2.5))
    assert fill.calls[0][1].sum() == grown(scene.mask, 10).sum()


def test_the_fill_sees_context_around_the_hole(scene, jar, fill):
    replace_product(scene.image, scene.mask, jar, CompositeSettings(scale=0.6), fill=fill)
    image, hole, _ = fill.calls[0]
    # where the fill's region lies in the scene: its hole's box is the grown mask's box
    ys, xs = np.nonzero(hole)
    scene_ys, scene_xs = np.nonzero(grown(scene.mask, 6))
    top, left = scene_ys.min() - ys.min(), scene_xs.min() - xs.min()
    assert np.array_equal(image, scene.image[top:top + image.shape[0], left:left + image.shape[1]])
    h, w = scene.mask.shape
    bottom, right = top + image.shape[0], left + image.shape[1]
    # FILL_CONTEXT_PX on every side, unless the region reaches the frame's edge there
    assert top == 0 or scene_ys.min() - top >= FILL_CONTEXT_PX
    assert left == 0 or scene_xs.min() - left >= FILL_CONTEXT_PX
    assert bottom == h or bottom - 1 - scene_ys.max() >= FILL_CONTEXT_PX
    assert right == w or right - 1 - scene_xs.max() >= FILL_CONTEXT_PX


def test_the_classical_fill_is_used_without_a_fill(scene, jar):
    a = replace_product(scene.image, scene.mask, jar, CompositeSettings(scale=0.6))
    b = replace_product(scene.image, scene.mask, jar, CompositeSettings(scale=0.6), fill=None)
    assert np.array_equal(a.image, b.image)


def test_no_fill_is_called_when_removal_is_off(scene, jar, fill):
    replace_product(scene.image, scene.mask, jar, CompositeSettings(remove_old=False), fill=fill)
    assert fill.calls == []


def test_compositing_imports_neither_torch_nor_the_rest_of_the_handler():
    code = ("import sys, handler.compositing; "
            "bad = [m for m in sys.modules if m == 'torch' or (m.startswith('handler.') "
            "and not m.startswith('handler.compositing'))]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
