"""`python -m connector reconcile [--apply]`: the whole population, Lucca against Entra.

A dry run unless `--apply`: it reads Lucca's employees (pages of 100 with their embedded
documents, through the shared limiter), the directory (pages with `$select`), the links and the
schedule, and prints the report: employees matched and by which key, to create, to update (each
attribute old → new), to link, conflicts and likely duplicates, accounts that cannot be created,
actions to schedule, and Entra accounts carrying an anchor Lucca does not know: the counts
first, then one line per employee by section (`reconcile_output.py`). With `--apply` it hands
what needs it to the sync (`connector/flows/reconcile.py` says which and why it is safe) and
prints what each sync did. On a terminal a progress bar goes to stderr, with the time the Lucca
read has left; `--csv FILE` writes one row per employee.

Exit codes: 0 when nothing waits for a person; 1 when the report lists conflicts, likely
duplicates, accounts that cannot be created, employees not planned, or unknown anchors (and, with
`--apply`, when a sync did not end in step); 3 and 4 as every command.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from connector.cli.common import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    Context,
    add_command,
    is_tty,
    terminal,
)
from connector.cli.identity_checks import warn_if_persons
from connector.cli.reconcile_output import (
    APPLIED_OK,
    applied_lines,
    bar,
    detail_lines,
    open_csv,
    quiet,
    summary_lines,
    write_csv,
)
from connector.flows.reconcile_report import Applied, Report, employees
from connector.runtime.build import Clients, build_reconciliation

EXAMPLES = """\
  python -m connector reconcile               the go-live report, nothing written
  python -m connector reconcile --csv plan.csv     the same, and every employee in a CSV
  python -m connector reconcile --apply       apply what the report says the sync may do
  python -m connector reconcile --json > plan.json
"""


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
    parser.add_argument(
        "--csv",
        metavar="FILE",
        help="also write one row per employee to FILE (UTF-8 with a BOM, for Excel): id, name, "
        "email, status, action, reason, Entra object id, matched by, changes, candidates",
    )
    return parser


def run_reconcile(ctx: Context) -> int:
    """Read, plan, print; with --apply, apply and print what was done."""
    settings = ctx.settings()
    storage = ctx.storage()
    pace = settings.LUCCA_RATE_WINDOW_SECONDS / settings.LUCCA_MAX_RPM  # seconds a request
    progress = bar(terminal(ctx.err), pace) if is_tty(ctx.err) and not ctx.args.json else quiet
    try:  # before the long read: a path that cannot be written fails at once
        table = open_csv(ctx.args.csv) if ctx.args.csv else None
    except OSError as err:
        ctx.err.write(f"connector: --csv {ctx.args.csv}: cannot be written ({err.strerror})\n")
        return EXIT_USAGE
    clients = Clients.from_settings(settings, storage)
    try:
        reconciliation = build_reconciliation(settings, storage, clients, ctx.clock)
        snapshot = reconciliation.read(progress)
        report = reconciliation.plan(snapshot, progress)
        applied = None
        if ctx.args.apply:  # the operator has the report: its links by mail need no alert
            warn_if_persons(clients.directory, ctx.err)
            applied = reconciliation.apply(report, snapshot, progress, reviewed=True)
        if table is not None:
            write_csv(table, report, applied)
    finally:
        clients.close()
        if table is not None:
            table.close()
        progress("", 0, -1)  # ends the bar's line
    if ctx.args.json:
        answer = report.to_json() | {"applied": applied.to_json() if applied else None}
        json.dump(answer, ctx.out, ensure_ascii=False, indent=2)
        ctx.out.write("\n")
    else:
        observe = settings.CONNECTOR_MODE == "observe"
        ctx.out.write(render(report, applied, observe=observe, csv_path=ctx.args.csv))
    failed = applied is not None and any(a not in APPLIED_OK for a in applied.actions.values())
    return EXIT_PROBLEMS if report.needs_a_person or failed else EXIT_OK


def render(
    report: Report, applied: Applied | None, *, observe: bool = False, csv_path: str | None = None
) -> str:
    """The report for a terminal: the summary first, then one line per employee by section."""
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
    lines += summary_lines(report)
    lines += _outcome_lines(report, applied, observe=observe)
    if csv_path:
        lines.append(f"CSV: {csv_path} (one row per employee).")
    lines += detail_lines(report, csv_path=csv_path)
    if applied is not None and (said := applied_lines(applied)):
        lines += ["", "Not in step after applying:", *said]
    return "\n".join(lines) + "\n"


def _outcome_lines(report: Report, applied: Applied | None, *, observe: bool) -> list[str]:
    if applied is None:
        todo = len(report.to_apply)
        return [
            f"Dry run: nothing was written. `--apply` would hand {employees(todo)} to the sync."
            if todo
            else "Dry run: nothing to apply."
        ]
    heading = " (CONNECTOR_MODE is observe: nothing written to Entra)" if observe else ""
    return [f"Applied{heading}: {applied.summary().removeprefix('applied: ')}."]
