"""The catch-up: replay the Lucca events a delivery lost, and watch the webhook endpoint.

Every CATCHUP_TIMER (15 minutes by default) the `catch_up` timer reads Lucca's events and hands
each one the webhook has not journaled to the intake's own path (`Intake.accept`): journal row
keyed by source + id, resource index, the employee's queued sync. An event already delivered
(its journal row exists) changes nothing, so a lost delivery is applied within the period and
every other event is left alone. Observe mode changes nothing here: the sync decides.

Which events: once a day (`FULL_PASS_EVERY`) every kept event (`GET /lucca-api/events`, two
months, no time filter in the API) that occurred after the cursor, oldest first; in the runs
between, only those Lucca lists as not delivered (`status=failed`, `status=scheduled`), whatever
their age, the cursor left alone.

The cursor (table `CatchUp`, row `cursor`: the last event's `occurredAt` and id) moves only
after the event it names is journaled, one event at a time, so a run that dies part-way
starts again from the last journaled event. Each run reads back `OVERLAP` before the cursor
(an event may show up in Lucca's list after a later one; the journal absorbs the re-reads) and
leaves events younger than `SETTLE` to the next run (their first delivery is still under way).
A first run starts `FIRST_RUN_WINDOW` back. A `Throttled` stops the run, the cursor kept.

Then, with LUCCA_WEBHOOK_ENDPOINT_ID set, it reads the endpoint's status: when Lucca suspends
it (or it is inactive, or gone) one "endpoint suspended" entry is written, which raises the
`connector alert:` line, once per suspension (row `endpoint` remembers the last status seen);
when it is active again, one "endpoint active again" entry.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from azure.data.tables import UpdateMode

from connector.core.errors import ConnectorError, NotFound, Throttled
from connector.domain.entries import Action, LogEntry
from connector.domain.ports import CatchUpLucca
from connector.flows.intake import Intake
from connector.lucca.models import (
    LuccaWebhookEndpoint,
)
from connector.lucca.webhook import Event, EventKey, MalformedEvent, identify, parse_event
from connector.storage.changes import ChangeFeed, Outcome
from connector.storage.log import IntegrationLog
from connector.storage.tables import Storage

logger = logging.getLogger(__name__)

CATCHUP_TABLE = "CatchUp"
PARTITION = "catch-up"
CURSOR_ROW = "cursor"
ENDPOINT_ROW = "endpoint"
# Lucca retries a failed delivery for about 24 hours: a first run (a new deployment, or an
# upgrade adding the catch-up) recovers what may have been lost in that time, not two months.
FIRST_RUN_WINDOW = timedelta(hours=24)
# Events are listed in no promised order and may appear late: each run re-reads this far back.
OVERLAP = timedelta(minutes=30)
# The webhook normally gets an event within seconds: the catch-up leaves the newest to it.
SETTLE = timedelta(minutes=2)
# Lucca's event list has no time filter: reading all of it (two months) costs one request per
# 100 events. So the full pass above runs once a day; the runs between read only the events
# Lucca has not delivered (`status=failed`, `status=scheduled`: short lists), which is where a
# lost delivery is. The daily pass covers what that status might not say (another endpoint's
# delivery counted for ours, say).
FULL_PASS_EVERY = timedelta(hours=24)
UNDELIVERED = ("failed", "scheduled")
# A full pass that stopped (a 429, a timeout, a crash) is tried again after this, not at every
# run: each attempt reads two months of events against the budget the syncs share.
RETRY_FULL_PASS_AFTER = timedelta(hours=1)
# While the endpoint is not active Lucca may not list the events it holds back as failed or
# scheduled: the full pass then runs hourly.
FULL_PASS_WHILE_SUSPENDED = timedelta(hours=1)
FAILURE_ROW = "failure"
DAILY_ROW = "full-pass"
MISSING = "missing"  # the endpoint's status when Lucca answers 404


@dataclass(frozen=True, kw_only=True)
class Cursor:
    """The last event the catch-up journaled (or where a first run started)."""

    occurred_at: datetime
    event_id: str


@dataclass(kw_only=True)
class CatchUpReport:
    """What one run did."""

    read: int = 0
    queued: int = 0
    coalesced: int = 0
    unmapped: int = 0
    seen: int = 0  # journaled already: delivered by the webhook, or replayed by a run before
    skipped: int = 0  # untracked topics, events without an id, malformed events
    throttled: bool = False
    full_pass: bool = False  # the daily read of every kept event (else: undelivered only)
    error: str | None = None
    endpoint_status: str | None = None
    logged: list[Action] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the Functions log."""
        parts = [
            f"{self.read} events read ({'all kept' if self.full_pass else 'undelivered'})",
            f"{self.queued} queued",
            f"{self.coalesced} coalesced",
            f"{self.unmapped} unmapped",
            f"{self.seen} already journaled",
            f"{self.skipped} skipped",
        ]
        if self.throttled:
            parts.append("stopped: Lucca throttled")
        if self.error:
            parts.append(f"stopped: {self.error}")
        if self.endpoint_status:
            parts.append(f"endpoint {self.endpoint_status}")
        return ", ".join(parts)


