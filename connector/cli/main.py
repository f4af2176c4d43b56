"""The command line: `python -m connector <command>`, for an operator at a terminal or a script.

Settings come from the environment, or from `--settings FILE` (a local.settings.json: its
"Values", merged over the environment). Every command has `--help` and `--json`.

Exit codes:
  0  done
  1  the command ran and found problems (reserved: `logs` never does)
  2  usage error: an unknown command, option or value
  3  a setting is missing or malformed (the message names it, never its value)
  4  a service could not be reached or refused the request (storage, Lucca, Graph)

Adding a command: write `run_<name>(ctx: Context) -> int` and register it in `build_parser`
with `_command(...)` plus its options. The log filters' parsing (`LogQuery`) is shared with
`GET /api/logs`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from connector.cli.doctor import add_doctor_command
from connector.cli.reconcile import add_reconcile_command
from connector.cli.sync import add_sync_command
from connector.cli.webhook import add_webhook_commands
from connector.core.clock import utc_now
from connector.core.errors import ConnectorError
from connector.domain.entries import Action, LogEntry
from connector.domain.scheduled import ScheduledAction
from connector.flows.leavers import (
    HELD_EMPLOYEES_LISTED,
    HELD_LOOKBACK,
    RUN_ID_LENGTH,
    HoldCheck,
    is_sudden,
)
from connector.runtime.settings import Settings, SettingsError, load_settings
from connector.runtime.storage import storage_from_settings
from connector.storage.log import SEARCH_DEFAULT_WINDOW, SEARCH_MAX_LIMIT, IntegrationLog
from connector.storage.logquery import (
    LogQuery,
    ParameterError,
    action_choices,
    iso,
    parse_action,
    parse_employee,
    parse_limit,
    parse_since,
)
from connector.storage.schedule import ScheduleStore
from connector.storage.tables import Storage

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_SETTINGS = 3
EXIT_UNREACHABLE = 4

EXIT_CODES = """\
exit codes:
  0  done
  1  the command ran and found problems
  2  usage error
  3  a setting is missing or malformed
  4  a service could not be reached or refused the request"""

# --- What a command gets ----------------------------------------------------------------


@dataclass
class Context:
    """A command's arguments, output streams, clock, and settings and storage on first use."""

    args: argparse.Namespace
    environ: Mapping[str, str]
    out: IO[str]
    err: IO[str]
    clock: Callable[[], datetime] = utc_now
    _settings: Settings | None = field(default=None, init=False)
    _storage: Storage | None = field(default=None, init=False)

    def settings(self) -> Settings:
        """The settings: the environment, with `--settings FILE`'s values over it."""
        if self._settings is None:
            environ = dict(self.environ)
            path = getattr(self.args, "settings", None)
            if path is not None:
                environ.update(_settings_file(Path(path)))
            self._settings = load_settings({k: v for k, v in environ.items() if v != ""})
        return self._settings

    def storage(self) -> Storage:
        """The storage clients of `AzureWebJobsStorage`."""
        if self._storage is None:
            self._storage = storage_from_settings(self.settings())
        return self._storage

    def close(self) -> None:
        """Close what was opened."""
        if self._storage is not None:
            self._storage.close()


