"""The queue side of a sync: lease, re-queue when busy or throttled, record what failed.

`ChangeWorker.handle` is what `sync_employee` runs for each message on `lucca-changes`:
- another sync holds the employee's lease → the message goes back on the queue with a delay;
- Lucca or Graph answered 429 → back on the queue after `Retry-After`, no retry used up;
- a permanent failure ends in a "failed" entry at once (the sync writes it);
- any other failure is raised for the queue to retry; its sentence is kept so that, after the
  last try, `PoisonHandler` (on `lucca-changes-poison`) can write a "failed" entry with it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime

from connector.core.clock import utc_now
from connector.core.errors import ConnectorError, Throttled
from connector.domain.entries import Action, LogEntry
from connector.domain.messages import ChangeMessage
from connector.domain.ports import Feed, Leases, Log
from connector.flows.sync import SyncService

logger = logging.getLogger(__name__)


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
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._feed = feed
        self._leases = leases
        self._service = service
        self._log = log
        self._busy_delay = max(1, busy_delay_seconds)
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
            self._feed.enqueue(message, self._busy_delay)
            logger.info("employee %s is being synced: change re-queued", employee_id)
            return "busy"
        try:
            self._feed.mark_started(employee_id, self._clock())
            read_started_at = self._clock()
            try:
                entry = self._service.sync(employee_id, (message.reference,))
            except Throttled as err:
                delay = max(1, math.ceil(err.retry_after))
                self._feed.enqueue(message, delay)
                logger.warning(
                    "%s throttled the sync of employee %s: re-queued for %d s",
                    err.service,
                    employee_id,
                    delay,
                )
                return "throttled"
            except Exception as err:
                self._remember(employee_id, err)
                raise
            if not entry.observed:  # observe mode applies nothing: redeliveries stay new
                self._feed.mark_applied(employee_id, read_started_at)
            self._feed.forget_error(employee_id)
            return entry.action.value
        finally:
            self._leases.release(employee_id, token)

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
        self._log.write(
            LogEntry(
                time=self._clock(),
                action=Action.FAILED,
                employee_id=employee_id,
                event_keys=event_keys,
                request_id=request_id,
                message=(
                    f"This change could not be applied after every retry: {reason}. "
                    "It will be applied with the employee's next change in Lucca."
                ),
            )
        )
