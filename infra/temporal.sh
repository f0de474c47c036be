#!/usr/bin/env bash
# Temporal's server, the peer engine `make bench BENCH_ARGS="--peer temporal"` compares the
# backbone with (tests/bench/peers/temporal.py; docs/performance.md, "Peer"). Not part of the
# stack: nothing else starts it, and the services never talk to it.
#   Built from the Go module proxy (go.temporal.io/server/cmd/server; v1.32 asks for a newer Go
#   than the 1.26.8 of this machine), started with the module's own SQLite configuration
#   (config/development-sqlite-file.yaml: the workflows' durable state in one SQLite file under
#   .local/temporal/, written with journal_mode=wal and synchronous=2, i.e. FULL), every port on
#   loopback.
# Usage: infra/temporal.sh install|up|down|status|address
# SMARTCITY_TEMPORAL_PORT: the frontend's gRPC port (7233). Temporal's other ports (history,
#   matching, worker, HTTP, membership, metrics, pprof) keep their distance from it as in the
#   module's configuration: with 7733, the HTTP API is on 7743 and membership on 7433-7439.
# Idempotent: `up` starts the server only when it does not run and returns once it answers.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL=${SMARTCITY_LOCAL_DIR:-$ROOT/.local}
BIN=$LOCAL/bin
RUN=$LOCAL/run
LOGS=$LOCAL/logs
DATA=$LOCAL/temporal

TEMPORAL_VERSION=v1.30.4
TEMPORAL_MODULE=go.temporal.io/server
TEMPORAL_PORT=${SMARTCITY_TEMPORAL_PORT:-7233}
OFFSET=$((TEMPORAL_PORT - 7233))
HTTP_PORT=$((7243 + OFFSET))
# Every port the module's development configurations name, moved by the same offset.
PORTS='6933|6934|6935|6939|7233|7234|7235|7239|7243|7936|8000'

umask 077
mkdir -p "$LOCAL" && chmod 700 "$LOCAL"
mkdir -p "$BIN" "$RUN" "$LOGS"

log() { printf '[temporal] %s\n' "$*" >&2; }
die() { printf '[temporal] error: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required ($2) but was not found on PATH"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_of() {
  local f=$RUN/temporal.pid pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

healthy() {  # the frontend answers its HTTP API (it serves it once every service has joined)
  port_open "$TEMPORAL_PORT" &&
    curl -fsS "http://127.0.0.1:$HTTP_PORT/api/v1/cluster-info" >/dev/null 2>&1
}

module_dir() {
  go mod download -json "$TEMPORAL_MODULE@$TEMPORAL_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

install() {
  need go "Go builds Temporal's server from the Go module proxy"
  local bin=$BIN/temporal-server stamp=$BIN/temporal-server.version
  [[ -x $bin && -f $stamp && $(<"$stamp") == "$TEMPORAL_VERSION" ]] && return
  log "building Temporal's server $TEMPORAL_VERSION (first run: about 3 minutes on a quiet machine, 20+ on a busy one)"
  local gobin=$LOCAL/build/temporal/bin
  mkdir -p "$gobin"
  GOBIN=$gobin go install "$TEMPORAL_MODULE/cmd/server@$TEMPORAL_VERSION" \
    >"$LOGS/temporal-build.log" 2>&1 \
    || die "building Temporal's server failed; see $LOGS/temporal-build.log"
  mv "$gobin/server" "$bin"
  echo "$TEMPORAL_VERSION" >"$stamp"
}

configure() {  # the module's SQLite-file configuration, on our ports, its file under DATA
  local dir
  mkdir -p "$DATA"
  dir=$(module_dir)
  [[ -f $dir/config/development-sqlite-file.yaml ]] \
    || die "go mod download of $TEMPORAL_MODULE $TEMPORAL_VERSION gave no config/development-sqlite-file.yaml"
  local move="s/\\b($PORTS)\\b/\$1 + $OFFSET/ge;"
  perl -pe "$move" "$dir/config/dynamicconfig/development-sql.yaml" >"$DATA/dynamicconfig.yaml"
  # Warnings only (the services log at WARNING in the benchmark too); one SQLite file for both
  # stores, as the module's configuration has it ("default", relative to the working folder).
  perl -pe "$move" \
    -e 's/^(\s*level:) info\s*$/$1 warn\n/;' \
    -e "s#databaseName: \"default\"#databaseName: \"$DATA/temporal.db\"#;" \
    -e "s#filepath: \"config/dynamicconfig/development-sql.yaml\"#filepath: \"$DATA/dynamicconfig.yaml\"#;" \
    "$dir/config/development-sqlite-file.yaml" >"$DATA/config.yaml"
  grep -q "$DATA/temporal.db" "$DATA/config.yaml" && grep -q "$DATA/dynamicconfig.yaml" "$DATA/config.yaml" \
    || die "the module's development-sqlite-file.yaml changed shape: see $DATA/config.yaml"
}

up() {
  if pid_of >/dev/null && healthy; then
    log "temporal already running"
    return
  fi
  install
  pid_of >/dev/null && down
  port_open "$TEMPORAL_PORT" \
    && die "port $TEMPORAL_PORT is taken by another process; stop it or set SMARTCITY_TEMPORAL_PORT"
  configure
  # From DATA: what the server writes relative to its working folder stays there. The pid file
  # holds the server's own pid (setsid execs it), as infra/stack.sh's do.
  cd "$DATA"
  nohup setsid "$BIN/temporal-server" --config-file "$DATA/config.yaml" --allow-no-auth start \
    >>"$LOGS/temporal.log" 2>&1 </dev/null &
  echo $! >"$RUN/temporal.pid"
  local deadline=$((SECONDS + 120))
  until healthy; do
    pid_of >/dev/null || die "Temporal's server exited; see $LOGS/temporal.log"
    ((SECONDS < deadline)) || die "Temporal's server did not answer in 120 s; see $LOGS/temporal.log"
    sleep 0.3
  done
  log "temporal up: gRPC 127.0.0.1:$TEMPORAL_PORT, HTTP http://127.0.0.1:$HTTP_PORT, state $DATA/temporal.db"
}

down() {
  local pid
  if pid=$(pid_of); then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    log "temporal stopped"
  fi
  rm -f "$RUN/temporal.pid"
}

status() {
  local pid
  if pid=$(pid_of) && healthy; then
    printf '%-10s running (pid %s)\n' temporal "$pid"
  elif pid=$(pid_of); then
    printf '%-10s started but not healthy (pid %s)\n' temporal "$pid"; return 1
  else
    printf '%-10s stopped\n' temporal; return 1
  fi
}

need curl "health checks"
case ${1:-status} in
  install) install ;;
  up) up ;;
  down) down ;;
  status) status ;;
  address) echo "127.0.0.1:$TEMPORAL_PORT" ;;
  *) die "usage: infra/temporal.sh install|up|down|status|address" ;;
esac
