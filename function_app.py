"""Azure Functions entry points: thin wiring from triggers to the `connector` package."""

from __future__ import annotations

import azure.functions as func

from connector.changes import ChangeFeed
from connector.intake import Intake
from connector.settings import load_settings
from connector.store import Storage

# Validated once, at start-up: a missing or malformed setting stops the app here, naming it.
settings = load_settings()

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


# Built once per worker, at start-up (no I/O): the webhook's storage clients fail fast, to
# answer within Lucca's 3 seconds.
intake = Intake(
    feed=ChangeFeed(Storage.from_settings(settings, fast=True)),
    secrets=settings.webhook_secrets,
    delay_seconds=settings.SYNC_DELAY_SECONDS,
)


@app.function_name("lucca_webhook")
@app.route(route="lucca/webhook", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
def lucca_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """Lucca's deliveries and its activation handshake."""
    answer = intake.receive(
        method=req.method, params=req.params, headers=req.headers, body=req.get_body()
    )
    return func.HttpResponse(answer.body, status_code=answer.status, mimetype=answer.mimetype)
