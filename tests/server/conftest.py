"""Fixtures of the server tests: a real Redis for the shared-store modules."""
from __future__ import annotations

import pytest

from support.redis_server import redis_server


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    """A redis-server of this module's own on a free loopback port."""
    with redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running
