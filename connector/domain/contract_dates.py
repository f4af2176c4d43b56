"""When an employee's account opens and closes: pure date logic, no storage, no clock.

Lucca's own connector "deactivates at 00:00 D+1 (Paris time zone)": a contract ending on
19/10/2023 is deactivated "on 20/10/2023 at 00:00 UTC+02:00", i.e. 2023-10-19T22:00Z. The rules,
each a UTC instant computed in one time zone (`LEAVER_TIME_ZONE`):

- Employments are read in order of start. An employment ending on day D (its last day worked,
  included) leads to a **disable** at D+1 00:00 local, unless the next one starts by
  D+1+`contract_gap_days` (default 0: only a contract starting on D+1 continues the account).
- The first employment, and each one after a disable, leads to an **enable** at 00:00 local of
  its start minus `enable_days_before_start`. An early enable that would fall at or before the
  previous disable continues the account instead, so both settings widen the same window.
- An employment without end keeps the account open for good; one that overlaps (Lucca forbids
  it) extends its period, never shortens it. Never early: no disable falls before D+1 00:00.
- The actions alternate enable, disable, …; the last one at or before `now` is the current
  state (`AccessPlan.last`), the ones strictly after `now` are `AccessPlan.upcoming`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal, Protocol
from zoneinfo import ZoneInfo

ONE_DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)

Kind = Literal["enable", "disable"]


class Employment(Protocol):
    """What a plan reads from an employment (`connector.lucca.models.LuccaEmployment` fits)."""

    @property
    def id(self) -> str: ...
    @property
    def start(self) -> date: ...
    @property
    def end(self) -> date | None: ...


def local_midnight_utc(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant from which the local date in `zone` is `day` (or later) for good."""
    wall = datetime.combine(day, time(), tzinfo=zone)
    first, second = wall.astimezone(UTC), wall.replace(fold=1).astimezone(UTC)
    if second > first and (second - TICK).astimezone(zone).date() < day:
        # 00:00 comes twice because the clock went back across midnight (America/Goose_Bay
        # until 2010): the previous day is over only at the second one.
        return second
    # Otherwise the first 00:00; where 00:00 is skipped (America/Havana, Asia/Beirut), fold 0
    # maps it to the end of the gap, the day's first instant (every gap in tzdata that
    # swallows midnight starts at it; one that did not would make this later, never earlier).
    return first


@dataclass(frozen=True, kw_only=True)
class PlannedAction:
    """One dated change of an account: enable or disable at a UTC instant."""

    kind: Kind
    at: datetime  # UTC
    local_day: date  # the local day whose 00:00 `at` is
    zone: str  # IANA key
    employment_id: str
    contract_day: date  # the employment's last day (disable) or first day (enable)

    def describe(self) -> str:
        """The integration log's sentence, e.g. 'disable scheduled for 2026-10-25 00:00 …'."""
        local = self.at.astimezone(ZoneInfo(self.zone))
        bound = "last day" if self.kind == "disable" else "first day"
        return (
            f"{self.kind} scheduled for {local:%Y-%m-%d %H:%M} {self.zone} "
            f"({bound} {self.contract_day.isoformat()}, employment {self.employment_id})"
        )


@dataclass(frozen=True, kw_only=True)
class AccessPlan:
    """An employee's access at `now`: the transition that set it, and those still to come."""

    last: PlannedAction | None  # the latest action at or before now; None if none yet
    upcoming: tuple[PlannedAction, ...]  # strictly after now, in order

    @property
    def enabled_now(self) -> bool:
        """Whether now lies in an access period [enable instant, disable instant)."""
        return self.last is not None and self.last.kind == "enable"

    @property
    def since(self) -> datetime | None:
        """The instant the current state began (it may be past and not yet acted on)."""
        return None if self.last is None else self.last.at


def plan(
    employments: Sequence[Employment],
    *,
    now: datetime,
    zone: ZoneInfo,
    contract_gap_days: int = 0,
    enable_days_before_start: int = 0,
) -> AccessPlan:
    """The enables and disables an employee's employments call for, split at `now`."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    if contract_gap_days < 0 or enable_days_before_start < 0:
        raise ValueError("contract_gap_days and enable_days_before_start must be >= 0")
    reach = ONE_DAY * (1 + max(contract_gap_days, enable_days_before_start))
    periods: list[tuple[Employment, Employment]] = []  # (opens it, its end closes it)
    for employment in sorted(employments, key=lambda e: (e.start, e.id)):
        if employment.end is not None and employment.end < employment.start:
            continue  # ends before it starts: opens nothing
        closer = periods[-1][1] if periods else None
        if closer is None or (closer.end is not None and employment.start > closer.end + reach):
            periods.append((employment, employment))  # a new period of access
        elif closer.end is not None and (employment.end is None or employment.end > closer.end):
            periods[-1] = (periods[-1][0], employment)  # continues, and lasts longer

    actions: list[PlannedAction] = []
    for opener, closer in periods:
        day = opener.start - ONE_DAY * enable_days_before_start
        actions.append(_action("enable", day, zone, opener.id, opener.start))
        if closer.end is not None:
            actions.append(_action("disable", closer.end + ONE_DAY, zone, closer.id, closer.end))
    now = now.astimezone(UTC)
    past = [action for action in actions if action.at <= now]
    return AccessPlan(
        last=past[-1] if past else None,
        upcoming=tuple(action for action in actions if action.at > now),
    )


def _action(
    kind: Kind, day: date, zone: ZoneInfo, employment_id: str, contract_day: date
) -> PlannedAction:
    """The action of `kind` at 00:00 local of `day`."""
    return PlannedAction(
        kind=kind,
        at=local_midnight_utc(day, zone),
        local_day=day,
        zone=str(zone),
        employment_id=employment_id,
        contract_day=contract_day,
    )


if TYPE_CHECKING:
    from connector.lucca.models import LuccaEmployment

    def _lucca_employment_fits(employment: LuccaEmployment) -> Employment:
        """mypy checks here that Lucca's model satisfies the protocol."""
        return employment
