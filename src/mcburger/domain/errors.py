"""Domain errors: each names what was wrong so an edge can turn it into a clear message."""


class DomainError(Exception):
    """Base class of every rule the domain refuses."""


class InvalidMenu(DomainError):
    """The menu document is malformed."""


class InvalidOrder(DomainError):
    """An order breaks a rule; ``field`` names the offending part (e.g. ``items.0.item``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class IdempotencyKeyReused(DomainError):
    """An Idempotency-Key already placed an order with other items."""

    def __init__(self, key: str, number: int) -> None:
        super().__init__(f"already used for order {number}, with other items")
        self.key = key
        self.number = number


class UnknownOrder(DomainError):
    """No order has that number."""


class OrderNotReady(DomainError):
    """Only a READY order can be collected."""
