"""Scenarios played through the running stack by agency-like clients (the main job, `make demo`)."""
