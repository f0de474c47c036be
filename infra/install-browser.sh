#!/usr/bin/env bash
# Install Debian's Chromium (and a Thai font, so Thai renders in the console's screenshots) for
# the browser tests. Playwright's Python package drives it as the system browser
# (executable_path=/usr/bin/chromium); `playwright install` is never used: no browser downloads.
# Idempotent: does nothing when /usr/bin/chromium and a Thai font are present.
set -euo pipefail

have_thai_font() { command -v fc-list >/dev/null && [[ -n $(fc-list :lang=th 2>/dev/null) ]]; }

packages=()
[[ -x /usr/bin/chromium ]] || packages+=(chromium)
have_thai_font || packages+=(fonts-tlwg-loma fonts-tlwg-garuda)
if ((${#packages[@]} == 0)); then
  echo "[browser] chromium and a Thai font present; nothing to do"
  exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "[browser] error: need root or sudo to install ${packages[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
echo "[browser] installing ${packages[*]}"
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${packages[@]}"
[[ -x /usr/bin/chromium ]] && echo "[browser] chromium installed at /usr/bin/chromium"
