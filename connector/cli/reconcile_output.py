"""What `reconcile` shows: the summary first, then one line per employee by section (a long
section cut on the terminal), `--csv FILE` with one row per employee, and the progress bar with
the time left of the Lucca read at the limiter's pace."""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Sequence
from typing import IO

from connector.cli.common import printable
from connector.cli.sync import SUCCEEDED, change_line
from connector.domain.entries import Action
from connector.flows.reconcile import Progress
from connector.flows.reconcile_report import (
    Applied,
    Candidate,
    Finding,
    Report,
    Verdict,
    employees,
)
from connector.lucca.paging import PAGE_SIZE

BAR_WIDTH = 30
DETAILS_SHOWN = 20  # employees a section lists on the terminal; the CSV and --json have all
LUCCA_READ = "reading Lucca"  # the phase whose time left the limiter's pace tells
# The report's sections, in the order a person reads them before going live.
SECTIONS: tuple[tuple[Verdict, str], ...] = (
    (Verdict.CONFLICT, "Conflicts (nothing is done; resolve them in Entra)"),
    (Verdict.LIKELY_DUPLICATE, "Likely duplicates (never created by the reconciliation)"),
    (Verdict.CANNOT_CREATE, "Cannot be created"),
    (Verdict.LEFT_ENABLED, "Left long ago, account still enabled (not acted on)"),
    (Verdict.FAILED, "Not planned (a passing failure; run again)"),
    (Verdict.TO_CREATE, "To create"),
    (Verdict.TO_LINK, "To link (an existing account, matched by a key)"),
    (Verdict.TO_UPDATE, "To update"),
    (Verdict.LEFT_SCOPE, "Left SYNC_SCOPE, linked and enabled (the sync schedules the disable)"),
)
APPLIED_OK = SUCCEEDED | {Action.OUT_OF_SCOPE}  # out of scope: the sync's gate did its part
SCHEDULE_TITLE = "Actions to schedule"
ANCHORS_TITLE = "Entra accounts with an anchor Lucca does not know"
CSV_COLUMNS = (
    "employee_id",
    "name",
    "email",
    "status",
    "action",
    "reason",
    "entra_object_id",
    "matched_by",
    "changes",
    "candidates",
    "schedule",
    "to_apply",
    "applied",
)
# A cell starting with one of these is a formula to a spreadsheet (OWASP, "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# -- the terminal -------------------------------------------------------------------------------
def summary_lines(report: Report) -> list[str]:
    """The count of every section, before any employee."""
    lines = [""]
    for verdict, title in SECTIONS:
        if report.of(verdict):
            lines.append(f"  {title}: {len(report.of(verdict))}")
    scheduled = sum(1 for f in report.findings if f.schedule_differs)
    if scheduled:
        lines.append(f"  {SCHEDULE_TITLE}: {employees(scheduled)}")
    if report.unknown_anchors:
        lines.append(f"  {ANCHORS_TITLE}: {len(report.unknown_anchors)}")
    return lines


def detail_lines(report: Report, *, csv_path: str | None, shown: int = DETAILS_SHOWN) -> list[str]:
    """Each section with its employees, one line each, at most `shown` a section."""
    more = "all of them in the CSV" if csv_path else "`--csv FILE` lists them all"
    lines: list[str] = []
    for verdict, title in SECTIONS:
        findings = report.of(verdict)
        if findings:
            lines += ["", f"{title}: {len(findings)}"]
            lines += _cut([finding_line(verdict, f) for f in findings], shown, more)
    scheduled = [f for f in report.findings if f.schedule_differs]
    if scheduled:
        lines += ["", f"{SCHEDULE_TITLE}: {employees(len(scheduled))}"]
        said = [
            f"  {f.employee_id}  {f.name}: "
            + "; ".join(f.schedule or ("(none: the stored actions are cancelled)",))
            for f in scheduled
        ]
        lines += _cut(said, shown, more)
    if report.unknown_anchors:
        lines += [
            "",
            f"{ANCHORS_TITLE}: {len(report.unknown_anchors)} "
            "(never touched; delete them, or clear their employeeId)",
        ]
        said = [
            f"  {a.anchor}  {a.user_principal_name or a.id} "
            f"({'disabled' if a.account_enabled is False else 'enabled'})"
            for a in report.unknown_anchors
        ]
        lines += _cut(said, shown, more)
    return lines


def finding_line(verdict: Verdict, f: Finding) -> str:
    """One employee on one line: who, then the match and changes, or the reason."""
    who = f"  {f.employee_id}  {f.name} <{f.email or 'no professional email'}> [{f.status}]"
    changes = "; ".join(change_line(c) for c in f.changes)
    if verdict in (Verdict.TO_LINK, Verdict.TO_UPDATE):
        said = f"matched by {f.matched_by}" + (f": {changes}" if changes else "")
    else:
        said = " ".join(f.message.split())
        if changes and verdict is not Verdict.TO_CREATE:
            said += f"; would change {changes}"
        if f.candidates:
            said += "; candidates " + ", ".join(_candidate(c) for c in f.candidates)
    return f"{who}  {said}"


