"""Fetch the published MI-GAN weights: IOPaint's TorchScript trace, verified, then converted
once to the plain state dict that the service loads (`local_invoke.py fetch-model`).

The trace is downloaded into a private temporary folder beside the destination, checked by
its digest (IOPaint publishes an MD5) and length, converted (convert.py, which checks every
key and shape against the generator) and written atomically; the trace is then deleted. A
failure at any step leaves nothing at the destination.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from ..models.state_dict import CheckpointError
from ..models.weights import DownloadError, ProgressCallback, fetch_checkpoint, sha256_of
from .convert import convert_traced_checkpoint


def fetch_converted(url: str, destination: Path, *, md5: str | None = None, sha256: str | None = None,
                    size: int | None = None, timeout_s: float = 30,
                    on_progress: ProgressCallback | None = None) -> str:
    """Download the trace at `url`, verify it (md5 and/or sha256, size), convert it to a plain
    state dict at `destination`; returns the SHA-256 of the downloaded trace (for the record).

    Raises DownloadError for a failed or unverified download and for a file that is not a
    trace of the MI-GAN 512 generator; nothing is left behind either way. torch.jit.load
    runs the trace's TorchScript code: only convert a file whose digest was verified.
    """
    destination = Path(destination)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        folder = tempfile.TemporaryDirectory(prefix=f".{destination.name}.", dir=destination.parent)
    except OSError as error:
        raise DownloadError(f"cannot write the checkpoint: {error.strerror}") from None
    with folder as tmp:
        trace = Path(tmp) / "migan_traced.pt"
        fetch_checkpoint(url, trace, md5=md5, sha256=sha256, size=size, timeout_s=timeout_s,
                         on_progress=on_progress)
        digest = sha256_of(trace)
        try:
            convert_traced_checkpoint(trace, destination)
        except CheckpointError as error:
            raise DownloadError(f"the download is not a usable MI-GAN trace: {error}") from None
    return digest
