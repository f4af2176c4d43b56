"""The nightly reconciliation: once a local day, from `RECONCILE_AT`, the whole population.

It repairs drift a change from Lucca never announces, such as an attribute changed by hand in
Entra, and writes one summary entry ("reconciled") when the night is done. It reads and plans
in slices across ticks of `RECONCILE_TIMER`: each tick reads at most `RECONCILE_SLICE_PAGES`
pages of 100 employees (night_slices.py), plans and applies them, then saves its cursor; the
next tick resumes from it. A crash between slices resumes from the saved cursor; a crash inside
one redoes that slice only: its plan is made again against Entra as it now is, so what was
applied is in step and not applied twice.

Like a deactivation run it is held, with an alerting "reconciliation held" entry, when it
would hand more employees to the sync than `RECONCILE_MAX_CHANGES`, counted across the
night's slices: as soon as the slices so far and the current one would pass it, nothing more
is applied that night (the slices before stay applied, at most RECONCILE_MAX_CHANGES in all).
A person reviews the plan with `python -m connector reconcile` and releases it with
`reconcile --apply`.

Azure's timers know no time zone: the night starts at the first tick at or after
`RECONCILE_AT` local (on the day clocks go forward, 02:00 does not exist in Paris: it starts
at 03:00 local; on the day they go back, once). Each slice claims the night in table
`Reconciliation` (row `night-<local day>`, ETag-guarded, so two instances never run the same
slice); a slice that cannot read Lucca or Entra gives the night back for the next tick, up to
`MAX_ATTEMPTS` attempts of that slice, and says so once in the log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
from azure.data.tables import UpdateMode

from connector.core.errors import ConnectorError
from connector.domain.entries import Action, LogEntry
from connector.domain.mapping import ANCHOR_PREFIX
from connector.domain.ports import Log
from connector.flows.night_directory import NightDirectory
from connector.flows.night_slices import SAMPLE, Cursor, SliceLog, Totals, read_pages
from connector.flows.reconcile import Reconciliation
from connector.flows.reconcile_report import Applied, Report, employees
from connector.flows.snapshot import Snapshot
from connector.storage.tables import Storage

STATE_TABLE = "Reconciliation"
PARTITION = "night"
MAX_ATTEMPTS = 3  # of one slice
# A slice "started" this long ago has died: the night is free. Safe while host.json's
# functionTimeout (10 minutes) stops a slice long before: raise both together.
STALE_AFTER = timedelta(minutes=30)
SLICE_PAGES = 40  # pages of 100 employees a slice reads (RECONCILE_SLICE_PAGES)


@dataclass(frozen=True, kw_only=True)
class NightlyReport:
    """What one tick did."""

    ran: bool
    reason: str = ""
    held: bool = False
    report: Report | None = None
    applied: Applied | None = None
    finished: bool = True  # the night is done (False: more slices to come)

    def summary(self) -> str:
        """One line for the Functions log (ids and counts, no names)."""
        if not self.ran or self.report is None:
            return f"not run: {self.reason}"
        slice_ = "" if self.finished else "slice (more to come): "
        if self.held:
            return f"held: {len(self.report.to_apply)} to apply; {self.report.summary()}"
        applied = self.applied.summary() if self.applied is not None else "observe mode"
        return f"{slice_}{self.report.summary()}; {applied}"


@dataclass(kw_only=True)
class _Claim:
    """The night's row as this tick took it, and its ETag (to save the cursor after)."""

    entity: dict[str, Any]
    etag: str


