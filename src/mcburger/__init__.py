"""McBurger Orders: an event-sourced order system for quick-service restaurants."""
