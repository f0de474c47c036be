"""Tests against the three-node local Kafka (`make test-cluster`)."""
