"""The third-party loggers that would put personal data into the host's logs, kept quiet."""

from __future__ import annotations

import logging

# httpx logs every request's URL at INFO (Graph's `$filter=mail eq '…'` holds an email), the
# Azure SDK's HTTP logging policy each request's URL and headers at INFO, httpcore each step at
# DEBUG; in Azure the worker's records at INFO go to Application Insights. Only their problems
# are worth keeping.
QUIET_LOGGERS = ("httpx", "httpcore", "azure.core.pipeline.policies.http_logging_policy")


def quiet_http_loggers() -> None:
    """Set the HTTP clients' loggers to WARNING; called first by every entry point."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
