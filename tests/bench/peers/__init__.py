"""Peer engines the benchmark runs the same lifecycle on, side by side with the backbone
(`make bench BENCH_ARGS="--peer temporal"`; docs/performance.md, "Peer")."""
