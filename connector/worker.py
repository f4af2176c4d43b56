"""The queue side of a sync: lease, re-queue when busy or throttled, record what failed.

`ChangeWorker.handle` is what `sync_employee` runs for each message on `lucca-changes`:
- another sync holds the employee's lease → the message goes back on the queue with a delay;
- Lucca or Graph answered 429 → back on the queue after `Retry-After`, no retry used up;
- any other failure is raised for the queue to retry; its sentence is kept so that, after the
  last try, `handle_poison` (on `lucca-changes-poison`) can write a "failed" entry with it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from azure.data.tables import UpdateMode

from connector.changes import EMPLOYEE_SYNC_TABLE, ChangeFeed, ChangeMessage
from connector.errors import ConnectorError, Throttled
from connector.integration_log import Action, IntegrationLog, LogEntry
from connector.lease import EmployeeLeases
from connector.store import Storage
from connector.sync import SyncService
from connector.webhook import utc_now

logger = logging.getLogger(__name__)

ERROR_ROW = "last-error"


class Closeable(Protocol):
    """A client holding connections."""

    def close(self) -> None:
        """Release them."""
        ...


class ChangeWorker:
    """Runs the sync for queued changes, one employee at a time."""

    def __init__(
        self,
        *,
        storage: Storage,
        feed: ChangeFeed,
        leases: EmployeeLeases,
        service: SyncService,
        log: IntegrationLog,
        busy_delay_seconds: int,
        clock: Callable[[], datetime] = utc_now,
        resources: tuple[Closeable, ...] = (),
    ) -> None:
        self._resources = resources
        self._storage = storage
        self._feed = feed
        self._leases = leases
        self._service = service
        self._log = log
        self._busy_delay = max(1, busy_delay_seconds)
        self._clock = clock

    def close(self) -> None:
        """Close the clients the worker was built with (HTTP pools, Graph's event loop)."""
        for resource in self._resources:
            resource.close()

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
                entry = self._service.sync(employee_id, (message.event_key,))
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
                self._remember_error(employee_id, err)
                raise
            self._feed.mark_applied(employee_id, read_started_at)
            return entry.action.value
        finally:
            self._leases.release(employee_id, token)

    def handle_poison(self, text: str) -> None:
        """After the last try: a "failed" entry naming the employee and the last error."""
        employee_id: str | None = None
        event_keys: tuple[str, ...] = ()
        try:
            message = ChangeMessage.from_json(text)
            employee_id, event_keys = message.employee_id, (message.event_key,)
        except (ValueError, KeyError, TypeError):
            pass  # written as a failure without an employee
        last = None
        if employee_id is not None:
            # No message waits for the employee any more: the next event must queue one.
            self._feed.mark_started(employee_id, self._clock())
            last = self._storage.read(EMPLOYEE_SYNC_TABLE, employee_id, ERROR_ROW)
        reason = str(last["Message"]) if last else "the reason was not recorded"
        self._log.write(
            LogEntry(
                time=self._clock(),
                action=Action.FAILED,
                employee_id=employee_id,
                event_keys=event_keys,
                request_id=(last.get("RequestId") or None) if last else None,
                message=(
                    f"This change could not be applied after every retry: {reason}. "
                    "It will be applied with the employee's next change in Lucca."
                ),
            )
        )

    def _remember_error(self, employee_id: str, err: Exception) -> None:
        """Keep the failure's sentence (never a payload or a secret) for the poison entry."""
        if isinstance(err, ConnectorError):
            sentence = f"{err.service} answered: {err.message}"
            request_id = err.request_id or ""
        else:
            sentence = f"unexpected {type(err).__name__}"
            request_id = ""
        entity = {
            "PartitionKey": employee_id,
            "RowKey": ERROR_ROW,
            "Message": sentence,
            "RequestId": request_id,
            "At": self._clock(),
        }
        try:
            self._storage.on_table(
                EMPLOYEE_SYNC_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE)
            )
        except Exception:  # the original failure matters more than this note
            logger.exception("could not record the failure of employee %s", employee_id)
