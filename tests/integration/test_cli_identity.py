"""Whose rights reach Graph from a laptop: with a person's token, `doctor` reads the connector's
managed identity's Graph app roles through its service principal (so missing admin consent is
caught), and `sync` / `reconcile --apply` warn before writing with a person's rights. Graph
sandbox over HTTP (service principals and app role assignments as Graph serves them), Azurite."""

from __future__ import annotations

import pytest

from connector.entra.directory import GraphDirectory
from connector.runtime import build, clients
from connector.runtime.settings import Settings
from tests.conftest import run_cli
from tests.integration import test_cli_doctor
from tests.integration.test_cli_doctor import NEEDED, by_name, doctor
from tests.integration.test_directory import FakeCredential, jwt
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.lucca import LuccaSandbox

pytestmark = pytest.mark.azurite
# The doctor's fixtures: its Lucca sandbox (its own client secret) and settings (an endpoint).
lucca = test_cli_doctor.lucca
environ = test_cli_doctor.environ
PERSON = {"scp": "User.Read Directory.Read.All", "upn": "admin@acme.fr", "oid": "person-1"}
APP = {"roles": NEEDED, "oid": "identity-1", "idtyp": "app"}


def permissions(env: dict[str, str]) -> dict[str, object]:
    """The doctor's "graph permissions" line, run with a person's token."""
    _, _, _, checks = doctor(env, claims=PERSON)
    return by_name(checks)["graph permissions"]


def test_a_persons_doctor_reads_the_identitys_roles_through_its_service_principal(
    graph: GraphSandbox, environ: dict[str, str]
) -> None:
    """Every role granted: PASS, read with one lookup of each service principal and one list
    of the identity's assignments."""
    identity = graph.add_managed_identity(roles=tuple(NEEDED))
    graph.reset_log()

    line = permissions(environ | {"AZURE_CLIENT_ID": identity["appId"]})

    assert line["status"] == "PASS", line
    assert f"({identity['id']}) holds exactly" in str(line["detail"])
    assert graph.count("GET", r"/servicePrincipals$") == 2
    assert graph.count("GET", rf"/servicePrincipals/{identity['id']}/appRoleAssignments$") == 1


def test_missing_admin_consent_fails_naming_the_roles_and_the_fix(
    graph: GraphSandbox, environ: dict[str, str]
) -> None:
    """Two roles never consented to: FAIL naming both, "admin consent", and how to grant."""
    granted = [r for r in NEEDED if r not in ("Domain.Read.All", "User.RevokeSessions.All")]
    identity = graph.add_managed_identity(roles=tuple(granted))

    line = permissions(environ | {"AZURE_CLIENT_ID": identity["appId"]})

    assert line["status"] == "FAIL"
    assert "lacks Domain.Read.All, User.RevokeSessions.All: admin consent was not given" in str(
        line["detail"]
    )
    assert "give admin consent" in str(line["fix"])


def test_a_role_beyond_the_need_warns(graph: GraphSandbox, environ: dict[str, str]) -> None:
    """Directory.ReadWrite.All on top: WARN, least privilege."""
    identity = graph.add_managed_identity(roles=(*NEEDED, "Directory.ReadWrite.All"))

    line = permissions(environ | {"AZURE_CLIENT_ID": identity["appId"]})

    assert line["status"] == "WARN"
    assert "Directory.ReadWrite.All, beyond the need" in str(line["detail"])


def test_without_azure_client_id_the_identity_cannot_be_found(environ: dict[str, str]) -> None:
    """No AZURE_CLIENT_ID: WARN pointing to --from-azure."""
    line = permissions({k: v for k, v in environ.items() if k != "AZURE_CLIENT_ID"})

    assert line["status"] == "WARN"
    assert "--from-azure" in str(line["fix"])


def test_an_unknown_client_id_fails(graph: GraphSandbox, environ: dict[str, str]) -> None:
    """AZURE_CLIENT_ID names no service principal: FAIL."""
    graph.add_managed_identity(roles=tuple(NEEDED))

    line = permissions(environ | {"AZURE_CLIENT_ID": "5d0b7c1e-0000-4000-8000-000000000000"})

    assert line["status"] == "FAIL"
    assert "no service principal has the client id" in str(line["detail"])


def test_a_person_who_may_not_read_service_principals_is_told(
    graph: GraphSandbox, environ: dict[str, str]
) -> None:
    """Graph's 403 Authorization_RequestDenied on the lookup: WARN with what to do."""
    identity = graph.add_managed_identity(roles=tuple(NEEDED))
    graph.inject(
        403,
        path=r"/servicePrincipals$",
        body={
            "error": {
                "code": "Authorization_RequestDenied",
                "message": "Insufficient privileges to complete the operation.",
            }
        },
    )

    line = permissions(environ | {"AZURE_CLIENT_ID": identity["appId"]})

    assert line["status"] == "WARN"
    assert "Authorization_RequestDenied" in str(line["detail"])
    assert "Application.Read.All" in str(line["fix"])


@pytest.fixture
def persons_token(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """The CLI's Graph directory gets the token `claims` (a person's unless changed): the
    project's own seam, `graph_directory`, as `Clients.from_settings` calls it."""
    claims: dict[str, object] = dict(PERSON)

    def directory(settings: Settings) -> GraphDirectory:
        anonymous = clients.graph_directory(settings)  # the real one, on the sandbox
        anonymous.close()
        return GraphDirectory(
            str(settings.GRAPH_BASE_URL).rstrip("/"),
            properties=clients.graph_properties(clients.every_row(settings.mapping_rows)),
            credential=FakeCredential(jwt(claims)),
        )

    monkeypatch.setattr(build, "graph_directory", directory)
    return claims


@pytest.mark.parametrize(
    ("argv", "warned"),
    [
        (["sync", "{id}"], True),
        (["sync", "{id}", "--dry-run"], False),
        (["reconcile", "--apply"], True),
        (["link", "{id}", "{object_id}"], True),
        (["reconcile"], False),
    ],
)
def test_writing_with_a_persons_rights_is_warned(
    lucca: LuccaSandbox,
    graph: GraphSandbox,
    environ: dict[str, str],
    persons_token: dict[str, object],
    argv: list[str],
    warned: bool,
) -> None:
    """`sync`, `link` and `reconcile --apply` with a person's token: a warning on stderr before the
    writes; a dry run, which writes nothing, has none."""
    employee = lucca.add_employee("Alice", "Martin", "alice.martin@acme.fr")
    account = graph.add_user(userPrincipalName="alice.martin@acme.fr", displayName="Alice M")

    _, _, err = run_cli(environ, *[a.format(id=employee, object_id=account["id"]) for a in argv])

    assert ("with a person's sign-in (delegated rights" in err) is warned


def test_the_connectors_own_token_is_not_warned(
    lucca: LuccaSandbox, environ: dict[str, str], persons_token: dict[str, object]
) -> None:
    """An application token (`roles`): no warning."""
    persons_token.clear()
    persons_token.update(APP)
    employee = lucca.add_employee("Alice", "Martin", "alice.martin@acme.fr")

    code, _, err = run_cli(environ, "sync", employee)

    assert code == 0, err
    assert "person's sign-in" not in err
