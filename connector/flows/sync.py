"""The sync: one Lucca employee, read now, becomes exactly the Entra account it should be.

It finds the account (link → anchor → mail → userPrincipalName), links only what is
unambiguous, creates only what is missing, writes only what differs, sets the manager between
linked accounts, and ends every run with one integration log entry an administrator can act
on. In observe mode it plans and logs, and writes nothing to Entra or to the links.
It depends on small protocols (`LuccaReader`, `Directory`), never on an SDK.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from connector.core.clock import utc_now
from connector.core.errors import (
    Conflict,
    ConnectorError,
    Denied,
    Invalid,
    NotFound,
    Permanent,
    Transient,
)
from connector.domain.access import AccessPlanner
from connector.domain.contract_dates import AccessPlan, PlannedAction, local_midnight_utc
from connector.domain.entries import Action, Change, LogEntry
from connector.domain.links import Link
from connector.domain.mapping import (
    MANAGER,
    Attribute,
    LuccaView,
    Need,
    anchor,
    desired,
    needs_of,
)
from connector.domain.messages import ChangeMessage
from connector.notify.notifier import DISABLED, Notifier
from connector.storage.changes import ChangeFeed
from connector.storage.links import Links
from connector.storage.log import IntegrationLog
from connector.storage.schedule import ScheduleStore

if TYPE_CHECKING:
    from connector.entra.directory import DirectoryUser, Domain, FindBy
    from connector.lucca.client import (
        LuccaDepartment,
        LuccaEmployee,
        LuccaEstablishment,
        LuccaLegalEntity,
    )

T = TypeVar("T")

# Graph application permissions, named in entries when Graph answers 403.
WRITE_ROLE = "User.ReadWrite.All"
WRITE_ROLES = frozenset({WRITE_ROLE, "Directory.ReadWrite.All"})  # either one may write users

# What a UPN's user name may hold: https://learn.microsoft.com/entra/identity/authentication/
# concept-sspr-policy#userprincipalname-policies-that-apply-to-all-user-accounts
_UPN_NAME = re.compile(r"^[A-Za-z0-9'._!#^~-]{1,64}$")
_UPN_DOMAIN = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_NICKNAME_DROP = re.compile(r"[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]")
PASSWORD_LENGTH = 40

# Properties Graph will not clear: an empty value from Lucca leaves them as they are.
_NEVER_CLEARED = frozenset({"displayName", "mail", "givenName", "surname", "employeeId"})


class LuccaReader(Protocol):
    """What the sync reads from Lucca."""

    def employee(self, employee_id: str) -> LuccaEmployee:
        """The employee with its applicable employment and job position."""
        ...

    def department(self, department_id: str) -> LuccaDepartment:
        """A department."""
        ...

    def legal_entity(self, legal_entity_id: str) -> LuccaLegalEntity:
        """A legal entity."""
        ...

    def establishment(self, establishment_id: str) -> LuccaEstablishment:
        """A business establishment."""
        ...


class Directory(Protocol):
    """What the sync reads and writes in Entra."""

    def get_user(self, object_id: str) -> DirectoryUser | None:
        """A user by object id, or None."""
        ...

    def find_users(self, prop: FindBy, value: str) -> list[DirectoryUser]:
        """Users whose `prop` equals `value`."""
        ...

    def create_user(self, properties: Mapping[str, object], password: str) -> DirectoryUser:
        """Create a user."""
        ...

    def update_user(self, object_id: str, properties: Mapping[str, object]) -> None:
        """Change some properties of a user."""
        ...

    def manager_id(self, object_id: str) -> str | None:
        """The object id of a user's manager."""
        ...

    def set_manager(self, object_id: str, manager_object_id: str) -> None:
        """Set a user's manager."""
        ...

    def remove_manager(self, object_id: str) -> None:
        """Remove a user's manager."""
        ...

    def domains(self) -> list[Domain]:
        """The tenant's domains."""
        ...

    def granted_roles(self) -> frozenset[str] | None:
        """The application permissions in the token, None when unknown."""
        ...


def graph_value(user: DirectoryUser, prop: str) -> str | None:
    """A user's property by its Graph name (`jobTitle` → `user.job_title`)."""
    value = getattr(user, re.sub(r"(?<!^)(?=[A-Z])", "_", prop).lower())
    return None if value is None else str(value)


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


