"""The monitoring workbook the Bicep deploys, and the deploy risks read from Azure's
documentation (Flex Consumption deprecations, regions, the ACS sender role, GA API versions)."""

from __future__ import annotations

import ast
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from connector.domain.entries import Action, Change, LogEntry
from connector.storage.dimensions import OBSERVED, OUTCOMES, TELEMETRY_LOGGER, dimensions
from connector.storage.log import ALERT_PREFIX, IntegrationLog
from tests.unit.test_infra import INFRA, ROOT, parse

WORKBOOK = INFRA / "modules" / "workbook.json"
ENTRY = LogEntry(
    time=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
    action=Action.UPDATED,
    message="-",
    employee_id="42",
    object_id="obj-1",
    changes=(Change(attribute="jobTitle", old="a", new="b"),),
    event_keys=("9001",),
    request_id="req-1",
    observed=True,
    operation_id="0af7651916cd43dd8448eb211c80319c",
)
# The columns Application Insights gives each table (its schema, not the connector's): the
# `requests` rows are the host's, one per function execution, named after the function.
COLUMNS = {
    "traces": {"timestamp", "message", "severityLevel", "customDimensions", "operation_Id"},
    "requests": {"timestamp", "name", "success", "resultCode", "duration", "operation_Id"},
}
KQL_WORDS = {
    "where", "summarize", "by", "bin", "count", "order", "asc", "desc", "project", "extend",
    "percentile", "arg_max", "in", "and", "or", "not", "tostring", "join", "kind", "leftouter",
    "on", "make_set", "startswith", "true", "false", "d", "h",
}  # fmt: skip


class _NoTables:
    """Storage that keeps nothing: only what the log sends to Application Insights matters."""

    def on_table(self, table: str, action: Any) -> None:
        return None

    def delete(self, table: str, partition: str, row: str) -> None:
        return None


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def written() -> tuple[set[str], list[str]]:
    """What the integration log really sends for a fully filled entry: its custom dimensions'
    names, and its messages (the entry's trace, the alert line)."""
    recorder = _Records()
    loggers = [logging.getLogger(TELEMETRY_LOGGER), logging.getLogger("connector.storage.log")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(recorder)
        logger.setLevel(logging.INFO)
    try:
        IntegrationLog(_NoTables()).write(ENTRY)  # type: ignore[arg-type]
        IntegrationLog(_NoTables()).write(  # type: ignore[arg-type]
            LogEntry(time=ENTRY.time, action=Action.FAILED, message="-", employee_id="42")
        )
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(recorder)
            logger.setLevel(level)
    names = set().union(*(r.__dict__.get("dimensions", {}) for r in recorder.records))
    return names, [r.getMessage() for r in recorder.records]


def queries() -> list[str]:
    """The KQL of every query item of the workbook."""
    items = json.loads(WORKBOOK.read_text())["items"]
    return [i["content"]["query"] for i in items if i["type"] == 3]


def without_strings(query: str) -> str:
    return re.sub(r'"[^"]*"', '""', query)


def test_the_workbook_is_json_and_deployed_on_the_application_insights_resource() -> None:
    """monitoring.bicep loads workbook.json as the workbook's serialized data, on the same
    Application Insights resource the telemetry goes to."""
    document = json.loads(WORKBOOK.read_text())
    assert document["version"] == "Notebook/1.0"
    assert len(queries()) >= 6
    text = (INFRA / "modules" / "monitoring.bicep").read_text()
    assert "serializedData: loadTextContent('workbook.json')" in text
    [workbook] = [
        r
        for r in parse(INFRA / "modules" / "monitoring.bicep")["resources"].values()
        if r["type"] == "Microsoft.Insights/workbooks"
    ]
    assert workbook["config"]["properties"]["sourceId"] == {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": "insights", "operand_2": "id"},
        }
    }


def test_the_workbook_names_only_dimensions_the_log_writes() -> None:
    """Every customDimensions field the queries read is one an entry's trace carries."""
    names, _ = written()
    assert names == set(dimensions(ENTRY, "row"))  # every dimension was filled
    used = {m for q in queries() for m in re.findall(r"customDimensions\.(\w+)", q)}
    assert {"outcome", "action", "employee_id", "log_entry"} <= used
    assert used <= names


def test_the_workbook_reads_the_messages_and_outcomes_the_log_writes() -> None:
    """Its message filters match the lines the log sends, its outcomes are the log's."""
    _, messages = written()
    prefixes = {p for q in queries() for p in re.findall(r'message startswith "([^"]+)"', q)}
    assert prefixes
    for prefix in prefixes:
        assert any(m.startswith(prefix) for m in messages), prefix
    assert any(m.startswith(ALERT_PREFIX) for m in messages)
    outcomes = {
        o
        for q in queries()
        for clause in re.findall(r"customDimensions\.outcome\)? (?:==|in) \(?([^)|\n]+)", q)
        for o in re.findall(r'"([^"]+)"', clause)
    }
    assert outcomes and outcomes <= set(OUTCOMES.values()) | {OBSERVED}


