"""The access plan of one employee now: read the employments, plan in the right time zone."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from connector.core.errors import NotFound
from connector.domain.contract_dates import AccessPlan, plan
from connector.lucca.models import LuccaEmployee, LuccaEmployment, LuccaEstablishment

ESTABLISHMENT = "establishment"


class EmploymentReader(Protocol):
    """What the planner reads from Lucca."""

    def employments(self, employee_id: str) -> list[LuccaEmployment]:
        """Every employment of the employee."""
        ...

    def establishment(self, establishment_id: str) -> LuccaEstablishment:
        """A business establishment (its time zone)."""
        ...


class AccessPlanner:
    """Plans enables and disables from Lucca's employments (`LEAVER_TIME_ZONE`, gaps)."""

    def __init__(
        self,
        lucca: EmploymentReader,
        *,
        time_zone: str,
        contract_gap_days: int,
        enable_days_before_start: int,
        default_zone: str = "Europe/Paris",
    ) -> None:
        self._lucca = lucca
        self._time_zone = time_zone
        self._gap = contract_gap_days
        self._early = enable_days_before_start
        self._default_zone = default_zone

    def zone_of(self, employee: LuccaEmployee) -> ZoneInfo:
        """`LEAVER_TIME_ZONE`, or the employee's establishment's zone with `establishment`."""
        if self._time_zone != ESTABLISHMENT:
            return ZoneInfo(self._time_zone)
        position = employee.job_position
        if position is not None and position.establishment_id:
            try:
                zone = self._lucca.establishment(position.establishment_id).timezone_id
            except NotFound:
                zone = None
            if zone:
                return ZoneInfo(zone)
        return ZoneInfo(self._default_zone)

    def needs_employments(self, employee: LuccaEmployee, now: datetime) -> bool:
        """Whether planning reads the employments: not for an open-ended employment that has
        started (employments never overlap, so none can follow it)."""
        current = employee.employment
        return not (
            current is not None
            and current.end is None
            and current.start <= now.astimezone(self.zone_of(employee)).date()
        )

    def plan(self, employee: LuccaEmployee, now: datetime) -> AccessPlan:
        """The employee's access plan at `now`, from its applicable employment alone when that
        is enough, else from all its employments (one Lucca request)."""
        zone = self.zone_of(employee)
        if self.needs_employments(employee, now):
            employments = self._lucca.employments(employee.id)
        else:
            employments = [employee.employment] if employee.employment else []
        return plan(
            employments,
            now=now,
            zone=zone,
            contract_gap_days=self._gap,
            enable_days_before_start=self._early,
        )
