"""How the ``EventStore`` port maps onto KurrentDB (formerly EventStoreDB): names, versions, ids.

The store itself is ``kurrentdb.py``; these are the pure parts of the mapping it uses, tested
without a server (``tests/unit/adapters/test_kurrentdb_mapping.py``):

* **Streams and versions.** One of our streams is one KurrentDB stream of the same name (behind an
  optional ``namespace`` prefix, see below). Our versions are 1-based counts; KurrentDB stream
  positions are 0-based, so ``version = stream_position + 1``, and ``expected_version`` becomes
  the client's ``current_version``: 0 is ``StreamState.NO_STREAM``, ``n`` is ``n - 1``. The
  client's ``WrongCurrentVersionError`` is raised as ``WrongExpectedVersion``.
* **Events.** Event type = our stable type name; content type ``application/json``; data = the
  serializer's ``to_dict`` form (the event's fields plus ``type`` and ``version``, which is how
  the type version is kept); metadata stays empty. The KurrentDB event id is our ``event_id``
  when that is a UUID (it always is for events the domain makes), else a UUID5 of it. The
  client resends an append after a transport error; with the same ids and the same expected
  version KurrentDB treats the resend as a no-op success, so a retried append writes once.
* **Global log.** ``RecordedEvent.position`` is the event's ``commit_position`` in ``$all``:
  strictly increasing in commit order, with (large) gaps, never 1, 2, 3. Every event of a write
  has its own commit position (modern servers write "implicit transactions"; legacy explicit
  transactions, which shared one, cannot be made through this client). The log is ``$all``
  filtered on the server by stream name: only this namespace's streams, never ``$``-streams nor
  the tracking streams below; events whose type starts with ``$`` (system and link events) are
  dropped here as well. ``categories`` become stream-name prefixes ``<namespace><category>-``,
  re-checked here with ``category_of``. A follower cannot skip a late commit: ``$all`` is one
  log, written by one leader in commit order.
* **Tracking.** Consumer ``c``'s checkpoint is the newest ``TrackingMoved`` event (data
  ``{"consumer", "position"}``) of the stream ``mcburger_tracking-c``. An append with events
  and a tracking record writes both in ONE ``multi_append_to_stream`` call (KurrentDB >= 25.1),
  which is atomic: the events with the caller's expected version, the ``TrackingMoved`` with the
  tracking stream's version as read just before, after checking that the new position is past
  the recorded one (else ``AlreadyProcessed``). So events and checkpoint commit together or not
  at all, and two writers for one consumer are serialized by the tracking stream's version: the
  loser re-reads the checkpoint and gets ``AlreadyProcessed`` (or retries, if the winner's
  position was lower). A tracking-only append (no events) writes just the ``TrackingMoved``,
  with the same check and the same optimistic concurrency.
* **Snapshots.** The snapshot of stream ``s`` is the newest ``Snapshot`` event (data
  ``{"version", "position", "schema", "state"}``) of the stream ``mcburger_snapshot-s``, whose
  ``$maxCount`` is set to 1 when it is created, so the server keeps only the newest. A save
  appends after the version it read (an older snapshot never replaces a newer one); losing that
  race to another writer just keeps theirs. Snapshot streams are not in the log.
* **Waiting.** ``wait_for_append`` reads the head of the log, then holds a catch-up subscription
  to ``$all`` (same server-side filter) from that head, so it wakes on the first new event of
  the log, without polling; the timeout bounds it.
* **Namespace.** ``namespace`` (default ``""``) prefixes every stream name this store writes and
  is the only part of ``$all`` it reads; returned ``RecordedEvent.stream`` values are without it.
  Use one when the database is shared (the contract tests give every test its own); no
  namespace may be a prefix of another (``a_`` would see ``a_b_``'s streams). With the empty
  namespace, every non-``$`` stream of the database is in the log, so the database must hold
  only this application's events.
"""

from __future__ import annotations

import uuid

from kurrentdbclient import StreamState
from kurrentdbclient.exceptions import WrongCurrentVersionError

from mcburger.application.ports import WrongExpectedVersion

# What kurrentdbclient accepts; "+discover" asks the cluster's gossip for the leader.
URL_SCHEMES = ("kurrentdb", "kurrentdb+discover", "esdb", "esdb+discover", "kdb", "kdb+discover")

# Consumer c's checkpoint lives in stream "<namespace>mcburger_tracking-c".
TRACKING_CATEGORY = "mcburger_tracking"
TRACKING_EVENT_TYPE = "TrackingMoved"

# The snapshot of stream s lives in stream "<namespace>mcburger_snapshot-s" (newest event only).
SNAPSHOT_CATEGORY = "mcburger_snapshot"
SNAPSHOT_EVENT_TYPE = "Snapshot"

# Non-UUID event ids become UUID5s in this (fixed, arbitrary) namespace.
EVENT_ID_NAMESPACE = uuid.UUID("9d96e3b2-1879-438b-a969-2f0c6534cddd")


def client_url(url: str) -> str:
    """``url`` if kurrentdbclient takes it (``kurrentdb://host:2113?tls=false``, ``esdb://...``)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in URL_SCHEMES:
        raise ValueError(
            f"not a KurrentDB URL: {url!r} (write kurrentdb://host:2113?tls=false or esdb://...)"
        )
    return url


def current_version_for(expected_version: int) -> int | StreamState:
    """Our 1-based ``expected_version`` as the client's ``current_version``."""
    if expected_version < 0:
        raise WrongExpectedVersion(f"expected version {expected_version}: versions start at 0")
    return StreamState.NO_STREAM if expected_version == 0 else expected_version - 1


def version_of(stream_position: int) -> int:
    """Our 1-based version of the event at a 0-based KurrentDB stream position."""
    return stream_position + 1


def event_uuid(event_id: str) -> uuid.UUID:
    """The KurrentDB event id for our ``event_id``: itself if it is a UUID, else a UUID5 of it."""
    try:
        return uuid.UUID(event_id)
    except ValueError:
        return uuid.uuid5(EVENT_ID_NAMESPACE, event_id)


def _regex_literal(text: str) -> str:
    # A backslash before a non-word character is a literal in .NET regexes (the server's) too.
    return "".join(ch if ch.isalnum() or ch in "_-" else "\\" + ch for ch in text)


def log_stream_pattern(namespace: str) -> str:
    """The server-side stream-name filter of the log (kurrentdbclient anchors it: ``^...$``)."""
    return (f"{_regex_literal(namespace)}(?!\\$|{_regex_literal(TRACKING_CATEGORY)}-"
            f"|{_regex_literal(SNAPSHOT_CATEGORY)}-).*")


def wrong_version(
    stream: str, expected_version: int, error: WrongCurrentVersionError
) -> WrongExpectedVersion:
    actual = error.actual_version
    at = version_of(actual) if isinstance(actual, int) else 0  # StreamState.NO_STREAM
    return WrongExpectedVersion(f"{stream}: at {at}, expected {expected_version}")