class CatchUp:
    """One catch-up run: replay, then the endpoint's status."""

    def __init__(
        self,
        *,
        lucca: CatchUpLucca,
        storage: Storage,
        intake: Intake,
        endpoint_id: str = "",
        clock: Callable[[], datetime],
    ) -> None:
        self._lucca = lucca
        self._storage = storage
        self._feed = ChangeFeed(storage)
        self._intake = intake
        self._log = IntegrationLog(storage, clock=clock)
        self._endpoint_id = endpoint_id
        self._clock = clock

    def run(self) -> CatchUpReport:
        """Replay what was lost, then check the endpoint (not after a 429: it would wait)."""
        report = CatchUpReport()
        now = self._clock()
        try:
            self._replay(now, report)
        except Throttled as err:
            report.throttled = True
            logger.warning("catch-up stopped, the cursor kept: %s", err.message)
        except ConnectorError as err:  # a missing scope, say: still check the endpoint
            report.error = err.message
            logger.error("catch-up could not read Lucca's events: %s", err.message)
        if self._endpoint_id and not report.throttled:
            try:
                self._check_endpoint(now, report)
            except Throttled as err:
                report.throttled = True
                logger.warning("catch-up: endpoint check throttled: %s", err.message)
            except ConnectorError as err:
                report.error = report.error or err.message
                logger.error("catch-up could not read the webhook endpoint: %s", err.message)
        self._note_failure(now, report.error)
        return report

    def _note_failure(self, now: datetime, error: str | None) -> None:
        """A failure that is not a 429 (a scope refused, say) would repeat every run while
        lost deliveries wait: one alerting entry per failure, none while it lasts, and the
        memory cleared once a run goes through."""
        row = self._storage.read(CATCHUP_TABLE, PARTITION, FAILURE_ROW)
        if error is None:
            if row is not None:
                self._storage.delete(CATCHUP_TABLE, PARTITION, FAILURE_ROW)
            return
        if row is not None and row.get("Error") == error:
            return
        self._log.write(
            LogEntry(
                time=now,
                action=Action.CATCHUP_FAILED,
                message=(
                    f"The catch-up cannot read Lucca: {error}. Lost deliveries are not "
                    "replayed until this is fixed; `python -m connector doctor` names what "
                    "is missing."
                ),
            )
        )
        self._upsert({"PartitionKey": PARTITION, "RowKey": FAILURE_ROW, "Error": error})

    # -- replay -----------------------------------------------------------------------------
    def _replay(self, now: datetime, report: CatchUpReport) -> None:
        """The daily full pass when one is due, else the undelivered events only."""
        row: Mapping[str, Any] = self._storage.read(CATCHUP_TABLE, PARTITION, DAILY_ROW) or {}
        last = _instant(row.get("At"))
        tried = _instant(row.get("TriedAt"))
        every = FULL_PASS_EVERY if self._endpoint_active() else FULL_PASS_WHILE_SUSPENDED
        due = last is None or now - last >= every
        stopped = tried is not None and (last is None or tried > last)
        if not due or (stopped and tried is not None and now - tried < RETRY_FULL_PASS_AFTER):
            self._replay_undelivered(now, report)
            return
        entity = {"PartitionKey": PARTITION, "RowKey": DAILY_ROW, "TriedAt": now.isoformat()}
        self._merge(entity)
        self._replay_all(now, report)
        report.full_pass = True
        self._merge({**entity, "At": now.isoformat()})  # only once the pass went through

    def _endpoint_active(self) -> bool:
        """Whether the watched endpoint was active when last seen (or is not watched)."""
        if not self._endpoint_id:
            return True
        row = self._storage.read(CATCHUP_TABLE, PARTITION, ENDPOINT_ROW)
        if row is None or row.get("EndpointId") != self._endpoint_id:
            return True
        return bool(row.get("Status") == "active")

    def _replay_undelivered(self, now: datetime, report: CatchUpReport) -> None:
        """Events Lucca failed to deliver or has yet to: each handled as the full pass would,
        whatever its age (the journal recognises any already applied); the cursor stays."""
        listed = (raw for status in UNDELIVERED for raw in self._lucca.events(status=status))
        for event, body in self._settled(listed, now, report):
            self._handle(event, body, now, report)

    def _settled(
        self, listed: Iterable[dict[str, Any]], now: datetime, report: CatchUpReport
    ) -> list[tuple[Event, bytes]]:
        """The listed events old enough to be the catch-up's (`SETTLE`), oldest first."""
        until = now - SETTLE
        candidates = []
        for raw in listed:
            report.read += 1
            parsed = self._parse(raw, report)
            if parsed is not None and parsed[0].occurred_at <= until:
                candidates.append(parsed)
        candidates.sort(key=lambda pair: (pair[0].occurred_at, _id_order(pair[0].id)))
        return candidates

    def _parse(self, raw: dict[str, Any], report: CatchUpReport) -> tuple[Event, bytes] | None:
        body = json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            return parse_event(body), body
        except MalformedEvent as err:
            report.skipped += 1
            logger.warning("catch-up: event %s skipped: %s", raw.get("id"), err)
            return None

    def _handle(self, event: Event, body: bytes, now: datetime, report: CatchUpReport) -> None:
        """One listed event: skipped, already journaled, or handed to the webhook's path."""
        identity = identify(event, body)
        if not event.tracked or identity.made_from is not EventKey.SOURCE_AND_ID:
            report.skipped += 1  # without an id its key could not match the webhook's
        elif self._feed.journal_entry(identity.key, event.occurred_at) is not None:
            report.seen += 1
        else:
            answer = self._intake.accept(event, identity, now)  # the webhook's own path
            outcome = answer.body.strip() if answer.status == 202 else Outcome.UNMAPPED
            if outcome == Outcome.QUEUED:
                report.queued += 1
            elif outcome == Outcome.UNMAPPED:
                report.unmapped += 1
            else:
                report.coalesced += 1
            logger.info("catch-up replayed event %s (%s): %s", event.id, event.topic, outcome)

    def _replay_all(self, now: datetime, report: CatchUpReport) -> None:
        cursor = self.cursor()
        if cursor is None:
            cursor = Cursor(occurred_at=now - FIRST_RUN_WINDOW, event_id="")
            self._save_cursor(cursor)
        listed = self._lucca.events(after=cursor.occurred_at - OVERLAP)
        for event, body in self._settled(listed, now, report):
            self._handle(event, body, now, report)
            mark = Cursor(occurred_at=event.occurred_at, event_id=str(event.id or ""))
            if (mark.occurred_at, _id_order(mark.event_id)) > (
                cursor.occurred_at,
                _id_order(cursor.event_id),
            ):
                self._save_cursor(mark)  # only now: the event up to it is journaled
                cursor = mark

    def cursor(self) -> Cursor | None:
        """The stored cursor, or None before the first run."""
        row = self._storage.read(CATCHUP_TABLE, PARTITION, CURSOR_ROW)
        if row is None:
            return None
        return Cursor(
            occurred_at=datetime.fromisoformat(str(row["OccurredAt"])),
            event_id=str(row.get("EventId") or ""),
        )

    def _save_cursor(self, cursor: Cursor) -> None:
        entity = {
            "PartitionKey": PARTITION,
            "RowKey": CURSOR_ROW,
            "OccurredAt": cursor.occurred_at.astimezone(UTC).isoformat(),
            "EventId": cursor.event_id,
        }
        self._upsert(entity)

    # -- the endpoint -----------------------------------------------------------------------
    def _check_endpoint(self, now: datetime, report: CatchUpReport) -> None:
        endpoint: LuccaWebhookEndpoint | None
        try:
            endpoint = self._lucca.webhook_endpoint(self._endpoint_id)
            status = endpoint.status
        except NotFound:
            endpoint, status = None, MISSING
        report.endpoint_status = status
        row = self._storage.read(CATCHUP_TABLE, PARTITION, ENDPOINT_ROW)
        known = row["Status"] if row and row.get("EndpointId") == self._endpoint_id else None
        if status == known:
            return
        url = masked_url(endpoint.webhook_url) if endpoint else ""
        entry: LogEntry | None = None
        if status != "active":
            entry = LogEntry(
                time=now,
                action=Action.ENDPOINT_SUSPENDED,
                message=_suspended_message(self._endpoint_id, status, url),
                details={"endpoint_id": self._endpoint_id, "status": status},
            )
        elif known is not None:
            entry = LogEntry(
                time=now,
                action=Action.ENDPOINT_ACTIVE,
                message=(
                    f"Lucca's webhook endpoint {self._endpoint_id} ({url}) is active again "
                    f"(it was {known}): deliveries resume; the catch-up replays what they missed."
                ),
                details={"endpoint_id": self._endpoint_id, "status": status, "was": known},
            )
        if entry is not None:
            self._log.write(entry)  # before the row: a crash between logs twice, never none
            report.logged.append(entry.action)
        self._upsert(
            {
                "PartitionKey": PARTITION,
                "RowKey": ENDPOINT_ROW,
                "EndpointId": self._endpoint_id,
                "Status": status,
                "Since": now,
            }
        )

    def _upsert(self, entity: dict[str, Any]) -> None:
        self._storage.on_table(
            CATCHUP_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE)
        )

    def _merge(self, entity: dict[str, Any]) -> None:
        self._storage.on_table(
            CATCHUP_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.MERGE)
        )


