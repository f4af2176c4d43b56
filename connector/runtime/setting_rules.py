"""Rules the settings follow, apart from the settings themselves: address lists, connection
strings, and how a validation error is put into words (naming the setting, never its value)."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from connector.domain.logins import parse_template
from connector.domain.sync_scope import parse_sync_scope

EMAIL_ADDRESS = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")


def storage_connection_string(text: str) -> None:
    """ValueError unless `text` is a storage connection string or UseDevelopmentStorage=true."""
    text = text.strip()
    if text.lower() == "usedevelopmentstorage=true":
        return
    parts = dict(part.split("=", 1) for part in text.split(";") if "=" in part and part.strip())
    has_account = "AccountName" in parts and (
        "AccountKey" in parts or "SharedAccessSignature" in parts
    )
    has_endpoints = "TableEndpoint" in parts and "QueueEndpoint" in parts
    if not (has_account or has_endpoints):
        raise ValueError(
            "must be a storage connection string (AccountName and AccountKey, or "
            "TableEndpoint and QueueEndpoint) or UseDevelopmentStorage=true"
        )


def email_addresses(value: str) -> tuple[str, ...]:
    """`a@x.fr, b@x.fr` → ("a@x.fr", "b@x.fr")."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def acs_connection_parts(value: str) -> tuple[str, str]:
    """(endpoint, access key) of `endpoint=…;accesskey=…`; ValueError naming no value."""
    parts = {}
    for element in value.strip().split(";"):
        name, _, part = element.partition("=")
        parts[name.strip().lower()] = part.strip()
    endpoint, key = parts.get("endpoint", ""), parts.get("accesskey", "")
    if not endpoint or not key:
        raise ValueError(
            "must be a Communication Services connection string endpoint=…;accesskey=…"
        )
    return endpoint.rstrip("/"), key


def attribute_names(value: str) -> tuple[str, ...]:
    """`a, b ,c` → ("a", "b", "c")."""
    return tuple(name.strip() for name in value.split(",") if name.strip())


def describe(err: ValidationError) -> str:
    """One sentence per problem, naming the setting and never echoing its value."""
    problems = []
    for error in err.errors(include_input=False, include_url=False):
        name = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            problems.append(f"setting {name} is missing")
        elif not name:
            # A rule across settings: its message starts with the setting it is about.
            problems.append(f"setting {message}")
        else:
            problems.append(f"setting {name} is malformed: {message}")
    return "; ".join(problems)


def daily_time(value: str) -> str:
    """NOTIFY_DAILY_DIGEST: empty (off) or a local time HH:MM."""
    value = value.strip()
    if value and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError("must be empty (off) or a local time HH:MM such as 07:30")
    return value


def login_template_text(value: str) -> str:
    """LOGIN_TEMPLATE checked (a ValueError naming what is wrong), stripped."""
    value = value.strip()
    if value:
        parse_template(value)
    return value


def sync_scope_text(value: str) -> str:
    """SYNC_SCOPE checked (`ScopeError`, a ValueError naming the token), stripped."""
    parse_sync_scope(value)
    return value.strip()


def time_zone_name(value: str) -> str:
    """LEAVER_TIME_ZONE: an IANA time zone, or 'establishment'."""
    if value == "establishment":
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            "must be an IANA time zone such as Europe/Paris, or 'establishment'"
        ) from None
    return value
