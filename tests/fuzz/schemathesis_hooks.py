"""Schemathesis hooks for the fuzz tier (loaded through SCHEMATHESIS_HOOKS).

A long poll waits up to its ``timeout`` (0-60 s, 25 when not given) by design: a valid timeout is
cut to a tenth of a second, and a missing one given as that, so that a run stays bounded. Invalid
ones are left alone (the server must refuse them).
"""

from __future__ import annotations

from typing import Any

import schemathesis

QUICK_POLL_SECONDS = 0.1


@schemathesis.hook
def map_query(ctx: Any, query: dict[str, Any] | None) -> dict[str, Any] | None:
    operation = getattr(ctx, "operation", None)
    if getattr(operation, "path", None) != "/board/poll":
        return query
    query = {} if query is None else query
    value = query.get("timeout", QUICK_POLL_SECONDS)
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 60:
        query["timeout"] = min(value, QUICK_POLL_SECONDS)
    return query
