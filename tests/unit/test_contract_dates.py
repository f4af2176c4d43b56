"""Enables and disables fall at 00:00 local: never early, across DST changes and time zones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from connector.domain.contract_dates import AccessPlan, PlannedAction, local_midnight_utc, plan
from connector.lucca.models import LuccaEmployment

PARIS = ZoneInfo("Europe/Paris")
MS = timedelta(milliseconds=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Job:
    """The smallest employment the plan accepts."""

    id: str
    start: date
    end: date | None = None


def utc(text: str) -> datetime:
    """'2026-10-24T22:00' as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def steps(result: AccessPlan) -> list[tuple[str, datetime]]:
    """The upcoming actions as (kind, instant)."""
    return [(action.kind, action.at) for action in result.upcoming]


# The issue's pins: last day D → disable at D+1 00:00 Europe/Paris.
LEAVERS = [
    pytest.param(date(2023, 10, 19), utc("2023-10-19T22:00"), id="seed-20/10/2023-00:00+02:00"),
    pytest.param(date(2026, 3, 28), utc("2026-03-28T23:00"), id="spring-change-2026"),
    pytest.param(date(2026, 10, 24), utc("2026-10-24T22:00"), id="autumn-change-2026"),
]


@pytest.mark.parametrize(("last_day", "instant"), LEAVERS)
def test_disable_at_midnight_paris_after_the_last_day(last_day: date, instant: datetime) -> None:
    """The disable is at D+1 00:00 Paris, whatever the offset that night."""
    before = plan([Job("77", date(2020, 1, 6), last_day)], now=utc("2020-01-01T00:00"), zone=PARIS)
    assert steps(before)[-1] == ("disable", instant)
    disable = before.upcoming[-1]
    assert disable.at.utcoffset() == timedelta(0)
    assert (disable.local_day, disable.contract_day, disable.employment_id) == (
        last_day + DAY,
        last_day,
        "77",
    )
    assert local_midnight_utc(last_day + DAY, PARIS) == instant


@pytest.mark.parametrize(
    ("start", "instant"),
    [
        pytest.param(date(2026, 3, 29), utc("2026-03-28T23:00"), id="spring-change-day"),
        pytest.param(date(2026, 10, 25), utc("2026-10-24T22:00"), id="autumn-change-day"),
    ],
)
def test_enable_at_midnight_paris_on_the_first_day(start: date, instant: datetime) -> None:
    """A hire starting on a DST day is enabled at that day's 00:00 Paris."""
    result = plan([Job("78", start)], now=utc("2026-01-01T00:00"), zone=PARIS)
    assert steps(result) == [("enable", instant)]
    assert result.upcoming[0].local_day == start


@pytest.mark.parametrize(("last_day", "instant"), LEAVERS)
@pytest.mark.parametrize(
    ("offset", "enabled"),
    [
        pytest.param(-3 * MS, True, id="3ms-before"),
        pytest.param(-MS, True, id="1ms-before"),
        pytest.param(timedelta(0), False, id="exactly-at"),
        pytest.param(MS, False, id="1ms-after"),
    ],
)
def test_a_timer_firing_early_finds_nothing_due(
    last_day: date, instant: datetime, offset: timedelta, enabled: bool
) -> None:
    """Up to the instant the account stays enabled; from it on it is disabled, since it."""
    start = date(2020, 1, 6)
    result = plan([Job("77", start, last_day)], now=instant + offset, zone=PARIS)
    assert result.enabled_now is enabled
    if enabled:
        assert steps(result) == [("disable", instant)]
        assert result.since == local_midnight_utc(start, PARIS)
    else:
        assert result.upcoming == ()
        assert result.since == instant
        assert result.last is not None
        assert result.last.kind == "disable"


D = date(2026, 10, 24)  # the last day of the first contract in the tables below
NOW = utc("2026-10-01T08:00")  # during the first contract


