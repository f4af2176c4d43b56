"""What can be checked of the deployment without Azure: infra/ read with pycep-parser (the
Bicep parser checkov uses; `make infra-check` runs checkov itself), host.json, .funcignore and
azure.yaml, against what the code reads and needs."""

from __future__ import annotations

import functools
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

from connector.runtime.settings import Settings
from connector.runtime.startup import SETTINGS_INVALID
from connector.storage.lease import LEASE_DURATION
from connector.storage.log import ALERT_PREFIX

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
EXTENSION_LINE = re.compile(r"^extension\s+microsoftGraphV1\s*$", re.MULTILINE)
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# The identity-based forms of AzureWebJobsStorage, as the code and the host read them.
STORAGE_IDENTITY = re.compile(r"^AzureWebJobsStorage__\w+$")
# Read by the Functions host, not by the connector's settings (the worker's telemetry exporter
# reads the same two, as the host does: connector/runtime/telemetry.py).
HOST_SETTINGS_IN_AZURE = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}
HOST_SETTINGS_LOCALLY = {"FUNCTIONS_WORKER_RUNTIME"}  # Flex: functionAppConfig.runtime instead
# Settings Flex Consumption has retired or moved (Microsoft's "Flex Consumption plan
# deprecations"): none may appear among the app settings.
RETIRED_ON_FLEX = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY",
    "FUNCTIONS_WORKER_PROCESS_COUNT",
    "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED",
    "PYTHON_THREADPOOL_THREAD_COUNT",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTOVERVNET",
    "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
    "WEBSITE_NODE_DEFAULT_VERSION",
    "WEBSITE_TIME_ZONE",
    "WEBSITE_USE_PLACEHOLDER_DOTNETISOLATED",
    "WEBSITE_VNET_ROUTE_ALL",
    "WEBSITE_DNS_SERVER",
    "TZ",
    "AzureWebJobsFeatureFlags",
}
GRAPH_ROLES = [
    "User.ReadWrite.All",
    "User.EnableDisableAccount.All",
    "User.Read.All",
    "Domain.Read.All",
    "RoleManagement.Read.Directory",
    "User.RevokeSessions.All",
]
SCOPE_ROLES = ["GroupMember.ReadWrite.All", "AdministrativeUnit.ReadWrite.All"]
SETTING_ROLES = ["User-LifeCycleInfo.ReadWrite.All", "User.DeleteRestore.All"]  # by a setting


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    """The parse tree, after dropping the Graph extension line pycep does not read yet (read
    once per file: the parser takes seconds; no test changes a tree)."""
    tree: dict[str, Any] = BicepParser().parse(text=EXTENSION_LINE.sub("", path.read_text()))
    return tree


def app_settings() -> dict[str, Any]:
    return dict(parse(INFRA / "modules" / "functionapp.bicep")["variables"]["appSettings"]["value"])


def code_settings() -> set[str]:
    return set(Settings.model_fields)


def as_connection_form(names: set[str]) -> set[str]:
    """Identity-based storage settings stand for the connection string they replace."""
    return {"AzureWebJobsStorage" if STORAGE_IDENTITY.match(n) else n for n in names}


@pytest.mark.parametrize("path", BICEP_FILES, ids=[str(p.relative_to(INFRA)) for p in BICEP_FILES])
def test_every_bicep_file_parses(path: Path) -> None:
    """Each file parses with checkov's parser and declares something."""
    tree = parse(path)
    assert tree.get("resources") or tree.get("modules"), path


def test_only_the_graph_module_declares_the_extension() -> None:
    """The one line the parse drops is the Graph extension, in the one module that needs it."""
    declaring = [p.name for p in BICEP_FILES if EXTENSION_LINE.search(p.read_text())]
    assert declaring == ["graph-permissions.bicep"]
    config = json.loads((INFRA / "bicepconfig.json").read_text())
    assert config["extensions"]["microsoftGraphV1"].startswith(
        "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:"
    )