class NightlyReconciliation:
    """Runs the reconciliation once a local day, a slice a tick, held above a threshold."""

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
        slice_pages: int = SLICE_PAGES,
    ) -> None:
        self._storage = storage
        self._build = build
        self._log = log
        self._at = at
        self._zone = ZoneInfo(zone)
        self._max_changes = max_changes
        self._observe = observe
        self._clock = clock
        self._slice_pages = slice_pages

    def run(self) -> NightlyReport:
        """Reconcile the next slice if tonight's run is due and not done yet."""
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
            return self._slice(self._build(), day, claim)
        except Exception as err:
            reason = err.message if isinstance(err, ConnectorError) else type(err).__name__
            self._failed(day, claim, reason)
            raise

    # -- one slice --------------------------------------------------------------------------
    def _slice(self, reconciliation: Reconciliation, day: date, claim: _Claim) -> NightlyReport:
        row = claim.entity
        cursor = Cursor(int(row.get("Stream") or 0), str(row.get("Cursor") or "") or None)
        totals = Totals.from_json(row.get("Totals"))
        slices = SliceLog(self._storage, STATE_TABLE, day)
        number = totals.slices  # slices saved beyond it were a crashed attempt's: redone
        seen = {i for n, ids in slices.planned().items() if n < number for i in ids}
        read_at = self._clock()
        found, after = read_pages(
            reconciliation.lucca, cursor, self._slice_pages, day, reconciliation.left_days
        )
        fresh = {e.id: e for e in found if e.id not in seen}
        directory = NightDirectory(self._storage, STATE_TABLE, day)
        users = directory.users(reconciliation.directory)
        snapshot = reconciliation.snapshot(
            fresh, read_at=read_at, known=frozenset(seen), users=users
        )
        if after.done:  # the anchors and links of employees not read: checked by id
            unseen = _referenced(snapshot) - seen - fresh.keys()
            by_id = {e.id: e for e in reconciliation.lucca.employees_by_id(unseen)}
            snapshot = replace(snapshot, employees={**fresh, **by_id})
        else:  # an anchor may be an employee of a later slice: none is unknown yet
            snapshot = replace(snapshot, known=frozenset(seen) | _referenced(snapshot))
        report = reconciliation.plan(snapshot)
        if not after.done:
            report.unknown_anchors = []
        planned = [f.employee_id for f in report.findings]
        if totals.to_apply + len(report.to_apply) > self._max_changes:
            totals.add(report, None)
            slices.save(number, planned)
            self._held(totals, report, number)
            self._commit(day, claim, after, totals, state="held")
            return NightlyReport(ran=True, held=True, report=report)
        applied = None if self._observe else reconciliation.apply(report, snapshot)
        totals.add(report, applied)
        slices.save(number, planned)
        if after.done:
            self._summary(totals, report)
            directory.forget()
        self._commit(day, claim, after, totals, state="done" if after.done else "between")
        return NightlyReport(ran=True, report=report, applied=applied, finished=after.done)

    def _held(self, totals: Totals, report: Report, number: int) -> None:
        before = (
            f" The night's first {number} slices stayed applied ({totals.applied_summary()})."
            if number
            else ""
        )
        self._write(
            Action.RECONCILIATION_HELD,
            f"The nightly reconciliation would hand {employees(totals.to_apply)} to the sync, "
            f"more than RECONCILE_MAX_CHANGES ({self._max_changes}): nothing more was applied "
            f"tonight.{before} Review the plan with `python -m connector reconcile`, then apply "
            "it with `python -m connector reconcile --apply` (or raise RECONCILE_MAX_CHANGES). "
            + report.summary(),
            self._details(totals, report),
        )

    def _summary(self, totals: Totals, report: Report) -> None:
        """The night's one summary entry, with the totals across its slices."""
        summary = totals.summary(len(report.unknown_anchors))
        details = self._details(totals, report)
        if self._observe:
            self._write(Action.RECONCILED, summary, details)
            return
        details["applied"] = totals.applied
        details["queued"] = totals.queued
        self._write(Action.RECONCILED, f"{summary}; {totals.applied_summary()}.", details)

    @staticmethod
    def _details(totals: Totals, report: Report) -> dict[str, Any]:
        return {
            "counts": totals.counts,
            "to_apply": totals.to_apply,
            "to_apply_sample": totals.to_apply_sample,
            "needs_a_person": totals.needs_a_person,
            "unknown_anchors": [a.id for a in report.unknown_anchors][:SAMPLE],
            "lucca_employees": totals.lucca_employees,
            "entra_users": totals.entra_users,
            "slices": totals.slices,
        }

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

    # -- the night's row --------------------------------------------------------------------
    def _claim(self, day: date, now: datetime) -> _Claim | None:
        """Take the night's next slice; None when it is done, running, or out of attempts."""
        row = f"{PARTITION}-{day.isoformat()}"
        entity = {"PartitionKey": PARTITION, "RowKey": row, "State": "started", "StartedAt": now}
        try:
            made = self._storage.on_table(
                STATE_TABLE, lambda t: t.create_entity({**entity, "Attempts": 1})
            )
        except ResourceExistsError:
            pass
        else:
            return _Claim(entity=entity | {"Attempts": 1}, etag=str(made["etag"]))
        current = self._storage.read(STATE_TABLE, PARTITION, row)
        if current is None or current.get("State") in ("done", "held"):
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
        taken = dict(current) | entity | {"Attempts": attempts + 1}
        try:
            made = self._storage.on_table(
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
        return _Claim(entity=taken, etag=str(made["etag"]))

    def _commit(
        self, day: date, claim: _Claim, cursor: Cursor, totals: Totals, *, state: str
    ) -> None:
        """Save the cursor and the totals after a slice, if the night is still this tick's."""
        entity = claim.entity | {
            "State": state,
            "Attempts": 0,
            "Stream": cursor.stream,
            "Cursor": cursor.href or "",
            "Totals": totals.to_json(),
            "FinishedAt": self._clock(),
        }
        with contextlib.suppress(ResourceModifiedError):  # taken as stale: it redoes the slice
            self._storage.on_table(
                STATE_TABLE,
                lambda t: t.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=claim.etag,
                    match_condition=MatchConditions.IfNotModified,
                ),
            )

    def _failed(self, day: date, claim: _Claim, reason: str) -> None:
        """Give the night back for the next tick; say it once, and when it is given up."""
        attempts = int(claim.entity["Attempts"])
        # Merge the state only: a slice that saved its cursor before dying keeps it.
        keys = {k: claim.entity[k] for k in ("PartitionKey", "RowKey")}
        with contextlib.suppress(ConnectorError):
            self._storage.on_table(
                STATE_TABLE,
                lambda t: t.upsert_entity(keys | {"State": "failed"}, mode=UpdateMode.MERGE),
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


def _referenced(snapshot: Snapshot) -> set[str]:
    """The Lucca ids the directory's anchors and the identity links name."""
    anchored = {
        (u.employee_id or "").removeprefix(ANCHOR_PREFIX)
        for u in snapshot.users
        if (u.employee_id or "").startswith(ANCHOR_PREFIX)
    }
    return anchored | {link.employee_id for link in snapshot.links}