@dataclass(kw_only=True)
class _Match:
    """How the employee's account was (or was not) found."""

    user: DirectoryUser | None = None
    object_id: str | None = None
    how: str | None = None
    linked: bool = False
    disabled_by_connector: bool = False
    lifecycle: tuple[str | None, str | None] = (None, None)
    conflict: str | None = None
    candidates: list[dict[str, str]] = field(default_factory=list)


class SyncService:
    """Syncs one employee at a time (the caller holds the employee's lease)."""

    def __init__(
        self,
        *,
        lucca: LuccaReader,
        directory: Directory,
        feed: ChangeFeed,
        links: Links,
        log: IntegrationLog,
        attributes: tuple[Attribute, ...],
        planner: AccessPlanner | None = None,
        schedule: ScheduleStore | None = None,
        lifecycle_dates: bool = False,
        sync_upn: bool = False,
        observe: bool = False,
        notifier: Notifier = DISABLED,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._notifier = notifier
        self._planner = planner
        self._schedule = schedule
        self._lifecycle_dates = lifecycle_dates
        self._lucca = lucca
        self._directory = directory
        self._feed = feed
        self._links = links
        self._log = log
        self._attributes = attributes
        self._owned = frozenset(a.name for a in attributes)
        self._needs = needs_of(attributes)
        self._sync_upn = sync_upn
        self._observe = observe
        self._clock = clock

    # -- the run ----------------------------------------------------------------------------
    def sync(
        self,
        employee_id: str,
        event_keys: Sequence[str] = (),
        *,
        employee: LuccaEmployee | None = None,
    ) -> LogEntry:
        """Bring the employee's Entra account in step with Lucca; return the log entry.

        `employee` is the employee as just read from Lucca's list (a reconciliation), instead
        of one more request. A permanent failure ends in a "failed" entry (retrying cannot
        help); a transient one is raised for the queue to retry, after an entry for whatever
        was already written."""
        run = _Run(
            log=self._log,
            clock=self._clock,
            observed=self._observe,
            employee_id=employee_id,
            event_keys=tuple(event_keys),
        )
        try:
            return self._sync(run, employee_id, employee)
        except Permanent as err:
            return run.finish(Action.FAILED, self._explain(err), request_id=err.request_id)
        except Exception as err:
            if run.wrote is not None:
                reason = err.message if isinstance(err, ConnectorError) else type(err).__name__
                run.finish(
                    run.wrote,
                    f"{run.summary()} Then the sync stopped ({reason}); the rest is retried.",
                )
            raise

    def _sync(self, run: _Run, employee_id: str, employee: LuccaEmployee | None) -> LogEntry:
        if employee is None:
            try:
                employee = self._lucca.employee(employee_id)
            except NotFound:
                action, message, object_id = self._not_in_lucca(employee_id)
                return run.finish(action, message, object_id=object_id)
        if employee.email is not None:  # " a@b.fr " in Lucca is a@b.fr everywhere
            employee = employee.model_copy(update={"email": employee.email.strip() or None})
        self._remember_resources(employee)
        view = self._view(run, employee)
        want = desired(view, self._attributes)
        match = self._find(employee)
        if match.conflict is not None:
            entry = run.finish(
                Action.CONFLICT,
                match.conflict,
                object_id=match.user.id if match.user else match.object_id,
                details={"candidates": match.candidates},
            )
            if match.candidates and employee.status != "deactivated" and not self._observe:
                # Accounts were found, none could be linked: no account, say why.
                self._not_created(employee, match.conflict, "conflict")
            return entry
        if self._planner is not None:
            run.access = self._planner.plan(employee, self._clock())
        if match.user is None:
            return self._create(run, employee, want)
        user = match.user
        run.details["matched_by"] = match.how
        run.disabled_by_connector = match.disabled_by_connector
        run.lifecycle = match.lifecycle
        if not match.linked:
            run.linked_by = match.how or "match"
            if not self._observe:
                if user.employee_id == anchor(employee_id) and self._notifier.was_creating(
                    employee_id
                ):
                    # The connector's own POST went through and the sync stopped before it
                    # said so: say it now (the outbox keeps it to one email).
                    self._created_notice(run, employee, user)
                self._links.link(employee_id, user.id, how=run.linked_by, at=self._clock())
                run.wrote = Action.LINKED
                run.note = f"Linked to {user.user_principal_name} (matched by {run.linked_by})."
        return self._update(run, employee, user, want)

    # -- reading ----------------------------------------------------------------------------
    def _remember_resources(self, employee: LuccaEmployee) -> None:
        """Record the employee's employment and job position, for *.deleted events later."""
        if employee.employment is not None:
            self._feed.remember_resource("employment", employee.employment.id, employee.id)
        if employee.job_position is not None:
            self._feed.remember_resource("job-position", employee.job_position.id, employee.id)

    @staticmethod
    def _optional(run: _Run, read: Callable[[str], T], resource_id: str) -> T | None:
        """A related resource the API client may not see: its attributes stay empty."""
        try:
            return read(resource_id)
        except NotFound:
            run.details.setdefault("not_visible_in_lucca", []).append(resource_id)
            return None

    def _view(self, run: _Run, employee: LuccaEmployee) -> LuccaView:
        position = employee.job_position
        employment = employee.employment
        department = legal_entity = establishment = None
        if Need.DEPARTMENT in self._needs and position and position.department_id:
            department = self._optional(run, self._lucca.department, position.department_id)
        if Need.LEGAL_ENTITY in self._needs and employment and employment.legal_entity_id:
            legal_entity = self._optional(run, self._lucca.legal_entity, employment.legal_entity_id)
        if Need.ESTABLISHMENT in self._needs and position and position.establishment_id:
            establishment = self._optional(
                run, self._lucca.establishment, position.establishment_id
            )
        return LuccaView(
            employee=employee,
            department=department,
            legal_entity=legal_entity,
            establishment=establishment,
        )

    def _not_in_lucca(self, employee_id: str) -> tuple[Action, str, str | None]:
        link = self._links.of_employee(employee_id)
        if link is None:
            return Action.SKIPPED, f"Lucca has no employee {employee_id}: nothing to do.", None
        return (
            Action.NOT_IN_LUCCA,
            f"Lucca no longer shows employee {employee_id} (deleted, or outside the "
            "establishments the API client may see). Nothing was changed in Entra: decide "
            f"whether account {link.object_id} should stay enabled.",
            link.object_id,
        )

    # -- finding ----------------------------------------------------------------------------
    def _find(self, employee: LuccaEmployee) -> _Match:
        link = self._links.of_employee(employee.id)
        if link is not None:
            return self._linked(link)
        mark = anchor(employee.id)
        anchored = self._directory.find_users("employeeId", mark)
        if anchored:
            return self._judge(employee.id, anchored, how="employeeId")
        if employee.email:
            for prop in ("mail", "userPrincipalName"):
                found = self._directory.find_users(prop, employee.email)
                if found:
                    return self._judge(employee.id, found, how=prop)
        return _Match()

    def _linked(self, link: Link) -> _Match:
        user = self._directory.get_user(link.object_id)
        if user is None:
            return _Match(
                object_id=link.object_id,
                conflict=(
                    f"The linked account {link.object_id} no longer exists in Entra. Restore "
                    "it from Deleted users (it keeps its link), or remove the link for the "
                    "connector to create a new account."
                ),
            )
        return _Match(
            user=user,
            how="link",
            linked=True,
            disabled_by_connector=link.disabled_by_connector,
            lifecycle=link.lifecycle,
        )

    def _judge(self, employee_id: str, found: list[DirectoryUser], *, how: str) -> _Match:
        """Link a single clean candidate; anything else is a conflict for a human."""
        mark = anchor(employee_id)
        candidates = []
        for user in found:
            reasons = self._disqualifiers(employee_id, user, by_anchor=how == "employeeId")
            candidates.append(
                {
                    "id": user.id,
                    "userPrincipalName": user.user_principal_name or "",
                    "reasons": "; ".join(reasons),
                }
            )
        if len(found) == 1 and not candidates[0]["reasons"]:
            return _Match(user=found[0], how=how)
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
        return _Match(
            conflict=f"{summary}: {described}. Nothing was changed; resolve it in Entra.",
            candidates=candidates,
        )

    def _disqualifiers(
        self, employee_id: str, user: DirectoryUser, *, by_anchor: bool
    ) -> list[str]:
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
        return reasons

    # -- creating ---------------------------------------------------------------------------
    def _not_created(self, employee: LuccaEmployee, reason: str, code: str) -> None:
        """The "account not created" email for this employee, with why."""
        self._notifier.not_created(
            employee_id=employee.id,
            name=_name(employee),
            login=employee.email,
            reason=reason,
            code=code,
        )

    def _create(self, run: _Run, employee: LuccaEmployee, want: dict[str, str | None]) -> LogEntry:
        if employee.status == "deactivated":
            return run.finish(
                Action.SKIPPED,
                f"Employee {employee.id} is deactivated in Lucca: no account is created.",
            )
        email = employee.email or ""
        problem = self._login_problem(email)
        if problem is not None:
            entry = run.finish(Action.CREATION_FAILED, problem)
            if not self._observe:
                self._not_created(employee, problem, "login")
            return entry
        enabled = run.access.enabled_now if run.access is not None else True
        properties = _new_account(employee, want, email, enabled=enabled)
        run.changes = [Change(attribute=k, old=None, new=str(v)) for k, v in properties.items()]
        if self._observe:
            return run.finish(Action.CREATED, f"Would create the account {email}.")
        self._notifier.creating(employee.id)
        outcome = self._post(run, employee, email, properties)
        if isinstance(outcome, LogEntry):
            self._not_created(employee, outcome.message, "post")
            return outcome
        run.object_id = outcome.id
        run.wrote = Action.CREATED
        run.note = f"Created {email}."
        # The notice before the link: a sync stopping in between finds the account by its
        # anchor and the creation intent, and raises the notice then.
        self._created_notice(run, employee, outcome)
        self._links.link(employee.id, outcome.id, how="created", at=self._clock())
        if not enabled:
            self._links.set_disabled_by_connector(employee.id, True)
        self._set_manager(run, employee, outcome, want, current=None)
        self._requeue_pending_reports(employee.id)
        self._write_lifecycle(run, employee, outcome.id)
        self._keep_schedule(run, employee.id, account_enabled=enabled)
        closed = "" if enabled else " It stays disabled until the first day (scheduled)."
        return run.finish(
            Action.CREATED,
            f"Created {email}; the password is random and must be changed at first sign-in."
            + closed,
        )

    def _post(
        self, run: _Run, employee: LuccaEmployee, email: str, properties: dict[str, object]
    ) -> DirectoryUser | LogEntry:
        """POST the user: the new account, or the entry saying why there is none."""
        try:
            return self._directory.create_user(properties, new_password())
        except Conflict as err:
            holder = self._directory.get_user(email)  # by key: no replication delay
            if (
                holder is not None
                and holder.employee_id == anchor(employee.id)
                and self._links.employee_of(holder.id) in (None, employee.id)
            ):
                return holder  # created meanwhile, or a retried POST that had gone through
            if holder is None and "userPrincipalName" in err.message:
                raise Transient(
                    f"Graph says the login {email} is taken but shows no account with it yet",
                    service="graph",
                    request_id=err.request_id,
                ) from err
            return run.finish(Action.CREATION_FAILED, self._clash(email), request_id=err.request_id)
        except Denied as err:
            return run.finish(
                Action.CREATION_FAILED, self._denied(err, "create"), request_id=err.request_id
            )
        except Invalid as err:
            return run.finish(
                Action.CREATION_FAILED,
                f"Entra refused to create {email}: {err.message}",
                request_id=err.request_id,
            )

    def _created_notice(self, run: _Run, employee: LuccaEmployee, user: DirectoryUser) -> None:
        """ "Account created", with the instant it opens when it was created disabled."""
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
        )

    def _clash(self, email: str) -> str:
        """The sentence for a login already taken, naming who holds it."""
        holders = self._directory.find_users("userPrincipalName", email)
        holders = holders or self._directory.find_users("mail", email)
        named = ", ".join(f"{u.display_name} ({u.id})" for u in holders)
        return (
            f"The address {email} is already used by "
            f"{named or 'another object (as one of its addresses, an alias)'}. Change the "
            "professional email in Lucca, or settle which account is this employee's in Entra."
        )

    def _login_problem(self, email: str | None) -> str | None:
        """Why `email` cannot be the login of a new account, in plain words; None if it can."""
        if not email:
            return "The employee has no professional email in Lucca: an account needs one."
        name, _, domain = email.partition("@")
        if not _UPN_NAME.match(name) or not _UPN_DOMAIN.match(domain) or ".." in name:
            return (
                f"The professional email {email} cannot be a sign-in name: it may hold only "
                "unaccented letters, digits and ' . - _ ! # ^ ~ before the @."
            )
        domains = {d.id.lower(): d for d in self._directory.domains()}
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

    # -- updating ---------------------------------------------------------------------------
    def _update(
        self,
        run: _Run,
        employee: LuccaEmployee,
        user: DirectoryUser,
        want: dict[str, str | None],
    ) -> LogEntry:
        run.object_id = user.id
        changes = _differences(user, want)
        run.changes.extend(changes)
        patch: dict[str, object] = {c.attribute: c.new for c in changes}
        failures: list[str] = []
        if patch and not self._observe:
            try:
                self._directory.update_user(user.id, patch)
                run.wrote = run.wrote or Action.UPDATED
            except Denied as err:
                return run.finish(
                    Action.FAILED, self._denied(err, "update"), request_id=err.request_id
                )
            except Invalid as err:
                return run.finish(
                    Action.FAILED,
                    f"Entra refused the update of {user.user_principal_name}: {err.message}",
                    request_id=err.request_id,
                )
        self._identity_changes(run, employee, user, want, failures)
        self._set_manager(run, employee, user, want)
        enabled = self._open_if_due(run, employee, user)
        self._write_lifecycle(run, employee, user.id)
        if not self._observe:
            self._requeue_pending_reports(employee.id)
        self._keep_schedule(run, employee.id, account_enabled=enabled)
        if failures:
            return run.finish(Action.CONFLICT, " ".join(failures))
        if run.linked_by is not None:
            return run.finish(
                Action.LINKED,
                f"Linked to the existing account {user.user_principal_name} "
                f"(matched by {run.linked_by}).",
            )
        if run.changes:
            return run.finish(Action.UPDATED, f"Updated {user.user_principal_name}.")
        return run.finish(Action.UNCHANGED, "Already in step with Lucca.")

    def _identity_changes(
        self,
        run: _Run,
        employee: LuccaEmployee,
        user: DirectoryUser,
        want: dict[str, str | None],
        failures: list[str],
    ) -> None:
        """mail, then (with SYNC_UPN) the login, each in its own PATCH; a clash is reported."""
        email = want.get("mail") if "mail" in self._owned else None
        steps: list[tuple[Literal["mail", "userPrincipalName"], str | None]] = [("mail", email)]
        if self._sync_upn and employee.email:
            steps.append(("userPrincipalName", employee.email))
        for prop, new in steps:
            old = graph_value(user, prop)
            if new is None or (old or "").lower() == new.lower():
                continue
            if prop == "userPrincipalName":
                problem = self._login_problem(new)
                if problem is not None:
                    failures.append(f"The login was not renamed: {problem}")
                    continue
            run.changes.append(Change(attribute=prop, old=old, new=new))
            if self._observe:
                continue
            try:
                self._directory.update_user(user.id, {prop: new})
                run.wrote = run.wrote or Action.UPDATED
            except (Conflict, Invalid, Denied) as err:
                run.changes.pop()
                holder = ", ".join(
                    u.user_principal_name or u.id
                    for u in self._directory.find_users(prop, new)
                    if u.id != user.id
                )
                failures.append(
                    f"{prop} was left as {old!r}: Entra refused {new!r} ({err.message})"
                    + (f"; it is held by {holder}" if holder else "")
                    + ". The other attributes were applied."
                )

    # -- start and end dates -----------------------------------------------------------------
    def _open_if_due(self, run: _Run, employee: LuccaEmployee, user: DirectoryUser) -> bool:
        """An employment that has started opens an account the connector had closed; one
        closed by someone else stays closed. Returns whether the account is enabled now."""
        enabled = user.account_enabled is not False
        if enabled and run.disabled_by_connector and not self._observe:
            # Someone enabled it since the connector closed it: from now on it is theirs.
            self._links.set_disabled_by_connector(employee.id, False)
            run.disabled_by_connector = False
        access = run.access
        if access is None or enabled or not access.enabled_now:
            return enabled
        if not run.disabled_by_connector:
            run.details["disabled_by_someone_else"] = True
            return False
        run.changes.append(Change(attribute="accountEnabled", old="False", new="True"))
        if self._observe:
            return True
        self._directory.update_user(user.id, {"accountEnabled": True})
        self._links.set_disabled_by_connector(employee.id, False)
        run.wrote = run.wrote or Action.UPDATED
        return True

    def _write_lifecycle(self, run: _Run, employee: LuccaEmployee, object_id: str) -> None:
        """With LIFECYCLE_DATES: employeeHireDate (the current employment's first day) and
        employeeLeaveDateTime (the planned disable), for Entra Lifecycle Workflows; written
        when they differ from what was last written (Graph's values are not read: that needs
        a permission more)."""
        access = run.access
        if not self._lifecycle_dates or access is None or self._planner is None:
            return
        start = employee.employment.start if employee.employment else None
        zone = self._planner.zone_of(employee)
        hire = _graph_instant(local_midnight_utc(start, zone)) if start else None
        disables = [a.at for a in access.upcoming if a.kind == "disable"]
        if not disables and access.last is not None and access.last.kind == "disable":
            disables = [access.last.at]
        leave = _graph_instant(disables[0]) if disables else None
        if (hire, leave) == run.lifecycle:
            return
        run.changes.append(Change(attribute="employeeHireDate", old=run.lifecycle[0], new=hire))
        run.changes.append(
            Change(attribute="employeeLeaveDateTime", old=run.lifecycle[1], new=leave)
        )
        if self._observe:
            return
        self._directory.update_user(
            object_id, {"employeeHireDate": hire, "employeeLeaveDateTime": leave}
        )
        self._links.set_lifecycle(employee.id, hire, leave)
        run.wrote = run.wrote or Action.UPDATED

    def _keep_schedule(self, run: _Run, employee_id: str, *, account_enabled: bool) -> None:
        """Store the upcoming enables and disables (and a disable already due, for the
        timer and its safety rails); each change of the schedule is an entry of its own."""
        access = run.access
        if access is None or self._schedule is None:
            return
        actions = actions_to_keep(access, account_enabled=account_enabled)
        if self._observe:
            run.details["schedule"] = [a.describe() for a in actions]
            return
        for change in self._schedule.replace(employee_id, actions):
            self._log.write(
                LogEntry(
                    time=self._clock(),
                    action=Action.SCHEDULED,
                    employee_id=employee_id,
                    object_id=run.object_id,
                    event_keys=run.event_keys,
                    message=change.describe(),
                )
            )

    # -- manager ----------------------------------------------------------------------------
    def _set_manager(
        self,
        run: _Run,
        employee: LuccaEmployee,
        user: DirectoryUser,
        want: dict[str, str | None],
        **known: str | None,
    ) -> None:
        """Lucca's manager, between linked accounts; `current=` when already known."""
        if MANAGER not in self._owned:
            return
        manager_id = want.get(MANAGER)
        if "current" in known:
            current = known["current"]
        elif user.manager_known:
            current = user.manager_id
        else:
            current = self._directory.manager_id(user.id)
        manager_link = self._links.of_employee(manager_id) if manager_id else None
        if manager_id is not None and manager_link is None:
            run.details["pending_manager"] = manager_id
            if not self._observe:
                self._links.set_pending_manager(employee.id, manager_id)
                # The manager may have been linked while this ran: look once more.
                manager_link = self._links.of_employee(manager_id)
            if manager_link is None:
                return
            run.details.pop("pending_manager")
        target = manager_link.object_id if manager_link else None
        if current != target:
            run.changes.append(Change(attribute=MANAGER, old=current, new=target))
            if not self._observe:
                if target is None:
                    self._directory.remove_manager(user.id)
                else:
                    self._directory.set_manager(user.id, target)
                run.wrote = run.wrote or Action.UPDATED
        if not self._observe:
            self._links.set_pending_manager(employee.id, None)

    def _requeue_pending_reports(self, manager_id: str) -> None:
        """Reports waiting for this (linked) employee as manager: each gets a sync of its own,
        under its own lease, which sets the manager."""
        for report_id in self._links.pending_reports(manager_id):
            self._feed.enqueue(
                ChangeMessage(
                    employee_id=report_id,
                    event_key=f"manager-linked-{manager_id}",
                    topic="manager-linked",
                    queued_at=self._clock(),
                ),
                0,
            )

    # -- explaining -------------------------------------------------------------------------
    def _explain(self, err: Permanent) -> str:
        """The sentence for a permanent failure, with what to do."""
        if isinstance(err, Denied) and err.service == "graph":
            return self._denied(err, "change")
        return f"{err.service.capitalize()} refused: {err.message}"

    def _denied(self, err: Permanent, doing: str) -> str:
        """Graph's 403, explained from the roles in the connector's own token."""
        roles = self._directory.granted_roles()
        if roles is not None and not roles & WRITE_ROLES:
            return (
                f"Entra refused to {doing} the account: the connector's identity lacks the "
                f"Microsoft Graph permission {WRITE_ROLE}. Grant it and give admin consent."
            )
        if roles is not None and doing == "create":
            return (
                f"Entra refused to create the account although the connector holds {WRITE_ROLE}: "
                f"{err.message}"
            )
        if roles is not None:
            return (
                f"Entra refused to {doing} the account although the connector holds "
                f"{WRITE_ROLE}: the account holds a privileged administrator role the "
                "connector may not change. Change it by hand, or remove the role."
            )
        return (
            f"Entra refused to {doing} the account (Authorization_RequestDenied): either the "
            f"connector's identity lacks {WRITE_ROLE} (grant it and give admin consent), or the "
            "account holds a privileged administrator role the connector may not change."
        )