def _settings_file(path: Path) -> dict[str, str]:
    """The "Values" of a local.settings.json (an empty value leaves its setting unset)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise SettingsError(f"settings file {path}: cannot be read ({err.strerror})") from None
    except json.JSONDecodeError as err:
        raise SettingsError(f"settings file {path}: not JSON (line {err.lineno})") from None
    except UnicodeDecodeError:
        raise SettingsError(f"settings file {path}: not UTF-8 text (save it as UTF-8)") from None
    values = document.get("Values") if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise SettingsError(f'settings file {path}: has no "Values" object')
    if document.get("IsEncrypted"):
        raise SettingsError(
            f"settings file {path}: is encrypted: run `func settings decrypt` first"
        )
    return {
        str(name): str(value).lower() if isinstance(value, bool) else str(value)
        for name, value in values.items()
        if value is not None
    }


# --- logs ---------------------------------------------------------------------------------


def run_logs(ctx: Context) -> int:
    """The integration log as a table, or a JSON array with --json."""
    args = ctx.args
    now = ctx.clock()
    query = LogQuery(
        employee_id=args.employee,
        since=args.since(now) if args.since else now - SEARCH_DEFAULT_WINDOW,
        action=args.action,
        limit=args.limit,
    )
    entries = query.run(IntegrationLog(ctx.storage(), clock=lambda: now))
    if args.json:
        json.dump([e.to_json() for e in entries], ctx.out, ensure_ascii=False, indent=2)
        ctx.out.write("\n")
    elif not entries:
        ctx.out.write(f"No entries since {_table_time(query.since)}.\n")
    else:
        width = shutil.get_terminal_size().columns if _is_tty(ctx.out) else None
        ctx.out.write(log_table(entries, width))
    return EXIT_OK


def _table_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def log_table(entries: Sequence[LogEntry], width: int | None = None) -> str:
    """Columns time (UTC), action, employee, message; the message cut to `width` if given."""
    header = ("time", "action", "employee", "message")
    rows = [
        (
            _table_time(e.time),
            e.action.value + (" (observed)" if e.observed else ""),
            e.employee_id or "-",
            " ".join(e.message.split()),
        )
        for e in entries
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    lines = []
    for row in [header, *rows]:
        line = "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True))
        line = f"{line}  {row[3]}".rstrip()
        if width is not None and len(line) > width:
            line = line[: max(width - 1, 0)] + "…"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# --- schedule -------------------------------------------------------------------------------

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
    for entry in log.for_attention(limit=HELD_LOOKBACK):
        held = entry.details.get("run_id")
        if entry.action is Action.RUN_HELD and isinstance(held, str) and held not in seen:
            seen.add(held)
            found.append(entry)
    return found


def _local_day(action: ScheduledAction) -> str:
    return f"{action.local_day:%Y-%m-%d} {action.zone}"


def run_schedule_list(ctx: Context) -> int:
    """The actions due in the next N days, those already past due, and the held run."""
    now = ctx.clock()
    until = now + timedelta(days=ctx.args.days)
    settings = ctx.settings()
    storage = ctx.storage()
    schedule = ScheduleStore(storage, clock=lambda: now)
    overdue = schedule.due(now)  # as the timer reads it (a stale index row is dropped)
    check = HoldCheck.of(overdue, schedule, settings.MAX_SUDDEN_DEACTIVATIONS)
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
                "logged": any(r["waiting"] for r in held_runs),
            },
            "held_runs": held_runs,
        }
        json.dump(document, ctx.out, ensure_ascii=False, indent=2)
        ctx.out.write("\n")
        return EXIT_OK
    out = ctx.out
    window = f"{_table_time(now)} to {_table_time(until)}"
    if not actions:
        out.write(f"Nothing is due or past due up to {_table_time(until)}.\n")
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
            (_table_time(a.at), _local_day(a), a.kind, a.employee_id, ", ".join(notes) or "-")
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
    since = f"since {_table_time(entry.time)}" if entry else "from the next timer run"
    text = (
        f"Run {check.held_id} is held ({since}): {check.sudden} of the {len(check.disables)} "
        "disables due were scheduled less than 24 hours before they fell due (more than "
        f"MAX_SUDDEN_DEACTIVATIONS={check.max_sudden}); no account is changed until it is "
        "released. Check these employees' end dates in Lucca (a fixed date is re-planned), "
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
    check = HoldCheck.of(schedule.due(now), schedule, settings.MAX_SUDDEN_DEACTIVATIONS)
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
            why += f" (run {wanted}, held at {_table_time(entry.time)}, is no longer due)"
    elif entry is not None:
        why = (
            f"run {wanted} (held at {_table_time(entry.time)}) is not what is due now: the due "
            "disables changed since (carried out, moved or cancelled in Lucca, or more fell due)"
        )
    else:
        why = f"no run {wanted} was held, and it is not the id of the disables due now"
    if check.held_id is not None:
        now_ = (
            f"the run held now is {check.held_id} ({check.sudden} of the "
            f"{len(check.disables)} disables due are sudden): check it, then "
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


# --- The parser -----------------------------------------------------------------------------


def _type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from a parser raising `ParameterError` (argparse shows its message)."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ParameterError as err:
            raise argparse.ArgumentTypeError(str(err).partition(": ")[2]) from None

    convert.__name__ = parse.__name__.removeprefix("parse_")
    return convert


def _since(text: str) -> Callable[[datetime], datetime]:
    """Checked now, resolved against the command's clock when it runs."""
    parse_since(text, utc_now())
    return lambda now: parse_since(text, now)


