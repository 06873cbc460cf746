"""The board hub: one read of each change for the whole process, fanned out to every client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from mcburger.application.board_hub import BoardHub, BoardMessage, BoardSubscriber
from mcburger.application.ports import JSON


class FakeBoard:
    """The board-change log as the views keep it, counting every read the hub makes."""

    def __init__(self, version: int = 0) -> None:
        self.changes: list[JSON] = []
        self.version = version
        self.reads = 0
        self.snapshots = 0
        self._appended = asyncio.Event()
        self._quiet = False  # the next empty wait returns [] (its timeout) instead of waiting

    def change(self, number: int, status: str) -> None:
        self.version += 1
        self.changes.append({"version": self.version, "number": number, "status": status,
                             "estimated_ready_at": None})
        self._appended.set()

    async def board_version(self) -> int:
        return self.version

    async def board(self) -> JSON:
        self.snapshots += 1
        latest: dict[int, str] = {}
        for change in self.changes:
            latest[change["number"]] = change["status"]
        return {"version": self.version, "estimates": {},
                **{key: [n for n, s in latest.items() if s == status] for key, status in
                   (("requested", "REQUESTED"), ("in_progress", "IN_PROGRESS"),
                    ("ready", "READY"))}}

    async def board_changes(self, since: int, limit: int = 500) -> list[JSON]:
        self.reads += 1
        return [c for c in self.changes if c["version"] > since][:limit]

    def replace(self, ready: list[int]) -> None:
        """Another restaurant's read models moved in under the hub: a shorter log, whose
        orders ``ready`` are READY; the hub's wait then ends empty, as at its timeout."""
        self.changes, self.version = [], 0
        for number in ready:
            self.change(number, "READY")
        self._quiet = True
        self._appended.set()

    async def wait_for_board_changes(self, since: int, timeout: float) -> list[JSON]:
        while not (found := await self.board_changes(since)):
            if self._quiet:
                self._quiet = False
                return []  # the timeout, without waiting it out
            self._appended.clear()
            await self._appended.wait()
        return found


@pytest.fixture
async def board() -> FakeBoard:
    return FakeBoard()


@pytest.fixture
async def hub(board: FakeBoard) -> AsyncIterator[BoardHub]:
    hub = BoardHub(board, buffer=4, recent=8)
    task = asyncio.create_task(hub.run())
    yield hub
    task.cancel()


async def settle() -> None:
    """Let the hub and the feeds run until nothing is ready to run."""
    for _ in range(20):
        await asyncio.sleep(0)


async def received(feed: BoardSubscriber, count: int) -> list[BoardMessage]:
    messages: list[BoardMessage] = []
    async with asyncio.timeout(2):
        async for message in feed:
            messages.append(message)
            if len(messages) == count:
                break
    return messages


async def test_a_feed_gets_the_snapshot_then_every_change_after_it_once(
        board: FakeBoard, hub: BoardHub) -> None:
    await settle()
    board.change(1, "REQUESTED")
    await settle()  # fanned out before the client came
    async with hub.subscribe() as feed:
        board.change(2, "REQUESTED")  # fanned out to the feed before it takes its snapshot
        board.change(1, "IN_PROGRESS")
        await settle()
        snapshot = (await received(feed, 1))[0]
        board.change(2, "IN_PROGRESS")
        messages = await received(feed, 1)

    assert snapshot.kind == "snapshot" and snapshot.version == 3
    assert snapshot.data["requested"] == [2] and snapshot.data["in_progress"] == [1]
    # what the snapshot holds is not sent again; what came after it is
    assert [(m.kind, m.version, m.data["number"]) for m in messages] == [("change", 4, 2)]


