"""The command line: filters' parsing, exit codes, and `logs` end to end (Azurite)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient

from connector.cli.main import main
from connector.domain.entries import Action, Change, LogEntry
from connector.runtime.settings import load_settings
from connector.runtime.storage import storage_from_settings
from connector.storage import tables as store
from connector.storage.log import IntegrationLog
from connector.storage.logquery import ParameterError, parse_action, parse_limit, parse_since
from tests.azurite import Azurite
from tests.conftest import base_settings

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 4, 10, 0, 0, tzinfo=UTC)
SECRETS = ("lucca-client-secret-5c1a", "whsec-current-3b1f0c")


def run(
    *argv: str, environ: dict[str, str] | None = None, out: io.StringIO | None = None
) -> tuple[int, str, str]:
    """`python -m connector …` in-process: (exit code, stdout, stderr)."""
    out = out or io.StringIO()
    err = io.StringIO()
    code = main(list(argv), environ=environ or {}, out=out, err=err, clock=lambda: NOW)
    return code, out.getvalue(), err.getvalue()


# --- WHEN, ACTION, N ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T08:00:00+01:00", datetime(2026, 11, 1, 7, tzinfo=UTC)),
        ("2026-11-01T08:00:00Z", datetime(2026, 11, 1, 8, tzinfo=UTC)),
        ("30m", NOW - timedelta(minutes=30)),
        ("12h", NOW - timedelta(hours=12)),
        (" 7D ", NOW - timedelta(days=7)),
        ("0m", NOW),
    ],
)
def test_since_accepts_a_date_a_datetime_with_offset_or_a_duration(
    text: str, expected: datetime
) -> None:
    """A date is 00:00 UTC that day; a duration counts back from now."""
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("yesterday", "is not a date (2026-11-01)"),
        ("2026-11-01T08:00:00", "has no offset: add Z"),
        ("2026-13-01", "is not a valid date"),
        ("-5d", "is not a date"),
        ("7w", "is not a date"),
        ("999999d", "reaches back too far"),
        ("0001-01-01T00:00:00+01:00", "is out of range"),
        ("9999-12-31T23:59:59-01:00", "is out of range"),
    ],
)
def test_since_refuses_what_it_cannot_read(text: str, reason: str) -> None:
    """The error says what was wrong and what is accepted."""
    with pytest.raises(ParameterError, match=r"^since: ") as raised:
        parse_since(text, NOW)
    assert reason in str(raised.value)


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("failed", Action.FAILED),
        ("FAILED", Action.FAILED),
        ("creation failed", Action.CREATION_FAILED),
        ("creation_failed", Action.CREATION_FAILED),
        ("Creation-Failed", Action.CREATION_FAILED),
        ("no longer visible in Lucca", Action.NOT_IN_LUCCA),
        ("not_in_lucca", Action.NOT_IN_LUCCA),
        ("schedule changed", Action.SCHEDULED),
    ],
)
def test_action_by_value_or_name_in_any_case(text: str, action: Action) -> None:
    """The value the log shows, or the enum's name."""
    assert parse_action(text) is action


def test_an_unknown_action_lists_the_valid_ones() -> None:
    """Every action's value is in the error."""
    with pytest.raises(ParameterError) as raised:
        parse_action("exploded")
    for action in Action:
        assert action.value in str(raised.value)


@pytest.mark.parametrize(("text", "limit"), [("1", 1), ("1000", 1000), ("5000", 1000)])
def test_limit_is_capped_at_1000(text: str, limit: int) -> None:
    """A whole number from 1; more than 1000 reads 1000."""
    assert parse_limit(text) == limit


@pytest.mark.parametrize("text", ["0", "-3", "ten", "2.5", ""])
def test_limit_refuses_what_is_not_a_count(text: str) -> None:
    """Zero, negative, not a whole number."""
    with pytest.raises(ParameterError, match=r"^limit: "):
        parse_limit(text)


# --- Exit codes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        ([], "required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["logs", "--since", "yesterday"], "argument --since: 'yesterday' is not a date"),
        (["logs", "--action", "exploded"], "'creation failed'"),
        (["logs", "--limit", "0"], "argument --limit: must be at least 1"),
        (["logs", "--employee"], "expected one argument"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], said: str) -> None:
    """argparse's own usage errors: exit 2, the reason on stderr, nothing on stdout."""
    code, out, err = run(*argv)

    assert code == 2
    assert said in err
    assert out == ""