def _command(
    commands: Any,
    name: str,
    run: Callable[[Context], int],
    summary: str,
    description: str,
    *,
    examples: str = "",
) -> argparse.ArgumentParser:
    """Register one command: its help (`examples` above the exit codes), the options every
    command has, and what runs it."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--settings",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help='a local.settings.json whose "Values" are merged over the environment',
    )
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=f"examples:\n{examples.rstrip()}\n\n{EXIT_CODES}" if examples else EXIT_CODES,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command."""
    parser = argparse.ArgumentParser(
        prog="python -m connector",
        description=(
            "The Lucca → Entra connector's command line. Settings come from the environment, "
            'or --settings FILE (a local.settings.json: its "Values" over the environment).'
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--settings",
        metavar="FILE",
        help='a local.settings.json whose "Values" are merged over the environment',
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    add_sync_command(commands, _command)
    add_doctor_command(commands, _command)
    add_webhook_commands(commands, _command)
    add_reconcile_command(commands, _command)

    logs = _command(
        commands,
        "logs",
        run_logs,
        "the integration log as a table",
        "The integration log, newest first: time (UTC), action, employee, message.",
    )
    logs.add_argument(
        "--employee", metavar="ID", type=_type(parse_employee), help="one Lucca employee's entries"
    )
    logs.add_argument(
        "--since",
        metavar="WHEN",
        type=_type(_since),
        help=(
            "entries at or after WHEN: a date (2026-11-01, from 00:00 UTC), a date and time "
            "with an offset (2026-11-01T08:00:00+01:00), or a duration back from now (30m, "
            "12h, 7d); default: 7 days ago"
        ),
    )
    logs.add_argument(
        "--action",
        metavar="ACTION",
        type=_type(parse_action),
        help=f"only entries of this action (any case; names such as creation_failed too): "
        f"{action_choices()}",
    )
    logs.add_argument(
        "--limit",
        metavar="N",
        type=_type(parse_limit),
        default=200,
        help=f"at most N entries (default 200, at most {SEARCH_MAX_LIMIT})",
    )
    _schedule_commands(commands)
    return parser


def _wrapped(text: str) -> str:
    """A description for the raw formatter (which keeps the epilog's layout): wrapped."""
    return textwrap.fill(text, width=88)


def _schedule_commands(commands: Any) -> None:
    """`schedule list` and `schedule release RUN_ID`."""
    schedule = commands.add_parser(
        "schedule",
        help="the scheduled enables and disables; releasing a held run",
        description=_wrapped(
            "The enables and disables the timer (deactivate_leavers) carries out, and the "
            "safety rail that holds a run of sudden disables."
        ),
        epilog=(
            "examples:\n"
            "  python -m connector schedule list\n"
            "  python -m connector schedule release 3f9a0c2b7d41\n\n" + EXIT_CODES
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = schedule.add_subparsers(title="subcommands", metavar="SUBCOMMAND", required=True)
    listing = _command(
        actions,
        "list",
        run_schedule_list,
        "the actions due in the next days, the overdue ones, and a held run",
        _wrapped(
            "The enables and disables due from now until N days ahead (one range read on the "
            'schedule\'s "due" partition), and those already past due but not carried out yet '
            "(marked overdue), soonest first: due instant (UTC), local day, kind, employee, and "
            '"sudden" for a disable scheduled less than 24 hours before it falls due. Then whether '
            "the timer holds its run now (more than MAX_SUDDEN_DEACTIVATIONS sudden disables due), "
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
        type=_type(parse_days),
        default=SCHEDULE_DAYS_DEFAULT,
        help=f"how far ahead (default {SCHEDULE_DAYS_DEFAULT}, 1 to {SCHEDULE_DAYS_MAX})",
    )
    release = _command(
        actions,
        "release",
        run_schedule_release,
        "release a held run of sudden disables",
        _wrapped(
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
        type=_type(parse_run_id),
        help=f'the run\'s id ({RUN_ID_LENGTH} hexadecimal characters) from its "run held" entry',
    )


@contextlib.contextmanager
def _streams(out: IO[str], err: IO[str]) -> Iterator[None]:
    """argparse prints help and errors to sys.stdout and sys.stderr: send them to ours."""
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    out: IO[str] = sys.stdout,
    err: IO[str] = sys.stderr,
    clock: Callable[[], datetime] = utc_now,
) -> int:
    """Run one command; the exit code (see the module's docstring)."""
    parser = build_parser()
    try:
        with _streams(out, err):
            args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2), already printed
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    ctx = Context(
        args=args,
        environ=os.environ if environ is None else environ,
        out=out,
        err=err,
        clock=clock,
    )
    try:
        code: int = args.run(ctx)
    except SettingsError as error:
        err.write(f"connector: {error}\n")
        return EXIT_SETTINGS
    except ConnectorError as error:
        said = error.message
        if not said.lower().startswith(error.service.lower()):
            said = f"{error.service}: {said}"  # which service refused or could not be reached
        err.write(f"connector: {said}\n")
        return EXIT_UNREACHABLE
    finally:
        ctx.close()
    return code
