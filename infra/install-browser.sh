#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the browser tests (Playwright drives it as the
# system browser; `playwright install` is never used: no browser downloads).
# Idempotent: does nothing when /usr/bin/chromium exists.
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
  echo "[browser] chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "[browser] error: need root or sudo to apt-get install chromium" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium
/usr/bin/chromium --version
