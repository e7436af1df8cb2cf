"""The MobileSAM adapter around a predictor: each scene encoded once, inside the encode scope."""
from __future__ import annotations

import contextlib

import numpy as np

from handler.segmentation.mobilesam import EmbeddingCache, MobileSamSegmenter

SCENE = np.zeros((48, 64, 3), np.uint8)


class CountingPredictor:
    """Records each encode and whether it ran inside the scope."""

    def __init__(self, scope_state: dict):
        self.encodes: list[bool] = []
        self._scope_state = scope_state

    def encode(self, image):
        self.encodes.append(self._scope_state["inside"])
        return object()


def scope_tracker():
    state = {"inside": False}

    @contextlib.contextmanager
    def scope():
        state["inside"] = True
        try:
            yield
        finally:
            state["inside"] = False
    return state, scope


def test_a_scene_is_encoded_once_per_key():
    state, scope = scope_tracker()
    predictor = CountingPredictor(state)
    segmenter = MobileSamSegmenter(predictor, EmbeddingCache(2), encode_scope=scope)
    first = segmenter.encode(SCENE, "scene-a")
    second = segmenter.encode(SCENE, "scene-a")
    assert (first[1], second[1]) == (False, True) and first[0] is second[0]
    assert len(predictor.encodes) == 1


def test_every_encode_runs_inside_the_encode_scope():
    state, scope = scope_tracker()
    predictor = CountingPredictor(state)
    segmenter = MobileSamSegmenter(predictor, EmbeddingCache(0), encode_scope=scope)
    segmenter.encode(SCENE, "scene-a")
    segmenter.encode(SCENE, None)
    assert predictor.encodes == [True, True] and not state["inside"]
