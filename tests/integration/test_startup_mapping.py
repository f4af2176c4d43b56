"""A bad SYNC_MAPPING_FILE at start-up, as the Functions host loads the app: the programming
model's entry points refuse to work, naming the setting and the bad row (never a value)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import base_settings
from tests.integration.test_startup import (
    APP_FUNCTIONS,
    BROKEN_APP_PROBE,
    load_in_fresh_interpreter,
)

ROOT = Path(__file__).resolve().parents[2]


def test_a_bad_mapping_row_stops_every_function_naming_the_row(tmp_path: Path) -> None:
    """Row 2 names a source Lucca has not: the webhook answers 503, every timer and queue
    function writes one alert naming SYNC_MAPPING_FILE and `row 2 (employeeOrgData.costCenter)`
    (the queue functions raise, keeping their messages); the file's values are not shown."""
    bad = tmp_path / "mapping.json"
    rows = [
        {"target": "employeeType", "constant": "Secret-Constant-77"},
        {"target": "employeeOrgData.costCenter", "source": "legalEntity.nam"},
    ]
    bad.write_text(json.dumps({"rows": rows}), encoding="utf-8")
    env = base_settings("UseDevelopmentStorage=true") | {"SYNC_MAPPING_FILE": str(bad)}

    result = load_in_fresh_interpreter(env, BROKEN_APP_PROBE)

    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert set(seen) == APP_FUNCTIONS
    for name in ("lucca_webhook", "logs"):
        assert seen[name]["outcome"][0] == 503
    for name in APP_FUNCTIONS - {"lucca_webhook", "logs"}:
        assert seen[name]["outcome"] == ("raised" if name.startswith("sync") else "returned")
        [(level, line)] = seen[name]["lines"]
        assert level == "WARNING"
        assert line.startswith(f"connector alert: settings invalid (function {name}: ")
        assert (
            "setting SYNC_MAPPING_FILE is malformed: row 2 (employeeOrgData.costCenter): " in line
        )
        assert "unknown source 'legalEntity.nam'" in line
    assert "Secret-Constant-77" not in result.stdout + result.stderr


def test_the_example_mapping_file_starts_the_app() -> None:
    """The shipped example (docs/mapping.example.json, relative to the app's root) loads."""
    env = base_settings("UseDevelopmentStorage=true")
    code = (
        "import function_app, json; from connector.runtime.settings import load_settings; "
        "import os; s = load_settings(dict(os.environ)); "
        "print(json.dumps([r.name for r in s.mapping_rows]))"
    )
    result = load_in_fresh_interpreter(
        env | {"SYNC_MAPPING_FILE": "docs/mapping.example.json"}, code
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])[:2] == [
        "employeeType",
        "onPremisesExtensionAttributes.extensionAttribute3",
    ]
    assert (ROOT / "docs" / "mapping.example.json").is_file()
