"""The webhook intake: check a Lucca delivery, journal it, and queue its employee for a sync.

This path runs on every delivery and must answer within Lucca's 3 seconds, cold start
included: it imports only the storage clients and pydantic, never Graph or the email client.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from connector.core.clock import utc_now
from connector.domain.messages import ChangeMessage
from connector.lucca.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Event,
    Identity,
    RejectedDelivery,
    identify,
    parse_event,
    verify_signature,
)
from connector.storage.changes import ChangeFeed, JournalEntry, Outcome
from connector.storage.tables import StorageUnavailable

logger = logging.getLogger(__name__)

HANDSHAKE_PARAMETERS = ("echo", "challenge")
# How long a delivery waits, step by step, for a concurrent one to finish queueing the
# employee's sync, before it queues one of its own.
CLAIM_PAUSES = (0.02, 0.05, 0.1, 0.2, 0.4)
# Clocks of different instances differ a little: an event counts as applied only when the
# sync read Lucca at least this long after the event first arrived.
CLOCK_MARGIN = timedelta(seconds=5)
INDEXED_RESOURCES = ("employment", "job-position")


@dataclass(frozen=True, kw_only=True)
class Answer:
    """The HTTP answer to a delivery."""

    status: int
    body: str
    mimetype: str = "text/plain"


class Intake:
    """Turns webhook deliveries into journal rows and queue messages."""

    def __init__(
        self,
        *,
        feed: ChangeFeed,
        secrets: tuple[str, ...],
        delay_seconds: int,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sleep = sleep
        self._feed = feed
        self._secrets = secrets
        self._delay_seconds = delay_seconds
        self._clock = clock

    def receive(
        self,
        *,
        method: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Answer:
        """Answer one request to the webhook endpoint."""
        if method.upper() == "GET":
            return self._handshake(params)
        now = self._clock()
        try:
            signed_by = verify_signature(
                secrets=self._secrets,
                signature=_header(headers, SIGNATURE_HEADER),
                timestamp=_header(headers, TIMESTAMP_HEADER),
                body=body,
                now=now,
            )
            event = parse_event(body)
            if signed_by > 0:
                logger.info("webhook delivery signed with the previous secret (rotation)")
        except RejectedDelivery as rejected:
            logger.warning("webhook delivery rejected with %s: %s", rejected.status, rejected)
            return Answer(status=rejected.status, body=f"{rejected}\n")
        try:
            return self.accept(event, identify(event, body), now)
        except StorageUnavailable as err:
            logger.error(
                "webhook event %s not stored, answered 503 for Lucca to retry: %s",
                event.topic,
                err,
            )
        except Exception:
            # Lucca retries a 503; a 500 would carry nothing more useful to it.
            logger.exception("webhook event %s failed, answered 503", event.topic)
        return Answer(status=503, body="not stored, please retry\n")

    def _handshake(self, params: Mapping[str, str]) -> Answer:
        for name in HANDSHAKE_PARAMETERS:
            value = params.get(name)
            if value is not None:
                logger.info("webhook activation handshake answered (%s)", name)
                return Answer(status=200, body=value)
        return Answer(status=400, body="expected ?echo= or ?challenge= on GET\n")

    def accept(self, event: Event, identity: Identity, now: datetime) -> Answer:
        """A checked, parsed event: journal it, index its resource, queue its employee's sync
        (the webhook's path after the signature; the catch-up's for an event it replays)."""
        if not event.tracked:
            logger.info("webhook event %s acknowledged, nothing to do", event.topic)
            return Answer(status=200, body=f"{event.topic}: nothing to do\n")

        employee_id = self._employee_of(event)
        previous = self._feed.journal_entry(identity.key, event.occurred_at)
        first_received = previous["FirstReceivedAt"] if previous else now
        deliveries = int(previous["Deliveries"]) + 1 if previous else 1

        if employee_id is None:
            outcome = Outcome.UNMAPPED
            logger.warning(
                "webhook event %s for %s %s maps to no known employee",
                event.topic,
                event.resource,
                event.data_id(),
            )
        elif previous is not None and self._applied(employee_id, first_received):
            outcome = Outcome.ALREADY_APPLIED
        else:
            outcome = self._queue(employee_id, event, identity, now)

        self._feed.record(
            JournalEntry(
                key=identity.key,
                occurred_at=event.occurred_at,
                topic=event.topic,
                event_id=None if event.id is None else str(event.id),
                source=event.source,
                body_sha256=identity.body_sha256,
                resource_id=event.data_id(),
                employee_id=employee_id,
                first_received_at=first_received,
                deliveries=deliveries,
                outcome=Outcome(previous["Outcome"]) if previous else outcome,
                last_outcome=outcome,
            ),
            received_at=now,
        )
        logger.info(
            "webhook event %s for employee %s: %s (delivery %d)",
            event.topic,
            employee_id,
            outcome.value,
            deliveries,
        )
        if outcome is Outcome.UNMAPPED:
            return Answer(status=200, body=f"{event.topic}: no known employee\n")
        return Answer(status=202, body=f"{outcome.value}\n")

    def _applied(self, employee_id: str, first_received: datetime) -> bool:
        """A redelivered event whose change a sync has applied since it first arrived."""
        through = self._feed.applied_through(employee_id)
        return through is not None and through - CLOCK_MARGIN >= first_received

    def _employee_of(self, event: Event) -> str | None:
        """The employee an event is about: from `data`, else from the ids recorded earlier."""
        employee_id = event.direct_employee_id()
        resource_id = event.data_id()
        if event.resource in INDEXED_RESOURCES and resource_id is not None:
            if employee_id is not None:
                self._feed.remember_resource(event.resource, resource_id, employee_id)
                return employee_id
            employee_id = self._feed.employee_of(event.resource, resource_id)
        if employee_id is None and event.resource == "job-position":
            employment_id = event.data_reference("employment")
            if employment_id is not None:
                employee_id = self._feed.employee_of("employment", employment_id)
        return employee_id

    def _queue(self, employee_id: str, event: Event, identity: Identity, now: datetime) -> Outcome:
        """Make sure a sync that starts after this event is on its way for the employee."""
        message = ChangeMessage(
            employee_id=employee_id,
            event_key=identity.key,
            topic=event.topic,
            queued_at=now,
            event_id=None if event.id is None else str(event.id),
        )
        for pause in CLAIM_PAUSES:
            pending = self._feed.pending(employee_id)
            if pending is not None and pending.waiting(now):
                return Outcome.COALESCED
            if pending is not None and pending.in_flight(now):
                self._sleep(pause)  # another delivery is queueing: coalesce into its message
                continue
            claim = self._feed.claim(employee_id, now, pending)
            if claim is None:
                continue  # another delivery won the claim just now: look again
            try:
                self._feed.enqueue(message, self._delay_seconds)
            except Exception:
                self._feed.abandon(claim)
                raise
            visible_at = now + timedelta(seconds=self._delay_seconds)
            self._feed.confirm(claim, now, visible_at)
            return Outcome.QUEUED
        # Still undecided after the pauses: one message too many beats one too few.
        self._feed.enqueue(message, self._delay_seconds)
        return Outcome.QUEUED


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header, case-insensitively (func.HttpRequest's headers already are)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)
