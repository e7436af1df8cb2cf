"""Which segmenter serves a request, and the MobileSAM model's lifecycle.

The model is created lazily (handler/models/lifecycle.py): the first request that needs it
loads it, downloading the checkpoint first when MODEL_URL is set and the file is missing.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, ContextManager

import numpy as np

from ..errors import DrishyaError, ServiceUnavailable
from ..models.lifecycle import LazyModel, LoadRecord, ModelLoadError, ModelState, SetState, log_download_progress
from ..platform.config import Config
from ..platform.pagecache import drop_file_cache, drop_library_page_cache
from .base import Segmenter
from .grabcut import GrabCutSegmenter
from .mobilesam import EmbeddingCache, MobileSamSegmenter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    """The segmenter that serves a request, and why the preferred one did not, if it did not."""

    segmenter: Segmenter
    fallback_reason: str | None = None


class SegmentationService:
    def __init__(self, config: Config, *, load_predictor: Callable[[Config, SetState], object] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._config = config
        load_predictor = load_predictor or load_predictor_from_checkpoint
        self.embedding_cache = EmbeddingCache(config.embedding_cache_size)
        self.grabcut = GrabCutSegmenter()
        self.model: LazyModel[MobileSamSegmenter] = LazyModel(
            "mobilesam",
            lambda set_state: MobileSamSegmenter(load_predictor(config, set_state), self.embedding_cache),
            obtainable=self._weights_obtainable, retry_s=config.model_retry_s, clock=clock)

    @property
    def record(self) -> LoadRecord:
        return self.model.record

    @property
    def wants_model(self) -> bool:
        return self._config.segmenter == "mobilesam" or (
            self._config.segmenter == "auto" and self._weights_obtainable())

    def expected_segmenter(self) -> str:
        """The segmenter a request would get now, without loading anything."""
        if not self.wants_model or (self.model.failed and self._config.segmenter == "auto"):
            return self.grabcut.name
        return MobileSamSegmenter.name

    def choose(self) -> Choice:
        """The segmenter for a request, loading the model first if it is needed and due."""
        if not self.wants_model:
            if self._config.segmenter == "mobilesam":
                raise ServiceUnavailable("SEGMENTER=mobilesam but no model weights are present: set "
                                         "MODEL_PATH to a checkpoint or MODEL_URL to download one",
                                         code="model_unavailable")
            return Choice(self.grabcut)
        model = self.model.get()
        if model is not None:
            return Choice(model)
        error = self.model.record.error
        if self._config.segmenter == "auto":
            return Choice(self.grabcut, fallback_reason=f"the model is not available ({error}); "
                                                        "served by the offline segmenter")
        raise ServiceUnavailable(f"the segmentation model could not be loaded: {error}", code="model_failed",
                                 headers={"Retry-After": str(self.model.retry_after_s())})

    def warm_up(self, image: np.ndarray, image_key: str, job_slot: Callable[[], ContextManager]) -> None:
        """Get ready for a new scene's first mask, in the background: load the model if it is
        not under way, then (PRECOMPUTE_EMBEDDING) encode the scene into the cache.

        Called when a scene is uploaded: its mask request usually follows within seconds, so
        the work overlaps with the person drawing their box. The encode holds a job slot like
        any request (job_slot), and is skipped when the function is busy.
        """
        if not self.wants_model:
            return
        if not self._config.precompute_embedding:
            self.model.warm_up()
            return
        threading.Thread(target=self._precompute, args=(image, image_key, job_slot), name="precompute",
                         daemon=True).start()

    def _precompute(self, image: np.ndarray, image_key: str, job_slot: Callable[[], ContextManager]) -> None:
        try:
            with job_slot():
                model = self.model.get()
                if model is not None:
                    model.encode(image, image_key)
        except DrishyaError:  # busy: the mask request encodes the scene itself
            log.info("skipped precomputing an embedding: the function is busy")

    def forget_image(self, image_key: str) -> None:
        self.embedding_cache.discard(image_key)

    def _weights_obtainable(self) -> bool:
        return self._config.checkpoint_path.is_file() or bool(self._config.model_url)


def load_predictor_from_checkpoint(config: Config, set_state: SetState):
    """Download the checkpoint if needed, then build the MobileSAM predictor (imports torch)."""
    path = config.checkpoint_path
    if not path.is_file() and config.model_url:
        from ..models.weights import fetch_checkpoint

        set_state(ModelState.DOWNLOADING)
        fetch_checkpoint(config.model_url, path, sha256=config.model_sha256,
                         on_progress=log_download_progress("mobilesam"))
        set_state(ModelState.LOADING)
    import torch

    from ..sam.checkpoint import CheckpointError, load_mobile_sam
    from ..sam.predictor import SamPredictor

    torch.set_num_threads(config.torch_threads)
    try:
        predictor = SamPredictor(load_mobile_sam(path))
    except CheckpointError as error:
        raise ModelLoadError(str(error)) from None
    # The weights are copies by now and the file's mapping is released: its pages can leave
    # the page cache, which in a container is charged to this process's memory (~40 MB).
    drop_file_cache(path)
    drop_library_page_cache()
    return predictor
