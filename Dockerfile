# linly-demo: the web app in a small, non-root image. Build: docker build -t linly-demo .
# CPU torch by default; for an NVIDIA GPU: docker build --build-arg TORCH_VARIANT=cuda -t linly-demo:cuda .
# No model weights are downloaded at build or run time beyond those shipped inside the pinned packages.
FROM python:3.11-slim

ARG TORCH_VARIANT=cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    NUMBA_CACHE_DIR=/tmp \
    MPLCONFIGDIR=/tmp \
    LINLY_HOST=0.0.0.0 \
    LINLY_PORT=7860 \
    LINLY_EPHEMERAL_DIR=/run/linly \
    LINLY_VOICE_STORE=/data/voices \
    LINLY_PROVENANCE_DIR=memory \
    LINLY_WIPE_ON_EXIT=1

RUN groupadd --system --gid 10001 linly \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin linly

WORKDIR /app
COPY requirements.txt requirements-cpu.txt ./
# Every package is pinned with its hash. The CPU variant first takes torch/torchvision from PyTorch's CPU index
# (no CUDA libraries in the image), then the rest from requirements-cpu.txt (requirements.txt minus CUDA torch).
RUN if [ "$TORCH_VARIANT" = "cpu" ]; then \
        pip install --index-url https://download.pytorch.org/whl/cpu torch==2.14.1 torchvision==0.29.1 \
        && pip install --require-hashes -r requirements-cpu.txt; \
    else \
        pip install --require-hashes -r requirements.txt; \
    fi

COPY app.py ./
COPY linly_demo ./linly_demo
RUN mkdir -p /data/voices /run/linly && chown 10001:10001 /data/voices /run/linly && chmod 0700 /data/voices /run/linly

USER 10001:10001
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)"]
CMD ["python", "app.py"]
