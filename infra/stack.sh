#!/usr/bin/env bash
# Local servers for development and tests, all on loopback, no Docker:
#   Apache Kafka (KRaft, jars from Maven Central), PostgreSQL (Debian's package, a private cluster
#   under .local/), FerretDB on that PostgreSQL (built from the Go module proxy) and Mailpit (SMTP
#   sink with a web UI, built from the Go module proxy).
#   A watchdog (`storewatch`, infra/storewatch.py) restarts FerretDB when it stops answering.
# Usage: infra/stack.sh install|up|down|status|restart [kafka|postgres|ferretdb|mailpit ...]
#        infra/stack.sh heal ferretdb PID REASON   (the watchdog's restart; counted)
#        infra/stack.sh bootstrap                  (the Kafka bootstrap list clients use)
# SMARTCITY_KAFKA_NODES=3: Kafka as a three-node KRaft cluster (each node broker and controller;
#   node N on SMARTCITY_KAFKA_PORT + 10*(N-1), its controller on SMARTCITY_KAFKA_CONTROLLER_PORT +
#   10*(N-1); replication factor 3, min.insync.replicas 2). `kafka` then means the three nodes;
#   kafka-1, kafka-2 and kafka-3 name one of them (docs/deployment.md).
# Idempotent: `up` starts only what is not running and returns once every server is healthy.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL=${SMARTCITY_LOCAL_DIR:-$ROOT/.local}
BIN=$LOCAL/bin
RUN=$LOCAL/run
LOGS=$LOCAL/logs

KAFKA_PORT=${SMARTCITY_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${SMARTCITY_KAFKA_CONTROLLER_PORT:-9093}
KAFKA_NODES=${SMARTCITY_KAFKA_NODES:-1}
FERRETDB_PORT=${SMARTCITY_FERRETDB_PORT:-27017}
FERRETDB_DEBUG_PORT=${SMARTCITY_FERRETDB_DEBUG_PORT:-27018}
POSTGRES_PORT=${SMARTCITY_POSTGRES_PORT:-5432}
# on: a commit is answered once its WAL is on disk. With off, PostgreSQL answers before the WAL
# writer has even written it, and a crash of PostgreSQL alone (SIGKILL, the OS surviving) lost
# acknowledged commits in the measurement (python -m tests.chaos.pg_crash; docs/performance.md).
POSTGRES_SYNCHRONOUS_COMMIT=${SMARTCITY_POSTGRES_SYNCHRONOUS_COMMIT:-on}
SMTP_PORT=${SMARTCITY_SMTP_PORT:-1025}
MAILPIT_HTTP_PORT=${SMARTCITY_MAILPIT_HTTP_PORT:-8025}
JAEGER_UI_PORT=${SMARTCITY_JAEGER_UI_PORT:-16686}
JAEGER_QUERY_GRPC_PORT=${SMARTCITY_JAEGER_QUERY_GRPC_PORT:-16685}
JAEGER_OTLP_GRPC_PORT=${SMARTCITY_JAEGER_OTLP_GRPC_PORT:-4317}
JAEGER_OTLP_HTTP_PORT=${SMARTCITY_JAEGER_OTLP_HTTP_PORT:-4318}
JAEGER_MAX_TRACES=${SMARTCITY_JAEGER_MAX_TRACES:-20000}

FERRETDB_VERSION=v1.24.2
FERRETDB_POOL_MAX_CONNS=${SMARTCITY_FERRETDB_POOL_MAX_CONNS:-40}
MAILPIT_VERSION=v1.33.1
JAEGER_VERSION=v1.76.0
ALL=(kafka postgres ferretdb mailpit jaeger storewatch)
# The virtualenv's Python runs the store watchdog and its ping (PyMongo); `make` creates it.
PY=${SMARTCITY_PYTHON:-$ROOT/.venv/bin/python}
FERRETDB_RESTARTS=$RUN/ferretdb-restarts.log
PGDATA_DIR=$LOCAL/postgres/data
PGSOCK_DIR=$LOCAL/postgres/run

# Private: the stack's data, logs and secrets are readable by its owner only (.local/ 0700,
# what the servers write 0600 or 0700). The `postgres` user, which runs PostgreSQL when this runs
# as root, cannot reach .local/ then: its cluster lives under /var/lib/postgresql (below).
umask 077
mkdir -p "$LOCAL" && chmod 700 "$LOCAL"
mkdir -p "$BIN" "$RUN" "$LOGS"

log() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] error: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is required ($2) but was not found on PATH"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

[[ $KAFKA_NODES == 1 || $KAFKA_NODES == 3 ]] || die "SMARTCITY_KAFKA_NODES is 1 or 3, not '$KAFKA_NODES'"

