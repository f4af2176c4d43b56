"""`python -m connector doctor [--json]`: every check against the Lucca and Graph sandboxes over
HTTP and Azurite; the Graph token's roles come from a credential handed to `doctor` (issue 7)."""

from __future__ import annotations

import io
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.cli import doctor as cli_doctor
from connector.cli import graph_checks
from connector.cli.common import Context
from connector.cli.main import build_parser
from connector.runtime.settings import load_settings
from connector.storage.tables import Storage
from tests.azurite import ACCOUNT, ACCOUNT_KEY, Azurite
from tests.conftest import WEBHOOK_SECRET, base_settings, run_cli, sandbox_settings
from tests.integration.test_directory import FakeCredential, jwt
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.lucca import CONNECTOR_SCOPES, LuccaSandbox

pytestmark = pytest.mark.azurite
ROOT = Path(__file__).resolve().parents[2]
CLIENT_SECRET = "doctor-client-secret-7e2f"
URL = "https://func.example.net/api/lucca/webhook?code=doctor-function-key"
NEEDED = [
    "User.ReadWrite.All",
    "User.EnableDisableAccount.All",
    "User.Read.All",
    "Domain.Read.All",
    "RoleManagement.Read.Directory",  # administrators' accounts are never touched
    "User.RevokeSessions.All",  # REVOKE_SESSIONS is true by default
]
CHECKS = [
    "settings",
    "mode",
    "notifications",
    "storage",
    "lucca token",
    "lucca scope events.readonly",
    "lucca scope webhook-endpoints.readwrite",
    "lucca api",
    "sync scope",
    "graph permissions",
    "graph domains",
    "webhook endpoint",
]


def sandbox(scopes: Any = CONNECTOR_SCOPES) -> LuccaSandbox:
    return LuccaSandbox(
        client_secret=CLIENT_SECRET, scopes=scopes, rate_limit=1000, window_seconds=1
    )


@pytest.fixture
def lucca() -> Iterator[LuccaSandbox]:
    with sandbox() as running:
        yield running


def environ_for(lucca: LuccaSandbox, graph: GraphSandbox, connection: str) -> dict[str, str]:
    return sandbox_settings(connection, lucca, graph, client_secret=CLIENT_SECRET) | {
        "CONNECTOR_MODE": "apply",
        "NOTIFY_RECIPIENTS": "it@acme.fr",
        "NOTIFY_SENDER": "connector@acme.fr",
        "ACS_ENDPOINT": "https://acs.example.communication.azure.com",
    }


@pytest.fixture
def environ(
    lucca: LuccaSandbox, graph: GraphSandbox, azurite: Azurite, storage: Storage
) -> dict[str, str]:
    """Everything set up: the endpoint registered and named in LUCCA_WEBHOOK_ENDPOINT_ID."""
    env = environ_for(lucca, graph, azurite.connection_string)
    code, out, _ = run(env, "webhook", "register", "--url", URL)
    assert code == 0 and "Registered webhook endpoint 301" in out
    return env | {"LUCCA_WEBHOOK_ENDPOINT_ID": "301"}


run = run_cli


def doctor(
    environ: dict[str, str], roles: list[str] | None = None, *, claims: Any = None
) -> tuple[int, str, str, list[dict[str, Any]]]:
    """`doctor --json` with a Graph token carrying `roles` (or `claims`); (exit code, stdout,
    stderr, the checks by JSON)."""
    token = jwt(claims if claims is not None else {"roles": roles or [], "oid": "identity-1"})
    out, err = io.StringIO(), io.StringIO()
    ctx = Context(
        args=build_parser().parse_args(["doctor", "--json"]),
        environ=environ,
        out=out,
        err=err,
    )
    try:
        code = cli_doctor.doctor(ctx, credential=FakeCredential(token))
    finally:
        ctx.close()
    assert token not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue(), json.loads(out.getvalue())


def by_name(checks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["check"]: c for c in checks}


