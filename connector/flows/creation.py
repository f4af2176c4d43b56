"""Creating an account: the login checked first, one POST, and the notices saying so.

The login is the professional email: it must be a valid sign-in name in a verified, managed
domain of the tenant. The account is created with the owned values, the anchor in employeeId,
and a random password nobody sees; a POST that meets an account with the same login either
finds the connector's own (created meanwhile) or names who holds it. An employee without a
professional email gets a login built from the name instead (`login_choice`, LOGIN_TEMPLATE).
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING

from connector.core.errors import Conflict, ConnectorError, Denied, Invalid
from connector.domain.entries import ALERT, Action, Change, LogEntry
from connector.domain.mapping import MANAGER, anchor
from connector.domain.ports import Directory, LinkStore, Notifications
from connector.flows.deleted_holders import DeletedHolders, Taken
from connector.flows.sync_run import SyncRun, denied

if TYPE_CHECKING:
    from connector.entra.scope import MatchScope
    from connector.entra.users import DirectoryUser
    from connector.lucca.models import LuccaEmployee

# What a UPN's user name may hold: https://learn.microsoft.com/entra/identity/authentication/
# concept-sspr-policy#userprincipalname-policies-that-apply-to-all-user-accounts
_UPN_NAME = re.compile(r"^[A-Za-z0-9'._!#^~-]{1,64}$")
_UPN_DOMAIN = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_NICKNAME_DROP = re.compile(r"[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]")
PASSWORD_LENGTH = 40
_NOT_MATCHED = (
    " MATCH_KEY keeps the connector from matching an account by this address: if it is this "
    "employee's, link it with `python -m connector link {id} <object id>`."
)


def mail_nickname(email: str) -> str:
    """The mailNickname Graph requires, from the email's user name."""
    return _NICKNAME_DROP.sub("", email.partition("@")[0])[:64] or "user"


def new_password() -> str:
    """A random password nobody sees: long, and with every class Entra's policy asks for."""
    classes = (string.ascii_uppercase, string.ascii_lowercase, string.digits, "!#$%&*+-=?@^_~")
    alphabet = "".join(classes)
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(PASSWORD_LENGTH))
        if all(any(c in cls for c in password) for cls in classes):
            return password


def login_problem(email: str | None, directory: Directory) -> str | None:
    """Why `email` cannot be the login of a new account, in plain words; None if it can."""
    if not email:
        return "The employee has no professional email in Lucca: an account needs one."
    name, _, domain = email.partition("@")
    if not _UPN_NAME.match(name) or not _UPN_DOMAIN.match(domain) or ".." in name:
        return (
            f"The professional email {email} cannot be a sign-in name: it may hold only "
            "unaccented letters, digits and ' . - _ ! # ^ ~ before the @."
        )
    domains = {d.id.lower(): d for d in directory.domains()}
    known = domains.get(domain.lower())
    if known is None or not known.is_verified:
        verified = ", ".join(sorted(d for d, v in domains.items() if v.is_verified))
        return (
            f"The domain {domain} is not a verified domain of your Entra tenant "
            f"(verified: {verified or 'none'}). Verify it in Entra, or correct the email."
        )
    if (known.authentication_type or "").lower() == "federated":
        return (
            f"The domain {domain} is federated: its accounts come from your identity "
            "provider or on-premises directory. Create the account there."
        )
    return None


def new_account(
    employee: LuccaEmployee, want: dict[str, str | None], email: str, *, enabled: bool
) -> dict[str, object]:
    """What a new account is created with: the owned values, and what Graph requires."""
    properties: dict[str, object] = {
        name: value for name, value in want.items() if name != MANAGER and value is not None
    }
    display_name = (
        want.get("displayName")
        or " ".join(p for p in (employee.given_name, employee.family_name) if p)
        or email
    )
    properties.update(
        accountEnabled=enabled,
        displayName=display_name,
        userPrincipalName=email,
        mail=email,
        mailNickname=mail_nickname(email),
        employeeId=anchor(employee.id),
    )
    return properties


@dataclass(frozen=True, kw_only=True)
class Created:
    """A new account (or the connector's own, found after a lost answer), and its login."""

    user: DirectoryUser
    login: str
    built: str = ""  # how the login was built from the name; empty: the professional email
    restored: bool = False  # this employee's deleted account, restored (deleted_holders.py)


def _name(employee: LuccaEmployee) -> str:
    """First and last name, as the emails show them."""
    return f"{employee.given_name} {employee.family_name}".strip()


