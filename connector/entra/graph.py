"""Microsoft Graph client construction: the real msgraph-sdk, its retries bounded for a queue."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx
from azure.core.credentials import TokenCredential
from kiota_abstractions.authentication import (
    AnonymousAuthenticationProvider,
    AuthenticationProvider,
)
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware import BaseMiddleware, RetryHandler
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_request_adapter import options as sdk_options
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import GraphClientFactory  # type: ignore[import-untyped]
from msgraph_core.middleware import GraphTelemetryHandler  # type: ignore[import-untyped]
from msgraph_core.middleware.options import (  # type: ignore[import-untyped]
    GraphTelemetryHandlerOption,
)

from connector.core.net import is_loopback, retry_after_seconds

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def check_base_url(base_url: str, *, anonymous: bool) -> None:
    """Refuse a base URL that would send a token in clear, or no token to the real service."""
    scheme = urlsplit(base_url).scheme
    if scheme not in ("http", "https") or not urlsplit(base_url).hostname:
        raise ValueError("must be an http(s) URL such as https://graph.microsoft.com/v1.0")
    if scheme == "http" and not is_loopback(base_url):
        raise ValueError("must use https:// (http:// is only for a loopback sandbox)")
    if anonymous and not (scheme == "http" and is_loopback(base_url)):
        raise ValueError("needs a credential unless it is a loopback http:// sandbox")


def retry_after_header(headers: Mapping[str, str] | None) -> str | None:
    """The `Retry-After` header's value, whatever its name's case; None if absent."""
    if not headers:
        return None
    return next((v for k, v in headers.items() if k.lower() == "retry-after"), None)


class BoundedRetryHandler(RetryHandler):
    """The SDK's retry handler, except that it never sleeps longer than `max_wait` in-process.

    kiota-http's `RetryHandler` honours any `Retry-After` below 180 s by sleeping; a queue
    trigger must instead hand a long wait back to the queue (as `Throttled`), so a response
    asking for more than `max_wait` seconds is returned to the caller at once. Its
    `RetryHandlerOption` has no retry callback, hence the subclass.
    """

    def __init__(self, options: RetryHandlerOption, *, max_wait: float) -> None:
        super().__init__(options)
        self.max_wait = max_wait

    def should_retry(
        self, request: httpx.Request, options: RetryHandlerOption, response: httpx.Response
    ) -> bool:
        """Retry what the SDK retries (429/503/504), unless asked to wait too long."""
        if not super().should_retry(request, options, response):
            return False
        wait = retry_after_seconds(retry_after_header(response.headers), default=None)
        return wait is None or wait <= self.max_wait


def build_client(
    base_url: str,
    credential: TokenCredential | None,
    *,
    max_retries: int = 3,
    max_wait: float = 5.0,
    timeout: float = 30.0,
) -> tuple[GraphServiceClient, httpx.AsyncClient]:
    """A `GraphServiceClient` on `base_url` (anonymous: loopback sandbox only), and its pool."""
    check_base_url(base_url, anonymous=credential is None)
    base_url = base_url.rstrip("/")
    auth: AuthenticationProvider
    if credential is None:
        auth = AnonymousAuthenticationProvider()
    else:
        host = urlsplit(base_url).hostname or ""
        auth = AzureIdentityAuthenticationProvider(
            credential, scopes=[GRAPH_SCOPE], allowed_hosts=[host]
        )
    # delay=0: the SDK's default adds 3 s to every backoff (0.5 s, 1 s, 2 s, plus jitter).
    retry = RetryHandlerOption(delay=0, max_retries=max_retries)
    middleware: list[BaseMiddleware] = [
        BoundedRetryHandler(retry, max_wait=max_wait) if isinstance(m, RetryHandler) else m
        for m in KiotaClientFactory.get_default_middleware(sdk_options)
    ]
    telemetry = sdk_options[GraphTelemetryHandlerOption.get_key()]
    middleware.append(GraphTelemetryHandler(options=telemetry))
    http_client = httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        http2=True,  # as the SDK's own default client; plain http:// stays HTTP/1.1
    )
    http_client = GraphClientFactory.create_with_custom_middleware(middleware, client=http_client)
    adapter = GraphRequestAdapter(auth, client=http_client)
    adapter.base_url = base_url
    return GraphServiceClient(request_adapter=adapter), http_client
