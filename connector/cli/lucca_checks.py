"""The doctor's Lucca checks: the sync's token, each scope the catch-up needs, one API request,
and the webhook endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from connector.cli.checks import Check
from connector.cli.common import Context
from connector.core.errors import ConnectorError, Denied, NotFound
from connector.flows.catchup import masked_url
from connector.lucca.client import EVENTS_SCOPE, WEBHOOK_WRITE_SCOPE, LuccaClient
from connector.lucca.models import WEBHOOK_TOPICS
from connector.runtime.clients import lucca_client
from connector.runtime.settings import Settings

LUCCA_SCOPE_FIX = "grant {scopes} to the connector's API client in Lucca (docs/lucca-setup.md)"
LUCCA_FIX = (
    "check LUCCA_BASE_URL, LUCCA_TOKEN_URL, LUCCA_CLIENT_ID and LUCCA_CLIENT_SECRET (Key Vault "
    "secret lucca-client-secret), and that this machine reaches Lucca"
)


class LuccaChecks:
    """The Lucca lines of the report; the API check reads what the token check found."""

    def __init__(self, ctx: Context, settings: Settings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.sync_token: Denied | ConnectorError | None = None  # why the sync's token failed
        self.missing_scopes: list[str] = []

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

    def token(self) -> Check:
        """A token for the sync's scopes; when Lucca refuses them, the scopes it lacks."""
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

    def scope(self, scope: str) -> Check:
        """A token for one scope the catch-up needs."""
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
    def api(self) -> Check:
        """One API request, `GET employees?limit=1`, unless no token can be had for it."""
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

    # -- 7. the webhook endpoint ---------------------------------------------------------------
    def webhook_endpoint(self) -> Check:
        """The endpoint LUCCA_WEBHOOK_ENDPOINT_ID: active, with the nine topics."""
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
