# Drishya: one HTTP function for a small CPU container (512 MB).
FROM python:3.11-slim

# The seed's low-memory settings; every one can be overridden at deploy time.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    NUMEXPR_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MALLOC_ARENA_MAX=2 \
    WEB_CONCURRENCY=1 \
    TORCH_THREADS=1 \
    TEMP_DIR=/dev/shm/drishya \
    MODEL_CACHE_DIR=/opt/drishya/models \
    PORT=8080

WORKDIR /app

# CPU-only torch from PyTorch's own index (the default index would bring CUDA, gigabytes of it).
COPY requirements.txt .
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install --no-cache-dir -r requirements.txt

COPY main.py local_invoke.py ./
COPY handler/ handler/
COPY samples/ samples/

# Bake the MobileSAM weights in, verified by SHA-256, so that the container starts ready with no
# download. By default the published checkpoint (address, size and hash pinned in
# handler/segmentation/weights.py); pass MODEL_URL and MODEL_SHA256 for another, or BAKE_MODEL=0
# to build without weights (the offline segmenter serves, or set MODEL_URL at run time).
ARG BAKE_MODEL=1
ARG MODEL_URL=
ARG MODEL_SHA256=
RUN if [ "$BAKE_MODEL" = "1" ]; then \
      if [ -n "$MODEL_URL" ]; then python local_invoke.py fetch-model --model-url "$MODEL_URL" --sha256 "$MODEL_SHA256"; \
      else python local_invoke.py fetch-model; fi; \
      chmod -R a+rX /opt/drishya; \
    fi

RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin drishya
USER drishya

EXPOSE 8080
# functions-framework's app under gunicorn: 1 worker, threads from the CPU quota, recycled
# every MAX_REQUESTS requests, heartbeat file in /dev/shm (handler/platform/gunicorn_conf.py).
CMD ["python", "-m", "handler.platform.server"]
