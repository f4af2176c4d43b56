"""No personal data and no secret in what the connector logs, end to end.

In Azure the worker's log records at INFO and above go to Application Insights; httpx and the
Azure SDK log each request's URL (Graph's `$filter=mail eq '…'` included). Every record of a
full story — hires, a link by mail, a change of email, a leaver, the emails — is captured at
DEBUG from the root logger and searched for the employees' emails and names and every secret.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import unquote

import pytest

from tests.conftest import WEBHOOK_SECRET
from tests.e2e.conftest import DOMAIN, LUCCA_CLIENT, NOTIFY_TO, World
from tests.e2e.test_sync import change, hire

pytestmark = pytest.mark.azurite

# The loggers start-up quiets (connector/core/loggers.py); unset here so the app must set them.
QUIETED = ("httpx", "httpcore", "azure.core.pipeline.policies.http_logging_policy")


class Everything(logging.Handler):
    """Keeps every record it is handed, whatever its level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record."""
        self.records.append(record)


@pytest.fixture
def captured() -> Iterator[Everything]:
    """The root logger at DEBUG into one handler; the quieted loggers' levels unset first."""
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in (*QUIETED, "")}
    for name in QUIETED:
        logging.getLogger(name).setLevel(logging.NOTSET)
    root.setLevel(logging.DEBUG)
    handler = Everything()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def text_of(record: logging.LogRecord) -> str:
    """What a handler could write of a record: its message, its arguments, its extras, its
    exception; URL-decoded too (a `$filter` in a URL is percent-encoded)."""
    parts = [record.getMessage(), repr(record.args), repr(record.__dict__)]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    text = "\n".join(parts)
    return f"{text}\n{unquote(text)}"


def test_a_full_story_logs_no_email_no_name_no_secret(
    make_world: Any, captured: Everything
) -> None:
    """Webhook → queue → sync → Graph and the emails: no record holds an email, a name or a
    secret, at any level."""
    world: World = make_world(notify=True)
    world.set_clock(datetime(2026, 10, 1, 9, 0, tzinfo=UTC))
    manager = hire(world, "Aurèle", "Fontanarosa", f"aurele.fontanarosa@{DOMAIN}")
    world.graph.add_user(
        displayName="Y. Kervadec",
        mail=f"ysaline.kervadec@{DOMAIN}",
        userPrincipalName=f"ysaline.kervadec@{DOMAIN}",
    )
    report = hire(
        world,
        "Ysaline",
        "Kervadec",
        f"ysaline.kervadec@{DOMAIN}",
        manager_id=manager,
        job_title="Cartographe",
        start="2020-01-01",
    )
    change(world, lambda: world.lucca.update_employee(report, email=f"y.kervadec@{DOMAIN}"))
    change(world, lambda: world.lucca.end_employment(report, date(2026, 10, 24)))
    world.notify()
    world.tick(datetime(2026, 10, 24, 22, 0, tzinfo=UTC))
    world.notify(datetime(2026, 10, 24, 22, 0, 30, tzinfo=UTC))
    assert world.account_of(report)["mail"] == f"y.kervadec@{DOMAIN}"
    assert world.account_of(report)["accountEnabled"] is False
    assert len(world.emails()) >= 2  # the manager's account created, the leaver's deactivated
    assert world.lucca.issued_tokens()

    forbidden = [
        f"aurele.fontanarosa@{DOMAIN}",
        f"ysaline.kervadec@{DOMAIN}",
        f"y.kervadec@{DOMAIN}",
        "ysaline.kervadec",  # the login's local part, as it appears quoted in a $filter
        NOTIFY_TO,
        "Aurèle",
        "Fontanarosa",
        "Ysaline",
        "Kervadec",
        "Cartographe",
        WEBHOOK_SECRET,
        LUCCA_CLIENT["client_secret"],
        *world.lucca.issued_tokens(),
        world.acs.key if world.acs else "",
    ]
    assert len(captured.records) > 50  # the capture works: the story logs at every level
    leaks = [
        (record.name, record.levelname, word, record.getMessage()[:200])
        for record in captured.records
        for word in forbidden
        if word and word.lower() in text_of(record).lower()
    ]
    assert leaks == [], "\n".join(map(str, leaks))
