"""Adapters tested without a server (the server-backed suites are in tests/contract/)."""
