"""In-memory twins of the services' stores, for the unit tier only; each is kept honest by a
contract suite that runs the same tests against it and against the real store."""