async def test_changes_after_the_snapshot_arrive_in_order_with_their_text(
        board: FakeBoard, hub: BoardHub) -> None:
    async with hub.subscribe() as feed:
        snapshot = (await received(feed, 1))[0]
        board.change(7, "REQUESTED")
        board.change(7, "IN_PROGRESS")
        board.change(7, "READY")
        messages = await received(feed, 3)

    assert snapshot.version == 0
    assert [(m.kind, m.version, m.data["status"]) for m in messages] == [
        ("change", 1, "REQUESTED"), ("change", 2, "IN_PROGRESS"), ("change", 3, "READY")]
    assert json.loads(messages[0].text) == board.changes[0]


async def test_each_change_is_read_once_whatever_the_number_of_clients(
        board: FakeBoard, hub: BoardHub) -> None:
    async def one_client(feeds: list[list[BoardMessage]]) -> None:
        async with hub.subscribe() as feed:
            feeds.append(await received(feed, 4))

    await settle()
    before = board.reads
    results: list[list[BoardMessage]] = []
    clients = [asyncio.create_task(one_client(results)) for _ in range(200)]
    await settle()
    for number in (1, 2, 3):
        board.change(number, "REQUESTED")
        await settle()
    await asyncio.gather(*clients)

    assert len(results) == 200
    assert all([m.version for m in messages] == [0, 1, 2, 3] for messages in results)
    # the hub's reads: the one that finds a change and the one that finds nothing more, for
    # the whole process; not one a client (that would be 600)
    assert board.reads - before <= 2 * 3
    assert board.snapshots == 1  # connecting together, they share one snapshot


async def test_a_client_that_falls_behind_gets_a_fresh_snapshot_and_never_holds_others(
        board: FakeBoard, hub: BoardHub) -> None:
    async with hub.subscribe() as slow, hub.subscribe() as quick:
        await received(slow, 1)
        await received(quick, 1)
        for number in range(1, 11):  # more than the buffer of 4, while `slow` reads nothing
            board.change(number, "REQUESTED")
            await settle()
            assert (await received(quick, 1))[0].version == number

        caught_up = await received(slow, 1)

    assert slow.resyncs >= 1 and quick.resyncs == 0
    assert caught_up[0].kind == "snapshot" and caught_up[0].version == 10
    assert sorted(caught_up[0].data["requested"]) == list(range(1, 11))


async def test_a_long_poll_answers_at_once_waits_for_a_change_or_times_out(
        board: FakeBoard, hub: BoardHub) -> None:
    await settle()
    board.change(1, "REQUESTED")
    await settle()
    assert [c["version"] for c in await hub.changes_after(0, timeout=5)] == [1]

    waiting = asyncio.create_task(hub.changes_after(1, timeout=5))
    await settle()
    assert not waiting.done()
    board.change(1, "IN_PROGRESS")
    async with asyncio.timeout(2):
        assert [c["status"] for c in await waiting] == ["IN_PROGRESS"]

    assert await hub.changes_after(2, timeout=0) == []


async def test_a_long_poll_older_than_the_hub_remembers_reads_the_log(
        board: FakeBoard, hub: BoardHub) -> None:
    await settle()
    for number in range(1, 21):  # more than the 8 recent changes the hub keeps
        board.change(number, "REQUESTED")
        await settle()

    found = await hub.changes_after(2, timeout=0)

    assert [c["version"] for c in found] == list(range(3, 21))


async def test_an_sse_client_resumes_after_its_last_event_id_or_gets_a_snapshot(
        board: FakeBoard, hub: BoardHub) -> None:
    await settle()
    for number in range(1, 6):
        board.change(number, "REQUESTED")
        await settle()

    async with hub.subscribe(last_version=3) as resumed:
        assert [(m.kind, m.version) for m in await received(resumed, 2)] == [
            ("change", 4), ("change", 5)]
    # ahead of the log (a cursor from an earlier life of the restaurant) or long forgotten
    for stale in (1137, None):
        async with hub.subscribe(last_version=stale) as fresh:
            first = (await received(fresh, 1))[0]
        assert first.kind == "snapshot" and first.version == 5


