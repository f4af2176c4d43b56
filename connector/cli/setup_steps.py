"""The steps of the guided setup (`python -m connector setup`, which azd's hooks run after
`azd provision` and `azd deploy`; docs/deploy.md). Every step first looks at what is there, so
running it again changes nothing:

1. The Lucca client secret: kept when Key Vault has it (`lucca-client-secret`); else taken from
   LUCCA_CLIENT_SECRET in the environment, else asked for once (hidden). Lucca must accept it
   (a token and one read of the webhook endpoints) before it is stored. Then, when Key Vault
   has no `lucca-webhook-secret`, a random placeholder (tagged so), so that the app starts and
   can answer Lucca's activation request before Lucca has given its own.
2. A key of the lucca_webhook function only (`lucca`, through ARM's function keys API; never a
   host key or the master key, which would also open GET /api/logs): read, else created. Until
   `azd deploy` has put the function there, the setup stops here (the postdeploy hook goes on).
3. The webhook endpoint in Lucca, registered with that key unless Lucca has one for this app's
   address; the signing secret Lucca returns (Lucca generates it, and shows it once) goes
   straight into Key Vault (`lucca-webhook-secret`, tagged with the endpoint's id), never to
   the terminal or a file. An endpoint whose secret Key Vault does not hold is not doubled:
   the operator is told to delete it in Lucca.
4. LUCCA_WEBHOOK_ENDPOINT_ID: set on the app (which restarts it, so it reads the new secrets)
   and as the azd value (so the next `azd provision` keeps it).
5. `doctor`, on the app's settings with the Key Vault references resolved, through the
   operator's own sign-in.

Spends two Lucca requests (three when it registers) of the shared budget, outside the app's
limiter (the operator's machine may not reach its storage).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Protocol
from urllib.parse import parse_qsl, quote, urlsplit

from connector.cli.common import (
    EXIT_OK,
    EXIT_PROBLEMS,
)
from connector.cli.webhook import DEFAULT_NAME, KEY_VAULT_SECRET
from connector.core.errors import Denied
from connector.lucca.client import WEBHOOK_WRITE_SCOPE, LuccaClient
from connector.lucca.models import WEBHOOK_TOPICS, LuccaWebhookEndpoint
from connector.runtime.azure_admin import StoredSecret
from connector.runtime.settings import KEY_VAULT_REFERENCE

CLIENT_SECRET = "lucca-client-secret"  # noqa: S105 (the name of a Key Vault secret)
WEBHOOK_SECRET = KEY_VAULT_SECRET
WEBHOOK_FUNCTION = "lucca_webhook"
KEY_NAME = "lucca"
# Key Vault tags on lucca-webhook-secret: whose signing secret it is, or a placeholder.
ENDPOINT_TAG = "lucca-endpoint"
PLACEHOLDER_TAG = "placeholder"
ENDPOINT_SETTING = "LUCCA_WEBHOOK_ENDPOINT_ID"
DEFAULT_TOKEN_URL = "https://accounts.world.luccasoftware.com/connect/token"  # noqa: S105
# The app's identity: on the operator's machine, the operator's own sign-in is used instead.
IDENTITY_SETTINGS = (
    "AZURE_CLIENT_ID",
    "AzureWebJobsStorage__clientId",
    "AzureWebJobsStorage__credential",
)
TRIES = 3
# What Lucca's token endpoint says of a wrong client id or secret (connector/lucca/answers.py).
CREDENTIAL_CODES = (None, "invalid_client", "unauthorized_client")


class SecretStore(Protocol):
    """Key Vault's secrets, as the setup uses them."""

    def get(self, name: str) -> StoredSecret | None:
        """The secret's current version; None when there is none."""

    def set(self, name: str, value: str, tags: Mapping[str, str] | None = None) -> None:
        """Store a new version, with Key Vault tags."""


class FunctionHost(Protocol):
    """The Function App, as the setup uses it."""

    def function_keys(self, function: str) -> dict[str, str] | None:
        """The function's keys; None while it is not deployed."""

    def set_function_key(self, function: str, name: str, value: str) -> None:
        """Create a key of that one function."""

    def app_settings(self) -> dict[str, str]:
        """The app settings, Key Vault references unresolved."""

    def update_app_settings(self, changes: Mapping[str, str]) -> None:
        """Change some settings (the app restarts)."""


LuccaFactory = Callable[[Mapping[str, str], str], LuccaClient]


class _Paced:
    """The setup's few Lucca requests: no shared window, but Lucca's Retry-After is obeyed."""

    def __init__(self) -> None:
        self._not_before = 0.0

    def acquire(self) -> object:
        time.sleep(max(0.0, self._not_before - time.monotonic()))
        return None

    def penalise(self, retry_after: float) -> None:
        self._not_before = time.monotonic() + retry_after


