"""`Retry-After` is read one way for every client, and a loopback host is told one way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.core.net import is_loopback, retry_after_seconds

NOW = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 12 ", 12.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("Sat, 15 Mar 2025 12:01:30 GMT", 90.0),
        ("Sat, 15 Mar 2025 12:01:30 -0000", 90.0),  # no zone: read as UTC
        ("Sat, 15 Mar 2025 11:00:00 GMT", 0.0),  # a past date: at once
        ("-5", 0.0),
        ("99999999", 3600.0),
        ("Sun, 16 Mar 2025 12:00:00 GMT", 3600.0),
        ("soon", 60.0),
        ("", 60.0),
        (None, 60.0),
        ("nan", 60.0),
        ("inf", 60.0),
    ],
    ids=[
        "seconds",
        "seconds with spaces",
        "fraction",
        "zero",
        "HTTP date",
        "HTTP date without zone",
        "past date",
        "negative",
        "huge",
        "far date",
        "garbage",
        "empty",
        "absent",
        "not a number",
        "infinite",
    ],
)
def test_retry_after_is_seconds_from_now_within_the_callers_bounds(
    value: str | None, expected: float
) -> None:
    """Seconds or an HTTP date, never below 0 nor above the cap; the default when unreadable."""
    assert retry_after_seconds(value, default=60.0, cap=3600.0, now=NOW) == expected


def test_retry_after_without_a_cap_keeps_a_long_wait() -> None:
    """A caller without a cap gets the wait as asked."""
    assert retry_after_seconds("99999999", default=None, now=NOW) == 99999999.0


def test_retry_after_unreadable_is_the_callers_default() -> None:
    """Each caller chooses what an absent or unreadable header means (even None)."""
    assert retry_after_seconds("soon", default=None) is None
    assert retry_after_seconds(None, default=30.0) == 30.0


def test_retry_after_date_counts_from_the_current_time_by_default() -> None:
    """Without `now`, a date is counted from the clock."""
    assert retry_after_seconds("Thu, 01 Jan 2099 00:00:00 GMT", default=None, cap=60.0) == 60.0


@pytest.mark.parametrize(
    "value",
    [
        "localhost",
        "LOCALHOST",
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "[::1]",
        "http://localhost:7071/api",
        "http://127.0.0.1:10000/devstoreaccount1",
        "http://[::1]:8080/v1.0",
    ],
)
def test_this_machine_is_loopback(value: str) -> None:
    """localhost, 127.0.0.0/8 and ::1, as a host or in a URL."""
    assert is_loopback(value)


@pytest.mark.parametrize(
    "value",
    [
        "graph.microsoft.com",
        "https://graph.microsoft.com/v1.0",
        "10.0.0.1",
        "http://192.168.1.10:8080",
        "localhost.example.com",
        "http://127.0.0.1.example.com/",
        "",
        "https://",
    ],
)
def test_another_host_is_not_loopback(value: str) -> None:
    """A public name, a private address, a look-alike or nothing is not this machine."""
    assert not is_loopback(value)
