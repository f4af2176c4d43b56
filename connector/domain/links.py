"""An identity link: the Entra account of a Lucca employee (kept by `connector.storage.links`);
and the rule that reads an operator's unlink in the account's employeeId."""

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
    # The account's employeeId held the employee's anchor while linked (the connector wrote
    # it, or found it there); None on a link stored before this was recorded.
    stamped: bool | None = None


def operator_unlink(link: Link, employee_id_now: str | None, *, mark: str, stamps: bool) -> str:
    """Why the account's employeeId (`employee_id_now`) says an operator unlinked it from the
    employee whose anchor is `mark`; "" when it does not.

    The connector writes its anchor only into an empty employeeId and never changes it after,
    so: another value is always someone's change in Entra; an empty one is a clearing when the
    anchor was there (`stamped`), or, on a link stored before that was recorded, when the
    connector must have written it (it created the account, or it owns the employeeId row,
    `stamps`, and wrote it in the sync that linked). A new link whose anchor is not written
    yet is not an unlink: the sync writes it now."""
    if employee_id_now == mark:
        return ""
    if employee_id_now:
        return f"changed to {employee_id_now!r} in Entra"
    if link.stamped or (link.stamped is None and (stamps or link.how == "created")):
        return "cleared in Entra"
    return ""


def unlinked_sentence(link: Link, login: str, why: str) -> str:
    """What an unlink read in Entra did, and how to take it back, for the log entry."""
    first = "" if why.startswith("cleared") else "clear its employeeId in Entra, then "
    return (
        f"The employeeId of the linked account {login} ({link.object_id}) was {why} (the anchor "
        f"lucca-{link.employee_id} is gone): taken as an operator's unlink. The link was dropped "
        "and nothing was written to the account; the connector will not link it to this "
        "employee again, nor enable, disable or rename it for them. If that was a mistake, "
        f"{first}re-link it: `python -m connector link {link.employee_id} {link.object_id}`."
    )
