"""The composition root's wiring: the event flow, the services wired by bootstrap, the
distributed roles, two writers on one store."""
