#!/bin/sh
# SongForge container entrypoint.
#   web                 gunicorn on $SONGFORGE_WEB_BIND (songforge/gunicorn.py)
#   worker QUEUE…       Dramatiq worker for the named queues (default, identify, ml…)
#   migrate             apply database migrations, then exit
#   warm                fill the numba cache under the data dir, then exit
#   manage ARG…         any manage.py command (ledger_check, index_rebuild, royalties_payouts…)
#   anything else       run as given (a shell for debugging)
set -eu

cd "${SONGFORGE_APP_DIR:-/app}"
PYTHON="${PYTHON:-python}"

# Compile librosa's numba kernels once, one process at a time, before anything runs in parallel.
warm() {
  "$PYTHON" -m songforge.numba_cache
}

# A fresh folder for prometheus-client's multiprocess files, per process group.
metrics_dir() {
  dir="${PROMETHEUS_MULTIPROC_DIR:-${TMPDIR:-/tmp}/songforge-metrics-$1}"
  rm -rf "$dir"
  mkdir -p "$dir"
  export PROMETHEUS_MULTIPROC_DIR="$dir"
}

command="${1:-web}"
if [ "$#" -gt 0 ]; then
  shift
fi

case "$command" in
  web)
    metrics_dir web
    exec "$PYTHON" -m gunicorn -c python:songforge.gunicorn songforge.wsgi:application "$@"
    ;;
  worker)
    if [ "$#" -eq 0 ]; then
      echo "usage: worker QUEUE [QUEUE…] (for example: worker default identify)" >&2
      exit 64
    fi
    warm
    metrics_dir worker
    exec "$PYTHON" manage.py rundramatiq \
      --processes "${SONGFORGE_WORKER_PROCESSES:-1}" --threads "${SONGFORGE_WORKER_THREADS:-2}" \
      --queues "$@"
    ;;
  migrate)
    exec "$PYTHON" manage.py migrate --noinput
    ;;
  warm)
    warm
    ;;
  manage)
    exec "$PYTHON" manage.py "$@"
    ;;
  *)
    exec "$command" "$@"
    ;;
esac