def actions_to_keep(access: AccessPlan, *, account_enabled: bool) -> list[PlannedAction]:
    """The actions the schedule keeps for an employee: the upcoming ones, and a disable
    already due while the account is still enabled (the next timer run disables it)."""
    actions = list(access.upcoming)
    if access.last is not None and access.last.kind == "disable" and account_enabled:
        actions.insert(0, access.last)
    return actions


def _name(employee: LuccaEmployee) -> str:
    """First and last name, as the emails show them."""
    return f"{employee.given_name} {employee.family_name}".strip()


def _graph_instant(moment: datetime) -> str:
    """A DateTimeOffset as Graph writes it back: `2026-10-24T22:00:00Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_account(
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


def _differences(user: DirectoryUser, want: dict[str, str | None]) -> list[Change]:
    """The owned attributes that differ (mail and manager have their own steps)."""
    changes = []
    for name, new in want.items():
        if name in (MANAGER, "mail"):
            continue
        old = graph_value(user, name)
        if name == "employeeId" and old is not None:
            continue  # the anchor goes only into an empty value, never over another
        if new is None and name in _NEVER_CLEARED:
            continue
        if old != new:
            changes.append(Change(attribute=name, old=old, new=new))
    return changes


class _Run:
    """What one sync has found and done so far, turned into its log entry at the end."""

    def __init__(
        self,
        *,
        log: IntegrationLog,
        clock: Callable[[], datetime],
        observed: bool,
        employee_id: str,
        event_keys: tuple[str, ...],
    ) -> None:
        self._log = log
        self._clock = clock
        self._observed = observed
        self.employee_id = employee_id
        self.event_keys = event_keys
        self.object_id: str | None = None
        self.linked_by: str | None = None
        self.changes: list[Change] = []
        self.details: dict[str, Any] = {}
        self.wrote: Action | None = None  # what was already written to Entra or the links
        self.note = ""
        self.access: AccessPlan | None = None
        self.disabled_by_connector = False
        self.lifecycle: tuple[str | None, str | None] = (None, None)

    def summary(self) -> str:
        """What was already done, for an entry written when the run stops half-way."""
        changed = "; ".join(str(c) for c in self.changes)
        return f"{self.note} {changed}".strip()

    def finish(
        self,
        action: Action,
        message: str,
        *,
        object_id: str | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> LogEntry:
        """Write the run's integration log entry and return it."""
        entry = LogEntry(
            time=self._clock(),
            action=action,
            message=("Observe mode, nothing written: " + message) if self._observed else message,
            employee_id=self.employee_id,
            object_id=object_id or self.object_id,
            changes=tuple(self.changes),
            event_keys=self.event_keys,
            request_id=request_id,
            observed=self._observed,
            details={**self.details, **(details or {})},
        )
        self._log.write(entry)
        return entry
