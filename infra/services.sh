#!/usr/bin/env bash
# Run the project's services in the background on loopback, with logs and pid files in .local/.
# Usage: infra/services.sh up|down|status|restart SERVICE...
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL=${SMARTCITY_LOCAL_DIR:-$ROOT/.local}
RUN=$LOCAL/run
LOGS=$LOCAL/logs
PY=${PY:-$ROOT/.venv/bin/python}
umask 077  # the services' logs are their owner's only
mkdir -p "$RUN" "$LOGS"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

port_of() {  # the service's HTTP port, from its own settings class (env vars respected)
  "$PY" -c "import importlib; m = importlib.import_module('services.$1.config'); \
cls = next(v for k, v in vars(m).items() if k.endswith('Settings') and v.__module__ == m.__name__); \
print(cls().http_port)"
}

pid_of() {
  local f=$RUN/svc-$1.pid pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# Each service connects as its own principal, svc-<name>, with the passwords generated for this
# stack: Kafka's at its storage-format time (.local/kafka/credentials), the store's when
# PostgreSQL is first set up (.local/store/credentials; infra/stack.sh makes both).
# The servers' addresses follow SMARTCITY_*_PORT (as infra/stack.sh does) unless the service's own
# variable is set.
kafka_env() {
  local name=$1 prefix password var
  prefix=$(tr '[:lower:]' '[:upper:]' <<<"$name")
  password=$(sed -n "s/^svc-$name //p" "$LOCAL/kafka/credentials" 2>/dev/null || true)
  echo "${prefix}_KAFKA_USERNAME=svc-$name" "${prefix}_KAFKA_PASSWORD=$password"
  var=${prefix}_KAFKA_BOOTSTRAP
  [[ -n ${!var:-} ]] || echo "$var=$("$ROOT/infra/stack.sh" bootstrap)"
  # The store as the service's own role (infra/postgres/roles.sql), password from this stack.
  var=${prefix}_MONGO_URL
  if [[ -z ${!var:-} ]]; then
    password=$(sed -n "s/^svc-$name //p" "$LOCAL/store/credentials" 2>/dev/null || true)
    echo "$var=mongodb://svc-$name:$password@127.0.0.1:${SMARTCITY_FERRETDB_PORT:-27017}/?authMechanism=PLAIN"
  fi
  if [[ $name == notifications && -z ${NOTIFICATIONS_SMTP_PORT:-} ]]; then
    echo "NOTIFICATIONS_SMTP_PORT=${SMARTCITY_SMTP_PORT:-1025}"
  fi
  # Each service signs the facts it publishes (and approvals the certificates it awards) with
  # its own key, registered for svc-<name> (`make up` keeps one: smartcity-admin signing-key
  # ensure); the certificate's verification link is the approvals service's public page.
  var=${prefix}_SIGNING_KEY_FILE
  if [[ -z ${!var:-} && -f $LOCAL/service-signing-keys/svc-$name.pem ]]; then
    echo "$var=$LOCAL/service-signing-keys/svc-$name.pem"
  fi
  if [[ $name == notifications && -z ${NOTIFICATIONS_CERTIFICATE_URL:-} ]]; then
    echo "NOTIFICATIONS_CERTIFICATE_URL=http://127.0.0.1:$(port_of approvals)"
  fi
  # One go-live date for every service that judges history by it (letters, reminders, the
  # registry's status): the local stack carries the 2022 round live and the 2021 round as
  # history (docs/notifications.md).
  var=${prefix}_GO_LIVE
  [[ -n ${!var:-} || ! $name =~ ^(approvals|notifications|console)$ ]] \
    || echo "$var=${SMARTCITY_GO_LIVE:-2022-01-01}"
}

# Only the admin creates topics and ACLs: provision the stack's (namespace "") before any
# service starts (idempotent).
provision() {
  cd "$ROOT"
  "$PY" -m smartcity_th.services.common.kafka_cli provision >>"$LOGS/provision.log" 2>&1 \
    || die "provisioning Kafka topics and ACLs as the admin failed; the end of $LOGS/provision.log:
$(tail -n 6 "$LOGS/provision.log")"
}

healthy() { curl -fsS "http://127.0.0.1:$1/healthz" >/dev/null 2>&1; }

up_one() {
  local name=$1 port
  port=$(port_of "$name")
  if pid_of "$name" >/dev/null && healthy "$port"; then
    log "$name already running on http://127.0.0.1:$port"
    return
  fi
  cd "$ROOT"
  (
    # shellcheck disable=SC2046
    export $(kafka_env "$name")
    nohup setsid "$PY" -m "smartcity_th.services.$name" >>"$LOGS/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN/svc-$name.pid"
  )
  for _ in $(seq 1 150); do
    if healthy "$port"; then log "$name up on http://127.0.0.1:$port"; return; fi
    pid_of "$name" >/dev/null || die "$name exited; the end of $LOGS/$name.log:
$(tail -n 3 "$LOGS/$name.log")"
    sleep 0.2
  done
  die "$name not healthy after 30 s; see $LOGS/$name.log"
}

down_one() {
  local pid
  if pid=$(pid_of "$1"); then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    log "$1 stopped"
  fi
  rm -f "$RUN/svc-$1.pid"
}

cmd=${1:-status}
shift || true
(($#)) || die "name at least one service"
case $cmd in
  up) provision; for s in "$@"; do up_one "$s"; done ;;
  down) for s in "$@"; do down_one "$s"; done ;;
  restart) provision; for s in "$@"; do down_one "$s"; up_one "$s"; done ;;
  status)
    for s in "$@"; do
      if pid=$(pid_of "$s"); then printf '%-14s running (pid %s)\n' "$s" "$pid"
      else printf '%-14s stopped\n' "$s"; fi
    done ;;
  *) die "usage: infra/services.sh up|down|status|restart SERVICE..." ;;
esac