async def test_a_closed_feed_ends_its_iteration_at_once(hub: BoardHub) -> None:
    async with hub.subscribe() as feed:
        await received(feed, 1)
        waiting = asyncio.create_task(received(feed, 1))
        await settle()
        feed.close()
        async with asyncio.timeout(1):
            assert await waiting == []
    assert hub.subscribers == 0


async def test_a_hub_far_behind_skips_to_now_and_re_snapshots_instead_of_replaying(
        board: FakeBoard) -> None:
    hub = BoardHub(board, buffer=10_000)  # room for every change: a snapshot must be a skip
    running = asyncio.create_task(hub.run())
    async with hub.subscribe() as feed:
        await received(feed, 1)
        reads = board.reads
        for number in range(1, 1201):  # the views rebuilding: more than a page at once
            board.change(number, "REQUESTED")
        await settle()
        first = (await received(feed, 1))[0]
        board.change(1, "IN_PROGRESS")
        following = (await received(feed, 1))[0]
    running.cancel()

    assert first.kind == "snapshot" and first.version == 1200 and feed.resyncs == 1
    assert (following.kind, following.version) == ("change", 1201)
    assert board.reads - reads <= 4  # one page read and skipped, not 1,200 changes fanned out


async def test_read_models_replaced_behind_the_hub_give_every_feed_their_board_again(
        board: FakeBoard) -> None:
    for number in range(1, 11):
        board.change(number, "REQUESTED")
    hub = BoardHub(board, buffer=64)
    running = asyncio.create_task(hub.run())
    async with hub.subscribe() as feed:
        assert (await received(feed, 1))[0].version == 10
        board.replace(ready=[77, 78])  # version 2: behind the hub's 10
        again = (await received(feed, 1))[0]
        board.change(79, "REQUESTED")
        after = (await received(feed, 1))[0]
        polled = await hub.changes_after(2, timeout=0)
    running.cancel()

    assert again.kind == "snapshot" and again.version == 2
    assert again.data["ready"] == [77, 78] and again.data["requested"] == []
    assert (after.kind, after.version, after.data["number"]) == ("change", 3, 79)
    assert [change["number"] for change in polled] == [79]