def test_help_exits_0_and_lists_the_exit_codes() -> None:
    """`logs --help` documents its options and the exit codes, on stdout."""
    code, out, _ = run("logs", "--help")

    assert code == 0
    for option in ("--employee", "--since", "--action", "--limit", "--json", "--settings"):
        assert option in out
    assert "3  a setting is missing or malformed" in out
    assert "7 days ago" in out


def test_a_missing_setting_exits_3_naming_it(azurite: Azurite) -> None:
    """Exit 3, the setting named, no value of any setting shown, no traceback (`sync` needs
    Lucca's settings; `logs` would not: tests/integration/test_cli_laptop.py)."""
    environ = base_settings(azurite.connection_string)
    del environ["LUCCA_BASE_URL"]

    code, out, err = run("sync", "416", environ=environ)

    assert code == 3
    assert "setting LUCCA_BASE_URL is missing" in err
    assert "Traceback" not in err
    assert out == ""
    for secret in SECRETS:
        assert secret not in err


def test_a_malformed_setting_exits_3_without_its_value(azurite: Azurite) -> None:
    """The message names the setting, never its value."""
    environ = {**base_settings(azurite.connection_string), "LUCCA_BASE_URL": "acme dot ilucca"}

    code, _, err = run("sync", "416", environ=environ)

    assert code == 3
    assert "setting LUCCA_BASE_URL is malformed" in err
    assert "acme dot ilucca" not in err


def test_unreachable_storage_exits_4(monkeypatch: pytest.MonkeyPatch) -> None:
    """Storage cannot be reached: exit 4, one line on stderr, no traceback."""
    monkeypatch.setitem(store.WORKER_OPTIONS, "retry_total", 0)
    closed = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
        "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    )

    code, _, err = run("logs", environ=base_settings(closed))

    assert code == 4
    assert err.startswith("connector: storage unreachable")
    assert "Traceback" not in err


# --- logs end to end ------------------------------------------------------------------------


@pytest.fixture
def written(azurite: Azurite) -> Iterator[IntegrationLog]:
    """Three entries on Azurite: a failure, an observed update, and one 10 days old."""
    connection = azurite.connection_string
    storage = storage_from_settings(load_settings(base_settings(connection)))
    log = IntegrationLog(storage, clock=lambda: NOW)
    log.write(
        LogEntry(
            time=NOW - timedelta(hours=1),
            action=Action.FAILED,
            message="Graph refused the update: " + "the manager does not exist " * 6,
            employee_id="416",
            object_id="9f1c-obj",
            event_keys=("ev-1",),
            request_id="req-7",
        )
    )
    log.write(
        LogEntry(
            time=NOW - timedelta(days=1, minutes=30),
            action=Action.UPDATED,
            message="would update jobTitle",
            employee_id="417",
            changes=(Change(attribute="jobTitle", old="Comptable", new="Contrôleuse"),),
            observed=True,
        )
    )
    log.write(
        LogEntry(
            time=NOW - timedelta(days=10), action=Action.CREATED, message="old", employee_id="9"
        )
    )
    yield log
    storage.close()
    tables = TableServiceClient.from_connection_string(connection)
    for table in tables.list_tables():
        tables.delete_table(table.name)


@pytest.mark.azurite
def test_logs_prints_a_table_newest_first(written: IntegrationLog, azurite: Azurite) -> None:
    """Time (UTC), action (observed marked), employee, the whole message when not a tty."""
    code, out, err = run("logs", environ=base_settings(azurite.connection_string))

    assert (code, err) == (0, "")
    header, first, second = out.splitlines()
    assert header.split() == ["time", "action", "employee", "message"]
    assert first.startswith("2026-11-04 09:00:00Z  failed")
    assert first.endswith("the manager does not exist")  # not cut: stdout is not a tty
    assert "\x1b[" not in out
    assert second.split("  ")[0] == "2026-11-03 09:30:00Z"
    assert "updated (observed)" in second
    assert "417" in second