def lucca_for_setup(settings: Mapping[str, str], client_secret: str) -> LuccaClient:
    """A Lucca client for the webhook scope, on the app's Lucca settings."""
    return LuccaClient(
        base_url=settings["LUCCA_BASE_URL"],
        token_url=settings.get("LUCCA_TOKEN_URL") or DEFAULT_TOKEN_URL,
        client_id=settings["LUCCA_CLIENT_ID"],
        client_secret=client_secret,
        limiter=_Paced(),
        scopes=(WEBHOOK_WRITE_SCOPE,),
    )


def same_endpoint(registered: str, webhook_url: str) -> bool:
    """Whether Lucca's endpoint delivers to this app's webhook (whatever its key)."""
    a, b = urlsplit(registered), urlsplit(webhook_url)
    return (a.scheme, (a.hostname or "").lower(), a.path.rstrip("/")) == (
        b.scheme,
        (b.hostname or "").lower(),
        b.path.rstrip("/"),
    )


def _code(url: str) -> str | None:
    return next((v for k, v in parse_qsl(urlsplit(url).query) if k.lower() == "code"), None)


class SetupProblem(Exception):
    """A step could not be done; the message says what to do."""


@dataclass(kw_only=True)
class Setup:
    """The setup's steps over its ports (Key Vault, the Function App, Lucca, azd, doctor)."""

    vault: SecretStore
    app: FunctionHost
    webhook_url: str
    out: IO[str]
    lucca: LuccaFactory = lucca_for_setup
    given_secret: str | None = None  # LUCCA_CLIENT_SECRET from the environment
    ask: Callable[[str], str] | None = None  # a hidden prompt; None: not interactive
    set_azd_value: Callable[[str, str], None] | None = None
    azd_endpoint_id: str = ""
    doctor: Callable[[Mapping[str, str]], int] | None = None
    changed: list[str] = field(default_factory=list)

    def run(self) -> int:
        """Every step; the exit code."""
        settings = self.app.app_settings()
        try:
            secret, endpoints = self._client_secret(settings)
            self._placeholder()
            key = self._function_key()
            if key is None:
                self._say(
                    f"The {WEBHOOK_FUNCTION} function is not deployed yet: the postdeploy hook "
                    "(or `python -m connector setup` after `azd deploy`) registers it with Lucca."
                )
                return EXIT_OK
            endpoint = self._endpoint(settings, secret, endpoints, key)
            self._endpoint_id(settings, endpoint.id)
        except SetupProblem as problem:
            self.out.write(f"setup: {problem}\n")
            return EXIT_PROBLEMS
        self._say("Nothing to change." if not self.changed else "Done: " + "; ".join(self.changed))
        return self._doctor(settings)

    def _say(self, text: str) -> None:
        self.out.write(f"setup: {text}\n")

    # -- 1. the client secret ---------------------------------------------------------------
    def _client_secret(self, settings: Mapping[str, str]) -> tuple[str, list[LuccaWebhookEndpoint]]:
        kept = self.vault.get(CLIENT_SECRET)
        stored = kept.value if kept is not None else None
        candidate = self.given_secret or stored
        for attempt in range(TRIES):
            if not candidate:
                if self.ask is None:
                    raise SetupProblem(
                        f"Key Vault has no {CLIENT_SECRET} and nobody can be asked for it: set "
                        "LUCCA_CLIENT_SECRET in the environment and run again"
                    )
                candidate = self.ask("Lucca API client secret (hidden): ").strip()
                if not candidate:
                    continue
            try:
                with self.lucca(settings, candidate) as lucca:
                    endpoints = lucca.webhook_endpoints()
            except Denied as err:
                if err.status not in (400, 401) or err.code not in CREDENTIAL_CODES:
                    # A missing scope, not a wrong secret: asking again would not help.
                    raise SetupProblem(f"{err.message} (nothing was stored)") from None
                if candidate == stored and not self.given_secret:
                    raise SetupProblem(
                        f"Lucca refuses the client secret Key Vault holds ({err.message}): run "
                        "again with LUCCA_CLIENT_SECRET set to the right one"
                    ) from None
                self._say(f"Lucca refused it ({err.message}).")
                if self.ask is None or attempt == TRIES - 1:
                    raise SetupProblem("Lucca refused the client secret") from None
                candidate = ""
                continue
            if candidate != stored:
                self.vault.set(CLIENT_SECRET, candidate)
                self.changed.append(
                    f"stored the Lucca client secret in Key Vault ({CLIENT_SECRET})"
                )
            return candidate, endpoints
        raise SetupProblem("no client secret was given")

    def _placeholder(self) -> None:
        """Until Lucca gives the endpoint's secret, a random one lets the app start (and answer
        Lucca's activation request, which needs none); its tag says it is not Lucca's."""
        if self.vault.get(WEBHOOK_SECRET) is None:
            self.vault.set(WEBHOOK_SECRET, secrets.token_hex(32), {PLACEHOLDER_TAG: "true"})
            self.changed.append(f"stored a placeholder {WEBHOOK_SECRET} until Lucca gives its own")

    # -- 2. the function key ----------------------------------------------------------------
    def _function_key(self) -> str | None:
        keys = self.app.function_keys(WEBHOOK_FUNCTION)
        if keys is None:
            return None
        if keys.get(KEY_NAME):
            return keys[KEY_NAME]
        value = secrets.token_urlsafe(40)
        self.app.set_function_key(WEBHOOK_FUNCTION, KEY_NAME, value)
        self.changed.append(f"created key {KEY_NAME} of the {WEBHOOK_FUNCTION} function")
        return value

    # -- 3. the endpoint in Lucca -----------------------------------------------------------
    def _endpoint(
        self,
        settings: Mapping[str, str],
        client_secret: str,
        endpoints: list[LuccaWebhookEndpoint],
        key: str,
    ) -> LuccaWebhookEndpoint:
        ours = [e for e in endpoints if same_endpoint(e.webhook_url, self.webhook_url)]
        if ours:
            stored = self.vault.get(WEBHOOK_SECRET)
            tags = stored.tags if stored is not None else {PLACEHOLDER_TAG: "true"}
            wanted = tags.get(ENDPOINT_TAG) or settings.get(ENDPOINT_SETTING)
            endpoint = next((e for e in ours if e.id == wanted), ours[0])
            # A secret stored by hand (no tag) is taken to be the endpoint's.
            if tags.get(PLACEHOLDER_TAG) or tags.get(ENDPOINT_TAG, endpoint.id) != endpoint.id:
                raise SetupProblem(
                    f"Lucca has endpoint {endpoint.id} for this app, but Key Vault does not hold "
                    f"its signing secret (Lucca shows it when the endpoint is created only): "
                    "delete the endpoint in Lucca (Integrations → Endpoints), then run again"
                )
            if _code(endpoint.webhook_url) != key:
                self._say(
                    f"Lucca's endpoint {endpoint.id} carries another key than the function's "
                    f"{KEY_NAME} key: deliveries would be refused (401) if that key was removed."
                )
            return endpoint
        url = f"{self.webhook_url.split('?')[0]}?code={quote(key, safe='')}"
        with self.lucca(settings, client_secret) as lucca:
            endpoint, signing_secret = lucca.create_webhook_endpoint(
                name=DEFAULT_NAME, webhook_url=url, topics=WEBHOOK_TOPICS
            )
        self.vault.set(WEBHOOK_SECRET, signing_secret, {ENDPOINT_TAG: endpoint.id})
        self.changed.append(
            f"registered webhook endpoint {endpoint.id} in Lucca and stored its signing secret "
            f"in Key Vault ({WEBHOOK_SECRET})"
        )
        return endpoint

    # -- 4. the endpoint's id ---------------------------------------------------------------
    def _endpoint_id(self, settings: Mapping[str, str], endpoint_id: str) -> None:
        if settings.get(ENDPOINT_SETTING) != endpoint_id or self.changed:
            # Writing the settings restarts the app: it reads the secrets just stored.
            self.app.update_app_settings({ENDPOINT_SETTING: endpoint_id})
            self.changed.append(f"set {ENDPOINT_SETTING}={endpoint_id} on the app")
        if self.azd_endpoint_id != endpoint_id:
            if self.set_azd_value is None:
                self._say(
                    f"keep it for the next provision: azd env set {ENDPOINT_SETTING} {endpoint_id}"
                )
            else:
                self.set_azd_value(ENDPOINT_SETTING, endpoint_id)
                self.changed.append(f"set the azd value {ENDPOINT_SETTING}")

    # -- 5. doctor --------------------------------------------------------------------------
    def _doctor(self, settings: Mapping[str, str]) -> int:
        if self.doctor is None:
            return EXIT_OK
        environ = self.resolved(self.app.app_settings() if self.changed else settings)
        self._say("python -m connector doctor, with the app's settings:")
        code = self.doctor(environ)
        if code != EXIT_OK:
            self._say(
                "doctor found problems (above). Missing Graph permissions usually mean admin "
                'consent is pending: docs/deploy.md, "Admin consent". Run the setup again after.'
            )
            return EXIT_PROBLEMS
        return EXIT_OK

    def resolved(self, settings: Mapping[str, str]) -> dict[str, str]:
        """The app settings as the app reads them: Key Vault references resolved, the
        identity's own settings left out (the operator's sign-in stands in)."""
        environ: dict[str, str] = {}
        for name, value in settings.items():
            if name in IDENTITY_SETTINGS:
                continue
            if KEY_VAULT_REFERENCE.match(value):
                secret = _reference_name(value)
                found = self.vault.get(secret) if secret else None
                environ[name] = found.value if found is not None else ""
            else:
                environ[name] = value
        return environ


def _reference_name(reference: str) -> str | None:
    """SecretName of `@Microsoft.KeyVault(VaultName=…;SecretName=…)`."""
    inner = reference.strip()[len("@Microsoft.KeyVault(") : -1]
    parts = dict(p.split("=", 1) for p in inner.split(";") if "=" in p)
    return parts.get("SecretName")
