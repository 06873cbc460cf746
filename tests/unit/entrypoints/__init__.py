"""The HTTP API served in-process through the app factory (ASGI): health, staff access,
idempotency keys, hostile input."""
