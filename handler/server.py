"""Serve the function in a container: functions-framework's app under a tuned gunicorn.

`functions-framework --target handler` works too; this entry adds what a 512 MB container
needs: threads sized from the CPU quota rather than the host's cores, worker recycling
against slow leaks, the worker heartbeat file in RAM, and a timeout above a cold start.

    python -m handler.server
"""
from __future__ import annotations

from pathlib import Path

import functions_framework
from functions_framework._http.gunicorn import GunicornApplication

from . import system
from .config import ServerConfig
from .logs import configure_logging

MAIN = Path(__file__).resolve().parents[1] / "main.py"
THREADS_PER_CPU = 4


def gunicorn_options(server: ServerConfig) -> dict:
    options = {
        "workers": server.workers,
        "threads": server.threads or THREADS_PER_CPU * system.effective_cpu_count(),
        "max_requests": server.max_requests,
        "max_requests_jitter": server.max_requests_jitter,
        "timeout": server.timeout_s,
        "graceful_timeout": server.graceful_timeout_s,
        "post_worker_init": _start_worker,
        "loglevel": "warning",
    }
    if server.worker_tmp_dir:
        options["worker_tmp_dir"] = server.worker_tmp_dir
    return options


def _start_worker(worker) -> None:
    # Create the runtime as the worker starts, so that MODEL_PRELOAD begins the load in the
    # worker (never in the master, whose threads a fork would not carry over).
    from .runtime import get_runtime

    get_runtime()
    system.drop_library_page_cache()


def main() -> None:
    configure_logging()
    server = ServerConfig.from_env()
    app = functions_framework.create_app("handler", str(MAIN))
    GunicornApplication(app, server.host, server.port, False, **gunicorn_options(server)).run()


if __name__ == "__main__":
    main()
