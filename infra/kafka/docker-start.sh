#!/usr/bin/env bash
# Entrypoint of the `kafka` service in docker-compose.yml, on the official apache/kafka image:
# renders the same broker configuration as the local stack (infra/kafka/*.properties.in,
# mounted at /smartcity/kafka) with one more listener for the host, formats the storage once with the SCRAM credentials of the
# broker, the admin and every service (KIP-900; passwords from the environment), then starts.
set -euo pipefail
TEMPLATES=${TEMPLATES:-/smartcity/kafka}
DATA=${KAFKA_DATA_DIR:-/var/lib/kafka/data}
PROPS=/tmp/server.properties
BIN=${KAFKA_BIN:-/opt/kafka/bin}
: "${KAFKA_BROKER_PASSWORD:?set it (see docs/security.md: infra/kafka/compose-env.sh > .env)}"
: "${KAFKA_ADMIN_PASSWORD:?set it (see docs/security.md: infra/kafka/compose-env.sh > .env)}"

EXTERNAL_PORT=${KAFKA_EXTERNAL_PORT:-9094}
[[ $EXTERNAL_PORT =~ ^[0-9]+$ ]] || { echo "error: KAFKA_EXTERNAL_PORT is not a port" >&2; exit 1; }

# The listeners of the local stack's templates, plus an EXTERNAL one for the host: the same
# SASL/SCRAM, on container port 9094, advertised as 127.0.0.1:$KAFKA_EXTERNAL_PORT (the port
# docker-compose.yml publishes on the host's loopback). Containers use kafka:9092.
(umask 077
 cat "$TEMPLATES/server.properties.in" "$TEMPLATES/security.properties.in" \
   | grep -v -e '^listeners=' -e '^advertised.listeners=' -e '^listener.security.protocol.map=' \
   | sed -e "s#@KAFKA_PORT@#9092#g" -e "s#@CONTROLLER_PORT@#9093#g" -e "s#@DATA_DIR@#$DATA#g" \
   -e "s#@BROKER_PASSWORD@#$KAFKA_BROKER_PASSWORD#g" >"$PROPS"
 printf '%s\n' "# ---- listeners (infra/kafka/docker-start.sh)" \
   "listeners=SASL_PLAINTEXT://0.0.0.0:9092,EXTERNAL://0.0.0.0:9094,CONTROLLER://127.0.0.1:9093" \
   "advertised.listeners=SASL_PLAINTEXT://${KAFKA_ADVERTISED_HOST:-kafka}:9092,EXTERNAL://127.0.0.1:$EXTERNAL_PORT" \
   "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,EXTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT" \
   "listener.name.external.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;" \
   >>"$PROPS"
 # The health check's client configuration (the admin).
 printf '%s\n' "security.protocol=SASL_PLAINTEXT" "sasl.mechanism=SCRAM-SHA-512" \
   "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$KAFKA_ADMIN_PASSWORD\";" \
   >/tmp/admin.properties)

if [[ ! -f $DATA/meta.properties ]]; then
  scram=()
  for pair in "broker:KAFKA_BROKER_PASSWORD" "admin:KAFKA_ADMIN_PASSWORD" \
              "svc-proposals:KAFKA_SVC_PROPOSALS_PASSWORD" "svc-approvals:KAFKA_SVC_APPROVALS_PASSWORD" \
              "svc-notifications:KAFKA_SVC_NOTIFICATIONS_PASSWORD" "svc-console:KAFKA_SVC_CONSOLE_PASSWORD"; do
    name=${pair%%:*} var=${pair#*:}
    [[ -n ${!var:-} ]] || { echo "error: $var is not set" >&2; exit 1; }
    scram+=(--add-scram "SCRAM-SHA-512=[name=$name,password=${!var}]")
  done
  "$BIN/kafka-storage.sh" format --standalone -t "$("$BIN/kafka-storage.sh" random-uuid)" \
    -c "$PROPS" "${scram[@]}"
fi
exec "$BIN/kafka-server-start.sh" "$PROPS"
