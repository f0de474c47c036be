"""Console service: the operators' tamper-evident audit log of every topic, a web console and
the `smartcity` CLI."""
