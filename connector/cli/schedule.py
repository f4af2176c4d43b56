"""`python -m connector schedule list|release`: the scheduled enables and disables, and the
safety rails that hold a run of sudden disables, or one above the daily cap."""

from __future__ import annotations

import argparse
import json
import re
import textwrap
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from connector.cli.common import (
    EXIT_CODES,
    EXIT_OK,
    EXIT_PROBLEMS,
    Context,
    add_command,
    parsed,
    table_time,
    wrapped,
)
from connector.domain.entries import Action, LogEntry
from connector.domain.scheduled import ScheduledAction
from connector.flows.holds import (
    HELD_EMPLOYEES_LISTED,
    HELD_LOOKBACK,
    RUN_ID_LENGTH,
    HoldCheck,
    LocalDay,
    is_sudden,
)
from connector.runtime.build import notice_zone
from connector.runtime.storage_settings import StorageSettings
from connector.storage.log import IntegrationLog
from connector.storage.logquery import ParameterError, iso
from connector.storage.schedule import ScheduleStore

SCHEDULE_DAYS_DEFAULT = 14
SCHEDULE_DAYS_MAX = 366
_RUN_ID = re.compile(rf"[0-9a-f]{{{RUN_ID_LENGTH}}}")


def parse_days(text: str) -> int:
    """A whole number of days, 1 to 366."""
    try:
        days = int(text.strip())
    except ValueError:
        raise ParameterError(
            f"days: {text.strip()!r} is not a whole number (1 to {SCHEDULE_DAYS_MAX})"
        ) from None
    if not 1 <= days <= SCHEDULE_DAYS_MAX:
        raise ParameterError(f"days: must be from 1 to {SCHEDULE_DAYS_MAX}")
    return days


def parse_run_id(text: str) -> str:
    """A held run's id as a "run held" entry names it: 12 hexadecimal characters."""
    value = text.strip().lower()
    if not _RUN_ID.fullmatch(value):
        raise ParameterError(
            f"run id: {text.strip()!r} is not a run id ({RUN_ID_LENGTH} hexadecimal characters, "
            'as the "run held" entry names it)'
        )
    return value


def _held_entries(log: IntegrationLog) -> list[LogEntry]:
    """The newest "run held" entry of each run id among those waiting for an operator (the
    entries the timer itself reads), newest first."""
    seen: set[str] = set()
    found = []
    for entry in log.for_attention(limit=HELD_LOOKBACK, action=Action.RUN_HELD):
        held = entry.details.get("run_id")
        if entry.action is Action.RUN_HELD and isinstance(held, str) and held not in seen:
            seen.add(held)
            found.append(entry)
    return found


def _check(
    due: Sequence[ScheduledAction],
    schedule: ScheduleStore,
    settings: StorageSettings,
    now: datetime,
) -> HoldCheck:
    """The timer's check on what is due at `now`: both rails, as `LeaverRun.run` makes it."""
    return HoldCheck.of(
        due,
        schedule,
        settings.MAX_SUDDEN_DEACTIVATIONS,
        max_per_day=settings.MAX_DEACTIVATIONS_PER_DAY,
        today=LocalDay.of(now, notice_zone(settings)),
    )


def _local_day(action: ScheduledAction) -> str:
    return f"{action.local_day:%Y-%m-%d} {action.zone}"


def run_schedule_list(ctx: Context) -> int:
    """The actions due in the next N days, those already past due, and the held run."""
    now = ctx.clock()
    until = now + timedelta(days=ctx.args.days)
    settings = ctx.storage_settings()
    storage = ctx.storage()
    schedule = ScheduleStore(storage, clock=lambda: now)
    overdue = schedule.due(now)  # as the timer reads it (a stale index row is dropped)
    check = _check(overdue, schedule, settings, now)
    past = {a.due_key for a in overdue}
    coming = [a for a in schedule.between(now, until) if a.due_key not in past]
    actions = sorted([*overdue, *coming], key=lambda a: a.at)
    released = schedule.released() if any(map(is_sudden, actions)) else frozenset()
    held = _held_entries(IntegrationLog(storage, clock=lambda: now))
    rows = [
        {
            "due_at": iso(a.at),
            "local_day": a.local_day.isoformat(),
            "zone": a.zone,
            "kind": a.kind,
            "employee_id": a.employee_id,
            "employment_id": a.employment_id,
            "scheduled_at": iso(a.scheduled_at),
            "overdue": a.due_key in past,
            "sudden": is_sudden(a),
            "released": a.due_key in released,
            "attempts": a.attempts,
        }
        for a in actions
    ]
    held_runs = [
        {
            "run_id": e.details["run_id"],
            "time": iso(e.time),
            "message": e.message,
            "details": e.details,
            "waiting": e.details["run_id"] == check.held_id,
        }
        for e in held
    ]
    if ctx.args.json:
        document = {
            "now": iso(now),
            "until": iso(until),
            "actions": rows,
            "held_run": None
            if check.held_id is None
            else {
                "run_id": check.held_id,
                "sudden": check.sudden,
                "due_disables": len(check.disables),
                "max_sudden": check.max_sudden,
                "rails": check.rails,
                "done_today": check.done_today,
                "max_per_day": check.max_per_day,
                "logged": any(r["waiting"] for r in held_runs),
            },
            "held_runs": held_runs,
        }
        json.dump(document, ctx.out, ensure_ascii=False, indent=2)
        ctx.out.write("\n")
        return EXIT_OK
    out = ctx.out
    window = f"{table_time(now)} to {table_time(until)}"
    if not actions:
        out.write(f"Nothing is due or past due up to {table_time(until)}.\n")
    else:
        late = sum(1 for r in rows if r["overdue"])
        out.write(
            f"{len(actions)} actions from {window} ({ctx.args.days} days)"
            + (f", {late} of them overdue" if late else "")
            + ":\n"
        )
        out.write(_schedule_table(actions, past, released) + "\n")
    out.write(_held_text(check, held))
    return EXIT_OK


