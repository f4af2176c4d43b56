"""The integration log's filters, parsed once for `python -m connector logs` and for
`GET /api/logs`, and the HTTP function's answer. Light on purpose: the HTTP function runs in the
worker that serves the webhook, so this imports neither the command line nor any SDK client."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connector.domain.entries import Action, LogEntry
from connector.storage.log import SEARCH_DEFAULT_WINDOW, SEARCH_MAX_LIMIT, IntegrationLog
from connector.storage.tables import Storage, StorageUnavailable

logger = logging.getLogger(__name__)

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
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ParameterError(f"since: {value!r} is out of range") from None


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
    storage: Storage,
    params: Mapping[str, str],
    now: datetime,
    *,
    retention_days: int | None = None,
) -> tuple[int, dict[str, Any]]:
    """GET /api/logs: (status, JSON body): 200 with the entries, 400 for a bad parameter, 503
    when storage cannot be reached. With `retention_days` (LOG_RETENTION_DAYS), `since` reads
    no further back than the housekeeping keeps: older days are empty, and one request must
    not walk thousands of them."""
    try:
        query = LogQuery.from_params(params, now)
    except ParameterError as err:
        logger.info("logs: refused: %s", err)  # a trace of the rejected request
        return 400, {"error": str(err)}
    if retention_days is not None:
        kept = now - timedelta(days=retention_days + 1)
        if query.since < kept:
            query = replace(query, since=kept)
    try:
        entries = query.run(IntegrationLog(storage, clock=lambda: now))
    except StorageUnavailable as err:
        logger.warning("logs: %s", err.message)
        return 503, {"error": err.message}
    return 200, {
        "entries": [entry.to_json() for entry in entries],
        "count": len(entries),
        "since": iso(query.since),
    }


def iso(moment: datetime) -> str:
    """An instant as UTC ISO 8601 with a Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