def applied_lines(applied: Applied) -> list[str]:
    """The employees whose sync did not end in step, one line each."""
    lines = [
        f"  {employee_id}: {action.value} (see `python -m connector logs --employee {employee_id}`)"
        for employee_id, action in applied.actions.items()
        if action not in APPLIED_OK
    ]
    lines.extend(f"  {e}: busy, queued for the change worker" for e in applied.busy)
    lines.extend(
        f"  {e}: changed in Lucca since the read, left to the change worker"
        for e in applied.changed_since
    )
    lines.extend(
        f"  {e}: {why}; queued for the change worker" for e, why in applied.requeued.items()
    )
    return lines


def _cut(lines: list[str], shown: int, more: str) -> list[str]:
    if len(lines) <= shown:
        return lines
    return [*lines[:shown], f"  … and {len(lines) - shown} more ({more})"]


def _candidate(c: Candidate) -> str:
    upn = c.user_principal_name or c.id
    return f"{upn} ({c.reasons})" if c.reasons else upn


# -- the CSV ------------------------------------------------------------------------------------
def open_csv(path: str) -> IO[str]:
    """FILE to write: UTF-8 with a BOM (so Excel reads the accents), newlines left to csv."""
    return open(path, "w", encoding="utf-8-sig", newline="")  # the caller closes it


def write_csv(stream: IO[str], report: Report, applied: Applied | None) -> None:
    """One row per employee reconciled, then one per unknown anchor (`stream` opened with
    newline="" and, for Excel, encoding "utf-8-sig")."""
    writer = csv.writer(stream)
    writer.writerow(CSV_COLUMNS)
    for f in report.findings:
        writer.writerow(
            _cells(
                (
                    f.employee_id,
                    f.name,
                    f.email or "",
                    f.status,
                    f.verdict.value,
                    " ".join(f.message.split()),
                    f.object_id or "",
                    f.matched_by or "",
                    "; ".join(change_line(c) for c in f.changes),
                    "; ".join(_candidate(c) for c in f.candidates),
                    "; ".join(f.schedule) if f.schedule_differs else "",
                    "yes" if f.to_apply else "no",
                    _applied(applied, f.employee_id),
                )
            )
        )
    for a in report.unknown_anchors:
        state = "disabled" if a.account_enabled is False else "enabled"
        reason = (
            f"the Entra account {a.user_principal_name or a.id} ({state}) carries this "
            "employee's anchor and Lucca has no such employee: never touched; delete it, or "
            "clear its employeeId"
        )
        anchor_id = a.anchor.removeprefix("lucca-")
        row = (anchor_id, "", "", "", "unknown anchor", reason, a.id, "", "", "", "", "no", "")
        writer.writerow(_cells(row))


def _applied(applied: Applied | None, employee_id: str) -> str:
    if applied is None:
        return ""
    if employee_id in applied.actions:
        return applied.actions[employee_id].value
    if employee_id in applied.busy:
        return "busy (queued)"
    if employee_id in applied.changed_since:
        return "changed since the read (left to the queue)"
    if employee_id in applied.requeued:
        return f"queued: {applied.requeued[employee_id]}"
    return ""


def _cells(values: Sequence[str]) -> list[str]:
    """Without control characters, and never read as a formula by a spreadsheet."""
    cells = []
    for value in values:
        cell = printable(value).replace("\n", " ").replace("\t", " ")
        cells.append(f"'{cell}" if cell.startswith(_FORMULA_START) else cell)
    return cells


# -- progress -----------------------------------------------------------------------------------
def time_left(done: int, total: int, seconds_per_request: float) -> str:
    """The time the Lucca read still takes at the limiter's pace: a request per page of 100."""
    if total <= 0 or done >= total:
        return ""
    seconds = math.ceil(math.ceil((total - done) / PAGE_SIZE) * seconds_per_request)
    if seconds < 60:
        return f"about {seconds} s left"
    if seconds < 600:
        return f"about {seconds // 60} min {seconds % 60} s left"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60} min left"


def quiet(phase: str, done: int, total: int) -> None:
    """No progress shown (not a terminal, or --json)."""


def bar(stream: IO[str], seconds_per_request: float) -> Progress:
    """A progress bar on `stream`, redrawn at most ten times a second; the Lucca read says the
    time it has left."""
    last = [0.0]

    def show(phase: str, done: int, total: int) -> None:
        if total < 0:
            stream.write("\r\033[K")
            stream.flush()
            return
        now = time.monotonic()
        if now - last[0] < 0.1 and done != total:
            return
        last[0] = now
        if total > 0:
            filled = BAR_WIDTH * min(done, total) // total
            drawn = "#" * filled + "-" * (BAR_WIDTH - filled)
            left = time_left(done, total, seconds_per_request) if phase == LUCCA_READ else ""
            stream.write(f"\r\033[K{phase:<14} [{drawn}] {done}/{total}")
            stream.write(f", {left}" if left else "")
        else:
            stream.write(f"\r\033[K{phase:<14} {done or ''}")
        stream.flush()

    return show