@pytest.mark.parametrize(
    ("next_start", "gap", "expected"),
    [
        pytest.param(D + DAY, 0, [], id="next-day-continues"),
        pytest.param(
            D + 2 * DAY,
            0,
            [("disable", utc("2026-10-24T22:00")), ("enable", utc("2026-10-25T23:00"))],
            id="D+2-is-a-gap",
        ),
        pytest.param(
            date(2026, 11, 24),
            0,
            [("disable", utc("2026-10-24T22:00")), ("enable", utc("2026-11-23T23:00"))],
            id="a-month-later",
        ),
        pytest.param(D + 4 * DAY, 3, [], id="gap-3-D+4-continues"),
        pytest.param(
            D + 5 * DAY,
            3,
            [("disable", utc("2026-10-24T22:00")), ("enable", utc("2026-10-28T23:00"))],
            id="gap-3-D+5-does-not",
        ),
    ],
)
def test_a_following_contract(
    next_start: date, gap: int, expected: list[tuple[str, datetime]]
) -> None:
    """A contract starting within the allowed gap continues the account; a later one reopens it."""
    jobs = [Job("1", date(2025, 1, 6), D), Job("2", next_start)]
    result = plan(jobs, now=NOW, zone=PARIS, contract_gap_days=gap)
    assert result.enabled_now
    assert steps(result) == expected
    assert [action.employment_id for action in result.upcoming] == ["1", "2"][: len(expected)]


@pytest.mark.parametrize(
    ("jobs", "expected"),
    [
        pytest.param(
            [Job("1", date(2026, 11, 10))],
            [("enable", utc("2026-11-07T23:00"))],
            id="hire-opens-two-days-early",
        ),
        pytest.param(
            [Job("1", date(2025, 1, 6), D), Job("2", D + 3 * DAY)],
            [],
            id="rehire-at-D+3-continues",
        ),
        pytest.param(
            [Job("1", date(2025, 1, 6), D), Job("2", D + 4 * DAY)],
            [("disable", utc("2026-10-24T22:00")), ("enable", utc("2026-10-25T23:00"))],
            id="rehire-at-D+4-reopens-at-D+2",
        ),
    ],
)
def test_enable_days_before_start(jobs: list[Job], expected: list[tuple[str, datetime]]) -> None:
    """Two days before start opens earlier; an early enable never falls before a disable."""
    result = plan(jobs, now=NOW, zone=PARIS, enable_days_before_start=2)
    assert steps(result) == expected


def test_early_enable_is_logged_with_the_first_day() -> None:
    """The log says when the account opens and which first day it opens for."""
    result = plan([Job("9", date(2026, 11, 10))], now=NOW, zone=PARIS, enable_days_before_start=2)
    assert result.upcoming[0].describe() == (
        "enable scheduled for 2026-11-08 00:00 Europe/Paris (first day 2026-11-10, employment 9)"
    )


def test_disable_is_logged_as_the_issue_says() -> None:
    """The integration log's sentence for a disable."""
    result = plan([Job("77", date(2025, 1, 6), D)], now=NOW, zone=PARIS)
    assert [action.describe() for action in result.upcoming] == [
        "disable scheduled for 2026-10-25 00:00 Europe/Paris (last day 2026-10-24, employment 77)"
    ]


def test_an_upcoming_hire_is_closed_until_the_first_day() -> None:
    """A future start: not enabled, never was, the enable (then the disable) upcoming."""
    result = plan([Job("5", date(2026, 11, 2), date(2027, 4, 30))], now=NOW, zone=PARIS)
    assert not result.enabled_now
    assert result.since is None
    assert steps(result) == [
        ("enable", utc("2026-11-01T23:00")),
        ("disable", utc("2027-04-30T22:00")),
    ]


def test_a_rehire_after_a_past_gap_is_enabled_since_its_start() -> None:
    """Left, came back: enabled now, since the second contract's first 00:00."""
    jobs = [Job("1", date(2024, 1, 8), date(2025, 6, 30)), Job("2", date(2026, 9, 1))]
    result = plan(jobs, now=NOW, zone=PARIS)
    assert result.enabled_now
    assert result.since == utc("2026-08-31T22:00")
    assert result.last is not None
    assert result.last.employment_id == "2"
    assert result.upcoming == ()


