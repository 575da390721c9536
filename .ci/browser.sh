#!/usr/bin/env bash
# Idempotent set-up of the headless browser the viewer's browser test drives (used by `make setup`):
# installs the Debian package `chromium` when no chromium binary is on PATH. Nothing else; a second run is a no-op.
# Env: SEMTRACE_CHROMIUM (a browser binary to use instead; then nothing is installed).
set -euo pipefail

log() { echo "[browser.sh] $*" >&2; }

if [[ -n "${SEMTRACE_CHROMIUM:-}" ]]; then
  if [[ -x "$SEMTRACE_CHROMIUM" ]]; then log "using $SEMTRACE_CHROMIUM"; exit 0; fi
  log "SEMTRACE_CHROMIUM=$SEMTRACE_CHROMIUM is not an executable file"; exit 1
fi
for name in chromium chromium-browser; do
  if command -v "$name" >/dev/null 2>&1; then log "$name is installed ($(command -v "$name"))"; exit 0; fi
done

SUDO=""
if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi
log "installing chromium (Debian package)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null 2>&1 || { log "chromium is still missing after apt-get install"; exit 1; }
log "chromium is installed ($(chromium --version 2>/dev/null || echo 'version unknown'))"