def _schedule_table(
    actions: Sequence[ScheduledAction], overdue: set[str], released: frozenset[str]
) -> str:
    """Columns due (UTC), local day, kind, employee, note (overdue, sudden)."""
    header = ("due (UTC)", "local day", "kind", "employee", "note")
    rows = []
    for a in actions:
        notes = []
        if a.due_key in overdue:
            notes.append("overdue")
        if is_sudden(a):
            notes.append("sudden (released)" if a.due_key in released else "sudden")
        if a.attempts:
            notes.append(f"{a.attempts} failed attempts")
        rows.append(
            (table_time(a.at), _local_day(a), a.kind, a.employee_id, ", ".join(notes) or "-")
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    lines = [
        (
            "  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
        ).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines) + "\n"


def _held_text(check: HoldCheck, held: Sequence[LogEntry]) -> str:
    """Whether the timer holds its run now, and the "run held" entries still waiting."""
    if check.held_id is None:
        if not check.sudden:
            return "No run is held.\n"
        return (
            f"No run is held: {check.sudden} sudden disables due, at most "
            f"{check.max_sudden} (MAX_SUDDEN_DEACTIVATIONS) are carried out without an operator.\n"
        )
    entry = next((e for e in held if e.details["run_id"] == check.held_id), None)
    since = f"since {table_time(entry.time)}" if entry else "from the next timer run"
    text = (
        f"Run {check.held_id} is held ({since}): {check.why()}; no account is changed until it "
        "is released. Check these employees' end dates in Lucca (a fixed date is re-planned), "
        "then release the run:"
    )
    return (
        f"{textwrap.fill(text, width=88)}\n  python -m connector schedule release {check.held_id}\n"
    )


def run_schedule_release(ctx: Context) -> int:
    """Release the held run `RUN_ID`, as RELEASE_HELD_RUN would, if it is still what is due."""
    wanted: str = ctx.args.run_id
    now = ctx.clock()
    settings = ctx.settings()
    storage = ctx.storage()
    schedule = ScheduleStore(storage, clock=lambda: now)
    log = IntegrationLog(storage, clock=lambda: now)
    check = _check(schedule.due(now), schedule, settings, now)
    if check.run_id != wanted:
        return _not_released(ctx, wanted, check, _held_entries(log))
    keys = [a.due_key for a in check.disables]
    already = set(keys) <= schedule.released()
    employees = sorted({a.employee_id for a in check.disables})
    if not already:
        schedule.release(keys)
        log.write(
            LogEntry(
                time=now,
                action=Action.SCHEDULED,
                message=(
                    f"Run {wanted} released from the command line (`schedule release`): its "
                    f"{len(keys)} due disables ({check.sudden} sudden) are no longer held; the "
                    "next timer run carries them out, each re-checked against Lucca first, and "
                    "only on linked accounts."
                ),
                details={
                    "change": "released",
                    "run_id": wanted,
                    "released": len(keys),
                    "sudden": check.sudden,
                    "max_sudden": check.max_sudden,
                    "rails": check.rails,
                    "employees": employees[:HELD_EMPLOYEES_LISTED],
                },
            )
        )
    observe = settings.CONNECTOR_MODE == "observe"
    if ctx.args.json:
        json.dump(
            {
                "run_id": wanted,
                "released": 0 if already else len(keys),
                "due_disables": len(keys),
                "sudden": check.sudden,
                "already_released": already,
                "employees": employees,
            },
            ctx.out,
            indent=2,
        )
        ctx.out.write("\n")
        return EXIT_OK
    if already:
        said = (
            f"Run {wanted} was already released: its {len(keys)} due disables are carried out "
            "by the next timer run. Nothing changed."
        )
    else:
        said = (
            f"Released run {wanted}: {len(keys)} disables ({check.sudden} sudden). The next "
            "timer run (SCHEDULE_TIMER) carries them out, each re-checked against Lucca first; "
            'only linked accounts are changed. Logged as "schedule changed".'
        )
    if observe:
        said += " CONNECTOR_MODE is observe: the timer carries out nothing until it is apply."
    ctx.out.write(textwrap.fill(said, width=88) + "\n")
    return EXIT_OK


def _not_released(ctx: Context, wanted: str, check: HoldCheck, held: Sequence[LogEntry]) -> int:
    """Nothing released: say why, and which run (if any) would be held now."""
    entry = next((e for e in held if e.details["run_id"] == wanted), None)
    if not check.disables:
        why = "no disable is due now, so there is no run to release"
        if entry is not None:
            why += f" (run {wanted}, held at {table_time(entry.time)}, is no longer due)"
    elif entry is not None:
        why = (
            f"run {wanted} (held at {table_time(entry.time)}) is not what is due now: the due "
            "disables changed since (carried out, moved or cancelled in Lucca, or more fell due)"
        )
    else:
        why = f"no run {wanted} was held, and it is not the id of the disables due now"
    if check.held_id is not None:
        now_ = (
            f"the run held now is {check.held_id} ({check.why()}): check it, then "
            f"`python -m connector schedule release {check.held_id}`"
        )
    elif check.disables:
        now_ = (
            f"no run is held now ({len(check.disables)} disables due, {check.sudden} sudden, "
            f"at most {check.max_sudden}): the next timer run carries them out"
        )
    else:
        now_ = "nothing to do"
    if ctx.args.json:
        json.dump(
            {
                "run_id": wanted,
                "released": 0,
                "error": why,
                "held_run_id": check.held_id,
                "due_disables": len(check.disables),
                "sudden": check.sudden,
            },
            ctx.out,
            indent=2,
        )
        ctx.out.write("\n")
    else:
        ctx.err.write(f"connector: nothing released: {why}; {now_}.\n")
    return EXIT_PROBLEMS


def add_schedule_commands(commands: Any) -> argparse.ArgumentParser:
    """Register `schedule list` and `schedule release RUN_ID`."""
    schedule: argparse.ArgumentParser = commands.add_parser(
        "schedule",
        help="the scheduled enables and disables; releasing a held run",
        description=wrapped(
            "The enables and disables the timer (deactivate_leavers) carries out, and the "
            "safety rails that hold a run of sudden disables, or one above "
            "MAX_DEACTIVATIONS_PER_DAY in a day."
        ),
        epilog=(
            "examples:\n"
            "  python -m connector schedule list\n"
            "  python -m connector schedule release 3f9a0c2b7d41\n\n" + EXIT_CODES
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = schedule.add_subparsers(title="subcommands", metavar="SUBCOMMAND", required=True)
    listing = add_command(
        actions,
        "list",
        run_schedule_list,
        "the actions due in the next days, the overdue ones, and a held run",
        wrapped(
            "The enables and disables due from now until N days ahead (one range read on the "
            'schedule\'s "due" partition), and those already past due but not carried out yet '
            "(marked overdue), soonest first: due instant (UTC), local day, kind, employee, and "
            '"sudden" for a disable scheduled less than 24 hours before it falls due. Then whether '
            "the timer holds its run now (more than MAX_SUDDEN_DEACTIVATIONS sudden disables due, "
            "or more than MAX_DEACTIVATIONS_PER_DAY disables in the day), "
            'with its "run held" entry. Reads storage only (like the timer, it drops an index row '
            "whose action has moved or been cancelled."
        ),
        examples=(
            "  python -m connector schedule list\n"
            "  python -m connector schedule list --days 60\n"
            "  python -m connector --settings local.settings.json schedule list --json"
        ),
    )
    listing.add_argument(
        "--days",
        metavar="N",
        type=parsed(parse_days),
        default=SCHEDULE_DAYS_DEFAULT,
        help=f"how far ahead (default {SCHEDULE_DAYS_DEFAULT}, 1 to {SCHEDULE_DAYS_MAX})",
    )
    release = add_command(
        actions,
        "release",
        run_schedule_release,
        "release a held run (sudden disables, or above the daily cap)",
        wrapped(
            "What the timer does when RELEASE_HELD_RUN is RUN_ID, without changing an app setting: "
            'if the disables due now still form run RUN_ID (the id a "run held" entry names), '
            "remember them as released, so the next timer run carries them out (each re-checked "
            "against Lucca first, only on linked accounts) and never holds them again; the release "
            'is logged ("schedule changed"). If the disables due have changed since the run was '
            "held, or the id is wrong, or nothing is due, nothing is released and it exits 1, "
            "naming the run held now if there is one. Reads and writes storage only: never Lucca "
            "or Entra."
        ),
        examples=(
            "  python -m connector schedule list                  # the held run's id\n"
            "  python -m connector schedule release 3f9a0c2b7d41\n"
            "  python -m connector schedule release 3f9a0c2b7d41 --json"
        ),
    )
    release.add_argument(
        "run_id",
        metavar="RUN_ID",
        type=parsed(parse_run_id),
        help=f'the run\'s id ({RUN_ID_LENGTH} hexadecimal characters) from its "run held" entry',
    )
    return schedule
