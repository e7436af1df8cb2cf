"""Which fill repaints the old product's place, and the MI-GAN model's lifecycle.

Like the segmenter (handler/segmentation/service.py): the model is created lazily, by the
first replace that needs a fill (downloading its checkpoint first when INPAINT_MODEL_URL is
set and the file is missing), concurrent first replaces share one load, a failed load is
retried with back-off, and meanwhile replaces use the classical fill and say why.

INPAINTER: auto (the model when weights are present or can be downloaded, else the classical
fill), model (the model is expected: when it is unusable the classical fill still serves,
with fallback_reason, and health says degraded), classic (never the model).
This is the one module of the package that knows the function (Config, LazyModel).
"""
from __future__ import annotations

import time
from typing import Callable

from ..compositing.removal import fill_hole
from ..models.lifecycle import LazyModel, LoadRecord, ModelLoadError, ModelState, SetState, log_download_progress
from ..platform.config import Config
from ..platform.pagecache import drop_file_cache, drop_library_page_cache
from .fill import LearnedFill, Network

NAME = "migan"
CLASSIC = "classic"


class Inpainting:
    """The fill chosen for one replace, and afterwards what it did.

    fill: what replace_product gets (None: its classical fill). inpainter: "migan" when the
    model's pixels are in the result, "classic" otherwise, None when nothing was removed
    (remove_old false). fallback_reason: why the model did not fill, when it was meant to.
    fill_ms: time spent in the learned fill (network included).
    """

    def __init__(self, fill: LearnedFill | None = None, *, needed: bool = True,
                 fallback_reason: str | None = None) -> None:
        self._fill, self._needed, self._reason = fill, needed, fallback_reason
        self.fill_ms = 0.0

    @property
    def fill(self) -> Callable | None:
        if self._fill is None:
            return None

        def timed(image, hole, covered):
            started = time.perf_counter()
            try:
                return self._fill(image, hole, covered)
            finally:
                self.fill_ms += (time.perf_counter() - started) * 1000
        return timed

    @property
    def inpainter(self) -> str | None:
        if not self._needed:
            return None
        return NAME if self._fill is not None and self._fill.used_network else CLASSIC

    @property
    def fallback_reason(self) -> str | None:
        return self._reason or (self._fill.fallback_reason if self._fill is not None else None)


class InpaintingService:
    def __init__(self, config: Config, *, load_network: Callable[[Config, SetState], Network] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._config = config
        load_network = load_network or load_network_from_checkpoint
        self.model: LazyModel[Network] = LazyModel(
            NAME, lambda set_state: load_network(config, set_state),
            obtainable=self._weights_obtainable, retry_s=config.model_retry_s, clock=clock)

    @property
    def record(self) -> LoadRecord:
        return self.model.record

    @property
    def wants_model(self) -> bool:
        """Whether replaces should be filled by the model (it may still be unusable)."""
        return self._config.inpainter == "model" or (
            self._config.inpainter == "auto" and self._weights_obtainable())

    @property
    def problem(self) -> str | None:
        """Why the model, though wanted, is not serving (for health), or None."""
        state = self.model.record.state
        if self._config.inpainter == "model" and state in (ModelState.UNAVAILABLE, ModelState.FAILED):
            return "INPAINTER=model but the inpainting model has no usable weights; the classical fill serves"
        if self._config.inpainter == "auto" and state is ModelState.FAILED:
            return "the inpainting model failed to load; the classical fill serves meanwhile"
        return None

    def expected_inpainter(self) -> str:
        """The fill a replace would get now, without loading anything."""
        if not self.wants_model or self.model.failed or not self.model.obtainable:
            return CLASSIC
        return NAME

    def fill_for(self, needed: bool = True) -> Inpainting:
        """The fill for a replace, loading the model first if it is wanted and due.

        needed: whether the replace removes the old product at all (remove_old); when not,
        nothing is loaded.
        """
        if not needed:
            return Inpainting(needed=False)
        if not self.wants_model:
            return Inpainting()
        if not self.model.obtainable:
            return Inpainting(fallback_reason="INPAINTER=model but no inpainting weights are present (set "
                                              "INPAINT_MODEL_PATH or INPAINT_MODEL_URL); the classical fill was used")
        network = self.model.get()
        if network is None:
            return Inpainting(fallback_reason=f"the inpainting model is not available ({self.model.record.error}); "
                                              "the classical fill was used")
        return Inpainting(LearnedFill(network, fallback=fill_hole))

    def _weights_obtainable(self) -> bool:
        return self._config.inpaint_checkpoint_path.is_file() or bool(self._config.inpaint_model_url)


def load_network_from_checkpoint(config: Config, set_state: SetState) -> Network:
    """Download the checkpoint if needed, then build the lean MI-GAN generator (imports torch)."""
    path = config.inpaint_checkpoint_path
    if not path.is_file() and config.inpaint_model_url:
        from ..models.weights import fetch_checkpoint

        set_state(ModelState.DOWNLOADING)
        fetch_checkpoint(config.inpaint_model_url, path, sha256=config.inpaint_model_sha256,
                         on_progress=log_download_progress(NAME))
        set_state(ModelState.LOADING)
    import torch

    from .migan import CheckpointError, load_migan

    torch.set_num_threads(config.torch_threads)
    try:
        network = load_migan(path, lean=True)
    except CheckpointError as error:
        raise ModelLoadError(str(error)) from None
    # The weights are copies by now and the file's mapping is released: its pages can leave
    # the page cache, which in a container is charged to this process's memory (~29 MB).
    drop_file_cache(path)
    drop_library_page_cache()
    return network
