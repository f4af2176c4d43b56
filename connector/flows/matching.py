"""The matcher: finding the employee's Entra account, and judging whether one found may be linked.

The account is the linked one; else the one whose employeeId holds the employee's anchor; else
(MATCH_KEY, `KEYS`) the one whose mail, then userPrincipalName, is the professional email
(`mail`, the default), whose userPrincipalName is (`userPrincipalName`), or none (`off`). A
single clean candidate is linked; a guest, an account synchronised from on-premises, a disabled
one (found by email), one anchored for someone else or linked to another employee, one outside
MATCH_SCOPE (found by email) or one holding a directory role is a conflict for a person. Each
candidate costs one read of its roles (and, found by email with MATCH_SCOPE set, one membership
check).

An operator's word is final: a linked account whose employeeId was cleared or changed in Entra
is an unlink (`connector.domain.links.operator_unlink` has the rule), and an account an
operator unlinked from this employee is never found for it again, by anchor, mail or login,
until `python -m connector link` says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from connector.domain.links import Link, operator_unlink, unlinked_sentence
from connector.domain.mapping import anchor
from connector.domain.ports import Directory, LinkStore
from connector.flows.sync_run import held

if TYPE_CHECKING:
    from connector.entra.deleted import DeletedUser
    from connector.entra.scope import MatchScope
    from connector.entra.users import DirectoryUser
    from connector.lucca.models import LuccaEmployee

# MATCH_KEY: the addresses that find an existing account after the link and the anchor.
KEYS: Final[dict[str, tuple[Literal["mail", "userPrincipalName"], ...]]] = {
    "mail": ("mail", "userPrincipalName"),
    "userPrincipalName": ("userPrincipalName",),
    "off": (),
}


@dataclass(kw_only=True)
class Match:
    """How the employee's account was (or was not) found."""

    user: DirectoryUser | None = None
    object_id: str | None = None
    how: str | None = None
    linked: bool = False
    disabled_by_connector: bool = False
    lifecycle: tuple[str | None, str | None] = (None, None)
    conflict: str | None = None
    candidates: list[dict[str, str]] = field(default_factory=list)
    unlinked: str | None = None  # an operator's unlink read in Entra: the entry's sentence
    stamp_seen: bool = False  # linked, the anchor is on the account and not recorded yet
    privileged: bool = False  # a candidate holds a directory role: the conflict alerts
    deleted: DeletedUser | None = None  # the linked account is in Entra's deleted items


