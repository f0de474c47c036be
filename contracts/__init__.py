"""Wire contracts shared by every service and every agency integrator: data only, no I/O."""
