"""Configuration: read once from the environment into one typed, immutable object.

Every variable, its default and its meaning is listed in the README. Nothing else in the
package reads os.environ for settings.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

SEGMENTERS = ("auto", "grabcut", "mobilesam")
STORE_SCHEMES = ("redis://", "rediss://")
CHECKPOINT_FILENAME = "mobile_sam.pt"
INPAINTERS = ("auto", "model", "classic")
INPAINT_CHECKPOINT_FILENAME = "migan_512_places2.pt"


class ConfigError(ValueError):
    """An environment variable has a value the function cannot run with."""


@dataclass(frozen=True)
class Config:
    app_password: str | None = None
    secret_key: str | None = None
    temp_dir: Path = Path("/tmp/drishya_temp")
    max_side: int = 1280
    max_product_side: int = 2048
    upload_ttl_s: int = 3600
    max_store_mb: float = 48.0
    max_upload_mb: float = 32.0
    max_pixels: int = 24_000_000
    max_points: int = 32
    segmenter: str = "auto"
    model_cache_dir: Path = Path("~/.cache/drishya").expanduser()
    model_path: Path | None = None
    model_url: str | None = None
    model_sha256: str | None = None
    model_preload: bool = False
    model_retry_s: float = 30.0
    torch_threads: int = 1
    embedding_cache_size: int = 2
    precompute_embedding: bool = True
    max_concurrent_jobs: int = 1
    max_queued_jobs: int = 4
    queue_timeout_s: float = 20.0
    trust_proxy: bool = False
    trusted_proxy_hops: int = 1
    cors_origins: tuple[str, ...] = ()
    auth_max_failures: int = 10
    auth_window_s: float = 60.0
    # A shared store (Redis) for uploads, masks, the throttle and the signing key; None: files
    # under TEMP_DIR. Never printed: the URL may hold Redis's password.
    store_url: str | None = field(default=None, repr=False)
    store_timeout_s: float = 3.0
    inpainter: str = "auto"
    inpaint_model_path: Path | None = None
    inpaint_model_url: str | None = None
    inpaint_model_sha256: str | None = None

    @property
    def checkpoint_path(self) -> Path:
        return self.model_path or self.model_cache_dir / CHECKPOINT_FILENAME

    @property
    def inpaint_checkpoint_path(self) -> Path:
        return self.inpaint_model_path or self.model_cache_dir / INPAINT_CHECKPOINT_FILENAME

    @property
    def store_dir(self) -> Path:
        return self.temp_dir / "store"

    @property
    def failures_dir(self) -> Path:
        return self.temp_dir / "throttle"

    @property
    def client_hops(self) -> int:
        """X-Forwarded-For entries, from the right, written by proxies we trust (0: none)."""
        return self.trusted_proxy_hops if self.trust_proxy else 0

    @property
    def max_store_bytes(self) -> int:
        return int(self.max_store_mb * 1024 * 1024)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Config":
        env = os.environ if env is None else env
        read = _Reader(env)
        segmenter = read.text("SEGMENTER", cls.segmenter).lower()
        if segmenter not in SEGMENTERS:
            raise ConfigError(f"SEGMENTER must be one of {', '.join(SEGMENTERS)}, not {segmenter!r}")
        if read.optional("MODEL_URL") and not read.optional("MODEL_SHA256"):
            raise ConfigError("MODEL_URL needs MODEL_SHA256, so that a download is verified before use")
        store_url = read.optional("STORE_URL") or read.optional("REDIS_URL")
        if store_url and not store_url.lower().startswith(STORE_SCHEMES):
            # The value itself is not repeated: it may carry a password.
            raise ConfigError("STORE_URL (or REDIS_URL) must start with redis:// or rediss://")
        inpainter = read.text("INPAINTER", cls.inpainter).lower()
        if inpainter not in INPAINTERS:
            raise ConfigError(f"INPAINTER must be one of {', '.join(INPAINTERS)}, not {inpainter!r}")
        if read.optional("INPAINT_MODEL_URL") and not read.optional("INPAINT_MODEL_SHA256"):
            raise ConfigError("INPAINT_MODEL_URL needs INPAINT_MODEL_SHA256, so that a download is verified "
                              "before use")
        return cls(
            app_password=read.optional("APP_PASSWORD"),
            secret_key=read.optional("SECRET_KEY"),
            temp_dir=read.path("TEMP_DIR", cls.temp_dir),
            max_side=read.integer("MAX_SIDE", cls.max_side, minimum=64),
            max_product_side=read.integer("MAX_PRODUCT_SIDE", cls.max_product_side, minimum=64),
            upload_ttl_s=read.integer("UPLOAD_TTL_S", cls.upload_ttl_s, minimum=1),
            max_store_mb=read.number("MAX_STORE_MB", cls.max_store_mb, minimum=1),
            max_upload_mb=read.number("MAX_UPLOAD_MB", cls.max_upload_mb, minimum=0.01),
            max_pixels=read.integer("MAX_PIXELS", cls.max_pixels, minimum=1),
            max_points=read.integer("MAX_POINTS", cls.max_points, minimum=1),
            segmenter=segmenter,
            model_cache_dir=read.path("MODEL_CACHE_DIR", cls.model_cache_dir),
            model_path=read.optional_path("MODEL_PATH"),
            model_url=read.optional("MODEL_URL"),
            model_sha256=(read.optional("MODEL_SHA256") or "").lower() or None,
            model_preload=read.flag("MODEL_PRELOAD", cls.model_preload),
            model_retry_s=read.number("MODEL_RETRY_S", cls.model_retry_s, minimum=0),
            torch_threads=read.integer("TORCH_THREADS", cls.torch_threads, minimum=1),
            embedding_cache_size=read.integer("EMBEDDING_CACHE_SIZE", cls.embedding_cache_size, minimum=0),
            precompute_embedding=read.flag("PRECOMPUTE_EMBEDDING", cls.precompute_embedding),
            max_concurrent_jobs=read.integer("MAX_CONCURRENT_JOBS", cls.max_concurrent_jobs, minimum=1),
            max_queued_jobs=read.integer("MAX_QUEUED_JOBS", cls.max_queued_jobs, minimum=0),
            queue_timeout_s=read.number("QUEUE_TIMEOUT_S", cls.queue_timeout_s, minimum=0),
            trust_proxy=read.flag("TRUST_PROXY", cls.trust_proxy),
            trusted_proxy_hops=read.integer("TRUSTED_PROXY_HOPS", cls.trusted_proxy_hops, minimum=1),
            cors_origins=tuple(o for o in read.text("CORS_ORIGINS", "").replace(",", " ").split() if o),
            auth_max_failures=read.integer("AUTH_MAX_FAILURES", cls.auth_max_failures, minimum=1),
            auth_window_s=read.number("AUTH_WINDOW_S", cls.auth_window_s, minimum=1),
            store_url=store_url,
            store_timeout_s=read.number("STORE_TIMEOUT_S", cls.store_timeout_s, minimum=0.1),
            inpainter=inpainter,
            inpaint_model_path=read.optional_path("INPAINT_MODEL_PATH"),
            inpaint_model_url=read.optional("INPAINT_MODEL_URL"),
            inpaint_model_sha256=(read.optional("INPAINT_MODEL_SHA256") or "").lower() or None,
        )


class _Reader:
    def __init__(self, env: Mapping[str, str]):
        self._env = env

    def optional(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def path(self, name: str, default: Path) -> Path:
        return self.optional_path(name) or default

    def optional_path(self, name: str) -> Path | None:
        value = self.optional(name)
        return Path(value).expanduser() if value else None

    def flag(self, name: str, default: bool) -> bool:
        value = self.optional(name)
        if value is None:
            return default
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be 1 or 0, not {value!r}")

    def integer(self, name: str, default: int, *, minimum: int) -> int:
        value = self.number(name, default, minimum=minimum)
        if value != int(value):
            raise ConfigError(f"{name} must be a whole number, not {value}")
        return int(value)

    def number(self, name: str, default: float, *, minimum: float) -> float:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, not {raw!r}") from None
        if not math.isfinite(value) or value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, not {raw}")
        return value


@dataclass(frozen=True)
class ServerConfig:
    """How the container's gunicorn serves the function (handler/platform/gunicorn_conf.py)."""

    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 1
    threads: int | None = None  # None: 4 per CPU of the container's quota
    max_requests: int = 100
    max_requests_jitter: int = 10
    timeout_s: int = 120
    graceful_timeout_s: int = 60
    worker_tmp_dir: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ServerConfig":
        env = os.environ if env is None else env
        read = _Reader(env)
        threads = read.optional("THREADS")
        shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
        return cls(
            host=read.text("HOST", cls.host),
            port=read.integer("PORT", cls.port, minimum=1),
            workers=read.integer("WEB_CONCURRENCY", cls.workers, minimum=1),
            threads=read.integer("THREADS", 1, minimum=1) if threads else None,
            max_requests=read.integer("MAX_REQUESTS", cls.max_requests, minimum=0),
            max_requests_jitter=read.integer("MAX_REQUESTS_JITTER", cls.max_requests_jitter, minimum=0),
            timeout_s=read.integer("GUNICORN_TIMEOUT_S", cls.timeout_s, minimum=1),
            graceful_timeout_s=read.integer("GRACEFUL_TIMEOUT_S", cls.graceful_timeout_s, minimum=1),
            worker_tmp_dir=read.optional("WORKER_TMP_DIR") or shm,
        )
