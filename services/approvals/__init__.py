"""Approvals service: the certification workflow, from depa's screening to the smart-city logo."""
