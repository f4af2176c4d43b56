"""The shared Lucca rate limiter keeps every caller together under the budget, on Azurite."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.core.errors import Throttled
from connector.storage.ratelimit import PARTITION, ROW, TABLE, LuccaRateLimiter
from connector.storage.tables import Storage

pytestmark = pytest.mark.azurite


class FakeTime:
    """A clock that moves only when the code under test sleeps (or a test says so)."""

    def __init__(self, *, frozen: bool = False) -> None:
        self.now = datetime.now(UTC)
        self.frozen = frozen
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> datetime:
        """The fake now."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record the wait; move the clock unless frozen."""
        with self._lock:
            self.sleeps.append(seconds)
            if not self.frozen:
                self.now += timedelta(seconds=seconds)


def bucket_row(storage: Storage) -> Any:
    """The limiter's row as stored."""
    return storage.on_table(TABLE, lambda table: table.get_entity(PARTITION, ROW))


@pytest.mark.parametrize(
    ("per_minute", "burst", "sustained"),
    [(1, 1, 1), (9, 1, 9), (30, 3, 28), (50, 5, 46)],
)
def test_burst_and_refill_keep_any_window_at_the_budget(
    storage: Storage, per_minute: int, burst: int, sustained: int
) -> None:
    """Burst B and refill N - B + 1 per window add up to N in any window (the proven bound)."""
    limiter = LuccaRateLimiter(storage, per_minute=per_minute)
    assert limiter.burst == burst
    assert limiter.rate * 60 == pytest.approx(sustained)


@pytest.mark.parametrize(("per_minute", "burst"), [(0, None), (5, 0), (5, 6)])
def test_impossible_budgets_are_refused(
    storage: Storage, per_minute: int, burst: int | None
) -> None:
    """A budget below one request, or a burst above the budget, is a programming error."""
    with pytest.raises(ValueError, match=r"per_minute|burst"):
        LuccaRateLimiter(storage, per_minute=per_minute, burst=burst)


def test_limiters_sharing_the_table_stay_under_the_budget_in_every_window(
    storage: Storage,
) -> None:
    """Four limiters (four instances) in threads never let more than N through per window."""
    per_minute, window, per_thread = 30, 1.0, 15
    slots: list[datetime] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def instance() -> None:
        limiter = LuccaRateLimiter(
            storage, per_minute=per_minute, window_seconds=window, max_wait_seconds=30
        )
        start.wait()
        for _ in range(per_thread):
            slot = limiter.acquire()
            with lock:
                slots.append(slot)

    threads = [threading.Thread(target=instance) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(slots) == 4 * per_thread
    slots.sort()
    # The bound is on the slots the limiter grants (the instants it reserved in the shared
    # table), not on when each thread woke up: a busy machine's wake-up jitter is not a breach.
    span = timedelta(seconds=window)
    busiest = max(
        sum(1 for other in slots[i:] if other < first + span) for i, first in enumerate(slots)
    )
    assert busiest <= per_minute
    assert busiest > per_minute // 2  # the budget is used, not starved


def test_acquire_waits_its_turn_then_refuses_beyond_the_maximum_wait(storage: Storage) -> None:
    """Past the burst each caller waits one refill more; beyond max_wait it gets Throttled."""
    fake = FakeTime(frozen=True)
    limiter = LuccaRateLimiter(
        storage, per_minute=30, max_wait_seconds=5, clock=fake.clock, sleep=fake.sleep
    )
    refill = 60 / 28
    for _ in range(5):
        limiter.acquire()
    assert fake.sleeps == pytest.approx([refill, 2 * refill])
    tokens = bucket_row(storage)["Tokens"]

    with pytest.raises(Throttled) as caught:
        limiter.acquire()

    assert caught.value.retry_after == pytest.approx(3 * refill)
    assert caught.value.service == "lucca"
    assert bucket_row(storage)["Tokens"] == tokens  # a refused caller reserves nothing


def test_penalise_makes_every_limiter_wait(storage: Storage) -> None:
    """After a 429 seen by one instance, another one waits for Retry-After before sending."""
    fake = FakeTime()
    first = LuccaRateLimiter(storage, per_minute=30, clock=fake.clock, sleep=fake.sleep)
    second = LuccaRateLimiter(
        storage, per_minute=30, max_wait_seconds=60, clock=fake.clock, sleep=fake.sleep
    )
    first.penalise(30)
    first.penalise(5)  # a shorter Retry-After never shortens the wait

    second.acquire()

    assert fake.sleeps == pytest.approx([30])
    assert bucket_row(storage)["NotBefore"] == fake.now


def test_a_penalty_that_exceeds_the_maximum_wait_is_throttled(storage: Storage) -> None:
    """A caller is not made to sleep through a long Retry-After: it gets Throttled at once."""
    fake = FakeTime()
    limiter = LuccaRateLimiter(storage, per_minute=30, clock=fake.clock, sleep=fake.sleep)
    limiter.penalise(45)

    with pytest.raises(Throttled) as caught:
        limiter.acquire()

    assert caught.value.retry_after == pytest.approx(45)
    assert fake.sleeps == []


def test_a_penalty_during_a_wait_voids_the_slot(storage: Storage) -> None:
    """A caller already waiting for its slot when a 429 comes in waits for the penalty too."""
    fake = FakeTime()
    other = LuccaRateLimiter(storage, per_minute=30, clock=fake.clock)
    penalised: list[bool] = []

    def sleep_while_another_instance_is_throttled(seconds: float) -> None:
        fake.sleep(seconds)
        if not penalised:
            penalised.append(True)
            other.penalise(20)

    limiter = LuccaRateLimiter(
        storage,
        per_minute=30,
        burst=1,
        max_wait_seconds=60,
        clock=fake.clock,
        sleep=sleep_while_another_instance_is_throttled,
    )
    limiter.acquire()
    limiter.acquire()

    assert fake.sleeps == pytest.approx([2.0, 20.0])


def test_concurrent_reservations_are_retried_not_lost(storage: Storage) -> None:
    """Twelve callers at once: every one takes exactly one token, and each gets its own slot."""
    fake = FakeTime(frozen=True)  # no refill: the row must account for every reservation
    callers, burst = 12, 8
    start = threading.Barrier(callers)
    errors: list[BaseException] = []

    def caller() -> None:
        limiter = LuccaRateLimiter(
            storage, per_minute=60, burst=burst, clock=fake.clock, sleep=fake.sleep
        )
        start.wait()
        try:
            limiter.acquire()
        except BaseException as err:  # surfaced by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert bucket_row(storage)["Tokens"] == pytest.approx(burst - callers, abs=1e-9)
    refill = 60 / (60 - burst + 1)
    assert sorted(fake.sleeps) == pytest.approx([k * refill for k in range(1, 5)])