@pytest.mark.azurite
def test_logs_cuts_messages_to_a_terminal(
    written: IntegrationLog, azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a tty, each line fits the terminal's width."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("shutil.get_terminal_size", lambda *a, **k: os.terminal_size((70, 24)))
    terminal = Terminal()

    code, out, _ = run("logs", environ=base_settings(azurite.connection_string), out=terminal)

    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 70
    assert lines[1].endswith("…")


@pytest.mark.azurite
def test_logs_json_with_filters(written: IntegrationLog, azurite: Azurite) -> None:
    """--json: an array of entries; --employee, --since, --action filter as in the table."""
    environ = base_settings(azurite.connection_string)

    code, out, _ = run("logs", "--json", "--since", "30d", environ=environ)
    assert code == 0
    assert [e["employee_id"] for e in json.loads(out)] == ["416", "417", "9"]

    code, out, _ = run("logs", "--json", "--employee", "417", environ=environ)
    [shown] = json.loads(out)
    assert shown == {
        "time": "2026-11-03T09:30:00Z",
        "action": "updated",
        "employee_id": "417",
        "object_id": None,
        "message": "would update jobTitle",
        "observed": True,
        "changes": [{"attribute": "jobTitle", "old": "Comptable", "new": "Contrôleuse"}],
        "event_keys": [],
        "request_id": None,
        "operation_id": None,
    }

    _, out, _ = run(
        "logs", "--json", "--action", "FAILED", "--since", "2026-11-04", environ=environ
    )
    assert [(e["action"], e["event_keys"]) for e in json.loads(out)] == [("failed", ["ev-1"])]

    _, out, _ = run("logs", "--json", "--since", "2026-11-04T09:30:00+00:00", environ=environ)
    assert json.loads(out) == []


@pytest.mark.azurite
def test_logs_says_when_there_is_nothing(written: IntegrationLog, azurite: Azurite) -> None:
    """No entry: a sentence with the effective since, still exit 0."""
    code, out, _ = run(
        "logs", "--employee", "999", environ=base_settings(azurite.connection_string)
    )

    assert code == 0
    assert out == "No entries since 2026-10-28 10:00:00Z.\n"


@pytest.mark.azurite
@pytest.mark.parametrize("where", ["before", "after"])
def test_settings_file_values_override_the_environment(
    written: IntegrationLog, azurite: Azurite, tmp_path: Path, where: str
) -> None:
    """--settings FILE (before or after the command): its Values win over the environment;
    an empty value leaves a setting unset."""
    settings_file = tmp_path / "local.settings.json"
    values = {**base_settings(azurite.connection_string), "ACS_ENDPOINT": "", "SYNC_UPN": False}
    settings_file.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    broken = {"LUCCA_BASE_URL": "acme dot ilucca"}  # overridden by the file
    argv = ["logs", "--json"]
    argv = (
        ["--settings", str(settings_file), *argv]
        if where == "before"
        else [*argv, "--settings", str(settings_file)]
    )

    code, out, err = run(*argv, environ=broken)

    assert (code, err) == (0, "")
    assert len(json.loads(out)) == 2


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "cannot be read"),
        ("{not json", "not JSON"),
        ('{"IsEncrypted": false}', 'has no "Values" object'),
        ('{"IsEncrypted": true, "Values": {}}', "is encrypted"),
        ('\ufeff{"Values": {}}'.encode("utf-16"), "not UTF-8"),  # PowerShell 5's `>`
    ],
)
def test_an_unusable_settings_file_exits_3(
    tmp_path: Path, content: str | bytes | None, said: str
) -> None:
    """A settings file that cannot be used is a settings problem."""
    path = tmp_path / "local.settings.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)

    code, _, err = run("logs", "--settings", str(path))

    assert code == 3
    assert said in err
    assert str(path) in err


def test_python_m_connector_help() -> None:
    """`python -m connector --help` and `… logs --help` run in a fresh interpreter, exit 0."""
    env = {k: v for k, v in os.environ.items() if k not in base_settings("")}
    for argv, expected in (
        (["--help"], ["logs", "--settings", "exit codes"]),
        (["logs", "--help"], ["--employee ID", "--since WHEN", "--action ACTION", "--json"]),
    ):
        result = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            [sys.executable, "-m", "connector", *argv],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        for text in expected:
            assert text in result.stdout