def test_the_workbook_names_only_columns_of_its_tables() -> None:
    """Each query reads one of the tables the connector fills, and only their columns (or
    the names it gives its own results)."""
    for query in queries():
        bare = without_strings(query)
        tables = re.findall(r"(?:^|\()\s*(\w+)\s*\n?\s*\|", bare)
        assert tables and set(tables) <= set(COLUMNS), query
        allowed = set().union(*(COLUMNS[t] for t in tables)) | set(tables)
        aliases = set(re.findall(r"(\w+)\s*=(?!=)", bare))
        words = set(
            re.findall(r"[A-Za-z_]\w*", re.sub(r"customDimensions\.\w+", "customDimensions", bare))
        )
        unknown = words - allowed - aliases - KQL_WORDS
        assert not unknown, (unknown, query)


def test_the_workbook_shows_the_last_run_of_every_timer() -> None:
    """The timers' panel names each timer-triggered function of function_app.py."""
    tree = ast.parse((ROOT / "function_app.py").read_text())
    timers = {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any("timer_trigger" in ast.unparse(d) for d in node.decorator_list)
    }
    assert len(timers) == 5
    [panel] = [q for q in queries() if "arg_max(timestamp" in q]
    assert set(re.findall(r'"(\w+)"', panel)) == timers


def test_the_webhook_panel_compares_its_p95_with_lucca_s_three_seconds() -> None:
    """requests.duration is in milliseconds: the line drawn is Lucca's 3 s."""
    [panel] = [q for q in queries() if "percentile(duration, 95)" in q]
    assert 'name == "lucca_webhook"' in panel
    assert "3000" in panel


# -- deploy risks --------------------------------------------------------------------------


def test_no_ftps_state_a_flex_consumption_deprecation() -> None:
    """siteConfig.ftpsState is among the Flex Consumption deprecations; FTP stays refused by
    the `ftp` publishing credentials policy."""
    resources = parse(INFRA / "modules" / "functionapp.bicep")["resources"]
    assert "ftpsState" not in resources["app"]["config"]["properties"]["siteConfig"]
    assert resources["noFtp"]["config"]["properties"] == {"allow": False}


def test_the_location_is_restricted_to_flex_consumption_regions() -> None:
    """As Microsoft's quickstart does: an @allowed list, and azd's location prompt."""
    main = parse(INFRA / "main.bicep")
    decorators = {d["type"]: d["argument"] for d in main["parameters"]["location"]["decorators"]}
    allowed = decorators["allowed"]
    assert {"francecentral", "westeurope", "northeurope", "swedencentral"} <= set(allowed)
    assert all(re.fullmatch(r"[a-z0-9]+", region) for region in allowed)
    assert "westindia" not in allowed and "francesouth" not in allowed
    assert re.search(
        r"@metadata\(\{\s*azd:\s*\{\s*type:\s*'location'\s*\}\s*\}\)\s*param location string",
        (INFRA / "main.bicep").read_text(),
    )


COMMUNICATION_AND_EMAIL_SERVICE_OWNER = "09976791-48a7-449e-bb21-39d1a415f350"


def test_the_acs_sender_role_is_a_parameter_defaulting_to_the_built_in_role() -> None:
    """The identity gets the built-in role Microsoft documents for sending with Entra ID,
    unless the deployer names another (or `custom`: the narrow custom role)."""
    main = parse(INFRA / "main.bicep")
    assert main["parameters"]["emailSenderRole"]["default"] == COMMUNICATION_AND_EMAIL_SERVICE_OWNER
    assert main["modules"]["email"]["config"]["params"]["senderRole"] == "emailSenderRole"
    email = parse(INFRA / "modules" / "email.bicep")
    assert email["parameters"]["senderRole"]["default"] == COMMUNICATION_AND_EMAIL_SERVICE_OWNER
    text = (INFRA / "modules" / "email.bicep").read_text()
    assert (
        "resource customSenderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01'"
        " = if (senderRole == 'custom')" in text
    )
    passed = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert passed["emailSenderRole"]["value"] == (
        "${EMAIL_SENDER_ROLE=" + COMMUNICATION_AND_EMAIL_SERVICE_OWNER + "}"
    )


@pytest.mark.parametrize("path", sorted(INFRA.rglob("*.bicep")), ids=lambda p: p.name)
def test_scheduled_query_rules_use_a_ga_api_version(path: Any) -> None:
    """No preview API version for the log alerts (2023-12-01 is GA)."""
    for resource in parse(path).get("resources", {}).values():
        if resource["type"] == "Microsoft.Insights/scheduledQueryRules":
            assert "preview" not in resource["api_version"]
            assert resource["api_version"] == "2023-12-01"