class Matcher:
    """Finds an employee's account in Entra (reads only)."""

    def __init__(
        self,
        *,
        directory: Directory,
        links: LinkStore,
        stamps: bool = True,
        scope: MatchScope | None = None,
        key: str = "mail",
    ) -> None:
        self._keys = KEYS[key]  # MATCH_KEY
        self._directory = directory
        self._links = links
        self._stamps = stamps  # the employeeId row is owned: a sync writes the anchor
        self._scope = scope

    def find(self, employee: LuccaEmployee) -> Match:
        """The employee's account: by its link, else by its anchor, its mail, its login."""
        link = self._links.of_employee(employee.id)
        if link is not None:
            return self._linked(link)
        mark = anchor(employee.id)
        anchored = self._directory.find_users("employeeId", mark)
        if anchored:
            return self._refused(employee.id, anchored) or self._judge(
                employee.id, anchored, how="employeeId"
            )
        if employee.email:
            for prop in self._keys:
                found = self._directory.find_users(prop, employee.email)
                if found:
                    return self._refused(employee.id, found) or self._judge(
                        employee.id, found, how=prop
                    )
        return Match()

    def eligibility(self, employee_id: str, user: DirectoryUser) -> list[str]:
        """Why an operator may not link this account to this employee (none: it may). A
        disabled account, or one outside MATCH_SCOPE, may be linked: the operator chose it (it
        stays disabled); one holding a directory role may not, even by an operator."""
        reasons = self._disqualifiers(employee_id, user, how="employeeId")
        role = self._role(user)
        return [*reasons, role] if role else reasons

    def _role(self, user: DirectoryUser) -> str | None:
        """The reason an account holding a directory role is never linked, or None."""
        roles = self._directory.directory_roles(user.id)
        if not roles:
            return None
        return f"holds {held(roles)}: never linked, an administrator's account is not an employee's"

    def _refused(self, employee_id: str, found: list[DirectoryUser]) -> Match | None:
        """An account found that an operator unlinked from this employee: a conflict, never a
        match (nor a new account beside it)."""
        refused = [u for u in found if self._links.is_refused(employee_id, u.id)]
        if not refused:
            return None
        named = ", ".join(f"{u.user_principal_name or u.id} ({u.id})" for u in refused)
        return Match(
            conflict=(
                f"The operator unlinked account {named} from this employee: it is not linked "
                "again, and no other account is created beside it. If it is this employee's "
                f"account after all, run `python -m connector link {employee_id} "
                f"{refused[0].id}`; otherwise give the employee another professional email in "
                "Lucca."
            ),
            candidates=[
                {
                    "id": u.id,
                    "userPrincipalName": u.user_principal_name or "",
                    "reasons": "unlinked from this employee by an operator",
                }
                for u in refused
            ],
        )

    def _linked(self, link: Link) -> Match:
        user = self._directory.get_user(link.object_id)
        if user is None:
            deleted = self._directory.deleted_user(link.object_id)
            mark = anchor(link.employee_id)
            if deleted is not None and (
                why := operator_unlink(link, deleted.employee_id, mark=mark, stamps=self._stamps)
            ):  # its anchor cleared or changed before it was deleted: never restored for this one
                login = deleted.user_principal_name or deleted.id
                return Match(object_id=deleted.id, unlinked=unlinked_sentence(link, login, why))
            if deleted is not None:  # IT deleted it: restored or reported (deleted_holders.py)
                return Match(
                    object_id=link.object_id,
                    deleted=deleted,
                    disabled_by_connector=link.disabled_by_connector,
                    lifecycle=link.lifecycle,
                )
            return Match(
                object_id=link.object_id,
                conflict=(
                    f"The linked account {link.object_id} no longer exists in Entra, not even "
                    "among its deleted users: remove the link (`python -m connector unlink "
                    f"{link.employee_id}`) for the connector to create a new account."
                ),
            )
        mark = anchor(link.employee_id)
        why = operator_unlink(link, user.employee_id, mark=mark, stamps=self._stamps)
        if why:
            login = user.user_principal_name or user.id
            return Match(object_id=user.id, unlinked=unlinked_sentence(link, login, why))
        return Match(
            user=user,
            how="link",
            linked=True,
            disabled_by_connector=link.disabled_by_connector,
            lifecycle=link.lifecycle,
            stamp_seen=user.employee_id == mark and link.stamped is not True,
        )

    def _judge(self, employee_id: str, found: list[DirectoryUser], *, how: str) -> Match:
        """Link a single clean candidate; anything else is a conflict for a human."""
        mark = anchor(employee_id)
        candidates = []
        privileged = False
        for user in found:
            reasons = self._disqualifiers(employee_id, user, how=how)
            role = self._role(user)
            if role:
                privileged = True
                reasons.append(role)
            candidates.append(
                {
                    "id": user.id,
                    "userPrincipalName": user.user_principal_name or "",
                    "reasons": "; ".join(reasons),
                }
            )
        if len(found) == 1 and not candidates[0]["reasons"]:
            return Match(user=found[0], how=how)
        if len(found) > 1:
            summary = f"{len(found)} accounts have {how} {mark if how == 'employeeId' else ''}"
            summary = summary.rstrip() + " equal to this employee's"
            summary += " anchor" if how == "employeeId" else " professional email"
        else:
            summary = f"The account matched by {how} cannot be linked"
        described = ", ".join(
            f"{c['userPrincipalName'] or c['id']} ({c['reasons'] or 'eligible'})"
            for c in candidates
        )
        return Match(
            conflict=f"{summary}: {described}. Nothing was changed; resolve it in Entra.",
            candidates=candidates,
            privileged=privileged,
        )

    def _disqualifiers(self, employee_id: str, user: DirectoryUser, *, how: str) -> list[str]:
        by_anchor = how == "employeeId"
        reasons = []
        if (user.user_type or "Member").lower() == "guest":
            reasons.append("a guest account")
        if user.on_premises_sync_enabled:
            reasons.append("synchronised from on-premises Active Directory")
        if not by_anchor and user.account_enabled is False:
            reasons.append("disabled")
        if user.employee_id and user.employee_id != anchor(employee_id):
            reasons.append(f"its employeeId already holds {user.employee_id!r}")
        holder = self._links.employee_of(user.id)
        if holder is not None and holder != employee_id:
            reasons.append(f"linked to Lucca employee {holder}")
        scope = self._scope
        if not by_anchor and scope is not None and not self._directory.in_scope(user.id, scope):
            reasons.append(f"outside MATCH_SCOPE ({scope.describe()})")
        return reasons
