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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from connector.errors import ConnectorError
from connector.integration_log import (
    SEARCH_DEFAULT_WINDOW,
    SEARCH_MAX_LIMIT,
    Action,
    IntegrationLog,
    LogEntry,
)
from connector.settings import Settings, SettingsError, load_settings
from connector.store import Storage, StorageUnavailable
from connector.webhook import utc_now

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

_RELATIVE = re.compile(r"(\d{1,6})\s*([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ParameterError(ValueError):
    """A filter's value is not understood; the message says which and what is accepted."""


# --- The log filters: one parsing for the command line and GET /api/logs -----------------


def parse_since(text: str, now: datetime) -> datetime:
    """`2026-11-01` (00:00 UTC that day), `2026-11-01T08:00:00+01:00` (an offset is required),
    or `30m`, `12h`, `7d` before `now`."""
    value = text.strip()
    if match := _RELATIVE.fullmatch(value.lower()):
        amount, unit = int(match[1]), _UNITS[match[2]]
        try:
            return now - timedelta(**{unit: amount})
        except OverflowError:  # before year 1
            raise ParameterError(f"since: {value!r} reaches back too far") from None
    if _DATE.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ParameterError(f"since: {value!r} is not a valid date") from None
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ParameterError(
            f"since: {value!r} is not a date (2026-11-01), a date and time with an offset "
            "(2026-11-01T08:00:00+01:00) or a duration back from now (30m, 12h, 7d)"
        ) from None
    if moment.tzinfo is None:
        raise ParameterError(f"since: {value!r} has no offset: add Z for UTC or one such as +01:00")
    return moment.astimezone(UTC)


def _action_key(text: str) -> str:
    return re.sub(r"[\s_-]+", " ", text.strip().lower())


_ACTIONS = {
    **{_action_key(a.name): a for a in Action},
    **{_action_key(a.value): a for a in Action},
}


def action_choices() -> str:
    """The accepted actions, for a help text or an error."""
    return ", ".join(repr(a.value) if " " in a.value else a.value for a in Action)


def parse_action(text: str) -> Action:
    """An action by its value (`failed`, `creation failed`) or name (`creation_failed`), any
    case."""
    action = _ACTIONS.get(_action_key(text))
    if action is None:
        raise ParameterError(f"action: {text.strip()!r} is not one of {action_choices()}")
    return action


def parse_limit(text: str) -> int:
    """A whole number from 1; above 1000 counts as 1000."""
    try:
        limit = int(text.strip())
    except ValueError:
        raise ParameterError(
            f"limit: {text.strip()!r} is not a whole number (1 to {SEARCH_MAX_LIMIT})"
        ) from None
    if limit < 1:
        raise ParameterError(f"limit: must be at least 1 (at most {SEARCH_MAX_LIMIT})")
    return min(limit, SEARCH_MAX_LIMIT)


def parse_employee(text: str) -> str | None:
    """A Lucca employee id; blank means every employee."""
    value = text.strip()
    if len(value) > 64 or any(not c.isprintable() or c in "/\\#?" for c in value):
        raise ParameterError("employee: not a Lucca employee id")
    return value or None


@dataclass(frozen=True, kw_only=True)
class LogQuery:
    """Which integration log entries to show."""

    since: datetime
    employee_id: str | None = None
    action: Action | None = None
    limit: int = 200

    # The parameters of GET /api/logs; `code` is the function key, read by the host.
    PARAMETERS = frozenset({"employee", "since", "action", "limit", "code"})

    @classmethod
    def from_params(cls, params: Mapping[str, str], now: datetime) -> LogQuery:
        """Read `employee`, `since`, `action` and `limit`; `ParameterError` on a bad one or an
        unknown parameter (a misspelt filter would otherwise show everything)."""
        unknown = sorted(set(params) - cls.PARAMETERS)
        if unknown:
            raise ParameterError(
                f"{unknown[0]}: unknown parameter (use employee, since, action, limit)"
            )
        since = params.get("since", "").strip()
        action = params.get("action", "").strip()
        limit = params.get("limit", "").strip()
        return cls(
            employee_id=parse_employee(params.get("employee", "")),
            since=parse_since(since, now) if since else now - SEARCH_DEFAULT_WINDOW,
            action=parse_action(action) if action else None,
            limit=parse_limit(limit) if limit else 200,
        )

    def run(self, log: IntegrationLog) -> list[LogEntry]:
        """The matching entries, newest first."""
        return log.search(
            employee_id=self.employee_id, since=self.since, action=self.action, limit=self.limit
        )


def logs_answer(
    storage: Storage, params: Mapping[str, str], now: datetime
) -> tuple[int, dict[str, Any]]:
    """GET /api/logs: (status, JSON body): 200 with the entries, 400 for a bad parameter, 503
    when storage cannot be reached."""
    try:
        query = LogQuery.from_params(params, now)
    except ParameterError as err:
        return 400, {"error": str(err)}
    try:
        entries = query.run(IntegrationLog(storage, clock=lambda: now))
    except StorageUnavailable as err:
        logger.warning("logs: %s", err.message)
        return 503, {"error": err.message}
    return 200, {
        "entries": [entry.to_json() for entry in entries],
        "count": len(entries),
        "since": _iso(query.since),
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


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
            self._storage = Storage.from_settings(self.settings())
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
    commands: Any, name: str, run: Callable[[Context], int], summary: str, description: str
) -> argparse.ArgumentParser:
    """Register one command: its help, the options every command has, and what runs it."""
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
        epilog=EXIT_CODES,
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
    return parser


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
        err.write(f"connector: {error.message}\n")
        return EXIT_UNREACHABLE
    finally:
        ctx.close()
    return code
