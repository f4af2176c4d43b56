"""Whose rights reach Graph: the doctor reads the connector's identity's application roles
through its service principal when the token is a person's, and `sync` / `reconcile --apply`
warn before writing with a person's delegated rights."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from connector.cli.checks import Check
from connector.core.errors import Denied
from connector.entra.directory import GraphDirectory

NAME = "graph permissions"
NO_CLIENT_ID_FIX = (
    "run the doctor with `--from-azure APP` (it reads AZURE_CLIENT_ID from the app), or set "
    "AZURE_CLIENT_ID to the managed identity's client id (`azd env get-values`)"
)
READ_DENIED_FIX = (
    "sign in with an account that may read service principals (Application.Read.All, or the "
    "Directory Readers role), or run the doctor in the Function App"
)


def is_persons(claims: dict[str, Any] | None) -> bool:
    """A delegated token (a person's sign-in, e.g. `az login`): `scp`, no `roles`."""
    return claims is not None and "roles" not in claims and "scp" in claims


def identity_roles(
    directory: GraphDirectory,
    client_id: str | None,
    needed: frozenset[str],
    grant_fix: Callable[[list[str]], str],
) -> Check:
    """The doctor's line when the token is a person's: what admin consent gave the identity
    `client_id`, read through its service principal, against `needed`."""
    if not client_id:
        return Check(
            NAME,
            "WARN",
            "the token is a person's (delegated, e.g. your `az login`) and AZURE_CLIENT_ID is "
            "not set: the connector's identity cannot be found to read its roles.",
            NO_CLIENT_ID_FIX,
        )
    try:
        granted = directory.graph_roles_of(client_id)
    except Denied as err:
        if err.code == "AuthenticationFailed":
            raise
        return Check(
            NAME,
            "WARN",
            "the token is a person's (delegated): Graph refused it the connector's identity's "
            f"service principal ({err.code}).",
            READ_DENIED_FIX,
        )
    if granted.principal_id is None:
        return Check(
            NAME,
            "FAIL",
            f"no service principal has the client id AZURE_CLIENT_ID {client_id}.",
            "set AZURE_CLIENT_ID to the client id of the connector's managed identity",
        )
    whose = f"the connector's identity {granted.display_name} ({granted.principal_id})"
    how = "read through its service principal, your sign-in being a person's"
    missing, extra = sorted(needed - granted.roles), sorted(granted.roles - needed)
    beyond = f" It also holds {', '.join(extra)}, beyond the need." if extra else ""
    if missing:
        return Check(
            NAME,
            "FAIL",
            f"{whose} lacks {', '.join(missing)}: admin consent was not given ({how}).{beyond}",
            grant_fix(missing),
        )
    if extra:
        return Check(
            NAME,
            "WARN",
            f"{whose} holds the {len(needed)} needed ({how}).{beyond}",
            "remove the roles beyond the need (least privilege)",
        )
    return Check(NAME, "PASS", f"{whose} holds exactly {', '.join(sorted(needed))} ({how}).")


def warn_if_persons(directory: GraphDirectory, err: IO[str]) -> bool:
    """Before writing to Entra: a warning on `err` when the Graph token is a person's; whether
    it is."""
    if not is_persons(directory.token_claims()):
        return False
    err.write(
        "connector: warning: Graph is reached with a person's sign-in (delegated rights, e.g. "
        "your `az login`), not the connector's identity: what is written to Entra is done with "
        "your rights and under your name in Entra's audit log. To act as the connector, run it "
        "in the Function App, or sign in as its identity.\n"
    )
    return True