def _instant(value: object) -> datetime | None:
    """A stored ISO instant, or None."""
    return datetime.fromisoformat(str(value)) if value else None


def _suspended_message(endpoint_id: str, status: str, url: str) -> str:
    if status == MISSING:
        return (
            f"Lucca has no webhook endpoint {endpoint_id}: it was deleted, or "
            "LUCCA_WEBHOOK_ENDPOINT_ID is wrong. No delivery arrives; the catch-up replays "
            "events every CATCHUP_TIMER meanwhile. Check `python -m connector webhook status`, "
            "register the endpoint again if needed (`webhook register`)."
        )
    return (
        f"Lucca's webhook endpoint {endpoint_id} ({url}) is {status}: Lucca delivers no event "
        "to it until it is reactivated. The catch-up replays Lucca's events every "
        "CATCHUP_TIMER meanwhile (Lucca keeps them two months). Find why deliveries failed "
        "(the lucca_webhook function's log: 401 means a wrong secret or function key), fix it, "
        "reactivate the endpoint in Lucca (Integrations → Endpoints), then run "
        "`python -m connector webhook status` and `webhook ping`."
    )


def _id_order(event_id: object) -> tuple[int, str]:
    """Lucca's ids are numbers as strings: "99" before "100"."""
    text = "" if event_id is None else str(event_id)
    return (len(text), text)


def masked_url(url: str) -> str:
    """The URL with the value of its `code=` (the function key) replaced by `***`."""
    parts = urlsplit(url)
    query = [(k, "***" if k.lower() == "code" else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))
