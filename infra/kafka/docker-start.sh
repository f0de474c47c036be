#!/usr/bin/env bash
# Entrypoint of the `kafka` service in docker-compose.yml, on the official apache/kafka image:
# renders the same broker configuration as the local stack (infra/kafka/*.properties.in,
# mounted at /smartcity/kafka), formats the storage once with the SCRAM credentials of the
# broker, the admin and every service (KIP-900; passwords from the environment), then starts.
set -euo pipefail
TEMPLATES=${TEMPLATES:-/smartcity/kafka}
DATA=${KAFKA_DATA_DIR:-/var/lib/kafka/data}
PROPS=/tmp/server.properties
BIN=/opt/kafka/bin
: "${KAFKA_BROKER_PASSWORD:?set it (see docs/security.md: infra/kafka/compose-env.sh > .env)}"
: "${KAFKA_ADMIN_PASSWORD:?set it (see docs/security.md: infra/kafka/compose-env.sh > .env)}"

(umask 077
 cat "$TEMPLATES/server.properties.in" "$TEMPLATES/security.properties.in" | sed \
   -e "s#@KAFKA_PORT@#9092#g" -e "s#@CONTROLLER_PORT@#9093#g" -e "s#@DATA_DIR@#$DATA#g" \
   -e "s#@LISTEN_HOST@#0.0.0.0#g" -e "s#@ADVERTISED_HOST@#${KAFKA_ADVERTISED_HOST:-kafka}#g" \
   -e "s#@BROKER_PASSWORD@#$KAFKA_BROKER_PASSWORD#g" >"$PROPS"
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
