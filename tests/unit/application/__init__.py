"""The application layer: services, runner, feeds, projections, analytics, the board hub and
the simulator."""
