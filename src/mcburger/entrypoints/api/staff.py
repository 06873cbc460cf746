"""Staff access: what only staff may do needs ``Authorization: Bearer <staff token>``.

Staff routes: collecting an order, the order list, the kitchen, the stock, analytics (and
``/metrics`` when ``protect_metrics`` is set). Customers need nothing to read the menu, place
an order, follow one order and watch the board.

- The token is compared in constant time (``hmac.compare_digest``) and never logged or echoed.
- 401 (with ``WWW-Authenticate: Bearer``, RFC 6750) without a token or with a wrong one.
- Guessing is slowed down per client address: ``FREE_FAILURES`` wrong tries, then one more each
  ``SECONDS_PER_TRY``; a client over its allowance gets 429 with ``Retry-After`` and its token is
  not even compared. The table of clients is bounded (``MAX_CLIENTS``, least recent dropped).
"""

from __future__ import annotations

import hmac
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

FREE_FAILURES = 5
SECONDS_PER_TRY = 2.0
MAX_CLIENTS = 10_000
REALM = "mcburger staff"

bearer = HTTPBearer(
    auto_error=False, scheme_name="staffToken",
    description="The staff token: MCBURGER_STAFF_TOKEN, or the file `staff-token` in the data "
                "directory that `mcburger run` creates at first start (see the README)")


class FailureLimiter:
    """A token bucket of wrong tries per client: ``capacity`` at once, then one per ``period``
    seconds. O(1) a request; at most ``max_clients`` clients remembered."""

    def __init__(self, capacity: int = FREE_FAILURES, period: float = SECONDS_PER_TRY,
                 max_clients: int = MAX_CLIENTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = capacity
        self._period = period
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tries, at

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again (0: now)."""
        tries = self._tries(client)
        return 0 if tries >= 1 else math.ceil((1 - tries) * self._period)

    def failed(self, client: str) -> None:
        self._buckets[client] = (max(self._tries(client) - 1, 0.0), self._clock())
        self._buckets.move_to_end(client)
        while len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)

    def _tries(self, client: str) -> float:
        entry = self._buckets.get(client)
        if entry is None:
            return float(self._capacity)
        tries, at = entry
        return min(self._capacity, tries + (self._clock() - at) / self._period)


class StaffGuard:
    """Checks a presented token against the staff token; see the module's docstring."""

    def __init__(self, token: str, limiter: FailureLimiter | None = None) -> None:
        self._token = token.encode()
        self.limiter = limiter or FailureLimiter()

    def check(self, client: str, presented: str | None) -> None:
        """Return if ``presented`` is the staff token; else raise 401 (or 429 when ``client``
        has used its wrong tries: then a token is not even compared, right or wrong, or the
        slow-down would not slow guessing). No token at all is always a plain 401."""
        if presented is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                                "staff only: send Authorization: Bearer <staff token>",
                                headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'})
        wait = self.limiter.retry_after(client)
        if wait:
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                                f"too many wrong staff tokens from this client: retry in {wait} s",
                                headers={"Retry-After": str(wait)})
        if hmac.compare_digest(presented.encode(), self._token):
            return
        self.limiter.failed(client)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "wrong staff token",
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token"'})


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def require_staff(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
    """Dependency of every staff route (declares the bearer scheme in OpenAPI)."""
    guard: StaffGuard = request.app.state.staff
    guard.check(_client(request), credentials.credentials if credentials else None)


async def require_staff_for_metrics(request: Request) -> None:
    """``/metrics``: open unless the app was made with ``protect_metrics`` (then its OpenAPI
    declares the bearer scheme there too; see ``app.py``)."""
    if request.app.state.protect_metrics:
        credentials = await bearer(request)
        await require_staff(request, credentials)


STAFF = Depends(require_staff)
STAFF_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"description": "No staff token, or a wrong one"},
    429: {"description": "Too many wrong staff tokens from this client; see Retry-After"},
}
