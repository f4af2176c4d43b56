"""`python -m connector doctor [--json]`: is the connector set up to work? One line per check.

Checks, in this order, each on its own (a failure never stops the next):

1. settings: they load (else the one line and exit 3: nothing else can run); the mode
   (WARN in observe) and the notification emails (WARN with NOTIFY_RECIPIENTS empty).
2. storage: one point read (the Lucca limiter's row).
3. Lucca token for the sync's scopes (when Lucca refuses them, each is asked for alone to name
   the missing one), then each scope the catch-up needs (`catch_up_scopes`).
4. Lucca API: `GET employees?limit=1`, one request of the shared budget.
5. Graph permissions: the `roles` of the token the directory's credential gets, against what
   the settings need (`graph_roles_needed`); roles beyond them are a WARN (least privilege).
6. Graph domains: the verified, managed domains, as the sync reads them.
7. The webhook endpoint LUCCA_WEBHOOK_ENDPOINT_ID: active, with the nine topics.

Exit 0 when no line FAILs, 1 otherwise, 3 when the settings do not load. A service that cannot
be reached is a FAIL line, not exit 4. Nothing prints a secret or a token: each line is built
from the connector's error messages, which never hold one.
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from connector.core.errors import ConnectorError, Denied, NotFound
from connector.core.net import is_loopback
from connector.entra.directory import GraphDirectory
from connector.flows.catchup import masked_url
from connector.lucca.client import EVENTS_SCOPE, WEBHOOK_WRITE_SCOPE, LuccaClient
from connector.lucca.models import WEBHOOK_TOPICS
from connector.runtime.clients import catch_up_scopes, graph_directory, lucca_client
from connector.runtime.settings import Settings, SettingsError
from connector.storage.ratelimit import PARTITION, ROW, TABLE
from connector.storage.tables import StorageUnavailable

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from connector.cli.main import Context

# `connector.cli.main` is imported where used, not here: cli.py imports this module at its top.

Status = Literal["PASS", "WARN", "FAIL"]

# What infra/modules/graph-permissions.bicep grants; the settings add two.
BASE_GRAPH_ROLES = frozenset(
    {"User.ReadWrite.All", "User.EnableDisableAccount.All", "User.Read.All", "Domain.Read.All"}
)
REVOKE_ROLE = "User.RevokeSessions.All"  # REVOKE_SESSIONS
LIFECYCLE_ROLE = "User-LifeCycleInfo.ReadWrite.All"  # LIFECYCLE_DATES

GRANT_GRAPH = (
    "grant the connector's identity {roles} on Microsoft Graph and give admin consent: "
    'README "Deploy to Azure" step 4 (`azd provision` with GRANT_GRAPH_PERMISSIONS=true, or '
    "an administrator runs its `az rest` loop with ROLE in {loop}); a managed identity's token "
    "can take hours to carry a new grant"
)
STORAGE_FIX = (
    "check AzureWebJobsStorage (the connection string: account, key, endpoints); with the "
    "identity form (AzureWebJobsStorage__accountName), give the identity running this (your "
    "`az login` at a terminal) Storage Table Data Contributor on the account"
)
LUCCA_SCOPE_FIX = (
    'grant {scopes} to the connector\'s API client in Lucca (README "Deploy to Azure" step 2)'
)
LUCCA_FIX = (
    "check LUCCA_BASE_URL, LUCCA_TOKEN_URL, LUCCA_CLIENT_ID and LUCCA_CLIENT_SECRET (Key Vault "
    "secret lucca-client-secret), and that this machine reaches Lucca"
)
GRAPH_FIX = (
    "check GRAPH_BASE_URL and the credential: in Azure the Function App's managed identity "
    "(AZURE_CLIENT_ID names a user-assigned one), at a terminal your `az login`"
)

HELP = (
    "Check that the connector is set up to work, one line per check, PASS, WARN or FAIL, "
    "with the fix for each one not passed: the settings (and the mode and the emails); "
    "storage (one point read); a Lucca token for the sync's scopes and for each scope the "
    "catch-up needs (a missing scope is named); one Lucca API request (GET employees?limit=1, "
    "which counts against the shared Lucca budget, LUCCA_MAX_RPM, like the webhook check's "
    "one); the Graph token's roles against the permissions the settings need (and any held "
    "beyond them); the tenant's verified, managed domains; the webhook endpoint "
    "LUCCA_WEBHOOK_ENDPOINT_ID (active, the nine topics). It changes nothing in Lucca or Entra "
    "and never prints a secret or a token. Exit 0 when nothing failed, 1 when a check failed "
    "(an unreachable service included), 3 when the settings do not load."
)
EXAMPLES = """\
examples:
  python -m connector doctor
  python -m connector --settings local.settings.json doctor --json
