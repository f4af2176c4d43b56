"""The login of an employee with no professional email: built from the name, then made unique.

LOGIN_TEMPLATE builds the login (`connector.domain.logins`, the way Entra's `NormalizeDiacritics`
and `StripSpaces` do); the unique value is chosen the way Entra's `SelectUniqueValue` does:
jean.dupont, then jean.dupont2, jean.dupont3 … A candidate an account already holds (as login,
mail or `smtp:` alias) is skipped. The POST that creates the account is the arbiter, atomically
with the create: two workers may pick the same free candidate in the same second, Graph takes
one and refuses the other with ObjectConflict. The refusal is read by key (no replication
delay): the holder carries this employee's anchor → the account an earlier POST created (its
answer was lost): that one, never a second; another account holds it → the next candidate;
a deleted account holds it (Entra's recycle bin, `deleted_holders`): this employee's → restored
(RESTORE_DELETED_ACCOUNTS) or a conflict, someone else's → the next candidate; Graph says the
login is taken but shows nobody at all → a brief Transient, then a conflict.
A login is chosen once, at creation: the connector never renames it afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from connector.domain.entries import Action, Change, LogEntry
from connector.domain.logins import MAX_CANDIDATES, LoginTemplate, NoLogin
from connector.domain.mapping import anchor
from connector.flows.creation import Created, login_problem, new_account
from connector.flows.deleted_holders import Taken

if TYPE_CHECKING:
    from connector.domain.ports import Directory, LinkStore, Notifications
    from connector.entra.users import DirectoryUser
    from connector.flows.creation import AccountCreator
    from connector.flows.sync_run import SyncRun
    from connector.lucca.models import LuccaEmployee

NUMBER = "login_number"  # the entry's detail: which number was added (1: none)


@dataclass(frozen=True, kw_only=True)
class LoginRule:
    """LOGIN_TEMPLATE, and LOGIN_SETS_MAIL: whether `mail` is that login too."""

    template: LoginTemplate
    sets_mail: bool = True


def built(rule: LoginRule, base: str, number: int) -> str:
    """How the login was built, for the entry and the "account created" email."""
    said = f"login built from the name by LOGIN_TEMPLATE {rule.template.text}"
    if number > 1:
        said += f", with {number} added: {base}"
        said += " was taken" if number == 2 else f" up to number {number - 1} were taken"
    return said


class LoginChooser:
    """Creates the account of an employee without a professional email, under a unique login."""

    def __init__(
        self,
        rule: LoginRule,
        directory: Directory,
        links: LinkStore,
        notifier: Notifications,
        creator: AccountCreator,
        *,
        observe: bool,
    ) -> None:
        self._rule = rule
        self._directory = directory
        self._links = links
        self._notifier = notifier
        self._creator = creator
        self._observe = observe

    def login(self, employee: LuccaEmployee) -> str:
        """The login the template gives the employee, before any number; NoLogin if none."""
        return self._rule.template.login(
            first_name=employee.given_name,
            last_name=employee.family_name,
            employee_number=employee.employee_number,
            id=employee.id,
        )

    def how_built(self, employee: LuccaEmployee, user: DirectoryUser) -> str:
        """How the account's login was built from the name, if it is one of the employee's
        candidates (an account whose creation answer was lost); empty otherwise."""
        if employee.email:
            return ""
        try:
            base = self.login(employee)
        except NoLogin:
            return ""
        login = (user.user_principal_name or "").lower()
        for number in range(1, MAX_CANDIDATES + 1):
            if LoginTemplate.candidate(base, number) == login:
                return built(self._rule, base, number)
        return ""

    def create(
        self, run: SyncRun, employee: LuccaEmployee, want: dict[str, str | None], *, enabled: bool
    ) -> Created | LogEntry:
        """The new account (or this employee's own, created by an earlier attempt); or the
        entry, and the "not created" email, saying why there is none. Observing: the entry
        saying which login the account would get."""
        try:
            base = self.login(employee)
            problem = login_problem(base, self._directory)
        except NoLogin as err:
            problem = str(err)
        if problem is not None:
            return self._not_created(run, employee, problem, "login")
        number = 1
        while number <= MAX_CANDIDATES:
            candidate = LoginTemplate.candidate(base, number)
            holders = self._directory.address_holders(candidate)
            own = next((u for u in holders if self._own(u, employee)), None)
            if own is not None:  # an earlier attempt created it and its answer was lost
                return self._chosen(run, own, candidate, base, number)
            if holders:
                number += 1
                continue
            properties = new_account(employee, want, candidate, enabled=enabled)
            if not self._rule.sets_mail:
                del properties["mail"]  # Exchange Online sets it with the mailbox
            run.changes = [Change(attribute=k, old=None, new=str(v)) for k, v in properties.items()]
            run.details[NUMBER] = number
            if self._observe:
                planned = self._plan(run, employee, candidate, built(self._rule, base, number))
                if planned is not None:
                    return planned
                number += 1  # someone else's deleted account holds it
                continue
            self._notifier.creating(employee.id)
            try:
                outcome = self._creator.post(
                    run, employee, candidate, properties, next_if_taken=True
                )
            except Taken:  # another object holds it (taken meanwhile, or an alias): Graph's word
                number += 1
                continue
            if isinstance(outcome, LogEntry):
                self._creator.not_created(employee, outcome.message, "post")
                return outcome
            return self._chosen(run, outcome, candidate, base, number)
        last = LoginTemplate.candidate(base, MAX_CANDIDATES)
        return self._not_created(
            run,
            employee,
            f"Every login LOGIN_TEMPLATE builds from the name is taken, {base} to {last}. "
            "Enter a professional email in Lucca, or create the account by hand.",
            "taken",
        )

    def _plan(
        self, run: SyncRun, employee: LuccaEmployee, candidate: str, said: str
    ) -> LogEntry | None:
        """Observing: the entry for a free candidate (created, or this employee's deleted
        account restored); None when someone else's deleted account holds it (the next)."""
        deleted = self._directory.deleted_holders(candidate)
        if deleted and self._creator.deleted.own_holder(employee, deleted) is None:
            return None
        planned = self._creator.deleted.planned(run, employee, candidate) if deleted else None
        return planned or run.finish(
            Action.CREATED, f"Would create the account {candidate} ({said})."
        )

    def _own(self, user: DirectoryUser, employee: LuccaEmployee) -> bool:
        """Whether the account is this employee's (its anchor, linked to nobody else)."""
        return user.employee_id == anchor(employee.id) and self._links.employee_of(user.id) in (
            None,
            employee.id,
        )

    def _chosen(
        self, run: SyncRun, user: DirectoryUser, candidate: str, base: str, number: int
    ) -> Created:
        run.details[NUMBER] = number
        login = user.user_principal_name or candidate
        said = built(self._rule, base, number)
        return Created(user=user, login=login, built=said, restored=run.restored)

    def _not_created(
        self, run: SyncRun, employee: LuccaEmployee, reason: str, code: str
    ) -> LogEntry:
        entry = run.finish(Action.CREATION_FAILED, reason)
        if not self._observe:
            self._creator.not_created(employee, reason, code)
        return entry


def login_chooser(
    rule: LoginRule | None,
    directory: Directory,
    links: LinkStore,
    notifier: Notifications,
    creator: AccountCreator,
    *,
    observe: bool,
) -> LoginChooser | None:
    """The chooser for LOGIN_TEMPLATE; None when it is not set."""
    if rule is None:
        return None
    return LoginChooser(rule, directory, links, notifier, creator, observe=observe)
