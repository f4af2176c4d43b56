"""Notices raised into the outbox by the sync and the timer.

Raising (`Notifier`) is a table write in the same run as the change it reports, so the email
is as durable as the change; sending (`NotificationRun`, in `connector/notify/run.py`) happens
later, separately, so a send that fails never undoes or blocks a sync. With no
`NOTIFY_RECIPIENTS`, nothing is raised and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from connector.core.clock import utc_now
from connector.domain.notices import Kind, Notice, fingerprint
from connector.storage.outbox import Outbox

# A creation intent older than this is not trusted to explain an account found by its anchor.
INTENT_TRUSTED_FOR = timedelta(days=1)


class Notifier:
    """Raises notices into the outbox; does nothing when no one is to be notified."""

    def __init__(
        self,
        outbox: Outbox | None,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._outbox = outbox
        self._clock = clock

    @property
    def enabled(self) -> bool:
        """Whether notices are raised at all."""
        return self._outbox is not None

    def _put(self, notice: Notice) -> None:
        if self._outbox is not None:
            self._outbox.put(notice)

    # -- creation ---------------------------------------------------------------------------
    def creating(self, employee_id: str) -> None:
        """Before the POST: remember that this employee's account is being created."""
        if self._outbox is not None:
            self._outbox.intend(employee_id)

    def was_creating(self, employee_id: str) -> bool:
        """Whether the connector set out to create this employee's account lately (and the
        sync stopped before saying so)."""
        if self._outbox is None:
            return False
        since = self._outbox.intended_at(employee_id)
        return since is not None and self._clock() - since <= INTENT_TRUSTED_FOR

    def restored(self, employee_id: str) -> None:
        """The employee's deleted account was restored, not created: the intent is dropped, so
        a sync stopping before the link does not raise "account created" for it later."""
        if self._outbox is not None:
            self._outbox.forget_intent(employee_id)

    def created(
        self,
        *,
        employee_id: str,
        name: str,
        login: str | None,
        object_id: str,
        opens_at: datetime | None,
        zone: str,
        note: str | None = None,
    ) -> None:
        """The account exists: "account created" (once per object), then the intent goes;
        `note`: how its login was built from the name (LOGIN_TEMPLATE), if it was."""
        if self._outbox is None:
            return
        self._put(
            Notice(
                kind=Kind.CREATED,
                employee_id=employee_id,
                name=name,
                raised_at=self._clock(),
                login=login,
                object_id=object_id,
                when=opens_at,
                zone=zone,
                reason=note,
            )
        )
        self._outbox.forget_intent(employee_id)

    def not_created(
        self, *, employee_id: str, name: str, login: str | None, reason: str, code: str
    ) -> None:
        """No account: "account not created", once per address and reason."""
        if self._outbox is None:
            return
        self._put(
            Notice(
                kind=Kind.NOT_CREATED,
                employee_id=employee_id,
                name=name,
                raised_at=self._clock(),
                login=login,
                reason=reason,
                occurrence=fingerprint(login, code, reason),
            )
        )
        self._outbox.forget_intent(employee_id)

    def linked(
        self, *, employee_id: str, name: str, login: str | None, object_id: str, matched_by: str
    ) -> None:
        """An existing account found by `matched_by` (mail or userPrincipalName) was linked:
        "linked existing account", once per account."""
        self._put(
            Notice(
                kind=Kind.LINKED,
                employee_id=employee_id,
                name=name,
                raised_at=self._clock(),
                login=login,
                object_id=object_id,
                matched_by=matched_by,
            )
        )

    # -- leavers ----------------------------------------------------------------------------
    def deactivated(
        self,
        *,
        employee_id: str,
        name: str,
        login: str | None,
        object_id: str,
        at: datetime,
        zone: str,
        sessions: str | None = None,
        already_disabled: bool = False,
    ) -> None:
        """The account was disabled for the departure due at `at`: once per account and
        instant (a rehire who leaves again gets a new email). `sessions` says why the sign-in
        sessions were not revoked (None: they were); `already_disabled`: someone else had
        disabled it, and the connector changed nothing."""
        self._put(
            Notice(
                kind=Kind.DEACTIVATED,
                employee_id=employee_id,
                name=name,
                raised_at=self._clock(),
                login=login,
                object_id=object_id,
                when=at,
                zone=zone,
                reason=sessions,
                occurrence=fingerprint(at.astimezone(UTC).isoformat()),
                already_disabled=already_disabled,
            )
        )

    def deactivation_failed(
        self,
        *,
        employee_id: str,
        name: str,
        login: str | None,
        object_id: str,
        at: datetime,
        zone: str,
        reason: str,
    ) -> None:
        """The disable due at `at` failed for good: once per account and instant."""
        self._put(
            Notice(
                kind=Kind.DEACTIVATION_FAILED,
                employee_id=employee_id,
                name=name,
                raised_at=self._clock(),
                login=login,
                object_id=object_id,
                when=at,
                zone=zone,
                reason=reason,
                occurrence=fingerprint(at.astimezone(UTC).isoformat()),
            )
        )


DISABLED = Notifier(None)
