"""What a notification email says, before it is rendered: one `Notice` per event worth an email.

A notice holds ids, names and sentences the integration log already holds: never a password
or a secret. Its `key` (employee + kind + Entra object or what tells two occurrences apart) is
what makes the outbox send it exactly once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Kind(StrEnum):
    """The four emails of Lucca's connector, "linked existing account", and the two digests."""

    CREATED = "account-created"
    NOT_CREATED = "account-not-created"
    LINKED = "linked-existing-account"  # found by mail or login: an operator checks the link
    DEACTIVATED = "account-deactivated"
    DEACTIVATION_FAILED = "deactivation-failed"
    DIGEST = "digest"  # more waiting than the sending rate allows within the hour
    DAILY = "daily"  # tomorrow's starts and leavers, held runs, open conflicts


EMPLOYEE_KINDS = (
    Kind.CREATED,
    Kind.NOT_CREATED,
    Kind.LINKED,
    Kind.DEACTIVATED,
    Kind.DEACTIVATION_FAILED,
)


def fingerprint(*parts: str | None) -> str:
    """A short stable digest of what tells two occurrences of one kind apart."""
    text = "\x1f".join(part or "" for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, kw_only=True)
class Notice:
    """One email about one employee, as the outbox stores it."""

    kind: Kind
    employee_id: str
    name: str  # first and last name, as Lucca has them (escaped when rendered in HTML)
    raised_at: datetime  # when the connector decided to send it (UTC)
    login: str | None = None  # the account's userPrincipalName, or the address it would have
    object_id: str | None = None  # the Entra object, when there is one
    # Plain words: why it was not created, why disabling failed, (deactivated) why the
    # sign-in sessions were not revoked, or (created) how the login was built from the name.
    reason: str | None = None
    when: datetime | None = None  # the instant the account was (to be) disabled (UTC)
    zone: str = "Europe/Paris"  # the time zone `when` is shown in
    occurrence: str = ""  # what tells two notices of one kind for one object apart
    matched_by: str | None = None  # (linked) how the account was found: mail, userPrincipalName
    # (deactivated) someone had disabled the account already: the connector changed nothing
    already_disabled: bool = False

    @property
    def key(self) -> str:
        """employee + kind + Entra object (+ occurrence): equal keys are one email."""
        return "|".join(
            (self.employee_id, self.kind.value, self.object_id or "-", self.occurrence or "-")
        )


@dataclass(frozen=True, kw_only=True)
class DailyItem:
    """One line of the daily digest."""

    employee_id: str
    name: str
    what: str  # a sentence, e.g. "starts on 2026-11-27: account enabled at 00:00"
    object_id: str | None = None
    login: str | None = None  # the account's userPrincipalName, or the address it would have


@dataclass(frozen=True)
class Who:
    """Who an employee is, for the emails: the name as Lucca has it and the login (the
    account's userPrincipalName, or the professional email it would have), kept with what
    the daily digest lists so that its sending timer never reads Lucca."""

    name: str
    login: str | None


@dataclass(frozen=True, kw_only=True)
class DailyDigest:
    """Tomorrow's starts and leavers, held runs and open conflicts, for one local day."""

    day: str  # the local day the digest is about (tomorrow), YYYY-MM-DD
    zone: str
    raised_at: datetime
    starts: tuple[DailyItem, ...] = ()
    leavers: tuple[DailyItem, ...] = ()
    held_runs: tuple[str, ...] = ()  # the "run held" sentences
    held_people: tuple[DailyItem, ...] = ()  # the employees those runs hold, named
    conflicts: tuple[DailyItem, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing to tell."""
        return not (self.starts or self.leavers or self.held_runs or self.conflicts)


@dataclass(frozen=True)
class Links:
    """Where the emails point: Lucca's employee file and the Entra admin center."""

    lucca_base: str  # e.g. https://acme.ilucca.net
    employee_template: str = "{base}/directory/user/{id}"
    entra: str = "https://entra.microsoft.com"

    def lucca_file(self, employee_id: str) -> str:
        """The employee's file in Lucca (`LUCCA_EMPLOYEE_URL_TEMPLATE`)."""
        return self.employee_template.format(base=self.lucca_base.rstrip("/"), id=employee_id)

    def entra_user(self, object_id: str) -> str:
        """The user's page in the Entra admin center ("Reset password" is on it)."""
        return (
            f"{self.entra}/#view/Microsoft_AAD_UsersAndTenants/UserProfileMenuBlade"
            f"/~/overview/userId/{object_id}"
        )

    def entra_users(self) -> str:
        """The "All users" list of the Entra admin center, where an account is found by name."""
        return (
            f"{self.entra}/#view/Microsoft_AAD_UsersAndTenants/UserManagementMenuBlade/~/AllUsers"
        )

    def entra_new_user(self) -> str:
        """The "Create new user" page of the Entra admin center."""
        return f"{self.entra}/#view/Microsoft_AAD_UsersAndTenants/CreateUser.ReactView"
