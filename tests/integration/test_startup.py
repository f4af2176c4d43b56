"""What the Functions host sees when it loads the app: start-up checks, imports, host.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connector.storage.tables import QUEUE_MESSAGE_ENCODING
from tests.conftest import base_settings

ROOT = Path(__file__).resolve().parents[2]
KEY_VAULT_REFERENCE = "@Microsoft.KeyVault(SecretUri=https://kv-acme.vault.azure.net/secrets/wh)"


def load_in_fresh_interpreter(
    env: dict[str, str], code: str = "import function_app"
) -> subprocess.CompletedProcess[str]:
    """Import the app as the Functions worker does: a new interpreter, these app settings."""
    clean = {k: v for k, v in os.environ.items() if k not in base_settings("")}
    return subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# Run in the fresh interpreter: every function of the app called once, as the host would.
BROKEN_APP_PROBE = """
import json, logging
lines = []
class Keep(logging.Handler):
    def emit(self, record):
        lines.append((record.levelname, record.getMessage()))
logging.getLogger().addHandler(Keep())
logging.getLogger().setLevel(logging.INFO)
import azure.functions as func
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
import function_app
functions = {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}
seen = {}
for name, function in sorted(functions.items()):
    del lines[:]
    if name in ("lucca_webhook", "logs"):
        answer = function(func.HttpRequest("POST", "https://c.example/api/x", headers={},
                                           params={}, body=b'{"id": "9001"}'))
        outcome = [answer.status_code, answer.get_body().decode()]
    elif name.startswith("sync_employee"):
        try:
            function(QueueMessage(id="m1", body=b'{"employeeId": "42"}', dequeue_count=1))
            outcome = "returned"
        except Exception:
            outcome = "raised"
    else:
        function(TimerRequest(past_due=False))
        outcome = "returned"
    seen[name] = {"outcome": outcome, "lines": list(lines)}
