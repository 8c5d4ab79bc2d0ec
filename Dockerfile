# syntax=docker/dockerfile:1
# SongForge image: one image for the web process, the workers and the one-shot commands
# (deploy/entrypoint.sh: web | worker QUEUE… | migrate | warm | manage …).
#
#   docker build -t songforge .                                      # CPU torch (default)
#   docker build --build-arg TORCH_VARIANT=cu128 -t songforge:gpu .  # CUDA torch for the ml workers
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# checkov cannot resolve the ARG above, which pins the tag (not latest):
# checkov:skip=CKV_DOCKER_7:the base image is the PYTHON_IMAGE build argument, python:3.11-slim-bookworm

# --- build: compilers and headers, a virtualenv with the runtime requirements only ---------------
FROM ${PYTHON_IMAGE} AS build
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/${TORCH_VARIANT}
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential=12.* \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements.txt requirements-nodeps.txt ./
# torch first, from the index of the chosen variant; the other pins then find it satisfied.
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch==$(grep -E '^torch==' requirements.txt | cut -d= -f3)" \
 && pip install -r requirements.txt \
 && pip install --no-deps -r requirements-nodeps.txt

# --- runtime: no compilers, non-root, static files collected --------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=songforge.settings \
    SONGFORGE_DATA_DIR=/data \
    SONGFORGE_STATIC_MANIFEST=1 \
    SONGFORGE_LOG_JSON=1 \
    NUMBA_CACHE_DIR=/data/numba-cache \
    SONGFORGE_APP_DIR=/app
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# No system packages: the wheels bring their native libraries (soundfile bundles libsndfile).
RUN groupadd --system --gid 10001 songforge \
 && useradd --system --uid 10001 --gid songforge --home-dir /app --shell /usr/sbin/nologin songforge
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Code and static files belong to root: the app user can read them, not change them.
COPY . /app
# Static files with hashed names, compressed, served by WhiteNoise; the numba cache is warmed per
# deployment at start (deploy/entrypoint.sh), never baked in: it is tied to the CPU it was built on.
RUN SECRET_KEY=collectstatic-only SONGFORGE_DATA_DIR=/tmp/build-data NUMBA_CACHE_DIR=/tmp/build-data/numba-cache \
    SONGFORGE_STATIC_ROOT=/app/staticfiles python manage.py collectstatic --noinput -v 0 \
 && rm -rf /tmp/build-data \
 && mkdir -p /data \
 && chown -R songforge:songforge /data \
 && chmod 0755 /app/deploy/entrypoint.sh
ENV SONGFORGE_STATIC_ROOT=/app/staticfiles
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000 9191
# The web process's /healthz (database, storage, broker); worker services override it.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=8)"]
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["web"]
