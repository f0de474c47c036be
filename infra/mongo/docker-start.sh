#!/usr/bin/env bash
# MongoDB in docker-compose.yml: a single-node replica set with authentication. A replica set
# with authentication needs a key file (its members authenticate each other with it): written
# here from MONGO_REPLICA_KEY (infra/kafka/compose-env.sh makes it), readable by mongod only.
# The official image's entrypoint then creates the root user (MONGO_INITDB_ROOT_*) and runs
# /docker-entrypoint-initdb.d/users.js once, on an empty data volume.
set -euo pipefail
: "${MONGO_REPLICA_KEY:?run infra/kafka/compose-env.sh > .env}"
key=/run/mongo-keyfile
(umask 077; printf '%s\n' "$MONGO_REPLICA_KEY" >"$key")
chown mongodb:mongodb "$key"
exec docker-entrypoint.sh mongod --replSet rs0 --bind_ip_all --keyFile "$key"