class Screen:
    """One WebSocket client as the ASGI server hands it to ``board_socket``: what the client
    sends (``receive``) and what it is sent (``sent``); ``stuck`` makes every send wait (a
    client whose network stopped taking data)."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        self.inbox.put_nowait({"type": "websocket.connect"})
        self.sent: list[dict[str, object]] = []
        self.stuck = False

    async def receive(self) -> dict[str, object]:
        return await self.inbox.get()

    async def send(self, message: dict[str, object]) -> None:
        if self.stuck and message["type"] == "websocket.send":
            await asyncio.Event().wait()
        self.sent.append(message)

    def texts(self) -> list[JSON]:
        return [json.loads(str(m["text"])) for m in self.sent if m["type"] == "websocket.send"]


async def test_a_board_socket_sends_the_snapshot_then_each_change_until_the_client_leaves(
        hub: BoardHub, board: FakeBoard) -> None:
    from mcburger.entrypoints.api.board import board_socket

    board.change(1, "REQUESTED")
    screen = Screen()
    served = asyncio.create_task(board_socket(hub, screen.receive, screen.send))
    await settle()
    board.change(2, "REQUESTED")
    board.change(1, "IN_PROGRESS")
    await settle()

    assert screen.sent[0] == {"type": "websocket.accept"}
    snapshot, *changes = screen.texts()
    assert snapshot["requested"] == [1]
    assert [(c["number"], c["status"]) for c in changes] == [(2, "REQUESTED"),
                                                               (1, "IN_PROGRESS")]
    assert hub.subscribers == 1
    screen.inbox.put_nowait({"type": "websocket.disconnect", "code": 1001})
    await asyncio.wait_for(served, 5)
    assert hub.subscribers == 0, "a client that left holds no subscriber"


async def test_a_board_socket_that_cannot_send_is_closed_too_slow_and_never_holds_the_others(
        hub: BoardHub, board: FakeBoard, monkeypatch: pytest.MonkeyPatch) -> None:
    from mcburger.entrypoints.api import board as routes

    # No time to send: a send that has to wait (the client's buffers are full) times out at
    # once, one that goes straight out does not
    monkeypatch.setattr(routes, "SEND_TIMEOUT_SECONDS", 0)
    stuck, quick = Screen(), Screen()
    stuck.stuck = True
    served = [asyncio.create_task(routes.board_socket(hub, screen.receive, screen.send))
              for screen in (stuck, quick)]
    await settle()
    board.change(1, "REQUESTED")
    await settle()

    assert stuck.sent[-1] == {"type": "websocket.close", "code": routes.TOO_SLOW,
                              "reason": "too slow: reconnect"}
    assert [c.get("number") for c in quick.texts()[1:]] == [1], "the other client got it"
    await asyncio.wait_for(served[0], 5)
    assert hub.subscribers == 1
    quick.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(served[1], 5)


async def test_a_board_socket_stopped_by_the_server_is_not_closed_too_slow(
        hub: BoardHub, board: FakeBoard) -> None:
    from mcburger.entrypoints.api import board as routes

    stuck = Screen()
    stuck.stuck = True  # waiting in a send, as a screen with a full buffer, when the stop comes
    served = asyncio.create_task(routes.board_socket(hub, stuck.receive, stuck.send))
    await settle()
    served.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(served, 5)
    assert not any(m["type"] == "websocket.close" for m in stuck.sent), stuck.sent
    assert hub.subscribers == 0


async def test_an_sse_stream_pings_only_after_a_whole_quiet_period(
        hub: BoardHub, board: FakeBoard, monkeypatch: pytest.MonkeyPatch) -> None:
    from mcburger.entrypoints.api import board as routes

    made: list[routes._KeepAlive] = []

    class Seen(routes._KeepAlive):  # the stream's keep-alive, whose periods the test ends
        def __init__(self, subscriber: BoardSubscriber) -> None:
            super().__init__(subscriber)
            made.append(self)

    monkeypatch.setattr(routes, "_KeepAlive", Seen)
    board.change(1, "REQUESTED")
    stream = routes.event_stream(hub, None)
    assert (await anext(stream)).startswith(b"event: snapshot")
    keep_alive, = made  # its timer fires every 15 s; here _tick() ends a period

    keep_alive._tick()  # a period in which the snapshot was sent: nothing to keep alive
    board.change(2, "REQUESTED")
    assert (await asyncio.wait_for(anext(stream), 5)).startswith(b"event: change")
    keep_alive._tick()  # the change was sent in this period
    board.change(3, "REQUESTED")  # a change waiting when the period ends goes first
    await settle()
    keep_alive._tick()
    assert b'"number":3' in await asyncio.wait_for(anext(stream), 5)
    keep_alive._tick()  # a period that sent something
    keep_alive._tick()  # a whole period that sent nothing
    assert await asyncio.wait_for(anext(stream), 5) == b": ping\n\n"
    await stream.aclose()
    assert hub.subscribers == 0


async def test_a_stopping_server_ends_every_feed_and_answers_long_polls_at_once(
        hub: BoardHub, board: FakeBoard) -> None:
    async with hub.subscribe() as feed:
        await feed.get()  # the snapshot
        poll = asyncio.create_task(hub.changes_after(hub.version, timeout=60))
        await settle()
        assert hub.stats()["polling"] == 1

        hub.end_feeds()
        assert await asyncio.wait_for(poll, 5) == []
        assert await asyncio.wait_for(feed.get(), 5) is None and feed.closed
        assert await asyncio.wait_for(hub.changes_after(hub.version, timeout=60), 5) == []
        assert hub.stats()["polling"] == 0
