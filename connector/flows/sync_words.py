"""The sync's sentences: how a run ended, a link made and what an operator checks about it,
an employee Lucca no longer shows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.domain.entries import Action
from connector.flows.restoring import restored_sentence

if TYPE_CHECKING:
    from connector.domain.ports import LinkStore
    from connector.entra.users import DirectoryUser
    from connector.flows.sync_run import SyncRun


def not_in_lucca(links: LinkStore, employee_id: str) -> tuple[Action, str, str | None]:
    """The entry's action, sentence and account for an employee Lucca no longer shows."""
    link = links.of_employee(employee_id)
    if link is None:
        return Action.SKIPPED, f"Lucca has no employee {employee_id}: nothing to do.", None
    return (
        Action.NOT_IN_LUCCA,
        f"Lucca no longer shows employee {employee_id} (deleted, or outside the "
        "establishments the API client may see). Nothing was changed in Entra: decide "
        f"whether account {link.object_id} should stay enabled.",
        link.object_id,
    )


def linked_sentence(user: DirectoryUser, how: str, what: str = "") -> str:
    """ "Linked to <login> (matched by <how>)."."""
    return f"Linked to {what}{user.user_principal_name} (matched by {how})."


def check_sentence(run: SyncRun, user: DirectoryUser, employee_id: str) -> str:
    """What an operator checks about an alerting link, and how to undo it (empty otherwise)."""
    if not run.alert:
        return ""
    return (
        f" Check that {user.user_principal_name} ({user.id}) is this employee's own account, "
        "not a service, shared or administrator account; if the link is wrong, run "
        f"`python -m connector unlink {employee_id}`."
    )


def ending(run: SyncRun, user: DirectoryUser, employee_id: str) -> tuple[Action, str]:
    """The action and sentence of a sync that reached the account and wrote what differed."""
    if run.restored:
        return Action.RESTORED, restored_sentence(run, user)
    if run.linked_by is not None:
        return Action.LINKED, linked_sentence(
            user, run.linked_by, "the existing account "
        ) + check_sentence(run, user, employee_id)
    if run.changes:
        return Action.UPDATED, f"Updated {user.user_principal_name}."
    return Action.UNCHANGED, "Already in step with Lucca."