@pytest.mark.parametrize(
    ("end", "enabled", "since", "expected"),
    [
        pytest.param(
            D, True, utc("2025-01-05T23:00"), [("disable", utc("2026-10-24T22:00"))], id="same"
        ),
        pytest.param(
            date(2026, 10, 9),
            True,
            utc("2025-01-05T23:00"),
            [("disable", utc("2026-10-09T22:00"))],
            id="earlier",
        ),
        pytest.param(
            date(2026, 12, 31),
            True,
            utc("2025-01-05T23:00"),
            [("disable", utc("2026-12-31T23:00"))],
            id="later",
        ),
        pytest.param(None, True, utc("2025-01-05T23:00"), [], id="removed"),
        pytest.param(
            date(2026, 9, 15), False, utc("2026-09-15T22:00"), [], id="moved-into-the-past"
        ),
    ],
)
def test_a_moved_end_date_changes_the_plan(
    end: date | None, enabled: bool, since: datetime, expected: list[tuple[str, datetime]]
) -> None:
    """Earlier, later, removed or already past: the plan follows the current end date."""
    original = plan([Job("1", date(2025, 1, 6), D)], now=NOW, zone=PARIS)
    moved = plan([Job("1", date(2025, 1, 6), end)], now=NOW, zone=PARIS)
    assert (moved.enabled_now, moved.since, steps(moved)) == (enabled, since, expected)
    assert (moved == original) is (end == D)


@pytest.mark.parametrize(
    ("zone", "last_day", "instant", "wall"),
    [
        ("America/New_York", date(2026, 3, 7), utc("2026-03-08T05:00"), "2026-03-08 00:00"),
        ("America/New_York", date(2026, 7, 1), utc("2026-07-02T04:00"), "2026-07-02 00:00"),
        ("Asia/Tokyo", date(2026, 3, 28), utc("2026-03-28T15:00"), "2026-03-29 00:00"),
        ("UTC", date(2026, 3, 28), utc("2026-03-29T00:00"), "2026-03-29 00:00"),
        # 00:00 does not exist on these days: the day begins at 01:00.
        ("America/Havana", date(2026, 3, 7), utc("2026-03-08T05:00"), "2026-03-08 01:00"),
        ("America/Santiago", date(2026, 9, 5), utc("2026-09-06T04:00"), "2026-09-06 01:00"),
        ("Asia/Beirut", date(2026, 3, 28), utc("2026-03-28T22:00"), "2026-03-29 01:00"),
    ],
)
def test_other_zones(zone: str, last_day: date, instant: datetime, wall: str) -> None:
    """Another zone gives that zone's midnight, or the day's first instant where it is skipped."""
    result = plan(
        [Job("3", date(2025, 1, 6), last_day)], now=utc("2026-01-01T00:00"), zone=ZoneInfo(zone)
    )
    assert steps(result) == [("disable", instant)]
    assert result.upcoming[0].zone == zone
    assert result.upcoming[0].describe().startswith(f"disable scheduled for {wall} {zone} (")
    assert (instant - MS).astimezone(ZoneInfo(zone)).date() == last_day


@pytest.mark.parametrize(
    ("zone", "day", "instant"),
    [
        # 00:00 twice, the clock going back to 23:01 of the day before in between: the day
        # before is over only at the second 00:00.
        pytest.param(
            "America/Goose_Bay",
            date(2006, 10, 29),
            utc("2006-10-29T04:00"),
            id="back-across-midnight",
        ),
        # 00:00 twice, both on the same day (01:00 → 00:00): the first one ends the day before.
        pytest.param(
            "America/Havana", date(2026, 11, 1), utc("2026-11-01T04:00"), id="back-to-midnight"
        ),
        # Samoa skipped 30 December 2011: it "begins" with the 31st.
        pytest.param("Pacific/Apia", date(2011, 12, 30), utc("2011-12-30T10:00"), id="skipped-day"),
    ],
)
def test_midnight_when_the_clock_jumps_around_it(zone: str, day: date, instant: datetime) -> None:
    """The instant from which the local date is `day` or later for good."""
    assert local_midnight_utc(day, ZoneInfo(zone)) == instant


MIDNIGHT_ZONES = [
    "America/Havana",
    "America/Santiago",
    "Asia/Beirut",
    "America/Asuncion",
    "America/Goose_Bay",
    "America/Sao_Paulo",
]


@pytest.mark.parametrize("zone", MIDNIGHT_ZONES)
def test_never_early_in_zones_that_change_at_midnight(zone: str) -> None:
    """Every day 2000-2030: the day before ends at the instant and never comes back after it."""
    tz = ZoneInfo(zone)
    day = date(2000, 1, 1)
    while day < date(2031, 1, 1):
        instant = local_midnight_utc(day, tz)
        assert (instant - MS).astimezone(tz).date() < day, day
        for minutes in (0, 1, 30, 59, 61, 120):
            assert (instant + timedelta(minutes=minutes)).astimezone(tz).date() >= day, day
        day += DAY


