"""The real `GraphServiceClient`, pointed at a loopback Graph sandbox.

It is built the way `GraphRequestAdapter` builds its own default client (msgraph-core's
`GraphClientFactory` with the SDK's middleware options: redirect, retry, parameter-name
decoding, URL replace, user agent, headers and body inspection, telemetry), with only the
authentication (anonymous: the sandbox checks no token) and the base URL changed.
"""

from __future__ import annotations

from kiota_abstractions.authentication import AnonymousAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.graph_request_adapter import options as sdk_middleware_options
from msgraph_core import GraphClientFactory


def make_graph_client(base_url: str) -> GraphServiceClient:
    """A real Graph client whose requests go to `{base_url}/v1.0`."""
    api_root = f"{base_url.rstrip('/')}/v1.0"
    http_client = GraphClientFactory.create_with_default_middleware(options=sdk_middleware_options)
    http_client.base_url = api_root
    adapter = GraphRequestAdapter(AnonymousAuthenticationProvider(), client=http_client)
    adapter.base_url = api_root
    return GraphServiceClient(request_adapter=adapter)
