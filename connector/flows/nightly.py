"""The nightly reconciliation: once a local day, at `RECONCILE_AT`, the whole population.

It repairs drift a change from Lucca never announces, such as an attribute changed by hand in
Entra, and writes one summary entry ("reconciled"). Like a deactivation run it is held, with
an alerting "reconciliation held" entry and nothing applied, when it would hand more employees
to the sync than `RECONCILE_MAX_CHANGES`: a person reviews the plan with
`python -m connector reconcile` and releases it with `reconcile --apply`.

Azure's timers know no time zone, so `RECONCILE_TIMER` wakes it every hour and it runs once a
local day, at the first tick at or after `RECONCILE_AT` (on the day clocks go forward, 02:00
does not exist in Paris: it runs at 03:00 local; on the day they go back, once). A run claims
its day in table `Reconciliation` (row `night-<local day>`, ETag-guarded, so two instances
never both run); a run that cannot read Lucca or Entra gives its day back for the next tick,
up to `MAX_ATTEMPTS` attempts, and says so once in the log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
from azure.data.tables import UpdateMode

from connector.core.errors import ConnectorError
from connector.domain.entries import Action, LogEntry
from connector.domain.ports import Log
from connector.flows.reconcile import Reconciliation
from connector.flows.reconcile_report import NEEDS_A_PERSON, Applied, Report, employees
from connector.flows.snapshot import Snapshot
from connector.storage.tables import Storage

STATE_TABLE = "Reconciliation"
PARTITION = "night"
MAX_ATTEMPTS = 3
# A run "started" this long ago has died: its day is free. Safe while host.json's
# functionTimeout (10 minutes) stops a run long before: raise both together.
STALE_AFTER = timedelta(hours=2)
SAMPLE = 50  # employee ids named in an entry's details at most


@dataclass(frozen=True, kw_only=True)
class NightlyReport:
    """What one tick did."""

    ran: bool
    reason: str = ""
    held: bool = False
    report: Report | None = None
    applied: Applied | None = None

    def summary(self) -> str:
        """One line for the Functions log (ids and counts, no names)."""
        if not self.ran or self.report is None:
            return f"not run: {self.reason}"
        if self.held:
            return f"held: {len(self.report.to_apply)} to apply; {self.report.summary()}"
        applied = self.applied.summary() if self.applied is not None else "observe mode"
        return f"{self.report.summary()}; {applied}"


class NightlyReconciliation:
    """Runs the reconciliation once a local day, held above a threshold."""

    def __init__(
        self,
        *,
        storage: Storage,
        build: Callable[[], Reconciliation],
        log: Log,
        at: str,
        zone: str,
        max_changes: int,
        observe: bool,
        clock: Callable[[], datetime],
    ) -> None:
        self._storage = storage
        self._build = build
        self._log = log
        self._at = at
        self._zone = ZoneInfo(zone)
        self._max_changes = max_changes
        self._observe = observe
        self._clock = clock

    def run(self) -> NightlyReport:
        """Reconcile if it is due today and not done yet."""
        if not self._at:
            return NightlyReport(ran=False, reason="RECONCILE_AT is empty (off)")
        now = self._clock()
        local = now.astimezone(self._zone)
        hour, minute = (int(part) for part in self._at.split(":"))
        if local.time() < time(hour, minute):
            return NightlyReport(ran=False, reason=f"before {self._at} local time")
        day = local.date()
        claim = self._claim(day, now)
        if claim is None:
            return NightlyReport(ran=False, reason=f"done or running for {day.isoformat()}")
        try:
            reconciliation = self._build()
            snapshot = reconciliation.read()
            report = reconciliation.plan(snapshot)
            outcome = self._decide(reconciliation, report, snapshot)
        except Exception as err:
            reason = err.message if isinstance(err, ConnectorError) else type(err).__name__
            self._failed(day, claim, reason)
            raise
        self._finish(day)
        return outcome

    def _decide(
        self, reconciliation: Reconciliation, report: Report, snapshot: Snapshot
    ) -> NightlyReport:
        todo = report.to_apply
        details: dict[str, Any] = {
            "counts": report.counts(),
            "to_apply": len(todo),
            "to_apply_sample": [f.employee_id for f in todo[:SAMPLE]],
            "needs_a_person": [
                f.employee_id for f in report.findings if f.verdict in NEEDS_A_PERSON
            ][:SAMPLE],
            "unknown_anchors": [a.id for a in report.unknown_anchors][:SAMPLE],
            "lucca_employees": report.lucca_employees,
            "entra_users": report.entra_users,
        }
        if len(todo) > self._max_changes:
            self._write(
                Action.RECONCILIATION_HELD,
                f"The nightly reconciliation would hand {employees(len(todo))} to the sync, more "
                f"than RECONCILE_MAX_CHANGES ({self._max_changes}): nothing was applied. Review "
                "the plan with `python -m connector reconcile`, then apply it with "
                "`python -m connector reconcile --apply` (or raise RECONCILE_MAX_CHANGES). "
                + report.summary(),
                details,
            )
            return NightlyReport(ran=True, held=True, report=report)
        if self._observe:
            self._write(Action.RECONCILED, report.summary(), details)
            return NightlyReport(ran=True, report=report)
        applied = reconciliation.apply(report, snapshot)
        details["applied"] = applied.counts()
        details["queued"] = applied.busy + list(applied.requeued)
        self._write(Action.RECONCILED, f"{report.summary()}; {applied.summary()}.", details)
        return NightlyReport(ran=True, report=report, applied=applied)

    def _write(self, action: Action, message: str, details: dict[str, Any]) -> None:
        self._log.write(
            LogEntry(
                time=self._clock(),
                action=action,
                message=("Observe mode, nothing written: " + message) if self._observe else message,
                observed=self._observe,
                details=details,
            )
        )

    # -- the day's claim --------------------------------------------------------------------
    def _claim(self, day: date, now: datetime) -> dict[str, Any] | None:
        """Take the day's run; None when it is done, running, or out of attempts."""
        row = f"{PARTITION}-{day.isoformat()}"
        entity = {"PartitionKey": PARTITION, "RowKey": row, "State": "started", "StartedAt": now}
        try:
            self._storage.on_table(
                STATE_TABLE, lambda t: t.create_entity({**entity, "Attempts": 1})
            )
        except ResourceExistsError:
            pass
        else:
            return entity | {"Attempts": 1}
        current = self._storage.read(STATE_TABLE, PARTITION, row)
        if current is None or current.get("State") == "done":
            return None
        attempts = int(current.get("Attempts") or 0)
        started = current.get("StartedAt")
        running = (
            current.get("State") == "started"
            and isinstance(started, datetime)
            and now - started < STALE_AFTER
        )
        if running or attempts >= MAX_ATTEMPTS:
            return None
        taken = entity | {"Attempts": attempts + 1}
        try:
            self._storage.on_table(
                STATE_TABLE,
                lambda t: t.update_entity(
                    taken,
                    mode=UpdateMode.REPLACE,
                    etag=current.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                ),
            )
        except ResourceModifiedError:
            return None  # another instance took it first
        return taken

    def _failed(self, day: date, claim: dict[str, Any], reason: str) -> None:
        """Give the day back for the next tick; say it once, and when it is given up."""
        attempts = int(claim["Attempts"])
        update = claim | {"State": "failed"}
        with contextlib.suppress(ConnectorError):
            self._storage.on_table(
                STATE_TABLE, lambda t: t.upsert_entity(update, mode=UpdateMode.REPLACE)
            )
        if attempts == 1 or attempts >= MAX_ATTEMPTS:
            then = (
                "it is tried again at the next tick"
                if attempts < MAX_ATTEMPTS
                else f"after {attempts} attempts it waits for tomorrow"
            )
            self._write(
                Action.FAILED,
                f"The nightly reconciliation of {day.isoformat()} stopped ({reason}): {then}. "
                "What it had applied stays applied, each sync logged on its own.",
                {"attempts": attempts},
            )

    def _finish(self, day: date) -> None:
        entity = {
            "PartitionKey": PARTITION,
            "RowKey": f"{PARTITION}-{day.isoformat()}",
            "State": "done",
            "FinishedAt": self._clock(),
        }
        self._storage.on_table(
            STATE_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.MERGE)
        )
