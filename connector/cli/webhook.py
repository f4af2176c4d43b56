"""`python -m connector webhook register|status|ping`: the connector's endpoint in Lucca.

- `register --url URL` creates the endpoint (the nine topics of `WEBHOOK_TOPICS`) and prints its
  id, status and signing secret, once, with what to do with it. The secret is written to the
  terminal (or the `--json` document) only: never to a file, a log or the integration log.
- `status` shows the endpoint (`--id`, else LUCCA_WEBHOOK_ENDPOINT_ID, else every endpoint of
  the API client): id, URL with the `code=` key masked, topics, status. Exit 1 when one is not
  active, lacks one of the topics, or there is none.
- `ping` has Lucca send a `ping` event to it. Exit 1 when Lucca reports the delivery failed.

Each asks Lucca for the scopes it needs only: `webhook-endpoints.readwrite` (register, status),
`webhook-deliveries.readwrite` (ping).
"""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from connector.cli.common import (
    EXIT_CODES,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    Context,
    add_command,
    wrapped,
)
from connector.core.errors import NotFound
from connector.flows.catchup import masked_url
from connector.lucca.client import PING_SCOPE, WEBHOOK_WRITE_SCOPE
from connector.lucca.models import WEBHOOK_TOPICS, LuccaWebhookEndpoint
from connector.runtime.clients import lucca_scoped_client

DEFAULT_NAME = "Entra connector"
KEY_VAULT_SECRET = "lucca-webhook-secret"  # noqa: S105 (the name of a Key Vault secret)
# A key of this one function: a host key would open GET /api/logs too (docs/security.md).
KEY_COMMAND = (
    'az functionapp function keys set -g "$RG" -n "$APP" --function-name lucca_webhook '
    "--key-name lucca"
)


