#!/usr/bin/env bash
# Prints fresh passwords for docker-compose.yml, once per deployment:
#   infra/kafka/compose-env.sh > .env      (keep .env private; it is git-ignored)
# Kafka's principals, MongoDB's root user and one user per service (each in its own database),
# the replica set's member key, and Grafana's admin.
set -euo pipefail
pw() { tr -dc 'A-Za-z0-9' </dev/urandom | head -c "${1:-32}"; }
for var in KAFKA_BROKER_PASSWORD KAFKA_ADMIN_PASSWORD KAFKA_SVC_PROPOSALS_PASSWORD \
           KAFKA_SVC_APPROVALS_PASSWORD KAFKA_SVC_NOTIFICATIONS_PASSWORD KAFKA_SVC_CONSOLE_PASSWORD \
           MONGO_ROOT_PASSWORD MONGO_SVC_PROPOSALS_PASSWORD MONGO_SVC_APPROVALS_PASSWORD \
           MONGO_SVC_NOTIFICATIONS_PASSWORD MONGO_SVC_CONSOLE_PASSWORD GRAFANA_ADMIN_PASSWORD; do
  echo "$var=$(pw)"
done
echo "MONGO_REPLICA_KEY=$(pw 64)"
