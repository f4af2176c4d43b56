"""The nightly reconciliation's slices: where Lucca's reading stands, what is done, the totals.

A night reads Lucca in two streams, each sorted by id and followed page by page with the next
link Lucca gives (its cursor): the active and upcoming employees, then the deactivated ones
whose applicable employment ended within `RECONCILE_LEFT_DAYS` (Lucca's filter
`applicableEmployment.endsOn.between`). A slice reads a bounded number of pages, plans and
applies them, then saves the cursor. The ids each slice planned are stored with it (row
`<n>` of partition `slice-<local day>`), so an employee read again (the list changed during
the night: a leaver moving from one stream to the other) is never planned twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from azure.data.tables import UpdateMode

from connector.flows.reconcile_report import Applied, Report, Verdict, employees

if TYPE_CHECKING:
    from connector.lucca.models import LuccaEmployee
    from connector.lucca.paging import EmployeePaging
    from connector.storage.tables import Storage

SLICE_PREFIX = "slice-"
IDS_PER_PROPERTY = 2000  # a Table Storage string holds 32K characters: ids in chunks
SAMPLE = 50  # employee ids named in an entry's details at most
DONE = 2  # the stream number once both are read


def stream_params(stream: int, night: date, left_days: int) -> dict[str, str]:
    """Lucca's filters of a stream: 0 active and upcoming, 1 recent leavers."""
    if stream == 0:
        return {"status": "active,upcoming"}
    since = date.fromordinal(night.toordinal() - left_days)
    return {"status": "deactivated", "applicableEmployment.endsOn.between": f"{since}--.."}


@dataclass(frozen=True)
class Cursor:
    """Where a night's reading of Lucca stands: the stream, and the next page's link."""

    stream: int = 0
    href: str | None = None

    @property
    def done(self) -> bool:
        """Whether both streams are read."""
        return self.stream >= DONE


def read_pages(
    lucca: EmployeePaging, cursor: Cursor, pages: int, night: date, left_days: int
) -> tuple[list[LuccaEmployee], Cursor]:
    """At most `pages` pages from the cursor on, and the cursor after them."""
    found: list[LuccaEmployee] = []
    for _ in range(pages):
        if cursor.done:
            break
        batch, following = lucca.employee_page(
            stream_params(cursor.stream, night, left_days), cursor.href
        )
        found += batch
        cursor = Cursor(cursor.stream, following) if following else Cursor(cursor.stream + 1)
    return found, cursor


@dataclass(kw_only=True)
class Totals:
    """A night's figures summed across its slices (kept in its row between ticks)."""

    slices: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    scheduled: int = 0
    to_apply: int = 0
    to_apply_sample: list[str] = field(default_factory=list)
    needs_a_person: list[str] = field(default_factory=list)
    applied: dict[str, int] = field(default_factory=dict)
    queued: list[str] = field(default_factory=list)
    lucca_employees: int = 0
    entra_users: int = 0
    scope_kept: int | None = None  # None: no SYNC_SCOPE
    scope_read: int = 0

    def add(self, report: Report, applied: Applied | None) -> None:
        """One slice's report (and what applying it did)."""
        self.slices += 1
        for verdict, number in report.counts().items():
            self.counts[verdict] = self.counts.get(verdict, 0) + number
        self.scheduled += sum(1 for f in report.findings if f.schedule_differs)
        todo = report.to_apply
        self.to_apply += len(todo)
        self.to_apply_sample = (self.to_apply_sample + [f.employee_id for f in todo])[:SAMPLE]
        self.needs_a_person = (
            self.needs_a_person
            + [f.employee_id for f in report.findings if f.verdict.value in _PERSON]
        )[:SAMPLE]
        self.lucca_employees += report.lucca_employees
        self.entra_users = report.entra_users
        if report.scope is not None:
            self.scope_kept = (self.scope_kept or 0) + report.scope.kept
            self.scope_read += report.scope.read
        if applied is not None:
            for action, number in applied.counts().items():
                self.applied[action] = self.applied.get(action, 0) + number
            self.queued = (self.queued + applied.busy + list(applied.requeued))[:SAMPLE]

    def summary(self, unknown_anchors: int) -> str:
        """One line, as a single run's `Report.summary()`."""
        parts = [f"{self.counts[v.value]} {v.value}" for v in Verdict if self.counts.get(v.value)]
        if self.scheduled:
            parts.append(f"{self.scheduled} with actions to schedule")
        if unknown_anchors:
            parts.append(f"{unknown_anchors} Entra accounts with an unknown anchor")
        reconciled = sum(self.counts.values())
        scope = (
            f" (SYNC_SCOPE keeps {self.scope_kept} of {self.scope_read} read)"
            if self.scope_kept is not None
            else ""
        )
        return f"{employees(reconciled)} reconciled{scope}: " + ", ".join(parts or ["nothing"])

    def applied_summary(self) -> str:
        """What the night's applying did, summed."""
        parts = [f"{n} {action}" for action, n in sorted(self.applied.items())]
        if self.queued:
            parts.append(f"{len(self.queued)} queued")
        return "applied: " + (", ".join(parts) if parts else "nothing to apply")

    def to_json(self) -> str:
        """As stored in the night's row."""
        return json.dumps(self.__dict__, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: object) -> Totals:
        """As stored (empty at a night's first slice)."""
        return cls(**json.loads(raw)) if isinstance(raw, str) and raw else cls()


_PERSON = frozenset(
    v.value
    for v in (
        Verdict.LIKELY_DUPLICATE,
        Verdict.CONFLICT,
        Verdict.CANNOT_CREATE,
        Verdict.LEFT_ENABLED,
        Verdict.FAILED,
    )
)


class SliceLog:
    """The ids each slice of a night planned, in table `Reconciliation`."""

    def __init__(self, storage: Storage, table: str, night: date) -> None:
        self._storage = storage
        self._table = table
        self._partition = f"{SLICE_PREFIX}{night.isoformat()}"

    def planned(self) -> dict[int, list[str]]:
        """Every saved slice's planned ids, by slice number (one query)."""

        def query(table: Any) -> list[dict[str, Any]]:
            return [
                dict(row)
                for row in table.query_entities(
                    "PartitionKey eq @p", parameters={"p": self._partition}
                )
            ]

        found: dict[int, list[str]] = {}
        for row in self._storage.on_table(self._table, query):
            chunks = sorted((k for k in row if k.startswith("Ids")), key=lambda k: int(k[3:]))
            found[int(row["RowKey"])] = [i for k in chunks for i in str(row[k]).split(",") if i]
        return found

    def save(self, number: int, ids: Iterable[str]) -> None:
        """A slice's planned ids (written again, whole, when the slice is redone)."""
        listed = list(ids)
        entity: dict[str, Any] = {
            "PartitionKey": self._partition,
            "RowKey": f"{number:05d}",
            "Count": len(listed),
        }
        for n, start in enumerate(range(0, len(listed), IDS_PER_PROPERTY)):
            entity[f"Ids{n}"] = ",".join(listed[start : start + IDS_PER_PROPERTY])
        self._storage.on_table(
            self._table, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE)
        )
