"""After a deleted account was restored (flows/deleted_holders.py): linked like any account.

The restored account is this employee's (its anchor, or its link): it is linked (or stays
linked), and a disabled one counts as closed by the connector, so the employee's dates open it
(now, or the timer on the first day) as they open an account the connector created disabled.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from connector.domain.entries import Action
from connector.domain.mapping import anchor

if TYPE_CHECKING:
    from connector.domain.ports import LinkStore
    from connector.entra.users import DirectoryUser
    from connector.flows.matching import Match
    from connector.flows.sync_run import SyncRun
    from connector.lucca.models import LuccaEmployee


def _closed(run: SyncRun, links: LinkStore, employee: LuccaEmployee, user: DirectoryUser) -> None:
    """A restored account that is disabled waits for the employee's dates to open it; an
    enabled one is no longer counted as closed by the connector (deleted_holders.own set it)."""
    run.wrote = Action.RESTORED
    run.note = f"Restored {user.user_principal_name or user.id} from Entra's deleted users."
    closed = user.account_enabled is False
    links.set_disabled_by_connector(employee.id, closed)
    run.disabled_by_connector = closed


def adopt_restored(
    run: SyncRun, links: LinkStore, employee: LuccaEmployee, user: DirectoryUser, at: datetime
) -> None:
    """Link the account the create path restored (deleted_holders.own linked it before the
    restore; linked here only if it was not)."""
    run.object_id = user.id
    if links.of_employee(employee.id) is None:
        stamped = user.employee_id == anchor(employee.id)
        links.link(employee.id, user.id, how="restored", at=at, stamped=stamped)
    _closed(run, links, employee, user)


def restored_match(
    run: SyncRun, links: LinkStore, employee: LuccaEmployee, match: Match, user: DirectoryUser
) -> Match:
    """The match of a linked account once restored: the same link, the account back."""
    _closed(run, links, employee, user)
    return replace(
        match,
        user=user,
        how="link",
        linked=True,
        deleted=None,
        disabled_by_connector=user.account_enabled is False,
    )


def restored_sentence(run: SyncRun, user: DirectoryUser) -> str:
    """The "restored" entry's sentence."""
    when = run.details.get("deleted_on")
    deleted = f", deleted on {when}," if when else ""
    return (
        f"Restored the account {user.user_principal_name or user.id} ({user.id}){deleted} from "
        "Entra's deleted users, linked it and brought it in step with Lucca."
    )
