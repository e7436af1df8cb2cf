"""gunicorn's settings for the container: `gunicorn -c python:handler.platform.gunicorn_conf`.

Read by gunicorn as a config module (its public interface), from ServerConfig. A 512 MB
container needs: one worker (one model), threads sized from the CPU quota rather than the
host's cores, worker recycling against slow leaks, the heartbeat file in RAM, a timeout
above a cold start, and bounded request lines and headers (functions-framework's own
server sets no limit on the request line).
"""
from handler.platform import resources
from handler.platform.config import ServerConfig
from handler.platform.worker import MAX_REQUEST_LINE_BYTES

THREADS_PER_CPU = 4

_server = ServerConfig.from_env()

bind = f"{_server.host}:{_server.port}"
workers = _server.workers
# Reads request heads in the event loop and keeps threads in reserve for health (worker.py).
worker_class = "handler.platform.worker.HeaderFirstWorker"
threads = _server.threads or THREADS_PER_CPU * resources.effective_cpu_count()
max_requests = _server.max_requests
max_requests_jitter = _server.max_requests_jitter
timeout = _server.timeout_s
graceful_timeout = _server.graceful_timeout_s
# The worker refuses longer heads itself (as JSON); these hold gunicorn's parser to the same.
limit_request_line = MAX_REQUEST_LINE_BYTES
limit_request_fields = 100
limit_request_field_size = 8190
loglevel = "warning"
if _server.worker_tmp_dir:
    worker_tmp_dir = _server.worker_tmp_dir


def post_worker_init(worker) -> None:
    """Build the function's services as the worker starts, so that MODEL_PRELOAD begins the
    load in the worker (never in the master, whose threads a fork would not carry over)."""
    from handler.platform.pagecache import drop_library_page_cache
    from handler.platform.wsgi import function

    function.runtime
    drop_library_page_cache()
