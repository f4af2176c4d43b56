"""What every HTTP client reads the same way: a `Retry-After` header, a loopback host."""

from __future__ import annotations

import ipaddress
import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar
from urllib.parse import urlsplit

from connector.core.clock import utc_now

D = TypeVar("D")
LOOPBACK_NAMES = frozenset({"localhost"})


def retry_after_seconds(
    value: str | None, *, default: D, cap: float = math.inf, now: datetime | None = None
) -> float | D:
    """`Retry-After` in seconds (a number or an HTTP date), 0..`cap`; `default` when absent
    or unreadable. A date is counted from `now` (the current time if None)."""
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        seconds = (when - (now or utc_now())).total_seconds()
    return min(max(seconds, 0.0), cap) if math.isfinite(seconds) else default


def is_loopback(url_or_host: str) -> bool:
    """Whether a URL's host, or a host, is this machine (localhost, 127.0.0.0/8 or ::1)."""
    host = urlsplit(url_or_host).hostname if "://" in url_or_host else url_or_host
    host = (host or "").strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
