"""Serve the function in a container: functions-framework's app under gunicorn, configured by
handler/platform/gunicorn_conf.py.

    python -m handler.platform.server

is `gunicorn -c python:handler.platform.gunicorn_conf handler.platform.wsgi:app`, run from the
repository root (so the config module and main.py are found wherever it is started from).
"""
from __future__ import annotations

import sys
from pathlib import Path

from gunicorn.app.wsgiapp import run

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    sys.argv = ["gunicorn", "--chdir", str(REPO), "--config", "python:handler.platform.gunicorn_conf", "handler.platform.wsgi:app"]
    run()


if __name__ == "__main__":
    main()
