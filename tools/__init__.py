"""Development tooling of this repository; not part of what integrators install."""
