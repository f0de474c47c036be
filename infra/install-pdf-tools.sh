#!/usr/bin/env bash
# Install what the letters' PDFs need (services/notifications/pdf.py, docs/notifications.md):
# Debian's Laksaman font (fonts-tlwg-laksaman, derived from TH Sarabun New, the government's
# standard font), which the notifications service embeds in every PDF and refuses to start
# without, and poppler-utils (pdffonts, pdftotext, pdfinfo, pdftoppm), which the tests and
# tools/letter_screenshots.py read the PDFs with. WeasyPrint itself comes from PyPI (make setup);
# it loads the machine's Pango (Debian 12: 1.50) and HarfBuzz's subsetter, installed here too.
# Idempotent: does nothing when the font, the libraries and the tools are present.
set -euo pipefail

have_laksaman() { command -v fc-list >/dev/null && [[ -n $(fc-list 'Laksaman' family 2>/dev/null) ]]; }

libraries=$( (ldconfig -p || /sbin/ldconfig -p) 2>/dev/null || true)
have_library() { [[ $libraries == *"$1"* ]]; }

packages=()
command -v fc-list >/dev/null || packages+=(fontconfig)
have_laksaman || packages+=(fonts-tlwg-laksaman)
have_library libpangoft2-1.0.so.0 || packages+=(libpangoft2-1.0-0)
have_library libharfbuzz-subset.so.0 || packages+=(libharfbuzz-subset0)
for tool in pdffonts pdftotext pdfinfo pdftoppm; do
  if ! command -v "$tool" >/dev/null; then
    packages+=(poppler-utils)
    break
  fi
done
if ((${#packages[@]} == 0)); then
  echo "[pdf] Laksaman, Pango and poppler-utils present; nothing to do"
  exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "[pdf] error: need root or sudo to install ${packages[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
echo "[pdf] installing ${packages[*]}"
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${packages[@]}"
have_laksaman || { echo "[pdf] error: fontconfig does not list Laksaman after the install" >&2; exit 1; }
echo "[pdf] Laksaman: $(fc-match -f '%{file}' Laksaman)"
