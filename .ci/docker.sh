#!/usr/bin/env bash
# Idempotent Docker set-up for semtrace's docker sandbox (used by `make test` and `.ci/run`):
#   1. install the Debian engine (docker.io) and debootstrap if missing,
#   2. start dockerd in the background if the daemon is not answering, and wait for it,
#   3. build the offline sandbox image (debootstrap + import, no registry) if it is absent.
# Env: PYTHON (default .venv/bin/python, else python3), SEMTRACE_SANDBOX_IMAGE (default semtrace-sandbox:latest),
#      DOCKERD_LOG (default /tmp/semtrace-dockerd.log).
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
  if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
SUDO=""
if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi
log() { echo "[docker.sh] $*" >&2; }

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if (( ${#need[@]} )); then
  log "installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! "$PY" -c "import docker" 2>/dev/null; then
  log "installing the docker SDK (semtrace[docker])"
  "$PY" -m pip install -q "docker>=7.0"
fi

daemon_up() { "$PY" - <<'PY' >/dev/null 2>&1
import docker
docker.from_env(timeout=5).ping()
PY
}

if ! daemon_up; then
  log "starting dockerd (log: ${DOCKERD_LOG:-/tmp/semtrace-dockerd.log})"
  # setsid: the daemon outlives this script and the CI step that ran it.
  $SUDO setsid dockerd >"${DOCKERD_LOG:-/tmp/semtrace-dockerd.log}" 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    if daemon_up; then break; fi
    sleep 1
  done
  if ! daemon_up; then
    log "dockerd did not answer within 60 s; last log lines:"
    tail -n 30 "${DOCKERD_LOG:-/tmp/semtrace-dockerd.log}" >&2 || true
    exit 1
  fi
fi
log "docker daemon is up"

$SUDO "$PY" -m semtrace.cli sandbox build-image --if-missing --tag "${SEMTRACE_SANDBOX_IMAGE:-semtrace-sandbox:latest}"
