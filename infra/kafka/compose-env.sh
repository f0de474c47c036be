#!/usr/bin/env bash
# Prints fresh Kafka passwords for docker-compose.yml, once per deployment:
#   infra/kafka/compose-env.sh > .env      (keep .env private; it is git-ignored)
set -euo pipefail
pw() { tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32; }
for var in KAFKA_BROKER_PASSWORD KAFKA_ADMIN_PASSWORD KAFKA_SVC_PROPOSALS_PASSWORD \
           KAFKA_SVC_APPROVALS_PASSWORD KAFKA_SVC_NOTIFICATIONS_PASSWORD KAFKA_SVC_CONSOLE_PASSWORD; do
  echo "$var=$(pw)"
done
