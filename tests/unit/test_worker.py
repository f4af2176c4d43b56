"""The worker's escrow: growing delays, the window's end, the caps, the busy re-queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from connector.core.errors import ConnectorError, Throttled, Transient
from connector.domain.entries import Action, LogEntry
from connector.domain.messages import ChangeMessage
from connector.flows.sync import SyncService
from connector.flows.worker import PATIENCE, ChangeWorker, PoisonHandler
from connector.storage.changes import MAX_QUEUE_DELAY_SECONDS
from tests.unit.memory import MemoryFeed, MemoryLeases, MemoryLog

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
# Graph says the login is taken and nobody shows it yet: retried for minutes only
REPLICATION_DELAY = Transient("login taken, nobody shows it", service="graph", brief=True)


class FailingService:
    """A sync that raises the given error (None: succeeds with a "created" entry)."""

    def __init__(self) -> None:
        self.error: Exception | None = Transient("service unavailable", service="graph")
        self.patience: list[bool] = []  # each try's `patience_over`

    def sync(
        self, employee_id: str, event_keys: tuple[str, ...] = (), *, patience_over: bool = False
    ) -> LogEntry:
        """Fail (a brief failure: until told the patience is over), or succeed."""
        self.patience.append(patience_over)
        brief = isinstance(self.error, Transient) and self.error.brief
        if self.error is not None and not (brief and patience_over):
            raise self.error
        return LogEntry(time=START, action=Action.CREATED, message="ok", employee_id=employee_id)


class World:
    """A worker on memory stores, with a clock the test moves."""

    def __init__(self, window_hours: int = 24) -> None:
        self.now = START
        self.feed, self.log, self.service = MemoryFeed(), MemoryLog(), FailingService()
        self.leases = MemoryLeases(clock=lambda: self.now)
        self.worker = ChangeWorker(
            feed=self.feed,
            leases=self.leases,
            service=cast(SyncService, self.service),
            log=self.log,
            busy_delay_seconds=10,
            retry_window_hours=window_hours,
            clock=lambda: self.now,
        )

    def run(self, message: ChangeMessage) -> str:
        """Handle one message; the clock then moves on by the delay it was re-queued with."""
        outcome = self.worker.handle(message.to_json())
        if self.feed.queued:
            self.now += timedelta(seconds=self.feed.queued[-1][1])
        return outcome

    def run_until_done(self, message: ChangeMessage, tries: int = 5) -> list[str]:
        """Handle the change and each re-queued copy until it stops being retried (at most
        `tries`); the outcomes in order."""
        outcomes = []
        for _ in range(tries):
            outcomes.append(self.run(message))
            if outcomes[-1] != "will retry":
                break
            message = self.last()
        return outcomes

    def last(self) -> ChangeMessage:
        """The last message re-queued."""
        return self.feed.queued[-1][0]


def first_message() -> ChangeMessage:
    """The change as the intake queued it."""
    return ChangeMessage(employee_id="7", event_key="k", topic="employee.created", queued_at=START)


def test_transient_failures_are_requeued_with_growing_delays() -> None:
    """1, 5, 15, 60 minutes, then hourly; the message carries its first failure and tries;
    one "will retry" entry for them all."""
    world = World()
    message = first_message()
    for _ in range(6):
        assert world.run(message) == "will retry"
        message = world.last()
    assert [delay for _, delay in world.feed.queued] == [60, 300, 900, 3600, 3600, 3600]
    assert message.first_failed_at == START and message.failed_tries == 6
    [entry] = world.log.entries
    assert entry.action is Action.RETRYING and "2026-03-03 08:00 UTC" in entry.message
    assert entry.details["next_try"] == (START + timedelta(minutes=1)).isoformat()


def test_the_last_try_is_at_the_end_of_the_window_then_raised() -> None:
    """A delay never passes the window's end; a failure at the end is raised for the host."""
    world = World(window_hours=2)
    message = first_message()
    while world.now < START + timedelta(hours=2):
        world.run(message)
        message = world.last()
    assert world.now == START + timedelta(hours=2)
    # 1 + 5 + 15 + 60 minutes, then the 39 minutes left, not a whole hour
    assert [d for _, d in world.feed.queued] == [60, 300, 900, 3600, 2340]
    with pytest.raises(Transient):
        world.worker.handle(message.to_json())
    assert world.feed.errors["7"][0] == "graph answered: service unavailable"


def test_a_brief_failure_is_retried_for_minutes_then_the_last_try_reports_it() -> None:
    """A replication delay (`Transient(brief=True)`): re-queued within PATIENCE only, not for
    RETRY_WINDOW_HOURS; the try at its end runs with `patience_over` and ends the change."""
    world = World(window_hours=24)
    world.service.error = REPLICATION_DELAY
    message = first_message()
    outcomes = world.run_until_done(message)
    assert outcomes == ["will retry", "will retry", "created"]
    assert [d for _, d in world.feed.queued] == [60, 240]  # 1 minute, then the 4 left
    assert world.service.patience == [False, False, True]
    assert sum(d for _, d in world.feed.queued) == PATIENCE.total_seconds()


