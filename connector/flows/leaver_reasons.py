"""Why a due enable or disable failed for good, in plain words with what to do (for the
timer's entries and the "deactivation failed" email), and who the account is for that email."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from connector.core.errors import ConnectorError, Denied, Permanent
from connector.domain.ports import Accounts
from connector.entra.scope import ROLES_DENIED

if TYPE_CHECKING:
    from connector.entra.users import DirectoryUser

# Graph application permissions that may enable and disable accounts, least privileged first.
ENABLE_DISABLE_ROLE = "User.EnableDisableAccount.All"
ENABLE_DISABLE_ROLES = frozenset(
    {ENABLE_DISABLE_ROLE, "User.ReadWrite.All", "Directory.ReadWrite.All"}
)
ROLE_HELD = "DirectoryRoleHeld"  # the code of the failure when the account is an administrator


def explain(err: Permanent, kind: str, directory: Accounts) -> str:
    """A permanent failure's sentence, with what to do; Graph's 403 read from the roles in
    the connector's own token."""
    if err.code in (ROLE_HELD, ROLES_DENIED):
        return err.message
    if not (isinstance(err, Denied) and err.service == "graph"):
        return f"{err.service.capitalize()} refused: {err.message}."
    if err.code == "AuthenticationFailed":
        return f"{err.message}."
    try:
        roles = directory.granted_roles()
    except ConnectorError:
        roles = None
    if roles is not None and not roles & ENABLE_DISABLE_ROLES:
        return (
            f"Entra refused to {kind} the account: the connector's identity lacks the "
            f"Microsoft Graph permission {ENABLE_DISABLE_ROLE} (or User.ReadWrite.All). "
            "Grant it and give admin consent."
        )
    if roles is not None:
        held = sorted(roles & ENABLE_DISABLE_ROLES)[0]
        return (
            f"Entra refused to {kind} the account although the connector holds {held}: "
            "the account holds a privileged administrator role the connector may not "
            f"change. {kind.capitalize()} it by hand in Entra, or remove the role."
        )
    return (
        f"Entra refused to {kind} the account (Authorization_RequestDenied): either the "
        f"connector's identity lacks {ENABLE_DISABLE_ROLE} (grant it and give admin "
        "consent), or the account holds a privileged administrator role the connector may "
        f"not change ({kind} it by hand in Entra)."
    )


def who_failed(
    name: str, seen: DirectoryUser | None, read: Callable[[], DirectoryUser | None]
) -> tuple[str, str | None]:
    """The name and login the "deactivation failed" email gives: the account as this run
    read it (`seen`), else one more read of it (`read`; a failure to read leaves the login
    unknown); its display name when Lucca gave no name."""
    user = seen
    if user is None:
        try:
            user = read()
        except ConnectorError:
            user = None
    if user is None:
        return name, None
    shown = name.strip() or str(user.properties.get("displayName") or "")
    return shown, user.user_principal_name