def test_all_pass_exit_0_with_one_json_object_per_check(
    lucca: LuccaSandbox, graph: GraphSandbox, environ: dict[str, str]
) -> None:
    code, _, err, checks = doctor(environ, NEEDED)

    assert (code, err) == (0, "")
    assert [c["check"] for c in checks] == CHECKS
    assert all(set(c) == {"check", "status", "detail", "fix"} for c in checks)
    assert {c["status"] for c in checks} == {"PASS"}, checks
    assert all(c["fix"] is None for c in checks)
    found = by_name(checks)
    assert "acme.fr" in found["graph domains"]["detail"]
    assert "endpoint 301" in found["webhook endpoint"]["detail"]
    assert "code=***" in found["webhook endpoint"]["detail"]
    # The Graph token was asked for as the SDK asks; the domains read like the sync's.
    assert any(r.path == "/v1.0/domains" for r in graph.requests)
    # One API request for the check (the webhook check's read is the other).
    assert lucca.count("GET", r"^/lucca-api/employees$") == 1
    employees = next(r for r in lucca.requests if r.path == "/lucca-api/employees")
    assert employees.query.get("limit") == ["1"]


def test_text_output_one_line_per_check_and_no_secret(
    lucca: LuccaSandbox, environ: dict[str, str]
) -> None:
    """Through `main`, on the anonymous Graph sandbox: the Graph token is not read (WARN)."""
    code, out, err = run(environ | {"CONNECTOR_MODE": "observe"}, "doctor")

    lines = out.splitlines()
    assert code == 0 and err == ""
    assert [line.split(":")[0] for line in lines[:-1]] == [
        f"{status}  {name}"
        for status, name in zip(
            [
                "PASS",
                "WARN",
                "PASS",
                "PASS",
                "PASS",
                "PASS",
                "PASS",
                "PASS",
                "PASS",
                "WARN",
                "PASS",
                "PASS",
            ],
            CHECKS,
            strict=True,
        )
    ]
    assert "skipped: sandbox, no token" in lines[9]
    assert "CONNECTOR_MODE apply" in lines[1]  # how to go live
    assert lines[-1] == "0 failed, 2 to look at, 10 passed."
    issued = list(lucca._tokens)
    assert issued  # the doctor did get Lucca tokens…
    for secret in [CLIENT_SECRET, WEBHOOK_SECRET, ACCOUNT_KEY, *issued, "doctor-function-key"]:
        assert secret not in out + err  # …and printed none, nor any secret


def test_a_missing_lucca_scope_is_named_and_the_other_checks_still_run(
    graph: GraphSandbox, azurite: Azurite, storage: Storage
) -> None:
    with sandbox(CONNECTOR_SCOPES - {"job-positions.readonly"}) as lucca:
        env = environ_for(lucca, graph, azurite.connection_string)
        code, _, _, checks = doctor(env, NEEDED)
        token_requests = [r.body.decode() for r in lucca.requests if r.path == "/connect/token"]

    found = by_name(checks)
    assert code == 1
    assert [c["check"] for c in checks] == [c for c in CHECKS if "webhook-endpoints" not in c]
    token = found["lucca token"]
    assert token["status"] == "FAIL"
    assert "job-positions.readonly" in token["detail"] and "job-positions.readonly" in token["fix"]
    assert "employees.readonly" not in token["detail"]  # only the one missing is named
    assert "API client in Lucca" in token["fix"]
    # Each scope was then asked for alone.
    assert "scope=job-positions.readonly" in " ".join(token_requests)
    assert any(t.endswith("scope=employees.readonly") for t in token_requests)
    # The others ran: the API answered on a token of the scopes granted, Graph was checked.
    assert found["lucca api"]["status"] == "PASS"
    assert found["lucca scope events.readonly"]["status"] == "PASS"
    assert found["storage"]["status"] == "PASS"
    assert found["graph permissions"]["status"] == "PASS"
    assert found["webhook endpoint"]["status"] == "WARN"
    assert "webhook register" in found["webhook endpoint"]["fix"]


def test_a_missing_catch_up_scope_fails_its_own_line(
    graph: GraphSandbox, azurite: Azurite, storage: Storage
) -> None:
    with sandbox(CONNECTOR_SCOPES - {"events.readonly"}) as lucca:
        code, _, _, checks = doctor(environ_for(lucca, graph, azurite.connection_string), NEEDED)

    found = by_name(checks)
    assert code == 1
    assert found["lucca token"]["status"] == "PASS"
    assert found["lucca scope events.readonly"]["status"] == "FAIL"
    assert "events.readonly" in found["lucca scope events.readonly"]["fix"]