def add_webhook_commands(commands: Any) -> argparse.ArgumentParser:
    """Register `webhook register|status|ping`."""
    webhook: argparse.ArgumentParser = commands.add_parser(
        "webhook",
        help="the connector's webhook endpoint in Lucca: register, status, ping",
        description=wrapped(
            "The endpoint Lucca delivers its events to: register it (prints its signing secret "
            "once), show its status, have Lucca ping it."
        ),
        epilog=(
            "examples:\n"
            "  python -m connector webhook register --url "
            "'https://<app>.azurewebsites.net/api/lucca/webhook?code=<function key>'\n"
            "    (the key: " + KEY_COMMAND + ")\n"
            "  python -m connector webhook status\n"
            "  python -m connector webhook ping\n\n" + EXIT_CODES
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = webhook.add_subparsers(title="subcommands", metavar="SUBCOMMAND", required=True)
    register = add_command(
        actions,
        "register",
        run_register,
        "register the endpoint in Lucca and print its secret once",
        wrapped(
            "Create the webhook endpoint in Lucca, subscribed to the nine topics the connector "
            f"handles ({', '.join(WEBHOOK_TOPICS)}), and print its id, status and signing "
            "secret. Lucca shows the secret in this answer only: store it in Key Vault as "
            f"{KEY_VAULT_SECRET} at once. Nothing is created when an endpoint with the same URL "
            "exists already (exit 1). Needs the scope webhook-endpoints.readwrite. The URL's "
            "code= must be a key of the lucca_webhook function only (" + KEY_COMMAND + "): "
            "anyone who can read the endpoint in Lucca sees it, and a host key or the master key "
            "would also open GET /api/logs and its names and emails."
        ),
    )
    register.add_argument(
        "--url",
        required=True,
        metavar="URL",
        help="the webhook's https:// address with a key of the lucca_webhook function (never a "
        "host key): .../api/lucca/webhook?code=…",
    )
    register.add_argument(
        "--name", default=DEFAULT_NAME, help=f"the endpoint's name in Lucca ({DEFAULT_NAME})"
    )
    register.add_argument(
        "--rotate",
        action="store_true",
        help="create a second endpoint for the same URL, to rotate the signing secret "
        "(docs/lucca-setup.md: LUCCA_WEBHOOK_SECRET_PREVIOUS, then delete the old endpoint "
        "in Lucca)",
    )
    for name, run, summary, description in (
        (
            "status",
            run_status,
            "the endpoint's id, URL (key masked), topics and status",
            "Show the endpoint (--id, else LUCCA_WEBHOOK_ENDPOINT_ID, else every endpoint of the "
            "API client): id, URL with the code= key masked, topics, status. Exit 1 when one is "
            "not active (Lucca suspends an endpoint after failed deliveries), lacks one of the "
            "connector's topics, or there is none.",
        ),
        (
            "ping",
            run_ping,
            "have Lucca send a ping event to the endpoint",
            "Ask Lucca to send a ping event to the endpoint (--id, else "
            "LUCCA_WEBHOOK_ENDPOINT_ID, else the only endpoint) and show the delivery Lucca "
            "reports. Exit 1 when Lucca reports it failed. Needs the scope "
            "webhook-deliveries.readwrite.",
        ),
    ):
        parser = add_command(actions, name, run, summary, wrapped(description))
        parser.add_argument("--id", metavar="ID", help="the endpoint's id in Lucca")
    return webhook


# --- register ------------------------------------------------------------------------------


def run_register(ctx: Context) -> int:
    """Create the endpoint, print the secret once with the next steps."""
    url: str = ctx.args.url.strip()
    problem = _url_problem(url)
    if problem is not None:
        ctx.err.write(f"connector: --url: {problem}\n")
        return EXIT_USAGE
    settings = ctx.lucca_settings()
    with lucca_scoped_client(settings, ctx.storage(), (WEBHOOK_WRITE_SCOPE,)) as lucca:
        existing = [e for e in lucca.webhook_endpoints() if e.webhook_url == url]
        if existing and not ctx.args.rotate:
            return _already(ctx, existing[0])
        endpoint, secret = lucca.create_webhook_endpoint(
            name=ctx.args.name, webhook_url=url, topics=WEBHOOK_TOPICS
        )
    if ctx.args.json:
        document = _endpoint_json(endpoint) | {
            "secret": secret,
            "key_vault_secret": KEY_VAULT_SECRET,
            "setting": {"LUCCA_WEBHOOK_ENDPOINT_ID": endpoint.id},
        }
        json.dump(document, ctx.out, indent=2)
        ctx.out.write("\n")
        return EXIT_OK
    ctx.out.write(
        f"Registered webhook endpoint {endpoint.id} in Lucca (status: {endpoint.status}).\n"
        f"URL: {masked_url(endpoint.webhook_url)}\n"
        f"Topics: {', '.join(endpoint.topics)}\n\n"
        "Signing secret (Lucca shows it this once; it is written nowhere else):\n\n"
        f"  {secret}\n\n"
        "Next steps:\n"
        f"  1. Store it in Key Vault as {KEY_VAULT_SECRET} (LUCCA_WEBHOOK_SECRET references it):\n"
        f'       az keyvault secret set --vault-name "$KEY_VAULT_NAME" --name {KEY_VAULT_SECRET} '
        "--value '<the secret above>'\n"
        f"  2. Set LUCCA_WEBHOOK_ENDPOINT_ID={endpoint.id}, which also restarts the app so it "
        "reads the secret:\n"
        '       az functionapp config appsettings set -g "$RG" -n "$APP" --settings '
        f"LUCCA_WEBHOOK_ENDPOINT_ID={endpoint.id}\n"
        "  3. Check: python -m connector webhook status, then python -m connector webhook ping\n"
        "The URL's code= must be a key of the lucca_webhook function only, never a host key: "
        "anyone who can read the endpoint in Lucca sees it, and a host key also opens GET "
        "/api/logs.\n"
        "Until step 2 is done, deliveries are refused (401) and Lucca retries them; the catch-up "
        "replays what they miss.\n"
    )
    return EXIT_OK


def _url_problem(url: str) -> str | None:
    """Why Lucca's deliveries to `url` could not reach the connector, or None."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return "must be an https:// address (Lucca delivers to https only)"
    if not any(k.lower() == "code" and v for k, v in parse_qsl(parts.query)):
        return (
            "has no ?code=<function key>: the Functions host would answer 401 to every "
            f"delivery (a key of the lucca_webhook function only: {KEY_COMMAND})"
        )
    return None


def _already(ctx: Context, endpoint: LuccaWebhookEndpoint) -> int:
    message = (
        f"Lucca already has endpoint {endpoint.id} for this URL (status: {endpoint.status}); "
        "nothing was created. Lucca does not show its secret again: to get a new one, register "
        "a second endpoint with --rotate (docs/lucca-setup.md, rotating the signing secret)."
    )
    if ctx.args.json:
        json.dump(_endpoint_json(endpoint) | {"created": False}, ctx.out, indent=2)
        ctx.out.write("\n")
    ctx.err.write(f"connector: {message}\n")
    return EXIT_PROBLEMS


# --- status --------------------------------------------------------------------------------


def run_status(ctx: Context) -> int:
    """The endpoint(s) and whether they deliver what the connector needs."""
    settings = ctx.lucca_settings()
    wanted = ctx.args.id or settings.LUCCA_WEBHOOK_ENDPOINT_ID
    with lucca_scoped_client(settings, ctx.storage(), (WEBHOOK_WRITE_SCOPE,)) as lucca:
        try:
            endpoints = [lucca.webhook_endpoint(wanted)] if wanted else lucca.webhook_endpoints()
        except NotFound:  # Lucca answered: there is no such endpoint (a problem, not an outage)
            ctx.err.write(f"connector: Lucca has no webhook endpoint {wanted}.\n")
            return EXIT_PROBLEMS
    problems = [e for e in endpoints if e.status != "active" or e.missing_topics]
    if ctx.args.json:
        json.dump([_endpoint_json(e) for e in endpoints], ctx.out, indent=2)
        ctx.out.write("\n")
    elif not endpoints:
        ctx.out.write("Lucca has no webhook endpoint for this API client: run webhook register.\n")
    else:
        ctx.out.write("\n".join(_status_text(e) for e in endpoints))
    return EXIT_PROBLEMS if problems or not endpoints else EXIT_OK


def _status_text(endpoint: LuccaWebhookEndpoint) -> str:
    lines = [
        f"Endpoint {endpoint.id}: {endpoint.status}",
        f"  name: {endpoint.name}",
        f"  url: {masked_url(endpoint.webhook_url)}",
        f"  topics: {', '.join(endpoint.topics) or '(none)'}",
    ]
    if endpoint.missing_topics:
        lines.append(f"  missing topics: {', '.join(endpoint.missing_topics)}")
    if endpoint.status == "suspended":
        lines.append(
            textwrap.fill(
                "Lucca suspended it after failed deliveries: fix the cause (a wrong secret or "
                "function key answers 401), reactivate it in Lucca (Integrations → Endpoints), "
                "then ping it. The catch-up replays the events meanwhile.",
                width=88,
                initial_indent="  ",
                subsequent_indent="  ",
            )
        )
    elif endpoint.status != "active":
        lines.append("  Lucca delivers nothing to it: activate it in Lucca.")
    return "\n".join(lines) + "\n"


def _endpoint_json(endpoint: LuccaWebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "name": endpoint.name,
        "url": masked_url(endpoint.webhook_url),
        "topics": list(endpoint.topics),
        "missing_topics": list(endpoint.missing_topics),
        "status": endpoint.status,
    }


# --- ping ----------------------------------------------------------------------------------


def run_ping(ctx: Context) -> int:
    """Have Lucca ping the endpoint."""
    settings = ctx.lucca_settings()
    storage = ctx.storage()
    wanted = ctx.args.id or settings.LUCCA_WEBHOOK_ENDPOINT_ID
    if not wanted:
        with lucca_scoped_client(settings, storage, (WEBHOOK_WRITE_SCOPE,)) as lucca:
            endpoints = lucca.webhook_endpoints()
        if len(endpoints) != 1:
            ctx.err.write(
                f"connector: Lucca has {len(endpoints)} webhook endpoints for this API client: "
                "say which with --id (or set LUCCA_WEBHOOK_ENDPOINT_ID)\n"
            )
            return EXIT_USAGE
        wanted = endpoints[0].id
    with lucca_scoped_client(settings, storage, (PING_SCOPE,)) as lucca:
        try:
            delivery = lucca.ping_webhook_endpoint(wanted)
        except NotFound:
            ctx.err.write(f"connector: Lucca has no webhook endpoint {wanted}.\n")
            return EXIT_PROBLEMS
    if ctx.args.json:
        document = {
            "endpoint_id": wanted,
            "delivery_id": delivery.id,
            "status": delivery.status,
            "attempts": delivery.attempts_count,
        }
        json.dump(document, ctx.out, indent=2)
        ctx.out.write("\n")
    else:
        ctx.out.write(
            f"Lucca sent a ping to endpoint {wanted}: delivery {delivery.id}, "
            f"{delivery.status or 'status unknown'}"
            f" ({delivery.attempts_count if delivery.attempts_count is not None else '?'} "
            "attempts). The lucca_webhook function logs 'webhook event ping acknowledged'.\n"
        )
    return EXIT_PROBLEMS if delivery.status == "failed" else EXIT_OK