class AccountCreator:
    """POSTs new accounts, and raises the notices about accounts (created, not, linked)."""

    def __init__(
        self,
        *,
        directory: Directory,
        links: LinkStore,
        notifier: Notifications,
        join_scope: MatchScope | None = None,
        observe: bool = False,
        clash_is_conflict: bool = False,
        deleted: DeletedHolders,
    ) -> None:
        self.deleted = deleted  # a login held by a deleted account (RESTORE_DELETED_ACCOUNTS)
        self._observe = observe  # plan only: nothing POSTed, no email
        # MATCH_KEY other than `mail`: an account holding the address was not looked for, so
        # a POST meeting it is a conflict for a person, not an account that cannot be made.
        self._clash_is_conflict = clash_is_conflict
        self._directory = directory
        self._links = links
        self._notifier = notifier
        self._join_scope = join_scope  # MATCH_SCOPE_ADD_CREATED: new accounts join it

    def join_scope(self, run: SyncRun, object_id: str) -> str:
        """With MATCH_SCOPE_ADD_CREATED, put the new account in MATCH_SCOPE; the sentence to
        add when that failed (the entry then alerts: an operator adds it by hand)."""
        scope = self._join_scope
        if scope is None:
            return ""
        try:
            self._directory.add_to_scope(scope, object_id)
        except ConnectorError as err:
            run.details[ALERT] = "not added to MATCH_SCOPE"
            return (
                f" It could not be added to MATCH_SCOPE ({scope.describe()}): {err.message}. "
                "Add it by hand."
            )
        run.details["match_scope"] = scope.id
        return ""

    def not_created(self, employee: LuccaEmployee, reason: str, code: str) -> None:
        """The "account not created" email for this employee, with why."""
        self._notifier.not_created(
            employee_id=employee.id,
            name=_name(employee),
            login=employee.email,
            reason=reason,
            code=code,
        )

    def create(
        self,
        run: SyncRun,
        employee: LuccaEmployee,
        want: dict[str, str | None],
        *,
        enabled: bool,
    ) -> Created | LogEntry:
        """The account under the professional email: checked, then POSTed (observing: the
        entry saying it would be); or the entry (and the email) saying why there is none."""
        email = employee.email or ""
        problem = login_problem(email, self._directory)
        if problem is not None:
            entry = run.finish(Action.CREATION_FAILED, problem)
            if not self._observe:
                self.not_created(employee, problem, "login")
            return entry
        properties = new_account(employee, want, email, enabled=enabled)
        run.changes = [Change(attribute=k, old=None, new=str(v)) for k, v in properties.items()]
        if self._observe:
            planned = self.deleted.planned(run, employee, email)
            return planned or run.finish(Action.CREATED, f"Would create the account {email}.")
        self._notifier.creating(employee.id)
        outcome = self.post(run, employee, email, properties)
        if isinstance(outcome, LogEntry):
            self.not_created(employee, outcome.message, "post")
            return outcome
        return Created(user=outcome, login=email, restored=run.restored)

    def post(
        self,
        run: SyncRun,
        employee: LuccaEmployee,
        email: str,
        properties: dict[str, object],
        *,
        next_if_taken: bool = False,
    ) -> DirectoryUser | LogEntry:
        """POST the user: the new account (or this employee's deleted one, restored), or the
        entry saying why there is none; Taken (only with `next_if_taken`, a login built from
        the name) when another object holds it."""
        try:
            return self._directory.create_user(properties, new_password())
        except Conflict as err:
            return self._taken(run, employee, email, err, next_if_taken=next_if_taken)
        except Denied as err:
            return run.finish(
                Action.CREATION_FAILED,
                denied(err, "create", self._directory),
                request_id=err.request_id,
            )
        except Invalid as err:
            return run.finish(
                Action.CREATION_FAILED,
                f"Entra refused to create {email}: {err.message}",
                request_id=err.request_id,
            )

    def _taken(
        self,
        run: SyncRun,
        employee: LuccaEmployee,
        email: str,
        err: Conflict,
        *,
        next_if_taken: bool,
    ) -> DirectoryUser | LogEntry:
        """Graph refused the POST: the login is taken. Read by key who holds it."""
        holder = self._directory.get_user(email)  # by key: no replication delay
        if (
            holder is not None
            and holder.employee_id == anchor(employee.id)
            and self._links.employee_of(holder.id) in (None, employee.id)
        ):
            return holder  # created meanwhile, or a retried POST that had gone through
        if holder is None and "userPrincipalName" in err.message:  # deleted, or not yet
            return self.deleted.after_conflict(
                run, employee, email, err, next_if_taken=next_if_taken
            )
        if next_if_taken:
            raise Taken(email) from err
        if self._clash_is_conflict:
            return run.finish(
                Action.CONFLICT,
                self._clash(email) + _NOT_MATCHED.format(id=employee.id),
                request_id=err.request_id,
            )
        return run.finish(Action.CREATION_FAILED, self._clash(email), request_id=err.request_id)

    def created_notice(
        self, run: SyncRun, employee: LuccaEmployee, user: DirectoryUser, note: str = ""
    ) -> None:
        """ "Account created", with the instant it opens when it was created disabled (and
        `note`: how the login was built from the name, if it was)."""
        opens = None
        if run.access is not None and not run.access.enabled_now:
            opens = next((a for a in run.access.upcoming if a.kind == "enable"), None)
        self._notifier.created(
            employee_id=employee.id,
            name=_name(employee),
            login=user.user_principal_name or employee.email,
            object_id=user.id,
            opens_at=opens.at if opens is not None else None,
            zone=opens.zone if opens is not None else "Europe/Paris",  # shown only with `opens`
            note=note or None,
        )

    def linked_notice(self, employee: LuccaEmployee, user: DirectoryUser, how: str) -> None:
        """ "Linked existing account": found by `how` (mail or userPrincipalName)."""
        self._notifier.linked(
            employee_id=employee.id,
            name=_name(employee),
            login=user.user_principal_name or employee.email,
            object_id=user.id,
            matched_by=how,
        )

    def _clash(self, email: str) -> str:
        """The sentence for a login already taken, naming who holds it."""
        holders = self._directory.find_users("userPrincipalName", email)
        holders = holders or self._directory.find_users("mail", email)
        named = ", ".join(f"{u.graph_value('displayName')} ({u.id})" for u in holders)
        return (
            f"The address {email} is already used by "
            f"{named or 'another object (as one of its addresses, an alias)'}. Change the "
            "professional email in Lucca, or settle which account is this employee's in Entra."
        )