"""


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    check: str
    status: Status
    detail: str
    fix: str | None = None


def graph_roles_needed(settings: Settings) -> frozenset[str]:
    """The Graph application permissions the settings need (graph-permissions.bicep)."""
    roles = set(BASE_GRAPH_ROLES)
    if settings.REVOKE_SESSIONS:
        roles.add(REVOKE_ROLE)
    if settings.LIFECYCLE_DATES:
        roles.add(LIFECYCLE_ROLE)
    return frozenset(roles)


def add_doctor_command(
    commands: Any, command: Callable[..., argparse.ArgumentParser]
) -> argparse.ArgumentParser:
    """Register `doctor` with `command` (cli.py's `_command`)."""
    from connector.cli import main as cli  # noqa: PLC0415

    parser = command(
        commands,
        "doctor",
        run_doctor,
        "check the settings, storage, Lucca, Graph and the webhook endpoint",
        cli._wrapped(HELP),
    )
    parser.epilog = EXAMPLES + "\n" + (parser.epilog or "")
    return parser


def run_doctor(ctx: Context) -> int:
    """`python -m connector doctor`."""
    return doctor(ctx)


def doctor(ctx: Context, *, credential: TokenCredential | None = None) -> int:
    """Run every check, print the report; the exit code. `credential` replaces the Graph
    directory's own (the managed identity in Azure; none on a loopback sandbox)."""
    from connector.cli import main as cli  # noqa: PLC0415

    try:
        settings = ctx.settings()
    except SettingsError as err:
        fix = (
            "set or correct it in the app settings (or the --settings file's Values); "
            'README "Settings" lists them'
        )
        _print(ctx, [Check("settings", "FAIL", str(err), fix)])
        return cli.EXIT_SETTINGS
    checks = list(_Doctor(ctx, settings, credential).checks())
    _print(ctx, checks)
    return cli.EXIT_PROBLEMS if any(c.status == "FAIL" for c in checks) else cli.EXIT_OK


def _print(ctx: Context, checks: list[Check]) -> None:
    if ctx.args.json:
        json.dump([asdict(c) for c in checks], ctx.out, ensure_ascii=False, indent=2)
        ctx.out.write("\n")
        return
    for c in checks:
        fix = f" Fix: {_sentence(c.fix)}" if c.fix else ""
        ctx.out.write(f"{c.status}  {c.check}: {c.detail}{fix}")
        ctx.out.write("\n")
    counts = {s: sum(c.status == s for c in checks) for s in ("FAIL", "WARN", "PASS")}
    ctx.out.write(
        f"{counts['FAIL']} failed, {counts['WARN']} to look at, {counts['PASS']} passed.\n"
    )


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


class _Doctor:
    """The checks, each guarded so that a failure becomes its line."""

    def __init__(
        self, ctx: Context, settings: Settings, credential: TokenCredential | None
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.credential = credential
        self.sync_token: Denied | ConnectorError | None = None  # why the sync's token failed
        self.missing_scopes: list[str] = []

    def checks(self) -> Iterator[Check]:
        yield from self._settings()
        yield self._guarded("storage", STORAGE_FIX, self._storage)
        yield self._guarded("lucca token", LUCCA_FIX, self._lucca_token)
        for scope in catch_up_scopes(self.settings):
            name = f"lucca scope {scope}"
            yield self._guarded(name, LUCCA_FIX, functools.partial(self._lucca_scope, scope))
        yield self._guarded("lucca api", LUCCA_FIX, self._lucca_api)
        yield from self._graph()
        yield self._guarded("webhook endpoint", LUCCA_FIX, self._webhook_endpoint)

    def _guarded(self, name: str, fix: str, check: Callable[[], Check]) -> Check:
        """The check's line; a failure it did not turn into one becomes a FAIL with `fix`."""
        try:
            return check()
        except StorageUnavailable as err:
            return Check(name, "FAIL", _sentence(err.message), STORAGE_FIX)
        except ConnectorError as err:
            return Check(name, "FAIL", _sentence(_said(err)), fix)
        except SettingsError as err:
            return Check(name, "FAIL", _sentence(str(err)), "correct the setting named")
        except Exception as err:  # the doctor reports, it does not crash; no message: no secret
            return Check(name, "FAIL", f"unexpected error ({type(err).__name__}).", fix)

    # -- 1. settings ---------------------------------------------------------------------------
    def _settings(self) -> Iterator[Check]:
        s = self.settings
        given = len(s.model_fields_set)
        yield Check("settings", "PASS", f"valid: {given} set, the others at their defaults.")
        if s.CONNECTOR_MODE == "observe":
            yield Check(
                "mode",
                "WARN",
                "CONNECTOR_MODE is observe: each sync only logs its plan (entries marked "
                "observed), nothing is written to Entra and no leaver is disabled.",
                "when the observed entries look right, go live: `azd env set CONNECTOR_MODE "
                'apply` then `azd provision` (README "Deploy to Azure" step 8)',
            )
        else:
            yield Check("mode", "PASS", "CONNECTOR_MODE is apply: the syncs write to Entra.")
        if not s.notify_recipients:
            yield Check(
                "notifications",
                "WARN",
                "NOTIFY_RECIPIENTS is empty: no email is sent (account created, not created, "
                "leavers) and the alert email is off.",
                'set NOTIFY_RECIPIENTS, NOTIFY_SENDER and ACS_ENDPOINT (README "Notification '
                'emails")',
            )
        else:
            count = len(s.notify_recipients)
            yield Check(
                "notifications",
                "PASS",
                f"emails to {count} recipient{'s' if count > 1 else ''} from {s.NOTIFY_SENDER}.",
            )

    # -- 2. storage ----------------------------------------------------------------------------
    def _storage(self) -> Check:
        self.ctx.storage().read(TABLE, PARTITION, ROW)
        return Check("storage", "PASS", f"reachable (a point read of table {TABLE}).")

    # -- 3. Lucca tokens -----------------------------------------------------------------------
    @contextmanager
    def _lucca(self, scopes: tuple[str, ...] | None = None) -> Iterator[LuccaClient]:
        storage = self.ctx.storage()  # the shared limiter; a token request does not touch it
        client = (
            lucca_client(self.settings, storage)
            if scopes is None
            else lucca_client(self.settings, storage, scopes)
        )
        with client:
            yield client

    def _lucca_token(self) -> Check:
        with self._lucca() as lucca:
            scopes = lucca.scopes
            try:
                lucca.check_token()
            except Denied as err:
                self.sync_token = err
                if err.code != "invalid_scope":
                    raise
                self.missing_scopes = [s for s in scopes if not self._granted(s)]
            except ConnectorError as err:
                self.sync_token = err
                raise
        if self.sync_token is None:
            return Check(
                "lucca token", "PASS", f"granted for the sync's scopes: {' '.join(scopes)}."
            )
        missing = self.missing_scopes
        if not missing:
            return Check(
                "lucca token",
                "FAIL",
                f"Lucca refused the sync's scopes together ({' '.join(scopes)}), though it "
                "grants each one alone.",
                LUCCA_SCOPE_FIX.format(scopes=" ".join(scopes)),
            )
        return Check(
            "lucca token",
            "FAIL",
            f"the API client lacks the scope{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}: the sync gets no token.",
            LUCCA_SCOPE_FIX.format(scopes=", ".join(missing)),
        )

    def _granted(self, scope: str) -> bool:
        """Whether Lucca gives a token for `scope` alone."""
        with self._lucca((scope,)) as one:
            try:
                one.check_token()
            except Denied as err:
                if err.code == "invalid_scope":
                    return False
                raise
        return True

    def _lucca_scope(self, scope: str) -> Check:
        name = f"lucca scope {scope}"
        what = {
            EVENTS_SCOPE: "the catch-up reads Lucca's events",
            WEBHOOK_WRITE_SCOPE: "the catch-up and `webhook status` read the endpoint "
            "LUCCA_WEBHOOK_ENDPOINT_ID",
        }.get(scope, "the catch-up")
        if self._granted(scope):
            return Check(name, "PASS", f"granted ({what}).")
        return Check(
            name,
            "FAIL",
            f"the API client lacks the scope {scope}: {what}, and cannot.",
            LUCCA_SCOPE_FIX.format(scopes=scope),
        )

    # -- 4. Lucca API --------------------------------------------------------------------------
    def _lucca_api(self) -> Check:
        scopes: tuple[str, ...] | None = None  # the sync's client
        if self.sync_token is not None:
            if self.sync_token.code != "invalid_scope" or "employees.readonly" in (
                self.missing_scopes
            ):
                return Check(
                    "lucca api",
                    "WARN",
                    "not tried: no Lucca token for it (see the lucca token line).",
                    "fix the lucca token line first",
                )
            scopes = ("employees.readonly",)
        with self._lucca(scopes) as lucca:
            lucca.check_api()
        return Check(
            "lucca api",
            "PASS",
            "reachable: GET employees?limit=1 answered (one request of the shared budget).",
        )

    # -- 5, 6. Graph ---------------------------------------------------------------------------
    def _graph(self) -> Iterator[Check]:
        try:
            directory = self._directory()
        except (SettingsError, ConnectorError, ValueError) as err:
            detail = _sentence(_said(err) if isinstance(err, ConnectorError) else str(err))
            yield Check("graph permissions", "FAIL", detail, GRAPH_FIX)
            yield Check("graph domains", "FAIL", detail, GRAPH_FIX)
            return
        with directory:
            yield self._guarded("graph permissions", GRAPH_FIX, lambda: self._roles(directory))
            yield self._guarded("graph domains", GRAPH_FIX, lambda: self._domains(directory))

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
        if claims is not None and "roles" not in claims and "scp" in claims:
            return Check(
                name,
                "WARN",
                "the token is a person's (delegated, e.g. your `az login`), not the "
                "connector's identity's: its application permissions cannot be read here.",
                "run the doctor with the connector's identity (in the Function App), or list "
                'what the identity holds (README "Troubleshooting", Authorization_RequestDenied)',
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
            '/appRoleAssignments/<assignment id>` (README "Troubleshooting" lists them)'
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
                _sentence(f"Graph refused to list the domains: {err.message}"),
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

    # -- 7. the webhook endpoint ---------------------------------------------------------------
    def _webhook_endpoint(self) -> Check:
        name = "webhook endpoint"
        wanted = self.settings.LUCCA_WEBHOOK_ENDPOINT_ID
        if not wanted:
            return Check(
                name,
                "WARN",
                "LUCCA_WEBHOOK_ENDPOINT_ID is not set: the catch-up cannot watch the endpoint.",
                "run `python -m connector webhook register`, then set LUCCA_WEBHOOK_ENDPOINT_ID "
                "to the id it prints (or to the id `webhook status` lists)",
            )
        with self._lucca((WEBHOOK_WRITE_SCOPE,)) as lucca:
            try:
                endpoint = lucca.webhook_endpoint(wanted)
            except NotFound:
                return Check(
                    name,
                    "FAIL",
                    f"Lucca has no endpoint {wanted} (LUCCA_WEBHOOK_ENDPOINT_ID) for this API "
                    "client.",
                    "correct LUCCA_WEBHOOK_ENDPOINT_ID (`python -m connector webhook status` "
                    "lists the API client's endpoints), or `python -m connector webhook register`",
                )
        problems, fixes = [], []
        if endpoint.status == "suspended":
            problems.append("suspended (Lucca stopped after failed deliveries)")
            fixes.append(
                "find the cause (a wrong signing secret or function key answers 401), reactivate "
                "it in Lucca (Integrations → Endpoints), then `python -m connector webhook ping`; "
                "the catch-up replays the events meanwhile"
            )
        elif endpoint.status != "active":
            problems.append(f"{endpoint.status}: Lucca delivers nothing to it")
            fixes.append("activate it in Lucca (Integrations → Endpoints)")
        if endpoint.missing_topics:
            problems.append(f"lacks the topics {', '.join(endpoint.missing_topics)}")
            fixes.append("subscribe it to them in Lucca (Integrations → Endpoints)")
        url = masked_url(endpoint.webhook_url)
        if problems:
            return Check(
                name, "FAIL", f"endpoint {endpoint.id} ({url}) is {'; '.join(problems)}.",
                "; ".join(fixes),
            )  # fmt: skip
        return Check(
            name,
            "PASS",
            f"endpoint {endpoint.id} ({url}) is active, with the {len(WEBHOOK_TOPICS)} topics.",
        )


GRAPH_FIX_DOMAINS = GRANT_GRAPH.format(roles="Domain.Read.All", loop="Domain.Read.All")


def _sandbox(settings: Settings) -> bool:
    """GRAPH_BASE_URL is a loopback http:// sandbox: the directory gets no token."""
    base_url = str(settings.GRAPH_BASE_URL)
    return urlsplit(base_url).scheme == "http" and is_loopback(base_url)


def _said(err: ConnectorError) -> str:
    """The error's message, naming its service when it does not already."""
    service = {"lucca": "Lucca", "graph": "Microsoft Graph", "storage": "storage"}[err.service]
    said = err.message
    if said.lower().startswith((err.service, service.lower())):
        return said
    return f"{service}: {said}"
