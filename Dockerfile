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

# Bake the weights in, so that the container starts ready with no download: MobileSAM verified
# by SHA-256, and MI-GAN (IOPaint's TorchScript trace of the 512 Places2 generator, verified by
# MD5 and converted once to a plain state dict beside it). By default the published files
# (addresses and digests pinned in handler/models/weights.py); pass MODEL_URL and MODEL_SHA256,
# or INPAINT_TRACE_URL and INPAINT_TRACE_MD5, for others, or BAKE_MODEL=0 to build without
# weights (the offline segmenter and the classical fill serve, or set MODEL_URL /
# INPAINT_MODEL_URL at run time).
ARG BAKE_MODEL=1
ARG MODEL_URL=
ARG MODEL_SHA256=
ARG INPAINT_TRACE_URL=
ARG INPAINT_TRACE_MD5=
RUN if [ "$BAKE_MODEL" = "1" ]; then \
      python local_invoke.py fetch-model \
        ${MODEL_URL:+--model-url "$MODEL_URL" --sha256 "$MODEL_SHA256"} \
        ${INPAINT_TRACE_URL:+--inpaint-url "$INPAINT_TRACE_URL" --inpaint-md5 "$INPAINT_TRACE_MD5"}; \
      chmod -R a+rX /opt/drishya; \
    fi

RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin drishya
USER drishya

EXPOSE 8080
# functions-framework's app under gunicorn: 1 worker, threads from the CPU quota, recycled
# every MAX_REQUESTS requests, heartbeat file in /dev/shm (handler/platform/gunicorn_conf.py).
CMD ["python", "-m", "handler.platform.server"]
