"""An identity link: the Entra account of a Lucca employee (kept by `connector.storage.links`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, kw_only=True)
class Link:
    """A Lucca employee linked to an Entra account."""

    employee_id: str
    object_id: str
    linked_at: datetime
    how: str
    pending_manager_id: str | None = None
    # The connector disabled the account (a leaver, or a future hire created closed): only
    # then may it enable it again. An account disabled by someone else stays disabled.
    disabled_by_connector: bool = False
    # employeeHireDate and employeeLeaveDateTime as last written (LIFECYCLE_DATES).
    lifecycle: tuple[str | None, str | None] = (None, None)