def test_app_settings_are_what_the_code_reads() -> None:
    """The Bicep app settings, local.settings.json.example and the code's settings are one set
    (identity-based storage mapped to AzureWebJobsStorage; the host's own settings apart)."""
    bicep = set(app_settings())
    example = set(json.loads((ROOT / "local.settings.json.example").read_text())["Values"])
    code = as_connection_form(code_settings())
    assert as_connection_form(bicep) - HOST_SETTINGS_IN_AZURE == code
    assert example - HOST_SETTINGS_LOCALLY == code
    assert bicep & HOST_SETTINGS_IN_AZURE == HOST_SETTINGS_IN_AZURE
    # Storage through the identity, in the form the host and the code both read.
    assert {"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential"} <= bicep
    assert "AzureWebJobsStorage" not in bicep


def test_no_retired_setting_and_the_runtime_in_function_app_config() -> None:
    """Flex Consumption reads Python 3.12 from functionAppConfig.runtime, not app settings."""
    assert not set(app_settings()) & RETIRED_ON_FLEX
    tree = parse(INFRA / "modules" / "functionapp.bicep")
    site = tree["resources"]["app"]["config"]
    flex = site["properties"]["functionAppConfig"]
    assert flex["runtime"] == {"name": "python", "version": "3.12"}
    assert flex["deployment"]["storage"]["type"] == "blobContainer"
    assert flex["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    plan = tree["resources"]["plan"]["config"]
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    assert site["properties"]["httpsOnly"] is True


def test_secrets_come_from_key_vault_and_nothing_carries_one() -> None:
    """The two Lucca secrets are Key Vault references; no key or secret is a parameter, a
    parameter file value, an output or a literal app setting."""
    settings = app_settings()
    variables = parse(INFRA / "modules" / "functionapp.bicep")["variables"]
    for name, secret in [
        ("LUCCA_CLIENT_SECRET", "lucca-client-secret"),
        ("LUCCA_WEBHOOK_SECRET", "lucca-webhook-secret"),
    ]:
        reference = variables[settings[name]]["value"]
        assert reference.startswith("@Microsoft.KeyVault(VaultName=")
        assert reference.endswith(f";SecretName={secret})")
    assert settings["ACS_CONNECTION_STRING"] == ""  # the identity sends, no access key
    secretish = re.compile(r"secret|password|key$|connectionstring", re.IGNORECASE)
    # Application Insights' connection string only addresses ingestion: with local auth off,
    # telemetry needs the identity's token (APPLICATIONINSIGHTS_AUTHENTICATION_STRING).
    not_secret = {"insightsConnectionString"}  # the parameter and the output naming it
    for path in BICEP_FILES:
        tree = parse(path)
        for name in set(tree.get("parameters", {})) - not_secret:
            assert not secretish.search(name), f"{path.name}: parameter {name}"
        for name in set(tree.get("outputs", {})) - not_secret:
            assert not secretish.search(name), f"{path.name}: output {name}"
        assert "listKeys" not in path.read_text(), path.name
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert not [name for name in parameters if secretish.search(name)]


def test_parameter_file_matches_main() -> None:
    """Every value azd passes is a parameter of main.bicep, and every parameter without a
    default gets one."""
    main = parse(INFRA / "main.bicep")
    assert main["globals"]["scope"]["value"] == "subscription"
    declared = main["parameters"]
    passed = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(passed) <= set(declared)
    required = {name for name, spec in declared.items() if "default" not in spec}
    assert required <= set(passed)
    assert passed["connectorMode"]["value"] == "${CONNECTOR_MODE=observe}"  # go live observing


def test_modules_exist_and_get_the_parameters_they_declare() -> None:
    """Each module main.bicep calls exists, and its required parameters are all passed."""
    main = parse(INFRA / "main.bicep")
    for name, module in main["modules"].items():
        path = INFRA / module["detail"]["path"]
        assert path.is_file(), name
        config = module["config"]
        config = config.get("config", config)  # a conditional module nests its body
        passed = set(config["params"])
        declared = parse(path).get("parameters", {})
        required = {p for p, spec in declared.items() if "default" not in spec}
        assert required <= passed <= set(declared), name


def test_graph_permissions_are_the_least_that_work() -> None:
    """Five application permissions always (RoleManagement.Read.Directory among them),
    User.RevokeSessions.All only with REVOKE_SESSIONS, the lifecycle one only with
    LIFECYCLE_DATES, User.DeleteRestore.All only with RESTORE_DELETED_ACCOUNTS, the scope's
    member write only with MATCH_SCOPE_ADD_CREATED, nothing
    broader; each looked up by name on Microsoft Graph's service principal."""
    tree = parse(INFRA / "modules" / "graph-permissions.bicep")
    variables = tree["variables"]
    assert variables["baseRoles"]["value"] == GRAPH_ROLES[:5]
    for name, flag, role in [
        ("sessionRoles", "revokeSessions", "User.RevokeSessions.All"),
        ("lifecycleRoles", "lifecycleDates", "User-LifeCycleInfo.ReadWrite.All"),
        ("restoreRoles", "restoreDeletedAccounts", "User.DeleteRestore.All"),
    ]:
        conditional = variables[name]["value"]["operator"]
        assert conditional["type"] == "conditional"
        assert conditional["operands"]["condition"] == flag
        assert conditional["operands"]["true_value"] == [role]
        assert conditional["operands"]["false_value"] == []
    concat = variables["roles"]["value"]["function"]
    assert concat["type"] == "concat"
    assert list(concat["parameters"].values()) == [
        "baseRoles",
        "sessionRoles",
        "lifecycleRoles",
        "restoreRoles",
        "scopeRoles",
    ]
    scope = variables["scopeRoles"]["value"]["operator"]
    assert scope["operands"]["condition"] == "matchScopeAddCreated"
    assert scope["operands"]["true_value"] == ["scopeRole"]
    assert scope["operands"]["false_value"] == []
    text = (INFRA / "modules" / "graph-permissions.bicep").read_text()
    named = set(re.findall(r"'([A-Za-z-]+\.[A-Za-z]+(?:\.[A-Za-z]+)?\.(?:All|Directory))'", text))
    assert named == {*GRAPH_ROLES, *SETTING_ROLES, *SCOPE_ROLES}
    assert tree["resources"]["graph"]["config"]["appId"] == "00000003-0000-0000-c000-000000000000"
    steps = (ROOT / "docs" / "deploy-by-hand.md").read_text()
    for role in [*GRAPH_ROLES, *SETTING_ROLES, *SCOPE_ROLES]:
        assert role in steps


def test_the_security_page_names_what_the_identity_is_given() -> None:
    """docs/security.md, linked from the README, names every Graph permission and Azure role
    the template gives the identity, and every setting it relies on exists."""
    page = (ROOT / "docs" / "security.md").read_text()
    assert "(docs/security.md)" in (ROOT / "README.md").read_text()
    for role in [*GRAPH_ROLES, *SETTING_ROLES, *SCOPE_ROLES]:
        assert f"`{role}`" in page
    for role in (
        "Storage Blob Data Owner",
        "Storage Queue Data Contributor",
        "Storage Table Data Contributor",
        "Key Vault Secrets User",
        "Monitoring Metrics Publisher",
    ):
        assert role in page
    named = set(re.findall(r"`([A-Z]+_[A-Z_]+)(?:=[^`]*)?`", page))
    assert "CONNECTOR_MODE" in named
    assert named <= set(Settings.model_fields)


def test_storage_and_monitoring_use_the_identity_only() -> None:
    """Shared keys off and TLS 1.2 on storage; local auth off on Application Insights, whose
    telemetry the identity signs."""
    storage = parse(INFRA / "modules" / "storage.bicep")["resources"]["account"]["config"]
    assert storage["properties"]["allowSharedKeyAccess"] is False
    assert storage["properties"]["minimumTlsVersion"] == "TLS1_2"
    insights = parse(INFRA / "modules" / "monitoring.bicep")["resources"]["insights"]["config"]
    assert insights["properties"]["DisableLocalAuth"] is True
    assert app_settings()["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"].startswith("ClientId=")
    vault = parse(INFRA / "modules" / "keyvault.bicep")["resources"]["vault"]["config"]
    assert vault["properties"]["enableRbacAuthorization"] is True


def test_the_alert_queries_what_the_log_writes() -> None:
    """The log alert's query looks for the line the integration log writes."""
    alert = parse(INFRA / "modules" / "alert.bicep")["resources"]["failures"]["config"]
    [criterion] = alert["properties"]["criteria"]["allOf"]
    assert f'message startswith "{ALERT_PREFIX}"' in criterion["query"]


def alert_rules() -> dict[str, dict[str, Any]]:
    """The scheduled query rules of alert.bicep, by resource name: their properties."""
    resources = parse(INFRA / "modules" / "alert.bicep")["resources"]
    return {
        name: resource["config"]["properties"]
        for name, resource in resources.items()
        if resource["type"] == "Microsoft.Insights/scheduledQueryRules"
    }


def test_the_outage_alerts_fire_once_per_outage() -> None:
    """The settings, heartbeat and function-failure alerts exist, go to the action group, and
    mute their actions for hours after firing (one email per outage); the entries' alert keeps
    one email per action and leaves the settings lines to its own rule."""
    rules = alert_rules()
    assert set(rules) == {"failures", "settings", "heartbeat", "functionFailures"}
    for name in ("settings", "heartbeat", "functionFailures"):
        rule = rules[name]
        assert rule["muteActionsDuration"] in ("PT6H", "PT24H"), name
        assert rule["autoMitigate"] is False
        assert rule["evaluationFrequency"] == "PT15M"
        assert rule["actions"]["actionGroups"] == rules["failures"]["actions"]["actionGroups"]
    assert "muteActionsDuration" not in rules["failures"]
    [entries] = rules["failures"]["criteria"]["allOf"]
    assert f'not(message startswith "{ALERT_PREFIX} {SETTINGS_INVALID}")' in entries["query"]
    [settings] = rules["settings"]["criteria"]["allOf"]
    assert (
        settings["query"]
        == f'traces | where message startswith "{ALERT_PREFIX} {SETTINGS_INVALID}"'
    )
    assert (settings["operator"], settings["threshold"]) == ("GreaterThan", 0)


def test_the_heartbeat_counts_the_leavers_runs_over_30_minutes() -> None:
    """No `deactivate_leavers` execution (a `requests` row named after the function) in 30
    minutes fires the heartbeat alert; every failed execution counts toward the other."""
    rules = alert_rules()
    heartbeat = rules["heartbeat"]
    assert heartbeat["windowSize"] == "PT30M"
    [criterion] = heartbeat["criteria"]["allOf"]
    assert criterion["query"] == 'requests | where name == "deactivate_leavers"'
    assert (criterion["timeAggregation"], criterion["operator"], criterion["threshold"]) == (
        "Count",
        "LessThan",
        1,
    )
    [failures] = rules["functionFailures"]["criteria"]["allOf"]
    assert failures["query"].startswith("requests | where success == false")
    assert (failures["operator"], failures["threshold"]) == ("GreaterThan", 0)
    assert [d["name"] for d in failures["dimensions"]] == ["function"]


def test_host_json_fits_the_lease_and_the_intake() -> None:
    """One invocation ends before the employee's lease can lapse; the queue trigger reads what
    the intake writes; logs reach Application Insights."""
    host = json.loads((ROOT / "host.json").read_text())
    hours, minutes, seconds = (int(part) for part in host["functionTimeout"].split(":"))
    assert timedelta(hours=hours, minutes=minutes, seconds=seconds) < LEASE_DURATION
    queues = host["extensions"]["queues"]
    assert queues["messageEncoding"] == "base64"
    assert 1 <= queues["batchSize"] <= 8 and queues["maxDequeueCount"] >= 3
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"
    sampling = host["logging"]["applicationInsights"]["samplingSettings"]
    assert "Trace" in sampling["excludedTypes"].split(";")  # the alert's lines are traces


def test_funcignore_keeps_the_package_to_the_app() -> None:
    """Tests, infra, benchmarks, virtual environments, node_modules and local settings stay
    out of what azd deploys."""
    ignored = {
        line.strip()
        for line in (ROOT / ".funcignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for entry in ["tests/", "infra/", "bench/", ".venv/", "node_modules/", "local.settings.json"]:
        assert entry in ignored
    for needed in ["function_app.py", "connector/", "host.json", "requirements.txt"]:
        assert needed not in ignored


def test_azure_yaml_deploys_this_folder_as_a_function_app() -> None:
    """azd provisions infra/main.bicep and deploys the root to the app tagged `api`."""
    text = (ROOT / "azure.yaml").read_text()
    assert re.search(r"^infra:\n  provider: bicep\n  path: infra\n  module: main$", text, re.M)
    assert re.search(
        r"^  api:\n    project: \.\n    language: python\n    host: function$", text, re.M
    )
    site = parse(INFRA / "modules" / "functionapp.bicep")["resources"]["app"]["config"]
    assert "'azd-service-name': 'api'" in (INFRA / "modules" / "functionapp.bicep").read_text()
    assert site["kind"] == "functionapp,linux"