print(json.dumps(seen))
"""
APP_FUNCTIONS = {
    "lucca_webhook",
    "logs",
    "sync_employee",
    "sync_employee_poison",
    "deactivate_leavers",
    "send_notifications",
    "housekeeping",
    "catch_up",
    "reconcile_nightly",
}


@pytest.mark.parametrize(
    ("change", "named", "hidden"),
    [
        ({"LUCCA_WEBHOOK_SECRET": KEY_VAULT_REFERENCE}, "LUCCA_WEBHOOK_SECRET", "kv-acme"),
        ({"LUCCA_CLIENT_ID": None}, "LUCCA_CLIENT_ID", None),
        ({"LUCCA_BASE_URL": "acme dot ilucca"}, "LUCCA_BASE_URL", "acme dot ilucca"),
        ({"LUCCA_BASE_URL": "http://acme.ilucca.net"}, "LUCCA_BASE_URL", "acme.ilucca"),
        (
            {"LUCCA_TOKEN_URL": "http://accounts.example/connect/token"},
            "LUCCA_TOKEN_URL",
            "accounts.example",
        ),
        ({"AzureWebJobsStorage": "nonsense-7e1d"}, "AzureWebJobsStorage", "nonsense-7e1d"),
        (
            {"AzureWebJobsStorage": "AccountName=acme7e1d;AccountKey=a2V5;EndpointSuffix="},
            "AzureWebJobsStorage",
            "acme7e1d",
        ),
    ],
)
def test_app_with_a_broken_setting_answers_503_and_alerts(
    change: dict[str, str | None], named: str, hidden: str | None
) -> None:
    """An unresolved Key Vault reference, a missing or a malformed setting (a connection string
    the storage SDK refuses included): every function is
    still registered, the webhook answers 503 with a generic body, each timer and queue function
    writes one `connector alert:` line naming the setting (never its value), and the queue
    functions raise, so no message is consumed."""
    env = base_settings("UseDevelopmentStorage=true")
    for name, value in change.items():
        if value is None:
            env.pop(name)
        else:
            env[name] = value
    result = load_in_fresh_interpreter(env, BROKEN_APP_PROBE)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert set(seen) == APP_FUNCTIONS
    for name in ("lucca_webhook", "logs"):
        status, body = seen[name]["outcome"]
        assert status == 503
        assert named not in body
    for name in APP_FUNCTIONS - {"lucca_webhook", "logs"}:
        assert seen[name]["outcome"] == ("raised" if name.startswith("sync") else "returned")
        [(level, line)] = seen[name]["lines"]
        assert level == "WARNING"
        assert line.startswith(f"connector alert: settings invalid (function {name}: ")
        assert f"setting {named}" in line
    everything = result.stdout + result.stderr
    if hidden:
        assert hidden not in everything
    for secret in ("lucca-client-secret-5c1a", "whsec-current-3b1f0c"):
        assert secret not in everything


def test_app_starts_with_valid_settings() -> None:
    """The same import succeeds with valid settings (so the failures above are the settings)."""
    result = load_in_fresh_interpreter(base_settings("UseDevelopmentStorage=true"))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "imports",
    ["function_app", "function_app, connector.storage.logquery"],
    ids=["webhook", "webhook-and-logs"],
)
def test_intake_imports_no_graph_and_no_email_client(imports: str) -> None:
    """The webhook's cold start loads neither msgraph, azure-identity, the email client nor
    the telemetry exporter and OpenTelemetry (connector/runtime/telemetry.py); nor does GET
    /api/logs, which runs in the same worker."""
    probe = (
        f"import sys, {imports}\n"
        "heavy = sorted({m.split('.')[0] + '.' + m.split('.')[1] if m.startswith('azure.') "
        "else m.split('.')[0] for m in sys.modules\n"
        "  if m.startswith(('msgraph', 'kiota', 'azure.identity', 'azure.communication', "
        "'httpx', 'azure.monitor', 'opentelemetry', 'psutil', 'msrest'))})\n"
        "print(','.join(heavy))\n"
    )
    result = load_in_fresh_interpreter(base_settings("UseDevelopmentStorage=true"), probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


QUIETED = ("httpx", "httpcore", "azure.core.pipeline.policies.http_logging_policy")


@pytest.mark.parametrize(
    "start",
    [
        "import function_app",
        "import io\nfrom connector.cli.main import main\n"
        "main(['logs', '--help'], out=io.StringIO(), err=io.StringIO())",
    ],
    ids=["function-app", "command-line"],
)
def test_entry_points_quiet_the_http_loggers(start: str) -> None:
    """Loading the app, or running any command, sets httpx, httpcore and the Azure SDK's HTTP
    logging to WARNING: their INFO lines hold request URLs (with emails in Graph filters)."""
    probe = (
        f"import logging\n{start}\n"
        f"print(','.join(logging.getLevelName(logging.getLogger(n).level) for n in {QUIETED!r}))\n"
    )
    result = load_in_fresh_interpreter(base_settings("UseDevelopmentStorage=true"), probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "WARNING,WARNING,WARNING"


def test_queue_encoding_matches_host_json() -> None:
    """The intake writes messages in the encoding host.json tells the queue trigger to read."""
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["queues"]["messageEncoding"] == QUEUE_MESSAGE_ENCODING == "base64"
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"


def test_trigger_declarations(monkeypatch: pytest.MonkeyPatch) -> None:
    """The queue triggers read lucca-changes and its poison queue through AzureWebJobsStorage;
    the timers' schedules are the SCHEDULE_TIMER and NOTIFY_TIMER app settings (NCRONTAB,
    UTC)."""
    for name, value in base_settings("UseDevelopmentStorage=true").items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("function_app", None)
    import function_app  # noqa: PLC0415

    try:
        bindings = {
            f.get_function_name(): [json.loads(b) for b in f.get_raw_bindings()]
            for f in function_app.app.get_functions()
        }
    finally:
        sys.modules.pop("function_app", None)
    [sync] = bindings["sync_employee"]
    [poison] = bindings["sync_employee_poison"]
    [timer] = bindings["deactivate_leavers"]
    assert (sync["type"], sync["queueName"], sync["connection"]) == (
        "queueTrigger",
        "lucca-changes",
        "AzureWebJobsStorage",
    )
    assert poison["queueName"] == "lucca-changes-poison"
    assert (timer["type"], timer["schedule"]) == ("timerTrigger", "%SCHEDULE_TIMER%")
    [notify] = bindings["send_notifications"]
    assert (notify["type"], notify["schedule"]) == ("timerTrigger", "%NOTIFY_TIMER%")
    [housekeeping] = bindings["housekeeping"]
    assert (housekeeping["type"], housekeeping["schedule"]) == (
        "timerTrigger",
        "%HOUSEKEEPING_TIMER%",
    )
    [catch_up] = bindings["catch_up"]
    assert (catch_up["type"], catch_up["schedule"]) == ("timerTrigger", "%CATCHUP_TIMER%")
    assert catch_up.get("runOnStartup") in (None, False)
    [nightly] = bindings["reconcile_nightly"]
    assert (nightly["type"], nightly["schedule"]) == ("timerTrigger", "%RECONCILE_TIMER%")
    assert nightly.get("runOnStartup") in (None, False)
