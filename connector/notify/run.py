"""The sending timer's run: what waits in the outbox, sent within Azure's sending limits.

Sending happens later than raising (`connector/notify/notifier.py`), separately, so a send that
fails never undoes or blocks a sync; more waiting than the hour allows goes as one digest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from connector.core.clock import utc_now
from connector.domain.entries import Action, LogEntry
from connector.domain.notices import Kind, Links
from connector.notify.compose import render, render_daily, render_digest
from connector.notify.daily import DailyBuilder
from connector.notify.document import Rendered
from connector.notify.sender import Mailer, MailError, MailRejected, MailThrottled, MailUnknown
from connector.notify.words import Language
from connector.storage.log import IntegrationLog
from connector.storage.outbox import Outbox, later, sent_within
from connector.storage.outbox_rows import PendingDigest, Waiting, daily_key

# A claimed notice is left alone this long by other sends (a send that stops mid-way is
# retried after it, with the same operation id, inside the 5 minutes ACS is documented to
# remember a request for).
CLAIM_SECONDS = 120
# Waits between attempts after a failure: 1, 2, 4, 8 … minutes, at most an hour.
FIRST_BACKOFF_SECONDS = 60
MAX_BACKOFF_SECONDS = 3600
# A digest lists at most this many notices (the rest go in the next one): its row and its
# email stay well inside Table Storage's 64 KiB property and ACS's message size.
DIGEST_MAX = 200


@dataclass
class SendReport:
    """What one notification run did."""

    sent: int = 0
    digested: int = 0
    digests: int = 0
    retried: int = 0
    failed: int = 0
    waiting: int = 0
    throttled: bool = False
    daily_raised: bool = False
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the Functions log."""
        return (
            f"{self.sent} sent, {self.digested} in {self.digests} digest(s), {self.retried} "
            f"to retry, {self.failed} given up, {self.waiting} waiting"
            + (", throttled by ACS" if self.throttled else "")
            + (", daily digest raised" if self.daily_raised else "")
        )


@dataclass(frozen=True, kw_only=True)
class Budget:
    """How many emails the sending window still allows."""

    minute: int
    hour: int

    @property
    def any(self) -> bool:
        """At least one email may go now."""
        return self.minute > 0 and self.hour > 0


