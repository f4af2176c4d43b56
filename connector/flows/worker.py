"""The queue side of a sync: lease, re-queue when busy or failing for a while, record failures.

`ChangeWorker.handle` is what `sync_employee` runs for each message on `lucca-changes`:
- another sync holds the employee's lease → the message goes back on the queue with a delay;
- a brief transient failure (a replication delay: `Transient.brief`) → the escrow for PATIENCE
  only; the try after it runs the sync with `patience_over`, which reports instead of raising;
- a transient failure (a 5xx, a timeout, a 429: `Transient`, `Throttled`) → the escrow: the
  connector puts the change back on the queue itself, as a new message carrying its first
  failure and its tries, after growing delays (RETRY_DELAYS_SECONDS, the last one repeating;
  a 429's `Retry-After` instead, a 503's when longer), for RETRY_WINDOW_HOURS; the current
  message completes, so the host counts no try. One "will retry" entry at the first failure
  (a short 429 is only flow control: none), none at the next ones;
- at the window's end the failure is raised: the host's own tries (host.json), then
  `PoisonHandler` (on `lucca-changes-poison`) writes the "failed" entry with its sentence;
- a permanent failure ends in a "failed" entry at once (the sync writes it); any other
  failure is raised for the host's tries and the poison queue, as at the window's end.
Every delay stays below Azure Storage's 7-day limit (`MAX_QUEUE_DELAY_SECONDS`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from connector.core.clock import utc_now
from connector.core.errors import ConnectorError, Throttled, Transient
from connector.domain.entries import Action, LogEntry
from connector.domain.messages import ChangeMessage
from connector.domain.ports import Feed, Leases, Log
from connector.flows.sync import SyncService
from connector.storage.changes import MAX_QUEUE_DELAY_SECONDS

logger = logging.getLogger(__name__)

DEFAULT_RETRY_DELAYS: Final = (60, 300, 900, 3600)  # seconds; then hourly (the last repeats)
DEFAULT_RETRY_WINDOW_HOURS: Final = 24
# A 429 asking to wait at most this long is the services' flow control, not an outage: it is
# re-queued without a "will retry" entry (a bulk hire meets Lucca's limit often).
QUIET_THROTTLE_SECONDS: Final = 300
# A brief Transient (a replication delay: Graph says a login is taken, nobody shows it) is
# retried this long from the change's first failure; the try after it is told so and reports.
PATIENCE: Final = timedelta(minutes=5)


class ChangeWorker:
    """Runs the sync for queued changes, one employee at a time."""

    def __init__(
        self,
        *,
        feed: Feed,
        leases: Leases,
        service: SyncService,
        log: Log,
        busy_delay_seconds: int,
        retry_window_hours: int = DEFAULT_RETRY_WINDOW_HOURS,
        retry_delays: Sequence[int] = DEFAULT_RETRY_DELAYS,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._feed = feed
        self._leases = leases
        self._service = service
        self._log = log
        self._busy_delay = max(1, busy_delay_seconds)
        self._window = timedelta(hours=retry_window_hours)
        self._delays = tuple(retry_delays) or DEFAULT_RETRY_DELAYS
        self._clock = clock

    def handle(self, text: str) -> str:
        """Process one message; returns what happened (for the trigger's log line)."""
        try:
            message = ChangeMessage.from_json(text)
        except (ValueError, KeyError, TypeError):
            self._log.write(
                LogEntry(
                    time=self._clock(),
                    action=Action.FAILED,
                    message="A message on lucca-changes could not be read and was dropped.",
                )
            )
            return "unreadable"
        employee_id = message.employee_id
        token = self._leases.acquire(employee_id)
        if token is None:
            self._requeue(message, self._busy_delay, "is being synced")
            return "busy"
        try:
            self._feed.mark_started(employee_id, self._clock())
            read_started_at = self._clock()
            brief_since = message.brief_since  # a replication delay's minutes, from its start
            patience_over = brief_since is not None and read_started_at >= brief_since + PATIENCE
            try:
                entry = self._service.sync(
                    employee_id, (message.reference,), patience_over=patience_over
                )
            except Transient as err:
                self._remember(employee_id, err)
                if not self._escrow(message, err):
                    raise  # the window is over: the host's tries, then the poison queue
                return "throttled" if isinstance(err, Throttled) else "will retry"
            except Exception as err:
                self._remember(employee_id, err)
                raise
            if not entry.observed:  # observe mode applies nothing: redeliveries stay new
                self._feed.mark_applied(employee_id, read_started_at)
            self._feed.forget_error(employee_id)
            return entry.action.value
        finally:
            self._leases.release(employee_id, token)

    def _requeue(self, message: ChangeMessage, delay: int, why: str) -> None:
        """The one way a change goes back on the queue: a new message, after `delay` s."""
        self._feed.enqueue(message, delay)
        logger.info("employee %s %s: change re-queued for %d s", message.employee_id, why, delay)

    def _escrow(self, message: ChangeMessage, err: Transient) -> bool:
        """Re-queue the change after a transient failure; False once the window is over."""
        now = self._clock()
        deadline = (message.first_failed_at or now) + self._window
        if err.brief:  # a replication delay: minutes (whatever the window), then the last
            deadline = (message.brief_since or now) + PATIENCE  # try reports it
        if now >= deadline:
            logger.warning(
                "employee %s: still failing at the end of %s",
                message.employee_id,
                "its brief retries" if err.brief else "RETRY_WINDOW_HOURS",
            )
            return False
        if isinstance(err, Throttled):  # honoured as asked, even past the window's end
            delay = max(1, math.ceil(err.retry_after))
        else:  # growing (or as long as a 503 asked), and the last try at the window's end
            step = self._delays[min(message.failed_tries, len(self._delays) - 1)]
            step = max(step, math.ceil(err.retry_after or 0))
            delay = min(step, math.ceil((deadline - now).total_seconds()))
        delay = min(delay, MAX_QUEUE_DELAY_SECONDS)
        quiet = isinstance(err, Throttled) and delay <= QUIET_THROTTLE_SECONDS
        note = not message.retry_noted and not quiet
        if note:
            self._note(message, err, now + timedelta(seconds=delay), deadline)
        why = f"failed ({err.service}, {type(err).__name__})"
        self._requeue(message.failed_once_more(now, noted=note, brief=err.brief), delay, why)
        return True

    def _note(
        self, message: ChangeMessage, err: Transient, next_try: datetime, deadline: datetime
    ) -> None:
        """The one "will retry" entry of a change's escrow."""
        until = deadline.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        self._log.write(
            LogEntry(
                time=self._clock(),
                action=Action.RETRYING,
                employee_id=message.employee_id,
                event_keys=(message.reference,),
                request_id=err.request_id,
                message=(
                    f"This change could not be applied yet ({err.service} answered: "
                    f"{err.message}); the connector will retry until {until} "
                    + (
                        "(a replication delay: minutes only), and reports it as a conflict if "
                        "it still fails then."
                        if err.brief
                        else '(RETRY_WINDOW_HOURS), and writes a "failed" entry only if it '
                        "still fails then."
                    )
                ),
                details={
                    "next_try": next_try.astimezone(UTC).isoformat(),
                    "retry_until": deadline.astimezone(UTC).isoformat(),
                },
            )
        )

    def _remember(self, employee_id: str, err: Exception) -> None:
        """Keep the failure's sentence for the poison entry (the failure itself matters more
        than this note: a storage error here is only logged)."""
        if isinstance(err, ConnectorError):
            sentence, request_id = f"{err.service} answered: {err.message}", err.request_id
        else:
            sentence, request_id = f"unexpected {type(err).__name__}", None
        try:
            self._feed.remember_error(employee_id, sentence, request_id, self._clock())
        except Exception:
            logger.exception("could not record the failure of employee %s", employee_id)


class PoisonHandler:
    """After the last try: a "failed" entry naming the employee and the last error. Needs
    only storage, so it works even when the Lucca or Graph clients cannot be built."""

    def __init__(self, *, feed: Feed, log: Log, clock: Callable[[], datetime] = utc_now) -> None:
        self._feed = feed
        self._log = log
        self._clock = clock

    def handle(self, text: str) -> None:
        """Write the "failed" entry for a poisoned message."""
        employee_id: str | None = None
        event_keys: tuple[str, ...] = ()
        message: ChangeMessage | None = None
        try:
            message = ChangeMessage.from_json(text)
            employee_id, event_keys = message.employee_id, (message.reference,)
        except (ValueError, KeyError, TypeError):
            pass  # written as a failure without an employee
        last = None
        if employee_id is not None:
            # No message waits for the employee any more: the next event must queue one.
            self._feed.mark_started(employee_id, self._clock())
            last = self._feed.last_error(employee_id)
        reason, request_id = last if last else ("the reason was not recorded", None)
        retried = ""
        if message is not None and message.first_failed_at is not None:
            since = message.first_failed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
            retried = f" (retried since {since}, for RETRY_WINDOW_HOURS)"
        self._log.write(
            LogEntry(
                time=self._clock(),
                action=Action.FAILED,
                employee_id=employee_id,
                event_keys=event_keys,
                request_id=request_id,
                message=(
                    f"This change could not be applied after every retry{retried}: {reason}. "
                    "It will be applied with the employee's next change in Lucca."
                ),
            )
        )
