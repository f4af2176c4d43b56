"""`python -m connector sync EMPLOYEE_ID [--dry-run]`: sync one employee now, at a terminal.

It runs the same sync as the queue (`SyncService.sync`), under the same per-employee lease, so
it never races the queue's sync of that employee: when the lease is taken it says so and exits 1
without reading or writing anything. It prints the plan (each attribute `old → new`), the
action and the message of the integration log entry the sync wrote, or that entry as JSON with
`--json`.

`--dry-run` runs the sync in observe mode whatever `CONNECTOR_MODE` says: nothing is written to
Entra or to the links, and the entry it logs is marked observed. Without it the configured mode
applies (in observe mode the plan is only logged).

Exit codes: 0 when the sync ended created, updated, unchanged or linked (observed or not);
1 when it ended otherwise (conflict, creation failed, failed, skipped, …) or the employee is
busy; 4 when a service failed in a way the sync does not turn into an entry (`main` maps
`ConnectorError` to 4).
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from typing import Any

from connector.cli.common import EXIT_OK, EXIT_PROBLEMS, Context, add_command, parsed
from connector.cli.identity_checks import warn_if_persons
from connector.domain.entries import Action, Change, LogEntry
from connector.runtime.build import Clients, build_service
from connector.runtime.settings import Settings
from connector.storage.changes import ChangeFeed
from connector.storage.lease import EmployeeLeases
from connector.storage.logquery import ParameterError, parse_employee
from connector.storage.tables import Storage

# The endings of a sync that leave the employee's account as it should be.
SUCCEEDED = frozenset({Action.CREATED, Action.UPDATED, Action.UNCHANGED, Action.LINKED})
EMPTY = "(empty)"

EXAMPLES = """\
examples:
  python -m connector sync 416 --dry-run   what the sync would change, nothing written
  python -m connector sync 416             sync employee 416 now
  python -m connector --settings local.settings.json sync 416 --json

"""


def parse_employee_id(text: str) -> str:
    """A Lucca employee id, required."""

    employee_id = parse_employee(text)
    if employee_id is None:
        raise ParameterError("employee: a Lucca employee id is required")
    return employee_id


def add_sync_command(commands: Any) -> argparse.ArgumentParser:
    """Register `sync EMPLOYEE_ID [--dry-run]`."""
    parser = add_command(
        commands,
        "sync",
        run_sync,
        "sync one employee now and print what changed",
        "Sync one Lucca employee's Entra account now, as a change from Lucca would, and\n"
        "print the plan (attribute: old → new), the action and the integration log's message.\n"
        "It takes the employee's lease like the queue does: while another sync of that\n"
        "employee runs, it says so and exits 1.",
    )
    parser.epilog = EXAMPLES + (parser.epilog or "")
    parser.add_argument(
        "employee_id",
        metavar="EMPLOYEE_ID",
        type=parsed(parse_employee_id),
        help="the Lucca employee id (as in the Lucca URL /directory/user/ID)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help=(
            "observe mode whatever CONNECTOR_MODE says: plan and log the sync (the entry is "
            "marked observed), write nothing to Entra"
        ),
    )
    return parser


@contextlib.contextmanager
def employee_lease(storage: Storage, employee_id: str) -> Iterator[bool]:
    """The employee's lease, as the queue's sync takes it: True while held, False when another
    holds it (then nothing may be done); given back at the end."""
    leases = EmployeeLeases(storage)
    token = leases.acquire(employee_id)
    try:
        yield token is not None
    finally:
        if token is not None:
            leases.release(employee_id, token)


def sync_now(
    ctx: Context, settings: Settings, storage: Storage, clients: Clients, employee_id: str
) -> LogEntry:
    """The sync of one employee (the caller holds its lease), its log entry."""
    service = build_service(settings, storage, clients, ctx.clock)
    read_started_at = ctx.clock()
    entry = service.sync(employee_id)
    if not entry.observed:  # as the queue's worker: events before this read are applied
        feed = ChangeFeed(storage)
        feed.mark_applied(employee_id, read_started_at)
        feed.forget_error(employee_id)
    return entry


def run_sync(ctx: Context) -> int:
    """Sync one employee under its lease; print the plan and the outcome."""
    args = ctx.args
    employee_id: str = args.employee_id
    dry_run: bool = args.dry_run
    settings = ctx.settings()
    if dry_run:
        settings = observing(settings)
    storage = ctx.storage()
    with employee_lease(storage, employee_id) as held:
        if not held:
            return busy(ctx, employee_id, dry_run=dry_run)
        clients = Clients.from_settings(settings, storage)
        try:
            if not dry_run:  # before writing with a person's rights
                warn_if_persons(clients.directory, ctx.err)
            entry = sync_now(ctx, settings, storage, clients, employee_id)
        finally:
            clients.close()
    if args.json:
        json.dump(entry.to_json() | {"dry_run": dry_run}, ctx.out, ensure_ascii=False, indent=2)
        ctx.out.write("\n")
    else:
        ctx.out.write(sync_report(entry, dry_run=dry_run))
    return EXIT_OK if entry.action in SUCCEEDED else EXIT_PROBLEMS


def observing(settings: Settings) -> Settings:
    """The same settings in observe mode (Settings is frozen: a copy)."""
    return settings.model_copy(update={"CONNECTOR_MODE": "observe"})


def busy(ctx: Context, employee_id: str, **extra: object) -> int:
    """Another sync holds the employee's lease: say so (with `extra` in the JSON), exit 1."""
    message = (
        f"Employee {employee_id} is being synced right now (its lease is taken): nothing was "
        "done. Try again in a minute."
    )
    if ctx.args.json:
        answer = {"employee_id": employee_id, "busy": True, "message": message, **extra}
        json.dump(answer, ctx.out, ensure_ascii=False, indent=2)
        ctx.out.write("\n")
    ctx.err.write(f"connector: {message}\n")
    return EXIT_PROBLEMS


def show(value: str | None) -> str:
    """A value as the plan shows it: `(empty)` for none."""
    return EMPTY if value is None or value == "" else value


def change_line(change: Change) -> str:
    """`attribute: old → new`."""
    return f"{change.attribute}: {show(change.old)} → {show(change.new)}"


def sync_report(entry: LogEntry, *, dry_run: bool) -> str:
    """The plan and the outcome, for a terminal."""
    if dry_run:
        heading = " (dry run: observe mode, nothing written to Entra)"
    elif entry.observed:
        heading = " (CONNECTOR_MODE is observe: the plan was only logged, nothing written to Entra)"
    else:
        heading = ""
    lines = [f"Employee {entry.employee_id}{heading}"]
    if entry.object_id:
        lines.append(f"Account: {entry.object_id}")
    if entry.changes:
        lines.append("Plan:")
        lines.extend(f"  {change_line(c)}" for c in entry.changes)
    else:
        lines.append("Plan: no attribute to change")
    label = "Would be" if entry.observed else "Result"
    lines.append(f"{label}: {entry.action.value}")
    lines.append(" ".join(entry.message.split()))
    return "\n".join(lines) + "\n"