kafka_node() {  # kafka_node NAME: NODE_ID, NODE_PORT, ... of `kafka` (one node) or `kafka-N`
  local i=1
  [[ $1 == kafka-* ]] && i=${1#kafka-}
  NODE_ID=$i
  NODE_PORT=$((KAFKA_PORT + 10 * (i - 1)))
  NODE_CONTROLLER_PORT=$((KAFKA_CONTROLLER_PORT + 10 * (i - 1)))
  if [[ $1 == kafka ]]; then
    NODE_DIR=$LOCAL/kafka NODE_LOGS=$LOGS
  else
    NODE_DIR=$LOCAL/kafka/node-$i NODE_LOGS=$LOGS/kafka-$i
  fi
}
kafka_servers() { if ((KAFKA_NODES == 1)); then echo kafka; else seq -f 'kafka-%g' 1 "$KAFKA_NODES"; fi; }
kafka_bootstrap() {
  local s out=
  for s in $(kafka_servers); do kafka_node "$s"; out+=${out:+,}127.0.0.1:$NODE_PORT; done
  echo "$out"
}
kafka_voters() {  # the cluster's static controller quorum
  local i out=
  for ((i = 1; i <= KAFKA_NODES; i++)); do
    out+=${out:+,}$i@127.0.0.1:$((KAFKA_CONTROLLER_PORT + 10 * (i - 1)))
  done
  echo "$out"
}
kind_of() { if [[ $1 == kafka-* ]]; then echo kafka; else echo "$1"; fi; }

pid_of() {
  local f=$RUN/$1.pid
  [[ -f $f ]] || return 1
  local pid
  pid=$(<"$f")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

wait_until() {  # wait_until SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.3
  done
  log "$what"
}

# ---------------------------------------------------------------- install
install_kafka() {
  need java "Java 17 runs the Kafka broker"
  need mvn "Maven resolves the Kafka jars from Maven Central"
  local cp=$LOCAL/kafka/classpath.txt pom=$ROOT/infra/kafka/pom.xml
  mkdir -p "$LOCAL/kafka"
  if [[ ! -s $cp || $pom -nt $cp ]]; then
    log "resolving Kafka jars with Maven (first run downloads them)"
    mvn -q -B -f "$pom" dependency:build-classpath -Dmdep.outputFile="$cp" >"$LOGS/maven.log" 2>&1 \
      || die "Maven could not resolve the Kafka jars; see $LOGS/maven.log"
  fi
}

ferretdb_build() { echo "$FERRETDB_VERSION $(cat "$ROOT"/infra/ferretdb/*.patch | sha256sum | cut -c1-16)"; }

install_ferretdb() {
  need go "Go builds FerretDB from the Go module proxy"
  need patch "patch applies infra/ferretdb/*.patch to FerretDB's source"
  local bin=$BIN/ferretdb stamp=$BIN/ferretdb.build want
  # The build is stamped with the version and the patches' checksums: a binary built without
  # the current patches (or from another version) is rebuilt.
  want=$(ferretdb_build)
  if [[ -x $bin && -f $stamp && $(<"$stamp") == "$want" ]]; then
    return
  fi
  log "building FerretDB $FERRETDB_VERSION with infra/ferretdb's patches (about 1-2 minutes)"
  # `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2` builds, but the binary panics at
  # start: build/version/version.txt is generated from `git describe` and is absent from the
  # module zip. So fetch the same module from the proxy, write that file, and build cmd/ferretdb.
  local dir src=$LOCAL/build/ferretdb
  dir=$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d $dir ]] || die "go mod download of FerretDB $FERRETDB_VERSION failed"
  rm -rf "$src" && mkdir -p "$(dirname "$src")" && cp -r "$dir" "$src" && chmod -R u+w "$src"
  : >"$LOGS/ferretdb-build.log"
  echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  local p
  for p in "$ROOT"/infra/ferretdb/*.patch; do  # infra/ferretdb/README.md says why each exists
    patch -p1 -s -d "$src" <"$p" >>"$LOGS/ferretdb-build.log" 2>&1 \
      || die "applying $p to FerretDB's source failed; see $LOGS/ferretdb-build.log"
  done
  (cd "$src" && go build -trimpath -o "$bin" ./cmd/ferretdb) >>"$LOGS/ferretdb-build.log" 2>&1 \
    || die "building FerretDB failed; see $LOGS/ferretdb-build.log"
  echo "$want" >"$stamp"
}

pg_bin() {  # the newest installed PostgreSQL's server binaries
  local dir
  dir=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n1)
  [[ -n $dir && -x $dir/initdb ]] || return 1
  echo "$dir"
}

install_postgres() {
  pg_bin >/dev/null && return
  [[ $EUID -eq 0 ]] || die "PostgreSQL is missing: run 'apt-get install postgresql' as root (or this script as root)"
  log "installing Debian's postgresql (once)"
  # Only the binaries are wanted: no system-wide cluster on the default port.
  mkdir -p /etc/postgresql-common/createcluster.d
  echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/smartcity.conf
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql)
  "${apt[@]}" >"$LOGS/postgres-install.log" 2>&1 \
    || { apt-get update -q >>"$LOGS/postgres-install.log" 2>&1 && "${apt[@]}" >>"$LOGS/postgres-install.log" 2>&1; } \
    || die "installing postgresql failed; see $LOGS/postgres-install.log"
  pg_bin >/dev/null || die "postgresql installed but no /usr/lib/postgresql/*/bin/initdb found"
}