def test_every_day_of_2026_in_paris() -> None:
    """Each day's instant is 00:00 Paris that day, and a last day D disables at D+1's."""
    day = date(2026, 1, 1)
    seen = 0
    while day.year == 2026:
        instant = local_midnight_utc(day, PARIS)
        assert instant.tzinfo is UTC
        assert instant.astimezone(PARIS).replace(tzinfo=None) == datetime.combine(day, time())
        result = plan([Job("1", date(2025, 1, 6), day)], now=utc("2025-06-01T00:00"), zone=PARIS)
        assert steps(result) == [("disable", local_midnight_utc(day + DAY, PARIS))]
        day += DAY
        seen += 1
    assert seen == 365


def test_no_employment_means_no_access() -> None:
    """No employment: not enabled, never was, nothing upcoming."""
    assert plan([], now=NOW, zone=PARIS) == AccessPlan(last=None, upcoming=())


def test_lucca_employments_in_any_order() -> None:
    """Lucca's documents work as they are, whatever order they come in."""
    documents = [
        {
            "id": "12",
            "employee": {"id": "7"},
            "start": {"date": "2026-11-24"},
            "end": None,
            "legalEntity": {"id": "1"},
        },
        {
            "id": "11",
            "employee": {"id": "7"},
            "start": {"date": "2025-01-06"},
            "end": {"date": "2026-10-24"},
            "legalEntity": {"id": "1"},
        },
    ]
    employments = [LuccaEmployment.model_validate(document) for document in documents]
    forward = plan(employments, now=NOW, zone=PARIS)
    assert forward == plan(employments[::-1], now=NOW, zone=PARIS)
    assert [(a.kind, a.employment_id) for a in forward.upcoming] == [
        ("disable", "11"),
        ("enable", "12"),
    ]


@pytest.mark.parametrize(
    ("jobs", "expected"),
    [
        pytest.param(
            [Job("1", date(2025, 1, 6)), Job("2", date(2026, 11, 2), date(2026, 11, 30))],
            [],
            id="open-ended-then-another",
        ),
        pytest.param(
            [Job("1", date(2025, 1, 6), date(2026, 12, 31)), Job("2", date(2026, 3, 2), D)],
            [("disable", utc("2026-12-31T23:00"))],
            id="overlap-never-shortens",
        ),
        pytest.param(
            [Job("1", date(2025, 1, 6), D), Job("2", date(2026, 12, 1), date(2026, 11, 30))],
            [("disable", utc("2026-10-24T22:00"))],
            id="ends-before-it-starts",
        ),
    ],
)
def test_data_lucca_forbids_never_disables_early(
    jobs: list[Job], expected: list[tuple[str, datetime]]
) -> None:
    """Overlapping or open-ended contracts keep the account open at least as long as each."""
    assert steps(plan(jobs, now=NOW, zone=PARIS)) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"now": datetime(2026, 10, 1, 8, 0)}, "now must be an aware datetime"),
        ({"now": NOW, "contract_gap_days": -1}, "must be >= 0"),
        ({"now": NOW, "enable_days_before_start": -1}, "must be >= 0"),
    ],
)
def test_rejects_a_naive_clock_and_negative_days(kwargs: dict[str, object], message: str) -> None:
    """A naive `now` or negative days are programming errors."""
    with pytest.raises(ValueError, match=message):
        plan([Job("1", date(2025, 1, 6), D)], zone=PARIS, **kwargs)  # type: ignore[arg-type]


def test_now_in_another_offset_is_the_same_instant() -> None:
    """`now` is compared as an instant, whatever its offset."""
    instant = utc("2026-10-24T22:00")
    paris_now = (instant - MS).astimezone(PARIS)
    assert plan([Job("1", date(2025, 1, 6), D)], now=paris_now, zone=PARIS).enabled_now
    assert not plan(
        [Job("1", date(2025, 1, 6), D)], now=instant.astimezone(PARIS), zone=PARIS
    ).enabled_now


def test_actions_are_frozen() -> None:
    """A planned action cannot be changed once made."""
    action = plan([Job("1", date(2025, 1, 6), D)], now=NOW, zone=PARIS).upcoming[0]
    assert isinstance(action, PlannedAction)
    with pytest.raises(AttributeError):
        action.at = NOW  # type: ignore[misc]
