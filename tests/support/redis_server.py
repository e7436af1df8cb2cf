"""A real redis-server on 127.0.0.1 for the tests of the shared store: its own free port, no
persistence, stopped when the block ends. Tests that use it skip, saying why, where Debian's
`redis-server` is not installed (.ci/run installs it)."""
from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from .servers import free_port

REDIS_SERVER = shutil.which("redis-server")
requires_redis = pytest.mark.skipif(
    REDIS_SERVER is None, reason="redis-server is not installed (apt-get install redis-server; .ci/run does)")
_READY_ATTEMPTS = 200


@dataclass
class RedisServer:
    """One redis-server process; kill(), pause() and start() again on the same port."""

    workdir: Path
    port: int = field(default_factory=free_port)
    password: str | None = None
    maxmemory: str = "64mb"
    policy: str = "volatile-ttl"
    tls: bool = False
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"{'rediss' if self.tls else 'redis'}://{auth}127.0.0.1:{self.port}/0"

    def client(self):
        """A plain client of this server, for the test to look inside."""
        import redis

        if self.tls:
            return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, ssl=True,
                               ssl_ca_certs=str(self.workdir / "cert.pem"), ssl_check_hostname=False)
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=5)

    def start(self) -> None:
        command = [REDIS_SERVER, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
                   "--maxmemory", self.maxmemory, "--maxmemory-policy", self.policy, "--dir", str(self.workdir),
                   "--logfile", str(self.workdir / f"redis-{self.port}.log")]
        if self.password:
            command += ["--requirepass", self.password]
        if self.tls:
            self._make_certificate()
            command += ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no",
                        "--tls-cert-file", str(self.workdir / "cert.pem"),
                        "--tls-key-file", str(self.workdir / "key.pem")]
        else:
            command += ["--port", str(self.port)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self._wait_until_ready()

    def kill(self) -> None:
        """Gone at once, as in a crash: its data with it (no persistence)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)

    def pause(self) -> None:
        """Still accepting connections, answering nothing: a hung or unreachable-by-network Redis."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def _wait_until_ready(self) -> None:
        import redis

        client = self.client()
        for _ in range(_READY_ATTEMPTS):
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: {self._log()}")
            try:
                client.ping()
                return
            except redis.RedisError:  # not listening yet: the short wait below paces the loop
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=0.025)
            finally:
                client.close()
        raise RuntimeError(f"redis-server did not start: {self._log()}")

    def _log(self) -> str:
        path = self.workdir / f"redis-{self.port}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def _make_certificate(self) -> None:
        if (self.workdir / "cert.pem").exists():
            return
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                        "/CN=localhost", "-keyout", str(self.workdir / "key.pem"),
                        "-out", str(self.workdir / "cert.pem")], check=True, capture_output=True)


@contextlib.contextmanager
def redis_server(workdir: Path, **options) -> Iterator[RedisServer]:
    """A started RedisServer (options: password, maxmemory, policy, tls), killed at the end."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = RedisServer(workdir, **options)
    server.start()
    try:
        yield server
    finally:
        server.kill()