def test_a_brief_failure_after_an_outage_still_gets_its_minutes() -> None:
    """The change failed on an outage for an hour, then meets a replication delay: its
    patience counts from the first brief failure, not from the outage's start, so it is
    retried for minutes before the last try reports it."""
    world = World(window_hours=24)
    message = first_message()
    for _ in range(3):  # 1 + 5 + 15 minutes of outage
        world.run(message)
        message = world.last()
    world.service.error = REPLICATION_DELAY
    outcomes = world.run_until_done(message)
    assert outcomes == ["will retry", "created"]  # the growing delay is cut to the minutes
    assert world.feed.queued[-1][1] == PATIENCE.total_seconds()
    assert world.service.patience[-2:] == [False, True]


def test_a_brief_failure_gets_its_minutes_even_with_a_window_of_zero() -> None:
    """RETRY_WINDOW_HOURS=0 leaves outages to the host, but a replication delay is still
    retried for minutes and then reported, never left to the poison queue."""
    world = World(window_hours=0)
    world.service.error = REPLICATION_DELAY
    message = first_message()
    outcomes = world.run_until_done(message)
    assert outcomes == ["will retry", "will retry", "created"]


def test_a_window_of_zero_leaves_it_to_the_host() -> None:
    """RETRY_WINDOW_HOURS=0: the first transient failure is raised, nothing re-queued."""
    world = World(window_hours=0)
    with pytest.raises(Transient):
        world.run(first_message())
    assert world.feed.queued == [] and world.log.entries == []


def test_a_huge_retry_after_is_capped_below_seven_days() -> None:
    """A 700,000-second Retry-After becomes a delay under Azure Storage's 7-day limit."""
    world = World()
    world.service.error = Throttled("wait", retry_after=700_000, service="graph")
    assert world.run(first_message()) == "throttled"
    [(_, delay)] = world.feed.queued
    assert delay == MAX_QUEUE_DELAY_SECONDS < 7 * 24 * 3600
    [entry] = world.log.entries
    assert entry.action is Action.RETRYING


def test_a_short_throttle_waits_retry_after_without_an_entry() -> None:
    """A 429 asking for 20 s is flow control: re-queued after 20 s, no entry."""
    world = World()
    world.service.error = Throttled("wait", retry_after=20, service="lucca")
    assert world.run(first_message()) == "throttled"
    assert [delay for _, delay in world.feed.queued] == [20]
    assert world.log.entries == []
    assert world.last().first_failed_at == START


def test_an_outage_asking_to_wait_longer_than_the_next_step_is_honoured() -> None:
    """A 503 with Retry-After of 30 minutes on the first failure: the change waits 30 minutes,
    not the first step's minute; a shorter Retry-After leaves the step as it is."""
    world = World()
    world.service.error = Transient("unavailable", service="graph", status=503, retry_after=1800)
    assert world.run(first_message()) == "will retry"
    world.service.error = Transient("unavailable", service="graph", status=503, retry_after=5)
    assert world.run(world.last()) == "will retry"
    assert [delay for _, delay in world.feed.queued] == [1800, 300]


def test_a_permanent_or_unexpected_failure_is_not_escrowed() -> None:
    """Anything but a transient failure is raised as before, nothing re-queued."""
    world = World()
    world.service.error = RuntimeError("bug")
    with pytest.raises(RuntimeError):
        world.run(first_message())
    world.service.error = ConnectorError("odd", service="graph")
    with pytest.raises(ConnectorError):
        world.run(first_message())
    assert world.feed.queued == []


def test_a_busy_employee_is_requeued_unchanged() -> None:
    """The lease taken: the same message back on the queue after the busy delay."""
    world = World()
    assert world.leases.acquire("7") is not None
    message = first_message()
    assert world.run(message) == "busy"
    assert world.feed.queued == [(message, 10)]


def test_success_after_retries_writes_its_entry() -> None:
    """The outage ends: the retried change is applied, no further entry from the escrow."""
    world = World()
    world.run(first_message())
    world.service.error = None
    assert world.run(world.last()) == "created"
    assert [e.action for e in world.log.entries] == [Action.RETRYING]


def test_poison_entry_says_since_when_it_was_retried() -> None:
    """The "failed" entry at the window's end names when the retries started."""
    log, feed = MemoryLog(), MemoryFeed()
    message = first_message().failed_once_more(START, noted=True)
    PoisonHandler(feed=feed, log=log, clock=lambda: START).handle(message.to_json())
    [entry] = log.entries
    assert entry.action is Action.FAILED
    assert "retried since 2026-03-02 08:00 UTC" in entry.message


def test_old_messages_without_retry_state_are_read() -> None:
    """A message queued before the escrow existed reads as never failed."""
    message = first_message()
    text = message.to_json()
    assert "firstFailedAt" not in text
    assert ChangeMessage.from_json(text) == message
