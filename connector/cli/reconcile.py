"""`python -m connector reconcile [--apply]`: the whole population, Lucca against Entra.

A dry run unless `--apply`: it reads Lucca's employees (pages of 100 with their embedded
documents, through the shared limiter), the directory (pages with `$select`), the links and the
schedule, and prints the report: employees matched and by which key, to create, to update (each
attribute old → new), to link, conflicts and likely duplicates, accounts that cannot be created,
actions to schedule, and Entra accounts carrying an anchor Lucca does not know. With `--apply`
it hands what needs it to the sync (`connector/flows/reconcile.py` says which and why it is
safe) and
prints what each sync did. On a terminal a progress bar goes to stderr.

Exit codes: 0 when nothing waits for a person; 1 when the report lists conflicts, likely
duplicates, accounts that cannot be created, employees not planned, or unknown anchors (and, with
`--apply`, when a sync did not end in step); 3 and 4 as every command.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import IO, Any

from connector.cli.common import EXIT_OK, EXIT_PROBLEMS, Context, add_command, is_tty, terminal
from connector.cli.sync import SUCCEEDED, change_line
from connector.domain.entries import Action
from connector.flows.reconcile import Progress
from connector.flows.reconcile_report import Applied, Finding, Report, Verdict, employees
from connector.runtime.build import Clients, build_reconciliation

EXAMPLES = """\
  python -m connector reconcile               the go-live report, nothing written
  python -m connector reconcile --apply       apply what the report says the sync may do
  python -m connector reconcile --json > plan.json
