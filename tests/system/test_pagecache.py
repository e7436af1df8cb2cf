"""Library pages a fresh container pays for are dropped from the page cache; never on a warm host."""
from __future__ import annotations

import pytest

from handler.platform import pagecache

MiB = 1024**2


@pytest.fixture
def dropped_files(monkeypatch):
    import cv2  # noqa: F401  (the modules must be imported for their files to be found)
    import numpy  # noqa: F401

    dropped = []
    monkeypatch.setattr(pagecache, "drop_file_cache", dropped.append)
    return dropped


def test_library_page_cache_is_dropped_when_the_container_pays_for_it(monkeypatch, dropped_files):
    monkeypatch.setattr(pagecache, "charged_file_cache_bytes", lambda: 300 * MiB)
    assert pagecache.drop_library_page_cache(("cv2", "numpy")) is True
    names = {path.parent.name for path in dropped_files}
    assert {"cv2", "opencv_python_headless.libs", "numpy.libs"} <= names
    assert all(".so" in path.name for path in dropped_files)


@pytest.mark.parametrize("charged", [None, 10 * MiB])
def test_library_page_cache_is_kept_when_someone_else_paid_for_it(monkeypatch, dropped_files, charged):
    monkeypatch.setattr(pagecache, "charged_file_cache_bytes", lambda: charged)
    assert pagecache.drop_library_page_cache(("cv2", "numpy")) is False
    assert dropped_files == []
