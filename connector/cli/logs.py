"""`python -m connector logs`: the integration log as a table (its filters' parsing, `LogQuery`,
is shared with `GET /api/logs`)."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from connector.cli.common import EXIT_OK, Context, add_command, is_tty, parsed, table_time
from connector.core.clock import utc_now
from connector.domain.entries import LogEntry
from connector.storage.log import SEARCH_DEFAULT_WINDOW, SEARCH_MAX_LIMIT, IntegrationLog
from connector.storage.logquery import (
    LogQuery,
    action_choices,
    parse_action,
    parse_employee,
    parse_limit,
    parse_since,
)


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
        ctx.out.write(f"No entries since {table_time(query.since)}.\n")
    else:
        width = shutil.get_terminal_size().columns if is_tty(ctx.out) else None
        ctx.out.write(log_table(entries, width))
    return EXIT_OK


def log_table(entries: Sequence[LogEntry], width: int | None = None) -> str:
    """Columns time (UTC), action, employee, message; the message cut to `width` if given."""
    header = ("time", "action", "employee", "message")
    rows = [
        (
            table_time(e.time),
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


def _since(text: str) -> Callable[[datetime], datetime]:
    """Checked now, resolved against the command's clock when it runs."""
    parse_since(text, utc_now())
    return lambda now: parse_since(text, now)


def add_logs_command(commands: Any) -> argparse.ArgumentParser:
    """Register `logs [--employee ID] [--since WHEN] [--action ACTION] [--limit N]`."""
    logs = add_command(
        commands,
        "logs",
        run_logs,
        "the integration log as a table",
        "The integration log, newest first: time (UTC), action, employee, message.",
    )
    logs.add_argument(
        "--employee", metavar="ID", type=parsed(parse_employee), help="one Lucca employee's entries"
    )
    logs.add_argument(
        "--since",
        metavar="WHEN",
        type=parsed(_since),
        help=(
            "entries at or after WHEN: a date (2026-11-01, from 00:00 UTC), a date and time "
            "with an offset (2026-11-01T08:00:00+01:00), or a duration back from now (30m, "
            "12h, 7d); default: 7 days ago"
        ),
    )
    logs.add_argument(
        "--action",
        metavar="ACTION",
        type=parsed(parse_action),
        help=f"only entries of this action (any case; names such as creation_failed too): "
        f"{action_choices()}",
    )
    logs.add_argument(
        "--limit",
        metavar="N",
        type=parsed(parse_limit),
        default=200,
        help=f"at most N entries (default 200, at most {SEARCH_MAX_LIMIT})",
    )
    return logs