def test_a_token_without_the_roles_read_fails_naming_it(environ: dict[str, str]) -> None:
    """A token granted before RoleManagement.Read.Directory was needed: FAIL, naming it and
    the grant (an upgrade must add it)."""
    code, _, _, checks = doctor(environ, [r for r in NEEDED if not r.startswith("RoleManagement")])

    line = by_name(checks)["graph permissions"]
    assert code == 1 and line["status"] == "FAIL"
    assert "lacks RoleManagement.Read.Directory" in line["detail"]
    assert "RoleManagement.Read.Directory" in line["fix"]


@pytest.mark.parametrize(
    ("scope", "add", "extra"),
    [
        ("group:4f1c2d3e-0000-4000-8000-00000000a11e", "true", {"GroupMember.ReadWrite.All"}),
        ("au:4f1c2d3e-0000-4000-8000-00000000a11e", "true", {"AdministrativeUnit.ReadWrite.All"}),
        ("group:4f1c2d3e-0000-4000-8000-00000000a11e", "false", set()),
    ],
    ids=["group-add", "au-add", "group-read-only"],
)
def test_match_scope_add_created_needs_the_member_write_of_its_kind(
    scope: str, add: str, extra: set[str]
) -> None:
    """Putting created accounts in MATCH_SCOPE needs the member write of a group or of an
    administrative unit; checking membership needs nothing more than User.Read.All."""
    environ = base_settings("UseDevelopmentStorage=true") | {
        "MATCH_SCOPE": scope,
        "MATCH_SCOPE_ADD_CREATED": add,
    }
    needed = graph_checks.graph_roles_needed(load_settings(environ))
    assert needed == frozenset(NEEDED) | extra


def test_a_missing_graph_permission_fails_naming_it(environ: dict[str, str]) -> None:
    roles = [r for r in NEEDED if r != "User.EnableDisableAccount.All"]
    code, _, _, checks = doctor(environ, roles)

    line = by_name(checks)["graph permissions"]
    assert code == 1 and line["status"] == "FAIL"
    assert "lacks User.EnableDisableAccount.All" in line["detail"]
    assert "User.EnableDisableAccount.All" in line["fix"] and "step 4" in line["fix"]
    assert [c["check"] for c in checks if c["status"] == "FAIL"] == ["graph permissions"]


def test_the_permissions_needed_follow_the_settings(environ: dict[str, str]) -> None:
    """LIFECYCLE_DATES and RESTORE_DELETED_ACCOUNTS need one role more each; REVOKE_SESSIONS=false
    one less (held: a WARN)."""
    code, _, _, checks = doctor(environ | {"LIFECYCLE_DATES": "true"}, NEEDED)
    line = by_name(checks)["graph permissions"]
    assert code == 1 and "User-LifeCycleInfo.ReadWrite.All" in line["detail"]

    code, _, _, checks = doctor(environ | {"RESTORE_DELETED_ACCOUNTS": "true"}, NEEDED)
    line = by_name(checks)["graph permissions"]
    assert code == 1 and "lacks User.DeleteRestore.All" in line["detail"]
    code, _, _, checks = doctor(
        environ | {"RESTORE_DELETED_ACCOUNTS": "true"}, [*NEEDED, "User.DeleteRestore.All"]
    )
    assert code == 0 and by_name(checks)["graph permissions"]["status"] == "PASS"

    code, _, _, checks = doctor(environ | {"REVOKE_SESSIONS": "false"}, NEEDED)
    line = by_name(checks)["graph permissions"]
    assert code == 0 and line["status"] == "WARN"
    assert "User.RevokeSessions.All, beyond" in line["detail"]


def test_a_broad_extra_role_warns_least_privilege(environ: dict[str, str]) -> None:
    code, _, _, checks = doctor(environ, [*NEEDED, "Directory.ReadWrite.All"])

    line = by_name(checks)["graph permissions"]
    assert code == 0 and line["status"] == "WARN"
    assert "Directory.ReadWrite.All" in line["detail"] and "least privilege" in line["fix"]


def test_a_persons_token_is_not_read_as_the_connectors(environ: dict[str, str]) -> None:
    """An `az login` token carries `scp`, not `roles`: no false FAIL, a WARN saying so."""
    _, _, _, checks = doctor(environ, claims={"scp": "User.Read", "upn": "admin@acme.fr"})

    line = by_name(checks)["graph permissions"]
    assert line["status"] == "WARN" and "delegated" in line["detail"]


