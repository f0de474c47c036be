#!/usr/bin/env bash
# Install the official AsyncAPI parser (npm, pinned with its dependencies by
# infra/asyncapi/package-lock.json: `npm ci`) under
# .local/asyncapi for the test that validates docs/asyncapi/. Idempotent: nothing to do when the
# pinned version is installed. Needs Node.js 18+ and npm.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${SMARTCITY_LOCAL_DIR:-$ROOT/.local}/asyncapi
command -v node >/dev/null && command -v npm >/dev/null \
  || { echo "[asyncapi] error: node and npm are required (Debian: apt-get install nodejs npm)" >&2; exit 1; }
mkdir -p "$DIR"
if cmp -s "$ROOT/infra/asyncapi/package-lock.json" "$DIR/package-lock.json" \
   && [[ -d $DIR/node_modules/@asyncapi/parser ]]; then
  echo "[asyncapi] parser present; nothing to do"
else
  cp "$ROOT/infra/asyncapi/package.json" "$ROOT/infra/asyncapi/package-lock.json" "$DIR/"
  echo "[asyncapi] installing @asyncapi/parser with npm ci"
  (cd "$DIR" && npm ci --no-audit --no-fund --silent) || { echo "[asyncapi] error: npm ci failed" >&2; exit 1; }
fi
cp "$ROOT/infra/asyncapi/validate.mjs" "$DIR/validate.mjs"
