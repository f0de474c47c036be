"""Runtime kit shared by the services: settings base, Kafka, MongoDB, outbox, consumers, HTTP."""