def test_no_verified_managed_domain_warns(graph: GraphSandbox, environ: dict[str, str]) -> None:
    graph.reset()
    graph.add_domain("acme.fr", authentication_type="Federated", is_default=True)
    graph.add_domain("pending.fr", is_verified=False)
    graph.add_domain("contoso.onmicrosoft.com", is_verified=False)

    _, _, _, checks = doctor(environ, NEEDED)

    line = by_name(checks)["graph domains"]
    assert line["status"] == "WARN" and "no verified, managed domain" in line["detail"]
    assert "acme.fr" in line["detail"] and "pending.fr" in line["detail"]


def test_unreachable_storage_is_a_failed_line_not_a_crash(
    lucca: LuccaSandbox, graph: GraphSandbox
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"TableEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
        f"QueueEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )
    code, out, err, checks = doctor(environ_for(lucca, graph, closed), NEEDED)

    found = by_name(checks)
    assert code == 1 and err == "" and "Traceback" not in out
    assert found["storage"]["status"] == "FAIL"
    assert "unreachable" in found["storage"]["detail"]
    assert "AzureWebJobsStorage" in found["storage"]["fix"]
    assert ACCOUNT_KEY not in out
    # The token needs no storage; the API request waits on the limiter, kept in storage.
    assert found["lucca token"]["status"] == "PASS"
    assert found["lucca api"]["status"] == "FAIL"
    assert found["graph permissions"]["status"] == "PASS"


def test_a_suspended_endpoint_fails(lucca: LuccaSandbox, environ: dict[str, str]) -> None:
    lucca.set_endpoint_status("301", "suspended")

    code, _, _, checks = doctor(environ, NEEDED)

    line = by_name(checks)["webhook endpoint"]
    assert code == 1 and line["status"] == "FAIL"
    assert "suspended" in line["detail"] and "reactivate" in line["fix"]


def test_an_unknown_endpoint_id_fails(environ: dict[str, str]) -> None:
    code, _, _, checks = doctor(environ | {"LUCCA_WEBHOOK_ENDPOINT_ID": "999"}, NEEDED)

    line = by_name(checks)["webhook endpoint"]
    assert code == 1 and line["status"] == "FAIL" and "no endpoint 999" in line["detail"]


def test_wrong_lucca_credentials_fail_without_probing_each_scope(
    lucca: LuccaSandbox, environ: dict[str, str]
) -> None:
    env = environ | {"LUCCA_CLIENT_SECRET": "not-the-secret-41"}
    lucca.reset_log()
    code, out, _, checks = doctor(env, NEEDED)

    found = by_name(checks)
    assert code == 1 and "not-the-secret-41" not in out
    assert found["lucca token"]["status"] == "FAIL"
    assert "LUCCA_CLIENT_SECRET" in found["lucca token"]["detail"]
    assert found["lucca api"]["status"] == "WARN"  # not tried without a token
    assert lucca.count("GET", r"^/lucca-api/employees$") == 0


def test_settings_missing_exit_3(environ: dict[str, str]) -> None:
    env = {k: v for k, v in environ.items() if k != "LUCCA_BASE_URL"}

    code, out, _ = run(env, "doctor")
    assert code == 3 and out.startswith("FAIL  settings: setting LUCCA_BASE_URL is missing")
    assert len(out.splitlines()) == 2  # that line and the count: nothing else could run

    code, out, _ = run(env, "doctor", "--json")
    [line] = json.loads(out)
    assert code == 3 and line["check"] == "settings" and line["status"] == "FAIL"
    assert CLIENT_SECRET not in out


def test_the_roles_needed_are_those_the_bicep_grants() -> None:
    """`graph_roles_needed` and infra/modules/graph-permissions.bicep say the same."""
    bicep = (ROOT / "infra/modules/graph-permissions.bicep").read_text(encoding="utf-8")
    base = re.search(r"var baseRoles = \[(.*?)\]", bicep, re.S)
    assert base is not None
    assert frozenset(re.findall(r"'([\w.-]+)'", base.group(1))) == graph_checks.BASE_GRAPH_ROLES
    assert f"['{graph_checks.REVOKE_ROLE}']" in bicep
    assert f"['{graph_checks.LIFECYCLE_ROLE}']" in bicep
    assert f"['{graph_checks.RESTORE_ROLE}']" in bicep
    settings = load_settings(base_settings("UseDevelopmentStorage=true"))
    assert graph_checks.graph_roles_needed(settings) == frozenset(NEEDED)
