"""The domain's rules: aggregates, the menu, time; driven through ``Simulation``, which runs
the same rules as the services."""