class NotificationRun:
    """Sends what waits in the outbox; one `run` per timer tick."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        mailer: Mailer,
        log: IntegrationLog,
        links: Links,
        language: Language = "en",
        max_per_minute: int = 5,
        max_per_hour: int = 10,
        max_attempts: int = 5,
        daily_at: str = "",
        daily_zone: str = "Europe/Paris",
        daily: DailyBuilder | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._outbox = outbox
        self._mailer = mailer
        self._log = log
        self._links = links
        self._language: Language = language
        self._per_minute = max_per_minute
        self._per_hour = max_per_hour
        self._max_attempts = max_attempts
        self._daily_at = daily_at
        self._daily_zone = daily_zone
        self._daily = daily
        self._clock = clock

    def run(self, now: datetime | None = None) -> SendReport:
        """Send what is due, within the window: one by one, or as one digest when more wait
        than the hour allows."""
        now = self._clock() if now is None else now
        report = SendReport()
        try:
            self._raise_daily(now, report)
        except Exception as err:  # the daily digest never stops the four emails
            logging.exception("the daily digest could not be raised")
            report.errors.append(f"daily digest: {type(err).__name__}")
        for digest in self._outbox.pending_digests():
            if not self._budget(now).any or not self._send_digest(digest, now, report):
                return report
        waiting = self._outbox.waiting()
        due = [w for w in waiting if w.next_attempt <= now]
        report.waiting = len(waiting)
        if not due:
            return report
        budget = self._budget(now)
        if not budget.any:
            report.throttled = False
            return report
        dailies = [w for w in due if w.kind is Kind.DAILY]
        notices = [w for w in due if w.kind is not Kind.DAILY]
        if len(notices) > budget.hour:
            for wait in dailies:
                if not self._budget(now).any or not self._send_one(wait, now, report):
                    break
            if self._budget(now).any and not report.throttled:
                reason = self._digest_reason(len(notices), budget)
                covered = [w.key for w in notices[:DIGEST_MAX]]
                digest = self._outbox.start_digest(covered, reason)
                self._send_digest(digest, now, report)
        else:
            for wait in dailies + notices:
                if not self._budget(now).any or not self._send_one(wait, now, report):
                    break
        report.waiting = len(self._outbox.waiting())
        return report

    # -- the window -------------------------------------------------------------------------
    def _budget(self, now: datetime) -> Budget:
        buckets, _ = self._outbox.window()
        return Budget(
            minute=self._per_minute - sent_within(buckets, now, 60),
            hour=self._per_hour - sent_within(buckets, now, 3600),
        )

    def _digest_reason(self, count: int, budget: Budget) -> str:
        if self._language == "fr":
            return (
                f"{count} notifications attendaient, plus que les {budget.hour} envois que "
                f"la limite d'envoi ({self._per_hour} par heure, {self._per_minute} par "
                "minute) permet encore dans l'heure : les voici en un seul message."
            )
        return (
            f"{count} notifications were waiting, more than the {budget.hour} emails the "
            f"sending limit ({self._per_hour} per hour, {self._per_minute} per minute) still "
            "allows within the hour: here they are in one message."
        )

    # -- one email --------------------------------------------------------------------------
    def _render(self, wait: Waiting) -> Rendered:
        if wait.kind is Kind.DAILY:
            return render_daily(wait.daily, self._links, self._language)
        return render(wait.notice, self._links, self._language)

    def _send_one(self, wait: Waiting, now: datetime, report: SendReport) -> bool:
        """Send one notice; False when the run must stop (ACS throttled it)."""
        claimed = self._outbox.claim(wait, until=later(now, CLAIM_SECONDS))
        if claimed is None:
            return True  # another sender has it
        try:
            sent = self._mailer.send(self._render(claimed), claimed.operation_id)
        except MailThrottled as err:
            self._outbox.retry_later(
                claimed,
                at=later(now, err.retry_after),
                error=err.message,
                count=False,
                unknown=False,
            )
            report.throttled = True
            return False
        except MailError as err:
            self._failed_attempt(claimed, err, now, report)
            return True
        self._outbox.settle(claimed.key, state="sent", at=now, operation_id=sent.operation_id)
        self._outbox.record_sent(now)
        report.sent += 1
        return True

    def _failed_attempt(
        self, wait: Waiting, err: MailError, now: datetime, report: SendReport
    ) -> None:
        attempts = wait.attempts + 1
        report.errors.append(f"{wait.key}: {err.message}")
        if attempts < self._max_attempts:
            unknown = isinstance(err, MailUnknown)
            # An unknown outcome is retried soon, under the same operation id, while ACS
            # still remembers it; a refusal backs off.
            backoff = (
                FIRST_BACKOFF_SECONDS
                if unknown
                else min(FIRST_BACKOFF_SECONDS * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)
            )
            self._outbox.retry_later(
                wait, at=later(now, backoff), error=err.message, count=True, unknown=unknown
            )
            report.retried += 1
            return
        self._outbox.settle(
            wait.key, state="failed", at=now, operation_id=wait.operation_id, error=err.message
        )
        report.failed += 1
        self._log_failure(wait, err, attempts, now)

    def _log_failure(self, wait: Waiting, err: MailError, attempts: int, now: datetime) -> None:
        """One "notification failed" entry: the change it reports stands."""
        employee_id = object_id = None
        about = "the daily digest"
        if wait.kind is not Kind.DAILY:
            notice = wait.notice
            employee_id, object_id = notice.employee_id, notice.object_id
            about = f"the '{wait.kind.value}' email about employee {notice.employee_id}"
        unknown = (
            " (ACS may have sent it: its answer never came)" if isinstance(err, MailUnknown) else ""
        )
        self._log.write(
            LogEntry(
                time=now,
                action=Action.NOTIFICATION_FAILED,
                message=(
                    f"Could not send {about} after {attempts} attempts{unknown}: {err.message}. "
                    "The change it reports was applied; only the email is missing. Check the "
                    "Communication Services settings (NOTIFY_SENDER, ACS_ENDPOINT or "
                    "ACS_CONNECTION_STRING) and the sending domain."
                ),
                employee_id=employee_id,
                object_id=object_id,
                details={"kind": wait.kind.value, "key": wait.key, "attempts": attempts},
            )
        )

    # -- digests ----------------------------------------------------------------------------
    def _send_digest(self, digest: PendingDigest, now: datetime, report: SendReport) -> bool:
        """Send (or send again, with the same operation id) one digest; False to stop."""
        waits = {w.key: w for w in self._outbox.waiting()}
        notices = [waits[key].notice for key in digest.keys if key in waits]
        if not notices:
            self._outbox.finish_digest(digest, at=now)
            return True
        rendered = render_digest(notices, self._links, self._language, reason=digest.reason)
        try:
            sent = self._mailer.send(rendered, digest.operation_id)
        except MailThrottled as err:
            if not digest.attempts:  # never possibly accepted: its notices wait again
                self._outbox.drop_digest(digest)
            report.throttled = True
            report.errors.append(f"digest: {err.message}")
            return False
        except MailError as err:
            report.errors.append(f"digest: {err.message}")
            if isinstance(err, MailRejected) and not digest.attempts:
                self._outbox.drop_digest(digest)  # certainly not sent: the notices wait again
                for key in digest.keys:
                    if key in waits:
                        self._failed_attempt(waits[key], err, now, report)
                return False
            # ACS may have accepted it (now or at an earlier attempt): the digest is kept and
            # sent again under the same operation id, a bounded number of times.
            if self._outbox.digest_unknown(digest) >= self._max_attempts:
                self._outbox.finish_digest(digest, at=now, state="failed", error=err.message)
                for key in digest.keys:
                    if key in waits:
                        self._log_failure(waits[key], err, self._max_attempts, now)
                report.failed += len(notices)
            return False
        self._outbox.finish_digest(
            PendingDigest(
                digest_id=digest.digest_id,
                keys=digest.keys,
                operation_id=sent.operation_id,
                reason=digest.reason,
                started_at=digest.started_at,
            ),
            at=now,
        )
        self._outbox.record_sent(now)
        report.digests += 1
        report.digested += len(notices)
        return True

    # -- the daily digest -------------------------------------------------------------------
    def _raise_daily(self, now: datetime, report: SendReport) -> None:
        """Once a day, at `NOTIFY_DAILY_DIGEST` local time: tomorrow's starts and leavers,
        held runs, open conflicts."""
        if not self._daily_at or self._daily is None:
            return
        zone = ZoneInfo(self._daily_zone)
        local = now.astimezone(zone)
        hour, minute = (int(part) for part in self._daily_at.split(":"))
        if local.time() < time(hour, minute):
            return
        tomorrow = local.date() + timedelta(days=1)
        if self._outbox.state(daily_key(tomorrow.isoformat())) is not None:
            return  # raised already today
        start = datetime.combine(tomorrow, time(0), zone).astimezone(UTC)
        end = datetime.combine(tomorrow + timedelta(days=1), time(0), zone).astimezone(UTC)
        digest = self._daily.build(start, end, tomorrow.isoformat())
        report.daily_raised = self._outbox.put_daily(digest)
        if report.daily_raised and digest.empty:  # nothing to tell: no email today
            self._outbox.settle(daily_key(digest.day), state="empty", at=now, operation_id="")
