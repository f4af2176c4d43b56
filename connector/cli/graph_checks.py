"""The doctor's Graph checks: the token's roles against what the settings need, and the
tenant's domains."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from connector.cli.checks import Check, guarded, said, sentence
from connector.cli.identity_checks import identity_roles, is_persons
from connector.core.errors import ConnectorError, Denied
from connector.core.net import is_loopback
from connector.entra.deleted import RESTORE_ROLE  # RESTORE_DELETED_ACCOUNTS
from connector.entra.directory import GraphDirectory
from connector.entra.scope import ROLES_READ, SCOPE_WRITE
from connector.runtime.clients import graph_directory
from connector.runtime.settings import Settings, SettingsError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

# What infra/modules/graph-permissions.bicep grants; the settings add up to four.
BASE_GRAPH_ROLES = frozenset(
    {
        "User.ReadWrite.All",
        "User.EnableDisableAccount.All",
        "User.Read.All",  # also lists deleted users (a login held by a deleted account)
        "Domain.Read.All",
        ROLES_READ,  # an administrator's account is never linked, renamed or disabled
    }
)
REVOKE_ROLE = "User.RevokeSessions.All"  # REVOKE_SESSIONS
LIFECYCLE_ROLE = "User-LifeCycleInfo.ReadWrite.All"  # LIFECYCLE_DATES

GRANT_GRAPH = (
    "grant the connector's identity {roles} on Microsoft Graph and give admin consent: "
    "docs/deploy-by-hand.md step 4 (`azd provision` with GRANT_GRAPH_PERMISSIONS=true, or "
    "an administrator runs its `az rest` loop with ROLE in {loop}); a managed identity's token "
    "can take hours to carry a new grant"
)
GRAPH_FIX = (
    "check GRAPH_BASE_URL and the credential: in Azure the Function App's managed identity "
    "(AZURE_CLIENT_ID names a user-assigned one), at a terminal your `az login`"
)
GRAPH_FIX_DOMAINS = GRANT_GRAPH.format(roles="Domain.Read.All", loop="Domain.Read.All")


def graph_roles_needed(settings: Settings) -> frozenset[str]:
    """The Graph application permissions the settings need (graph-permissions.bicep)."""
    roles = set(BASE_GRAPH_ROLES)
    if settings.REVOKE_SESSIONS:
        roles.add(REVOKE_ROLE)
    if settings.LIFECYCLE_DATES:
        roles.add(LIFECYCLE_ROLE)
    if settings.RESTORE_DELETED_ACCOUNTS:
        roles.add(RESTORE_ROLE)
    scope = settings.match_scope
    if settings.MATCH_SCOPE_ADD_CREATED and scope is not None:
        roles.add(SCOPE_WRITE[scope.kind])
    return frozenset(roles)


class GraphChecks:
    """The Graph lines of the report: permissions, then domains."""

    def __init__(self, settings: Settings, credential: TokenCredential | None) -> None:
        self.settings = settings
        self.credential = credential

    def checks(self) -> Iterator[Check]:
        """The two lines, both FAIL when no directory can be built."""
        try:
            directory = self._directory()
        except (SettingsError, ConnectorError, ValueError) as err:
            detail = sentence(said(err) if isinstance(err, ConnectorError) else str(err))
            yield Check("graph permissions", "FAIL", detail, GRAPH_FIX)
            yield Check("graph domains", "FAIL", detail, GRAPH_FIX)
            return
        with directory:
            yield guarded("graph permissions", GRAPH_FIX, lambda: self._roles(directory))
            yield guarded("graph domains", GRAPH_FIX, lambda: self._domains(directory))

    def _directory(self) -> GraphDirectory:
        if self.credential is None:
            return graph_directory(self.settings)
        base_url = str(self.settings.GRAPH_BASE_URL).rstrip("/")
        return GraphDirectory(base_url, credential=self.credential)

    def _roles(self, directory: GraphDirectory) -> Check:
        name = "graph permissions"
        if self.credential is None and _sandbox(self.settings):
            return Check(
                name,
                "WARN",
                "skipped: sandbox, no token (GRAPH_BASE_URL is a loopback http:// address).",
                "none for a sandbox; against Microsoft Graph this reads the identity's token",
            )
        claims = directory.token_claims()
        if is_persons(claims):  # what consent gave the identity, through its service principal
            return identity_roles(
                directory,
                self.settings.AZURE_CLIENT_ID,
                graph_roles_needed(self.settings),
                _grant_fix,
            )
        roles = claims.get("roles", []) if claims is not None else None
        if not isinstance(roles, list):
            return Check(name, "WARN", "the Graph token's roles cannot be read.", GRAPH_FIX)
        held = frozenset(str(role) for role in roles)
        needed = graph_roles_needed(self.settings)
        missing, extra = sorted(needed - held), sorted(held - needed)
        beyond = (
            f" It also holds {', '.join(extra)}, beyond what the connector needs." if extra else ""
        )
        remove = (
            "remove the roles beyond the need (least privilege): `az rest --method DELETE --uri "
            "https://graph.microsoft.com/v1.0/servicePrincipals/<CONNECTOR_IDENTITY_PRINCIPAL_ID>"
            "/appRoleAssignments/<assignment id>` (docs/operations.md lists them)"
        )
        if missing:
            fix = GRANT_GRAPH.format(roles=", ".join(missing), loop=" ".join(missing))
            return Check(
                name,
                "FAIL",
                f"the token lacks {', '.join(missing)}.{beyond}",
                fix + ("; then " + remove if extra else ""),
            )
        if extra:
            return Check(
                name,
                "WARN",
                f"holds the {len(needed)} needed ({', '.join(sorted(needed))}).{beyond}",
                remove,
            )
        return Check(name, "PASS", f"the token holds exactly {', '.join(sorted(needed))}.")

    def _domains(self, directory: GraphDirectory) -> Check:
        name = "graph domains"
        try:
            domains = directory.domains()
        except Denied as err:
            if err.code == "AuthenticationFailed":
                raise
            return Check(
                name,
                "FAIL",
                sentence(f"Graph refused to list the domains: {err.message}"),
                GRAPH_FIX_DOMAINS,
            )
        usable = sorted(
            d.id for d in domains if d.is_verified and d.authentication_type.lower() != "federated"
        )
        others = sorted(d.id for d in domains if d.id not in usable)
        unused = f" Not usable (unverified or federated): {', '.join(others)}." if others else ""
        if not usable:
            return Check(
                name,
                "WARN",
                f"the tenant has no verified, managed domain: no account can be created.{unused}",
                "verify the employees' email domain in Entra (Entra admin center → Domain "
                "names), managed rather than federated",
            )
        return Check(name, "PASS", f"verified, managed: {', '.join(usable)}.{unused}")


def _grant_fix(missing: list[str]) -> str:
    return GRANT_GRAPH.format(roles=", ".join(missing), loop=" ".join(missing))


def _sandbox(settings: Settings) -> bool:
    """GRAPH_BASE_URL is a loopback http:// sandbox: the directory gets no token."""
    base_url = str(settings.GRAPH_BASE_URL)
    return urlsplit(base_url).scheme == "http" and is_loopback(base_url)