as_pg_user() {  # PostgreSQL refuses to run as root: root runs it as the 'postgres' user
  if [[ $EUID -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    (cd / && runuser -u postgres -- "$@")  # from /: the postgres user may not reach the cwd
  else
    "$@"
  fi
}

install_mailpit() {
  need go "Go builds Mailpit from the Go module proxy"
  [[ -x $BIN/mailpit ]] && return
  log "building Mailpit $MAILPIT_VERSION (first run downloads and compiles, about 1 minute)"
  GOBIN=$BIN go install "github.com/axllent/mailpit@$MAILPIT_VERSION" >"$LOGS/mailpit-build.log" 2>&1 \
    || die "building Mailpit failed; see $LOGS/mailpit-build.log"
}

install_jaeger() {
  need go "Go builds Jaeger from the Go module proxy"
  local bin=$BIN/jaeger stamp=$BIN/jaeger.version
  [[ -x $bin && -f $stamp && $(<"$stamp") == "$JAEGER_VERSION" ]] && return
  log "building Jaeger $JAEGER_VERSION (first run downloads and compiles, several minutes)"
  # The module's `cmd/jaeger` is the Jaeger v2 binary (an OpenTelemetry Collector distribution),
  # released under the module's v1.x tags. It is built in a throw-away module that pins it as a
  # tool, so that its own go.mod decides every dependency's version. The web UI's assets are not
  # in the module (Jaeger's release builds add them from the separate jaeger-ui project), so this
  # build serves the query API (/api/traces, /api/services) and a placeholder page; the console
  # renders a trace from that API, and docker-compose runs the official image with the UI.
  local mod=$LOCAL/build/jaeger
  mkdir -p "$mod"
  (
    cd "$mod"
    [[ -f go.mod ]] || go mod init smartcity.local/jaeger-build
    go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION"
    go build -trimpath -o "$bin" github.com/jaegertracing/jaeger/cmd/jaeger
  ) >"$LOGS/jaeger-build.log" 2>&1 || die "building Jaeger failed; see $LOGS/jaeger-build.log"
  echo "$JAEGER_VERSION" >"$stamp"
}

# ---------------------------------------------------------------- health
kafka_healthy() {  # kafka_healthy [NODE]
  kafka_node "${1:-kafka}"
  port_open "$NODE_PORT" && grep -q "Kafka Server started" "$NODE_LOGS/kafka.log" 2>/dev/null
}
postgres_healthy() {
  port_open "$POSTGRES_PORT" && "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres
}
ferretdb_healthy() {
  port_open "$FERRETDB_PORT" &&
    curl -fsS "http://127.0.0.1:$FERRETDB_DEBUG_PORT/debug/readyz" >/dev/null 2>&1
}
ferretdb_answers() {  # readyz does not look at PostgreSQL: a real command over the wire does
  SMARTCITY_LOCAL_DIR=$LOCAL "$PY" "$ROOT/infra/storewatch.py" --once --port "$FERRETDB_PORT" \
    --run-dir "$RUN" --deadline 5
}
storewatch_healthy() { pid_of storewatch >/dev/null; }
mailpit_healthy() {
  port_open "$SMTP_PORT" && curl -fsS "http://127.0.0.1:$MAILPIT_HTTP_PORT/readyz" >/dev/null 2>&1
}

jaeger_healthy() {
  port_open "$JAEGER_OTLP_HTTP_PORT" &&
    curl -fsS "http://127.0.0.1:$JAEGER_UI_PORT/api/services" >/dev/null 2>&1
}

# ---------------------------------------------------------------- start
spawn() {  # spawn NAME LOGFILE COMMAND...
  local name=$1 logfile=$2
  shift 2
  nohup setsid "$@" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

# Principals whose SCRAM credentials are written at storage-format time (KIP-900): the broker
# itself, the stack's admin and one per service (contracts/access.py names the same services).
KAFKA_PRINCIPALS=(broker admin svc-proposals svc-approvals svc-notifications svc-console)

kafka_insecure() { [[ ${SMARTCITY_KAFKA_INSECURE:-} =~ ^(1|true|yes)$ ]]; }

kafka_credentials() {  # generate the stack's passwords once (mode 600, never committed)
  local file=$LOCAL/kafka/credentials name
  mkdir -p "$LOCAL/kafka"
  (umask 077; touch "$file")
  for name in "${KAFKA_PRINCIPALS[@]}"; do
    grep -q "^$name " "$file" || echo "$name $(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32)" >>"$file"
  done
}

kafka_password() { sed -n "s/^$1 //p" "$LOCAL/kafka/credentials"; }

# The store's principals, each a PostgreSQL role with a password made once per stack
# (scram-sha-256): the superuser (infra/ and the restore drill only), FerretDB's own role (loads
# every database's metadata; a member of `admin`), the operators' `admin` (a member of every
# service's role: the tests, chaos, the restore drill's counts, reset-local), the watchdog's
# `storewatch` (no rights on any data: its ping checks that PostgreSQL answers through FerretDB)
# and one role per service, which owns that service's database (a schema) and nothing else.
# infra/postgres/roles.sql grants that; docs/security.md, "The local stores", says who may do what.
STORE_PRINCIPALS=(postgres ferretdb admin storewatch svc-proposals svc-approvals svc-notifications svc-console)
STORE_CREDENTIALS=$LOCAL/store/credentials

store_credentials() {  # generate the store's passwords once (mode 600, never committed)
  local name
  mkdir -p "$LOCAL/store"
  (umask 077; touch "$STORE_CREDENTIALS")
  for name in "${STORE_PRINCIPALS[@]}"; do
    grep -q "^$name " "$STORE_CREDENTIALS" \
      || echo "$name $(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32)" >>"$STORE_CREDENTIALS"
  done
}

store_password() { sed -n "s/^$1 //p" "$STORE_CREDENTIALS"; }

pg_client() {  # pg_client TOOL ARGS...: a PostgreSQL client program as the superuser, over TCP
  local tool=$1
  shift
  PGPASSWORD=$(store_password postgres) "$(pg_bin)/$tool" -h 127.0.0.1 -p "$POSTGRES_PORT" \
    -U postgres "$@"
}

kafka_cluster_id() {  # one id for every node of the cluster, made once
  local file=$LOCAL/kafka/cluster.id cp
  if [[ ! -s $file ]]; then
    cp=$(<"$LOCAL/kafka/classpath.txt")
    java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1 >"$file"
  fi
  cat "$file"
}

start_kafka() {  # start_kafka [NODE]: the one node, or a node of the cluster
  install_kafka
  local name=${1:-kafka}
  kafka_node "$name"
  local dir=$NODE_DIR props=$NODE_DIR/server.properties cp security cluster=() quorum heap
  mkdir -p "$dir" "$NODE_LOGS"
  cp=$(<"$LOCAL/kafka/classpath.txt")
  kafka_credentials
  security=$ROOT/infra/kafka/security.properties.in
  if kafka_insecure; then
    log "WARNING: SMARTCITY_KAFKA_INSECURE is set: Kafka runs WITHOUT authentication or ACLs"
    security=$ROOT/infra/kafka/insecure.properties.in
  fi
  quorum=controller.quorum.bootstrap.servers=127.0.0.1:$NODE_CONTROLLER_PORT
  heap=(-Xms512m -Xmx1g)
  if [[ $name == kafka-* ]]; then
    cluster=("$ROOT/infra/kafka/cluster.properties.in")
    quorum=controller.quorum.voters=$(kafka_voters)
    heap=(-Xms256m -Xmx512m)
  fi
  cat "$ROOT/infra/kafka/server.properties.in" "$security" "${cluster[@]}" | sed \
      -e "s#@KAFKA_PORT@#$NODE_PORT#g" -e "s#@CONTROLLER_PORT@#$NODE_CONTROLLER_PORT#g" \
      -e "s#^node.id=.*#node.id=$NODE_ID#" -e "s#^controller.quorum.bootstrap.servers=.*#$quorum#" \
      -e "s#@LISTEN_HOST@#127.0.0.1#g" -e "s#@ADVERTISED_HOST@#127.0.0.1#g" \
      -e "s#@DATA_DIR@#$dir/data#g" -e "s#@BROKER_PASSWORD@#$(kafka_password broker)#g" >"$props"
  chmod 600 "$props"
  local java_opts=("${heap[@]}" -XX:+UseG1GC -Djava.awt.headless=true
                   -Dlog4j2.configurationFile="$ROOT/infra/kafka/log4j2.properties"
                   -Dkafka.logs.dir="$NODE_LOGS")
  if [[ -f $dir/data/meta.properties && ! -f $dir/data/.scram-formatted ]]; then
    # Storage formatted before authentication existed has no SCRAM users: keep it aside.
    local aside=$dir/data.pre-auth.$(date +%Y%m%d%H%M%S)
    log "Kafka storage has no SCRAM credentials; moving it to $aside and formatting anew"
    mv "$dir/data" "$aside"
  fi
  if [[ ! -f $dir/data/meta.properties ]]; then
    log "formatting $name's storage with the stack's SCRAM credentials (once)"
    local scram=() name_ format=(--standalone -t "$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)")
    [[ $name == kafka-* ]] && format=(-t "$(kafka_cluster_id)")  # the static quorum's voters
    for name_ in "${KAFKA_PRINCIPALS[@]}"; do
      scram+=(--add-scram "SCRAM-SHA-512=[name=$name_,password=$(kafka_password "$name_")]")
    done
    java "${java_opts[@]}" -cp "$cp" kafka.tools.StorageTool format "${format[@]}" \
      -c "$props" "${scram[@]}" >"$NODE_LOGS/kafka-format.log" 2>&1 \
      || die "formatting Kafka storage failed; see $NODE_LOGS/kafka-format.log"
    touch "$dir/data/.scram-formatted"
  fi
  : >"$NODE_LOGS/kafka.log"
  spawn "$name" "$NODE_LOGS/kafka.out" java "${java_opts[@]}" -cp "$cp" kafka.Kafka "$props"
  # A node of the cluster is not up before a quorum is: `up` starts them all, then waits.
  [[ -n ${KAFKA_SPAWN_ONLY:-} ]] || kafka_wait "$name"
}

kafka_wait() {
  kafka_node "$1"
  local what="kafka up on 127.0.0.1:$NODE_PORT"
  [[ $1 == kafka-* ]] && what="$1 up on 127.0.0.1:$NODE_PORT (controller $NODE_CONTROLLER_PORT)"
  wait_until 180 "$what" kafka_healthy "$1" \
    || die "$1 did not become healthy in 180 s; see $NODE_LOGS/kafka.log and $NODE_LOGS/kafka.out"
}

kafka_other_mode_down() {  # one node and a cluster share ports: stop what the other mode runs
  local others other pid
  if ((KAFKA_NODES == 1)); then others=$(seq -f 'kafka-%g' 1 3); else others=kafka; fi
  for other in $others; do  # told together: a node left alone waits for a quorum to leave
    if pid=$(pid_of "$other"); then
      log "$other runs, but SMARTCITY_KAFKA_NODES=$KAFKA_NODES: stopping it"
      kill -TERM -- "-$pid" 2>/dev/null || true
    fi
  done
  for other in $others; do down_one "$other"; done
}

pg_orphans_removed() {  # the clusters of .local/ folders that are gone or made again
  local owner home local_dir
  for owner in "$1"/*.owner; do
    [[ -f $owner ]] || continue
    home=${owner%.owner}
    local_dir=$(<"$owner")
    if [[ $(readlink "$local_dir/postgres" 2>/dev/null) != "$home" ]]; then
      log "removing $home: the PostgreSQL cluster of $local_dir, which no longer uses it"
      rm -rf -- "$home" "$owner"
    fi
  done
}

pg_home_for_root() {  # as root: a home for the cluster that the postgres user can reach
  id postgres >/dev/null 2>&1 || as_pg_user true
  if [[ ! -L $LOCAL/postgres ]] && ! runuser -u postgres -- test -x "$LOCAL" 2>/dev/null; then
    # A root's clone in a private folder (a root's home is 0700): PostgreSQL runs as `postgres`
    # and cannot reach it, so the cluster lives under /var/lib/postgresql, linked from here.
    # Its name is new for each .local/ (a fresh clone at the same path starts on an empty
    # store, not on the databases a deleted clone left behind); a home whose .local/ no longer
    # links to it (the clone or its .local/ deleted) is removed first: nothing can log in to it.
    local home homes=/var/lib/postgresql/smartcity
    home=$homes/$(printf '%s %s' "$LOCAL" "$(date +%s%N)$$" | sha256sum | cut -c1-12)
    log "the postgres user cannot reach $LOCAL; the cluster lives in $home ($LOCAL/postgres links to it)"
    mkdir -p "$homes"
    pg_orphans_removed "$homes"
    if [[ -f $LOCAL/postgres/data/PG_VERSION ]] && pid_of postgres >/dev/null; then
      return  # it runs from there: moved once it has stopped (up_one restarts it)
    fi
    if [[ -f $LOCAL/postgres/data/PG_VERSION ]]; then
      # A cluster made while .local/ was open to everyone: moved, not lost.
      [[ ! -e $home ]] || die "$LOCAL/postgres holds a cluster and $home exists: move one aside"
      log "moving the PostgreSQL cluster from $LOCAL/postgres to $home"
      mv "$LOCAL/postgres" "$home"
    fi
    mkdir -p "$home"
    printf '%s\n' "$LOCAL" >"$home.owner"
    chown postgres: "$homes" "$home"
    rm -rf "$LOCAL/postgres"  # what an earlier attempt left there could never have run
    ln -s "$home" "$LOCAL/postgres"
  fi
  if [[ -L $LOCAL/postgres ]]; then  # PostgreSQL gets the real paths, never the link's
    PGDATA_DIR=$(readlink -f "$LOCAL/postgres")/data
    PGSOCK_DIR=$(readlink -f "$LOCAL/postgres")/run
  fi
}

start_postgres() {
  install_postgres
  local bin
  bin=$(pg_bin)
  [[ $EUID -eq 0 ]] && pg_home_for_root
  mkdir -p "$PGDATA_DIR" "$PGSOCK_DIR"
  [[ $EUID -eq 0 ]] && chown -R postgres: "$(dirname "$PGDATA_DIR")"
  chmod 700 "$PGDATA_DIR"
  store_credentials
  if [[ ! -f $PGDATA_DIR/PG_VERSION ]]; then
    log "initialising the PostgreSQL cluster in $PGDATA_DIR (once)"
    # No client may connect before postgres_secure has set the superuser's password.
    as_pg_user "$bin/initdb" -D "$PGDATA_DIR" -A reject -U postgres -E UTF8 --locale=C.UTF-8 \
      >"$LOGS/postgres-initdb.log" 2>&1 || die "initdb failed; see $LOGS/postgres-initdb.log"
  fi
  postgres_secure "$bin"
  touch "$LOGS/postgres.log" && { [[ $EUID -ne 0 ]] || chown postgres: "$LOGS/postgres.log"; }
  # Not `pg_ctl start`: spawn keeps the postmaster in its own process group with a pid file here.
  local user=()
  [[ $EUID -eq 0 ]] && user=(runuser -u postgres --)
  # max_connections: FerretDB keeps one pool per role (at most FERRETDB_POOL_MAX_CONNS each,
  # below): 7 roles x 40 = 280, under the 297 that non-superusers may open.
  spawn postgres "$LOGS/postgres.log" "${user[@]}" "$bin/postgres" -D "$PGDATA_DIR" \
    -p "$POSTGRES_PORT" -k "$PGSOCK_DIR" -c listen_addresses=127.0.0.1 \
    -c synchronous_commit="$POSTGRES_SYNCHRONOUS_COMMIT" -c max_connections=300 \
    -c password_encryption=scram-sha-256 \
    -c shared_buffers=256MB -c logging_collector=off \
    -c shared_preload_libraries=pg_stat_statements
  wait_until 60 "postgres up on 127.0.0.1:$POSTGRES_PORT" postgres_healthy \
    || die "PostgreSQL did not become healthy in 60 s; see $LOGS/postgres.log"
  postgres_provision
}

postgres_provision() {  # the store's database, extensions, GIN twins and roles (idempotent)
  if ! pg_client psql -tAc "SELECT 1 FROM pg_database WHERE datname='ferretdb'" | grep -q 1; then
    pg_client createdb ferretdb || die "createdb ferretdb failed"
  fi
  # Which SQL FerretDB runs and what it costs (docs/performance.md): SELECT ... FROM
  # pg_stat_statements ORDER BY total_exec_time DESC.
  pg_client psql -d ferretdb -qtAc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
    >/dev/null 2>&1 || die "could not enable pg_stat_statements"
  # Indexes FerretDB's equality filters can use (infra/postgres/gin-twins.sql explains why).
  pg_client psql -d ferretdb -qtA -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
    -f - <"$ROOT/infra/postgres/gin-twins.sql" >"$LOGS/postgres-gin-twins.log" 2>&1 \
    || die "could not install the GIN twins; see $LOGS/postgres-gin-twins.log"
  # The store's roles, their passwords and rights (idempotent; infra/postgres/roles.sql).
  local vars=() name
  for name in "${STORE_PRINCIPALS[@]}"; do
    [[ $name == postgres ]] || vars+=(-v "pw_${name//-/_}=$(store_password "$name")")
  done
  pg_client psql -d ferretdb -qtA -v ON_ERROR_STOP=1 "${vars[@]}" \
    -c "SET client_min_messages = warning" -f - <"$ROOT/infra/postgres/roles.sql" \
    >"$LOGS/postgres-roles.log" 2>&1 \
    || die "could not set up the store's roles; see $LOGS/postgres-roles.log"
}

postgres_secure() {  # postgres_secure BIN: password authentication only (scram-sha-256)
  local bin=$1 hba=$PGDATA_DIR/pg_hba.conf stamp=$PGDATA_DIR/smartcity-auth
  # The stamp holds a hash of the superuser's password: a new password (or a cluster made with
  # `initdb -A trust` before this existed) is set again, in single-user mode, before the server
  # listens, and the client authentication file is written anew.
  postgres_secured && return
  log "setting the PostgreSQL superuser's password and scram-sha-256 authentication"
  printf "ALTER ROLE postgres PASSWORD '%s';\n" "$(store_password postgres)" \
    | as_pg_user "$bin/postgres" --single -D "$PGDATA_DIR" -c password_encryption=scram-sha-256 \
      postgres >"$LOGS/postgres-secure.log" 2>&1 \
    || die "could not set the superuser's password; see $LOGS/postgres-secure.log"
  printf '%s\n' "# infra/stack.sh: every connection logs in with a password (scram-sha-256)" \
    "local all all scram-sha-256" "host all all 127.0.0.1/32 scram-sha-256" \
    "host all all ::1/128 scram-sha-256" | as_pg_user tee "$hba" >/dev/null
  postgres_auth_stamp | as_pg_user tee "$stamp" >/dev/null
}

postgres_auth_stamp() { echo "scram-sha-256 $(store_password postgres | sha256sum | cut -c1-16)"; }
postgres_secured() {
  store_credentials
  [[ $EUID -eq 0 ]] && pg_home_for_root
  [[ $(as_pg_user cat "$PGDATA_DIR/smartcity-auth" 2>/dev/null) == "$(postgres_auth_stamp)" ]]
}

start_ferretdb() {
  install_ferretdb
  postgres_healthy || up_one postgres
  mkdir -p "$LOCAL/ferretdb"
  store_credentials
  # FerretDB (with infra/ferretdb/store-auth.patch) refuses a client that has not logged in, and
  # runs a client's commands as the PostgreSQL role it logged in as (PLAIN), in one pool of
  # connections per role: at most FERRETDB_POOL_MAX_CONNS each (max_connections above), an idle
  # connection closed after a minute. Its own role (the URL's) only loads the databases'
  # metadata. The URL is passed in the environment, not on the command line `ps` shows.
  FERRETDB_POSTGRESQL_URL="postgres://ferretdb:$(store_password ferretdb)@127.0.0.1:$POSTGRES_PORT/ferretdb?pool_max_conns=$FERRETDB_POOL_MAX_CONNS&pool_max_conn_idle_time=1m&sslmode=disable" \
  spawn ferretdb "$LOGS/ferretdb.log" "$BIN/ferretdb" --handler=postgresql \
    --state-dir="$LOCAL/ferretdb" \
    --listen-addr="127.0.0.1:$FERRETDB_PORT" --debug-addr="127.0.0.1:$FERRETDB_DEBUG_PORT" \
    --telemetry=disable --log-level=warn
  ferretdb_build >"$RUN/ferretdb.build"  # what runs: a later build restarts it (up_one)
  wait_until 30 "ferretdb up on 127.0.0.1:$FERRETDB_PORT" ferretdb_healthy \
    || die "FerretDB did not become healthy in 30 s; see $LOGS/ferretdb.log"
}

start_mailpit() {
  install_mailpit
  mkdir -p "$LOCAL/mailpit"
  spawn mailpit "$LOGS/mailpit.log" "$BIN/mailpit" --listen "127.0.0.1:$MAILPIT_HTTP_PORT" \
    --smtp "127.0.0.1:$SMTP_PORT" --database "$LOCAL/mailpit/mail.db" --max 0 \
    --smtp-auth-accept-any --smtp-auth-allow-insecure --disable-version-check
  wait_until 30 "mailpit up: SMTP 127.0.0.1:$SMTP_PORT, web http://127.0.0.1:$MAILPIT_HTTP_PORT" mailpit_healthy \
    || die "Mailpit did not become healthy in 30 s; see $LOGS/mailpit.log"
}

start_jaeger() {
  install_jaeger
  mkdir -p "$LOCAL/jaeger"
  sed -e "s#@UI_PORT@#$JAEGER_UI_PORT#g" -e "s#@QUERY_GRPC_PORT@#$JAEGER_QUERY_GRPC_PORT#g" \
      -e "s#@OTLP_GRPC_PORT@#$JAEGER_OTLP_GRPC_PORT#g" -e "s#@OTLP_HTTP_PORT@#$JAEGER_OTLP_HTTP_PORT#g" \
      -e "s#@MAX_TRACES@#$JAEGER_MAX_TRACES#g" "$ROOT/infra/jaeger/config.yaml.in" \
      >"$LOCAL/jaeger/config.yaml"
  spawn jaeger "$LOGS/jaeger.log" "$BIN/jaeger" --config "$LOCAL/jaeger/config.yaml"
  wait_until 60 "jaeger up: OTLP http://127.0.0.1:$JAEGER_OTLP_HTTP_PORT, query http://127.0.0.1:$JAEGER_UI_PORT" jaeger_healthy \
    || die "Jaeger did not become healthy in 60 s; see $LOGS/jaeger.log"
}

install_storewatch() { :; }  # nothing to build: a Python script

storewatch_script() { sha256sum "$ROOT/infra/storewatch.py" | cut -c1-64; }

start_storewatch() {
  storewatch_script >"$RUN/storewatch.script"
  [[ -x $PY ]] || die "the store watchdog needs the virtualenv's Python ($PY): run 'make setup' first"
  SMARTCITY_LOCAL_DIR=$LOCAL spawn storewatch "$LOGS/storewatch.log" "$PY" \
    "$ROOT/infra/storewatch.py" --port "$FERRETDB_PORT" --run-dir "$RUN"
  log "storewatch up: restarts FerretDB if it stops answering (restarts: $FERRETDB_RESTARTS)"
}

heal_ferretdb() {  # heal ferretdb PID REASON: restart the FerretDB process PID that hangs
  local pid=$1 reason=$2
  [[ $(pid_of ferretdb || true) == "$pid" ]] || { log "ferretdb $pid is gone already"; return 0; }
  if ! postgres_healthy; then
    log "ferretdb $pid does not answer, but neither does PostgreSQL: not restarting ferretdb"
    return 0
  fi
  printf '%s pid %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$pid" "$reason" >>"$FERRETDB_RESTARTS"
  log "ferretdb (pid $pid) hangs while PostgreSQL answers ($reason): restarting it"
  down_one ferretdb
  up_one ferretdb
}

postgres_setting_check() {  # a running cluster keeps the setting it was started with
  local running
  running=$(pg_client psql -tAc "SHOW synchronous_commit" 2>/dev/null) || return 0
  [[ $running == "$POSTGRES_SYNCHRONOUS_COMMIT" ]] && return 0
  log "WARNING: postgres runs with synchronous_commit=$running, not $POSTGRES_SYNCHRONOUS_COMMIT" \
    "(SMARTCITY_POSTGRES_SYNCHRONOUS_COMMIT); 'infra/stack.sh restart postgres' applies it"
}

kafka_mode_changed() {  # the running broker was started in the other security mode
  kafka_node "$1"
  local props=$NODE_DIR/server.properties want=SASL_PLAINTEXT
  kafka_insecure && want=PLAINTEXT
  ! grep -q "^listeners=$want://" "$props" 2>/dev/null
}

up_one() {
  local kind
  kind=$(kind_of "$1")
  if pid_of "$1" >/dev/null && "${kind}_healthy" "$1"; then
    if [[ $kind == kafka ]] && kafka_mode_changed "$1"; then
      log "$1 runs in the other security mode (SMARTCITY_KAFKA_INSECURE); restarting it"
      down_one "$1"
    else
      if [[ $1 == ferretdb && $(cat "$RUN/ferretdb.build" 2>/dev/null) != "$(ferretdb_build)" ]]; then
        log "ferretdb runs a build without infra/ferretdb's current patches; restarting it"
        down_one ferretdb
      elif [[ $1 == ferretdb ]] && ! ferretdb_answers 2>/dev/null; then
        log "ferretdb runs but does not answer a ping; restarting it"
        down_one ferretdb
      elif [[ $1 == storewatch && $(cat "$RUN/storewatch.script" 2>/dev/null) != "$(storewatch_script)" ]]; then
        # An older watchdog may not log in the way FerretDB now requires: it would take every
        # refused ping for a hung store and restart FerretDB again and again.
        log "storewatch runs an older infra/storewatch.py; restarting it"
        down_one storewatch
      elif [[ $1 == postgres ]] && ! postgres_secured; then
        log "postgres runs without password authentication; restarting it to set it up"
        down_one postgres
      else
        log "$1 already running"
        if [[ $1 == postgres ]]; then postgres_setting_check; postgres_provision; fi
        return
      fi
    fi
  fi
  local port
  case $1 in
    kafka|kafka-*) kafka_node "$1"; port=$NODE_PORT ;;
    postgres) port=$POSTGRES_PORT ;; ferretdb) port=$FERRETDB_PORT ;;
    mailpit) port=$SMTP_PORT ;;
    jaeger) port=$JAEGER_OTLP_HTTP_PORT ;;
    storewatch) port= ;;
  esac
  if [[ -n $port ]] && ! pid_of "$1" >/dev/null && port_open "$port"; then
    die "port $port is taken by another process; stop it or set the SMARTCITY_*_PORT variables"
  fi
  "start_$kind" "$1"
}

down_one() {
  local pid
  local sig=TERM
  [[ $1 == postgres ]] && sig=INT  # PostgreSQL's fast shutdown (TERM waits for every client)
  if pid=$(pid_of "$1"); then
    kill -"$sig" -- "-$pid" 2>/dev/null || kill -"$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done  # its ports free
    log "$1 stopped"
  fi
  rm -f "$RUN/$1.pid"
}

status_one() {
  local pid
  local why
  if [[ $1 == ferretdb ]] && pid=$(pid_of "$1") && ferretdb_healthy && ! why=$(ferretdb_answers 2>&1); then
    printf '%-10s running but not answering a ping (pid %s): %s\n' "$1" "$pid" "$why"; return 1
  elif pid=$(pid_of "$1") && "$(kind_of "$1")_healthy" "$1"; then
    printf '%-10s running (pid %s)\n' "$1" "$pid"
  elif pid=$(pid_of "$1"); then
    printf '%-10s started but not healthy (pid %s)\n' "$1" "$pid"; return 1
  else
    printf '%-10s stopped\n' "$1"; return 1
  fi
}

cmd=${1:-status}
shift || true
targets=("$@")
((${#targets[@]})) || targets=("${ALL[@]}")
if [[ $cmd == bootstrap ]]; then
  kafka_bootstrap
  exit 0
fi
if [[ $cmd == heal ]]; then
  [[ ${targets[0]:-} == ferretdb && ${#targets[@]} -eq 3 ]] || die "usage: infra/stack.sh heal ferretdb PID REASON"
  heal_ferretdb "${targets[1]}" "${targets[2]}"
  exit 0
fi
expanded=()
for t in "${targets[@]}"; do
  case $t in
    kafka) mapfile -t -O "${#expanded[@]}" expanded < <(kafka_servers); continue ;;
    kafka-[1-3]) ((KAFKA_NODES == 3)) || die "$t is a node of the cluster: set SMARTCITY_KAFKA_NODES=3" ;;
    postgres|ferretdb|mailpit|jaeger|storewatch) ;;
    *) die "unknown server '$t' (kafka, postgres, ferretdb, mailpit, jaeger, storewatch)" ;;
  esac
  expanded+=("$t")
done
targets=("${expanded[@]}")

need curl "health checks"
if [[ $cmd == up ]]; then  # what an older stack (or a server's own umask) left readable to others
  find "$LOCAL" -xdev ! -type l -perm /077 -exec chmod go-rwx {} + 2>/dev/null || true
fi
case $cmd in
  install) for t in "${targets[@]}"; do "install_$(kind_of "$t")"; done ;;
  up)
    if [[ " ${targets[*]} " == *" kafka"* ]]; then kafka_other_mode_down; fi
    nodes=()  # a cluster's nodes are started together, then waited for
    for t in "${targets[@]}"; do
      if [[ $t == kafka-* ]]; then KAFKA_SPAWN_ONLY=1 up_one "$t"; nodes+=("$t"); fi
    done
    for t in "${nodes[@]}"; do kafka_wait "$t"; done
    for t in "${targets[@]}"; do [[ $t == kafka-* ]] || up_one "$t"; done ;;
  down)
    # `down` stops the other mode's Kafka too (what a `make test-cluster` before left running).
    if [[ " ${targets[*]} " == *" kafka"* ]]; then kafka_other_mode_down; fi
    # A cluster's nodes are told to stop together: one left alone waits for a quorum to leave.
    for t in "${targets[@]}"; do
      if [[ $t == kafka-* ]] && pid=$(pid_of "$t"); then kill -TERM -- "-$pid" 2>/dev/null || true; fi
    done
    for ((i=${#targets[@]}-1; i>=0; i--)); do down_one "${targets[$i]}"; done ;;
  restart) for t in "${targets[@]}"; do down_one "$t"; up_one "$t"; done ;;
  status) rc=0; for t in "${targets[@]}"; do status_one "$t" || rc=1; done; exit $rc ;;
  *) die "usage: infra/stack.sh install|up|down|status|restart [kafka|postgres|ferretdb|mailpit|jaeger|storewatch ...]" ;;
esac
