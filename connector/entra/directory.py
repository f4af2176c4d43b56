"""The Entra directory as the sync sees it: a synchronous facade over the async msgraph-sdk."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import replace
from typing import Any, Final, TypeVar
from urllib.parse import quote

from azure.core.credentials import TokenCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.domains.domains_request_builder import DomainsRequestBuilder
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.reference_update import ReferenceUpdate
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from connector.core.errors import (
    Denied,
    Invalid,
    NotFound,
    Transient,
)
from connector.entra.app_roles import GrantedRoles, graph_roles_of
from connector.entra.deleted import (
    DeletedUser,
    deleted_holders,
    deleted_user,
    every_deleted_user,
    restore,
)
from connector.entra.delta import DeltaRound, read_round
from connector.entra.graph import (
    GRAPH_SCOPE,
    build_client,
)
from connector.entra.graph_errors import translate_error
from connector.entra.memberships import add_to_scope, in_scope, role_names, roles_by_principal
from connector.entra.scope import ROLES_DENIED, ROLES_READ, MatchScope
from connector.entra.shapes import selected, with_siblings
from connector.entra.users import (
    DOMAIN_SELECT,
    FIND_BY,
    USER_FIELDS,
    WRITABLE,
    DirectoryUser,
    Domain,
    FindBy,
    odata_literal,
    text,
    to_user,
    user_body,
    with_manager,
)

T = TypeVar("T")
DOMAINS_TTL: Final = 3600.0
LIST_PAGE_SIZE: Final = 100  # what Graph gives a page of users when the manager is expanded


class GraphDirectory:
    """Entra users, managers and domains through Microsoft Graph; safe to call from any thread.

    One private event loop runs in a daemon thread and owns the one `GraphServiceClient` (and
    its httpx connection pool); each public method submits a coroutine to it and waits.
    `properties` are the mapped user properties, each with whether the connector writes it:
    every read selects them after `USER_FIELDS`, and a write may carry the writable ones.
    """

    def __init__(
        self,
        base_url: str,
        *,
        properties: Mapping[str, bool] | None = None,
        credential: TokenCredential | None = None,
        owns_credential: bool = False,
        max_retries: int = 3,
        max_wait: float = 5.0,
        timeout: float = 30.0,
        domains_ttl: float = DOMAINS_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        mapped = with_siblings(dict(properties or {}))  # flat names (shapes.py)
        self._mapped = tuple(p for p in mapped if p not in USER_FIELDS)
        self.select: tuple[str, ...] = (*USER_FIELDS, *selected(self._mapped))
        self._writable = WRITABLE | {p for p, writable in mapped.items() if writable}
        self._credential = credential
        self._owns_credential = owns_credential  # closed with the directory
        self._client, self._http = build_client(
            self._base_url, credential, max_retries=max_retries, max_wait=max_wait, timeout=timeout
        )
        # A backstop only: each attempt is bounded by `timeout`, each wait by `max_wait`.
        self._call_timeout = (timeout + max_wait + 3.0) * (max_retries + 1)
        self._domains_ttl, self._clock = domains_ttl, clock
        self._domains: tuple[float, tuple[Domain, ...]] | None = None
        self._domains_lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="graph-directory", daemon=True
        )
        self._thread.start()

    # -- life cycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP connections, stop the loop (and close a credential it made)."""
        if self._loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._http.aclose(), self._loop).result(5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()
            close = getattr(self._credential, "close", None)
            if self._owns_credential and close is not None:
                close()

    def __enter__(self) -> GraphDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the directory's loop; every failure leaves as the connector's error."""
        if threading.current_thread() is self._thread or self._loop.is_closed():
            coro.close()
            raise RuntimeError("GraphDirectory is closed or called from its own loop")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(self._call_timeout)
        except Exception as err:
            future.cancel()
            error = translate_error(err)
            if error is None:
                raise
            raise error from err

    # -- users ------------------------------------------------------------------------------
    def get_user(self, object_id: str) -> DirectoryUser | None:
        """The user with this object id (or UPN), with its manager's id, or None."""
        query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
            select=list(self.select), expand=["manager($select=id)"]
        )
        request = self._client.users.by_user_id(object_id).get(
            request_configuration=RequestConfiguration(query_parameters=query)
        )
        try:
            user = self._run(request)
        except NotFound:
            return None
        return None if user is None else with_manager(user, self._mapped)

    def find_users(self, prop: FindBy, value: str) -> list[DirectoryUser]:
        """Every user whose `prop` equals `value` (Graph compares case-insensitively)."""
        if prop not in FIND_BY:
            raise ValueError(f"cannot look users up by {prop!r}")
        return self._filtered(f"{prop} eq '{odata_literal(value)}'")

    def address_holders(self, address: str) -> list[DirectoryUser]:
        """Every user holding `address` as login, mail or `smtp:` proxy address (an alias)."""
        a = odata_literal(address)
        return self._filtered(
            f"userPrincipalName eq '{a}' or mail eq '{a}' or proxyAddresses/any(p:p eq 'smtp:{a}')"
        )

    def _filtered(self, expression: str) -> list[DirectoryUser]:
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter=expression, select=list(self.select)
        )
        return self._run(self._users(RequestConfiguration(query_parameters=query)))

    def list_users(self) -> list[DirectoryUser]:
        """Every user of the tenant with `select` and the manager's id, in pages of
        `LIST_PAGE_SIZE` (Graph returns at most 100 directory objects a page with `$expand`)."""
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            select=list(self.select), expand=["manager($select=id)"], top=LIST_PAGE_SIZE
        )
        config = RequestConfiguration(query_parameters=query)
        return self._run(self._users(config, managers=True))

    def users_delta(self, link: str | None) -> DeltaRound:
        """A round of Graph's users delta query from `link` (None: a first round, every user,
        with `select` and the manager); its delta link starts the next round."""
        return self._run(read_round(self._client, link, self.select, self._mapped))

    async def _users(
        self,
        config: RequestConfiguration[UsersRequestBuilder.UsersRequestBuilderGetQueryParameters],
        *,
        managers: bool = False,
    ) -> list[DirectoryUser]:
        """Every page of a users query; `managers` when the query expands the manager."""
        page = await self._client.users.get(request_configuration=config)
        found: list[DirectoryUser] = []
        while page is not None:
            for user in page.value or []:
                found.append((with_manager if managers else to_user)(user, self._mapped))
            if not page.odata_next_link:
                break
            page = await self._client.users.with_url(page.odata_next_link).get()
        return found

    def create_user(self, properties: Mapping[str, object], password: str) -> DirectoryUser:
        """Create a user (Graph wire names), who must change `password` at first sign-in."""
        body = user_body(properties, self._writable)
        body.password_profile = PasswordProfile(
            password=password, force_change_password_next_sign_in=True
        )
        created = self._run(self._client.users.post(body))
        if created is None or created.id is None:
            raise Transient(
                "Microsoft Graph answered the creation without the user", service="graph"
            )
        # The answer holds only Graph's default properties: the rest is what was just written.
        sent: dict[str, Any] = {
            USER_FIELDS[k]: v for k, v in properties.items() if k in USER_FIELDS
        }
        read = to_user(created, self._mapped)
        mapped = {k: text(v) for k, v in properties.items() if k in self._mapped}
        return replace(
            read,
            **sent,
            properties={**read.properties, **mapped},
            user_type=created.user_type or "Member",
        )

    def update_user(self, object_id: str, properties: Mapping[str, object]) -> None:
        """PATCH exactly the given properties (wire names); a None value clears one."""
        if properties:
            body = user_body(properties, self._writable)
            self._run(self._client.users.by_user_id(object_id).patch(body))

    def revoke_sessions(self, object_id: str) -> None:
        """Invalidate the user's refresh tokens and session cookies."""
        self._run(self._client.users.by_user_id(object_id).revoke_sign_in_sessions.post())

    # -- deleted users (entra/deleted.py) ---------------------------------------------------
    def deleted_holders(self, login: str) -> list[DeletedUser]:
        """The deleted users (Entra's recycle bin) whose login is `login`."""
        return self._run(deleted_holders(self._client, login))

    def every_deleted_user(self) -> list[DeletedUser]:
        """Every user in deleted items (a reconciliation reads them once)."""
        return self._run(every_deleted_user(self._client))

    def deleted_user(self, object_id: str) -> DeletedUser | None:
        """The deleted user with this object id, or None."""
        try:
            return self._run(deleted_user(self._client, object_id))
        except NotFound:
            return None

    def restore(self, object_id: str) -> DirectoryUser:
        """Restore a deleted user (same object id), and read it back as `get_user` does."""
        self._run(restore(self._client, object_id))
        user = self.get_user(object_id)
        if user is None:
            raise Transient("Graph restored the account but does not show it yet", service="graph")
        return user

    # -- roles and MATCH_SCOPE --------------------------------------------------------------
    def directory_roles(self, object_id: str) -> list[str]:
        """The names of the directory roles the account holds (active assignments); a
        refusal is a Denied naming the permission (ROLES_DENIED): nothing may go on unread."""
        return self._roles_read(f"of account {object_id}", role_names(self._client, object_id))

    def everyones_directory_roles(self) -> dict[str, list[str]]:
        """Every account's directory roles, by object id, read in pages."""
        return self._roles_read("of the tenant", roles_by_principal(self._client))

    def _roles_read(self, whose: str, read: Coroutine[Any, Any, T]) -> T:
        try:
            return self._run(read)
        except Denied as err:
            if err.code == "AuthenticationFailed":
                raise
            raise Denied(
                f"Graph refused to read the directory roles {whose} "
                f"({err.message}): the connector's identity needs {ROLES_READ}; grant it and "
                "give admin consent. Until then no account is linked, renamed or disabled.",
                service="graph",
                status=err.status,
                code=ROLES_DENIED,
                request_id=err.request_id,
            ) from err

    def in_scope(self, object_id: str, scope: MatchScope) -> bool:
        """Whether the account is a member of MATCH_SCOPE's group or administrative unit."""
        return self._run(in_scope(self._client, object_id, scope))

    def add_to_scope(self, scope: MatchScope, object_id: str) -> None:
        """Make the account a member of MATCH_SCOPE's group or administrative unit; already
        being one is fine."""
        try:
            self._run(add_to_scope(self._client, self._base_url, scope, object_id))
        except Invalid as err:
            if "already exist" not in err.message:
                raise

    # -- manager ----------------------------------------------------------------------------
    def manager_id(self, object_id: str) -> str | None:
        """The object id of the user's manager, or None; NotFound if the user is gone."""
        # One read that tells "no manager" (no `manager`) from "no such user" (404), which
        # GET /users/{id}/manager answers alike.
        query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
            select=["id"], expand=["manager($select=id)"]
        )
        user = self._run(
            self._client.users.by_user_id(object_id).get(
                request_configuration=RequestConfiguration(query_parameters=query)
            )
        )
        manager = user.manager if user is not None else None
        return manager.id if manager is not None else None

    def set_manager(self, object_id: str, manager_object_id: str) -> None:
        """Make `manager_object_id` the user's manager."""
        reference = ReferenceUpdate(
            odata_id=f"{self._base_url}/users/{quote(manager_object_id, safe='')}"
        )
        self._run(self._client.users.by_user_id(object_id).manager.ref.put(reference))

    def remove_manager(self, object_id: str) -> None:
        """Remove the user's manager; having none already is fine."""
        with contextlib.suppress(NotFound):
            self._run(self._client.users.by_user_id(object_id).manager.ref.delete())

    # -- tenant -----------------------------------------------------------------------------
    def domains(self) -> list[Domain]:
        """The tenant's domains, read at most once per `domains_ttl` seconds."""
        with self._domains_lock:
            if self._domains is None or self._clock() >= self._domains[0]:
                query = DomainsRequestBuilder.DomainsRequestBuilderGetQueryParameters(
                    select=list(DOMAIN_SELECT)
                )
                page = self._run(
                    self._client.domains.get(
                        request_configuration=RequestConfiguration(query_parameters=query)
                    )
                )
                found = tuple(
                    Domain(
                        id=str(d.id),
                        is_verified=bool(d.is_verified),
                        is_default=bool(d.is_default),
                        authentication_type=d.authentication_type or "",
                    )
                    for d in (page.value if page is not None else None) or []
                )
                self._domains = (self._clock() + self._domains_ttl, found)
            return list(self._domains[1])

    def graph_roles_of(self, app_id: str) -> GrantedRoles:
        """The Graph application roles admin consent gave the service principal of `app_id`
        (a managed identity's client id), read through Graph (`entra/app_roles.py`)."""
        return self._run(graph_roles_of(self._client, app_id))

    def granted_roles(self) -> frozenset[str] | None:
        """The application roles in the Graph token (`roles`); None without a credential."""
        if self._credential is None:
            return None
        return _roles_claim(self._run(_token(self._credential)))

    def token_claims(self) -> dict[str, Any] | None:
        """The Graph token's claims, read without verifying them; None without a credential or
        when the token is not a JWT. The doctor tells the connector's application token
        (`roles`) from a person's (`scp`: an `az login`). Never the token itself."""
        if self._credential is None:
            return None
        return _claims(self._run(_token(self._credential)))


async def _token(credential: TokenCredential) -> str:
    """A Graph token, asked as the SDK asks (scope, CAE) so azure-identity's cache serves it."""
    return credential.get_token(GRAPH_SCOPE, enable_cae=True).token


def _roles_claim(token: str) -> frozenset[str] | None:
    """The `roles` claim of a JWT, read without verifying it; None if it is not a JWT."""
    claims = _claims(token)
    roles = claims.get("roles", []) if claims is not None else None
    if not isinstance(roles, list):
        return None
    return frozenset(str(role) for role in roles)


def _claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT, read without verifying it; None if it is not a JWT."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    return claims if isinstance(claims, dict) else None