"""
BAR_WIDTH = 30
APPLIED_OK = SUCCEEDED | {Action.OUT_OF_SCOPE}  # out of scope: the sync's gate did its part
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


def add_reconcile_command(commands: Any) -> argparse.ArgumentParser:
    """Register `reconcile [--apply]`."""
    parser = add_command(
        commands,
        "reconcile",
        run_reconcile,
        "the whole population, Lucca against Entra (a dry run unless --apply)",
        "Compare every Lucca employee (active, upcoming, and left within RECONCILE_LEFT_DAYS)\n"
        "with Entra, as the sync would, and print the go-live report. Nothing is written\n"
        "unless --apply; then the sync runs for each employee to create, link or update, or\n"
        "whose schedule differs, under its lease. Conflicts, likely duplicates and accounts\n"
        "that cannot be created are left to you. It never creates an account for a\n"
        "deactivated employee, never enables one before its start date, and never touches an\n"
        "account linked to another Lucca employee.",
        examples=EXAMPLES,
    )
    parser.add_argument(
        "--apply",
        action="store_true",
        help="apply the plan (CONNECTOR_MODE=observe still writes nothing to Entra)",
    )
    return parser


def run_reconcile(ctx: Context) -> int:
    """Read, plan, print; with --apply, apply and print what was done."""
    settings = ctx.settings()
    storage = ctx.storage()
    progress = _bar(terminal(ctx.err)) if is_tty(ctx.err) and not ctx.args.json else _quiet
    clients = Clients.from_settings(settings, storage)
    try:
        reconciliation = build_reconciliation(settings, storage, clients, ctx.clock)
        snapshot = reconciliation.read(progress)
        report = reconciliation.plan(snapshot, progress)
        applied = None
        if ctx.args.apply:  # the operator has the report: its links by mail need no alert
            applied = reconciliation.apply(report, snapshot, progress, reviewed=True)
    finally:
        clients.close()
        progress("", 0, -1)  # ends the bar's line
    if ctx.args.json:
        answer = report.to_json() | {"applied": applied.to_json() if applied else None}
        json.dump(answer, ctx.out, ensure_ascii=False, indent=2)
        ctx.out.write("\n")
    else:
        ctx.out.write(render(report, applied, observe=settings.CONNECTOR_MODE == "observe"))
    failed = applied is not None and any(a not in APPLIED_OK for a in applied.actions.values())
    return EXIT_PROBLEMS if report.needs_a_person or failed else EXIT_OK


def render(report: Report, applied: Applied | None, *, observe: bool = False) -> str:
    """The report for a terminal."""
    lines = [
        f"Lucca: {report.lucca_employees} employees read; Entra: {report.entra_users} accounts.",
        report.summary() + ".",
        *([report.scope.sentence()] if report.scope else []),
    ]
    matched: dict[str, int] = {}
    for finding in report.findings:
        if finding.matched_by:
            matched[finding.matched_by] = matched.get(finding.matched_by, 0) + 1
    if matched:
        by = ", ".join(f"{n} by {key}" for key, n in sorted(matched.items()))
        lines.append(f"Matched: {by}.")
    for verdict, title in SECTIONS:
        findings = report.of(verdict)
        if findings:
            lines += ["", f"{title}: {len(findings)}"]
            for finding in findings:
                lines += _finding_lines(verdict, finding)
    lines += _schedule_lines(report) + _anchor_lines(report) + [""]
    lines += _outcome_lines(report, applied, observe=observe)
    return "\n".join(lines) + "\n"


def _finding_lines(verdict: Verdict, f: Finding) -> list[str]:
    lines = [f"  {f.employee_id}  {f.name} <{f.email or 'no professional email'}> [{f.status}]"]
    if f.matched_by and verdict in (Verdict.TO_LINK, Verdict.TO_UPDATE):
        lines.append(f"      matched by {f.matched_by}: {f.object_id}")
    if verdict is not Verdict.TO_CREATE:
        lines.extend(f"      {change_line(c)}" for c in f.changes)
    lines.extend(
        f"      candidate {c.user_principal_name or c.id}"
        + (f" ({c.reasons})" if c.reasons else "")
        for c in f.candidates
    )
    if verdict not in (Verdict.TO_UPDATE, Verdict.TO_LINK):
        lines.append(f"      {' '.join(f.message.split())}")
    return lines


def _schedule_lines(report: Report) -> list[str]:
    scheduled = [f for f in report.findings if f.schedule_differs]
    if not scheduled:
        return []
    lines = ["", f"Actions to schedule: {employees(len(scheduled))}"]
    for f in scheduled:
        for action in f.schedule or ("(none: the stored actions are cancelled)",):
            lines.append(f"  {f.employee_id}  {f.name}: {action}")
    return lines


def _anchor_lines(report: Report) -> list[str]:
    if not report.unknown_anchors:
        return []
    lines = [
        "",
        f"Entra accounts with an anchor Lucca does not know: {len(report.unknown_anchors)} "
        "(never touched; delete them, or clear their employeeId)",
    ]
    for a in report.unknown_anchors:
        state = "disabled" if a.account_enabled is False else "enabled"
        lines.append(f"  {a.anchor}  {a.user_principal_name or a.id} ({state})")
    return lines


def _outcome_lines(report: Report, applied: Applied | None, *, observe: bool) -> list[str]:
    if applied is None:
        todo = len(report.to_apply)
        return [
            f"Dry run: nothing was written. `--apply` would hand {employees(todo)} to the sync."
            if todo
            else "Dry run: nothing to apply."
        ]
    heading = " (CONNECTOR_MODE is observe: nothing written to Entra)" if observe else ""
    lines = [f"Applied{heading}: {applied.summary().removeprefix('applied: ')}."]
    for employee_id, action in applied.actions.items():
        if action not in APPLIED_OK:
            lines.append(
                f"  {employee_id}: {action.value} "
                f"(see `python -m connector logs --employee {employee_id}`)"
            )
    lines.extend(f"  {e}: busy, queued for the change worker" for e in applied.busy)
    lines.extend(
        f"  {e}: changed in Lucca since the read, left to the change worker"
        for e in applied.changed_since
    )
    lines.extend(
        f"  {e}: {why}; queued for the change worker" for e, why in applied.requeued.items()
    )
    return lines


def _quiet(phase: str, done: int, total: int) -> None:
    """No progress shown (not a terminal, or --json)."""


def _bar(stream: IO[str]) -> Progress:
    """A progress bar on `stream`, redrawn at most ten times a second."""
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
            filled = BAR_WIDTH * done // total
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            stream.write(f"\r\033[K{phase:<14} [{bar}] {done}/{total}")
        else:
            stream.write(f"\r\033[K{phase:<14} {done or ''}")
        stream.flush()

    return show
