"""Which key opens which HTTP function: the declared auth levels, under the emulated host's
key check (tests/http_host.py). The webhook's key is in Lucca, where anyone who can read the
endpoint sees it: it must not open the integration log."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import azure.functions as func
import pytest

from tests.conftest import WEBHOOK_SECRET, AppLoader, app_functions, run_cli
from tests.http_host import HttpHost
from tests.sandboxes.lucca import LuccaSandbox, signed_delivery

pytestmark = pytest.mark.azurite

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK = "/api/lucca/webhook"
LOGS = "/api/logs"


@pytest.fixture
def app(load_app: AppLoader) -> ModuleType:
    """The Functions app with the test settings on the session's Azurite."""
    return load_app()


@pytest.fixture
def host(app: ModuleType) -> HttpHost:
    """The app behind the emulated host, with the keys the README has the operator create."""
    return HttpHost(app)


@pytest.fixture
def lucca() -> Iterator[LuccaSandbox]:
    """Lucca, with one employee hired (so its events exist)."""
    with LuccaSandbox() as sandbox:
        sandbox.add_employee("Zoé", "Martin", "zoe.martin@acme.fr")
        yield sandbox


def delivery(lucca: LuccaSandbox) -> tuple[bytes, dict[str, str]]:
    """Lucca's signed POST of its last employee event."""
    return signed_delivery(lucca.recorded_events("employee.created")[-1], WEBHOOK_SECRET)


def test_http_functions_declare_auth_level_function(app: ModuleType) -> None:
    """Both HTTP functions need a key (auth level FUNCTION): none is anonymous, none takes
    only the master key."""
    levels = {}
    for name, function in app_functions(app).items():
        for binding in (json.loads(b) for b in function.get_raw_bindings()):
            if binding["type"] == "httpTrigger":
                levels[name] = binding["authLevel"]
    assert levels == {"lucca_webhook": "FUNCTION", "logs": "FUNCTION"}


def test_the_webhook_key_opens_the_webhook_not_the_log(host: HttpHost, lucca: LuccaSandbox) -> None:
    """A key of lucca_webhook (the one in Lucca) is accepted by the webhook and refused by
    GET /api/logs; the log's own `monitoring` key opens the log and not the webhook."""
    webhook_key = host.set_function_key("lucca_webhook", "lucca")
    monitoring_key = host.set_function_key("logs", "monitoring")
    body, headers = delivery(lucca)

    answer = host.request("POST", WEBHOOK, params={"code": webhook_key}, body=body, headers=headers)
    assert answer.status_code == 202
    echo = host.request("GET", WEBHOOK, params={"code": webhook_key, "echo": "ready"})
    assert (echo.status_code, echo.get_body()) == (200, b"ready")
    assert host.request("GET", LOGS, params={"code": webhook_key}).status_code == 401
    assert host.request("GET", LOGS, headers={"x-functions-key": webhook_key}).status_code == 401

    logs = host.request("GET", LOGS, params={"code": monitoring_key, "since": "1h"})
    assert logs.status_code == 200 and "entries" in json.loads(logs.get_body())
    assert (
        host.request("GET", WEBHOOK, params={"code": monitoring_key, "echo": "x"}).status_code
        == 401
    )


def test_a_host_key_opens_both_functions(host: HttpHost) -> None:
    """A host key (`default`, or one named like `lucca`) and the master key open the webhook
    and the log alike: which is why Lucca must never be given one."""
    for key in (host.host_keys["default"], host.set_host_key("lucca"), host.master_key):
        assert host.request("GET", WEBHOOK, params={"code": key, "echo": "e"}).status_code == 200
        assert host.request("GET", LOGS, headers={"x-functions-key": key}).status_code == 200


@pytest.mark.parametrize("key", [None, "", "not-a-key"], ids=["no key", "empty key", "unknown key"])
def test_no_key_or_an_unknown_key_is_401(host: HttpHost, key: str | None) -> None:
    """Without a known key the host answers 401 and the function never runs."""
    params = {"echo": "e"} | ({"code": key} if key is not None else {})
    assert host.request("GET", WEBHOOK, params=params).status_code == 401
    assert host.request("GET", LOGS, params=params if key else {}).status_code == 401
    assert host.request("GET", "/api/nowhere", params={"code": host.master_key}).status_code == 404


def test_the_emulation_keeps_admin_functions_to_the_master_key() -> None:
    """Auth level ADMIN opens with the master key only (a host key or its own key get 401),
    ANONYMOUS with none: the emulation follows the level each binding declares."""
    app = func.FunctionApp()

    @app.function_name("admin_only")
    @app.route(route="admin", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
    def admin_only(req: func.HttpRequest) -> func.HttpResponse:
        """Answers 200."""
        return func.HttpResponse("ok")

    @app.function_name("open")
    @app.route(route="open", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def open_(req: func.HttpRequest) -> func.HttpResponse:
        """Answers 200."""
        return func.HttpResponse("ok")

    module = types.ModuleType("admin_app")
    module.app = app  # type: ignore[attr-defined]
    host = HttpHost(module)
    own = host.set_function_key("admin_only", "own")
    for key, status in ((own, 401), (host.host_keys["default"], 401), (host.master_key, 200)):
        assert host.request("GET", "/api/admin", params={"code": key}).status_code == status
    assert host.request("GET", "/api/open").status_code == 200


def test_the_docs_and_the_command_line_give_lucca_a_key_of_the_webhook_only() -> None:
    """The deployment steps and `webhook register` create and use a key of lucca_webhook
    (`az functionapp function keys … --function-name lucca_webhook`), never a host key."""
    readme = "\n".join(p.read_text() for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
    assert "--query functionKeys" not in readme  # a host key read for Lucca
    assert "--key-type functionKeys" not in readme
    create = 'az functionapp function keys set -g "$RG" -n "$APP" --function-name lucca_webhook'
    assert create in readme
    assert "--function-name logs --key-name monitoring" in readme
    code, out, _ = run_cli({}, "webhook", "register", "--help")
    assert code == 0
    assert "--function-name lucca_webhook" in " ".join(out.split())
    assert "host key" in " ".join(out.split())
