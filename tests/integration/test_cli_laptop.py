"""The command line from an operator's laptop: each command needs only the settings it uses
(`logs` and `schedule` start with the storage settings alone), against Azurite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.domain.entries import Action, LogEntry
from connector.storage.log import IntegrationLog
from connector.storage.tables import Storage
from tests.azurite import Azurite
from tests.conftest import run_cli
from tests.integration.test_cli_schedule import action, schedule_at

pytestmark = pytest.mark.azurite


def storage_only(azurite: Azurite) -> dict[str, str]:
    """The storage connection string, and nothing else: no Lucca, webhook or Graph setting."""
    return {"AzureWebJobsStorage": azurite.connection_string}


def test_logs_runs_with_the_storage_settings_only(azurite: Azurite, storage: Storage) -> None:
    """`logs` with AzureWebJobsStorage alone prints the integration log."""
    IntegrationLog(storage).write(
        LogEntry(
            time=datetime.now(UTC),
            action=Action.CREATED,
            message="Created the account of employee 416",
            employee_id="416",
        )
    )

    code, out, err = run_cli(storage_only(azurite), "logs")

    assert (code, err) == (0, "")
    assert "Created the account of employee 416" in out


def test_schedule_list_runs_with_the_storage_settings_only(
    azurite: Azurite, storage: Storage
) -> None:
    """`schedule list` with AzureWebJobsStorage alone lists what is due."""
    now = datetime.now(UTC)
    schedule_at(storage, now, "502", action("enable", (now + timedelta(days=2)).date()))

    code, out, err = run_cli(storage_only(azurite), "schedule", "list")

    assert (code, err) == (0, "")
    assert "502" in out
    assert "enable" in out


def test_the_storage_only_command_still_checks_storage(azurite: Azurite) -> None:
    """Without AzureWebJobsStorage, `logs` names that setting (exit 3)."""
    code, _out, err = run_cli({}, "logs")

    assert code == 3
    assert "AzureWebJobsStorage is missing" in err
    assert "LUCCA" not in err


@pytest.mark.parametrize("argv", [["sync", "416"], ["reconcile"]])
def test_a_command_needing_more_names_what_is_missing(azurite: Azurite, argv: list[str]) -> None:
    """`sync` and `reconcile` with storage only: exit 3, naming the command and the setting."""
    code, _out, err = run_cli(storage_only(azurite), *argv)

    assert code == 3
    assert f"`{argv[0]}` needs more than the storage settings" in err
    assert "LUCCA_BASE_URL is missing" in err


def test_unlink_runs_with_the_storage_settings_only(azurite: Azurite, storage: Storage) -> None:
    """`unlink` writes storage only: with AzureWebJobsStorage alone it runs (no link: exit 1,
    said so), never exit 3."""
    code, out, err = run_cli(storage_only(azurite), "unlink", "416")

    assert code == 1
    assert "416" in err + out
    assert "setting" not in err


def test_a_command_needing_more_without_storage_names_storage_first() -> None:
    """Nothing set at all: `sync` names AzureWebJobsStorage, without claiming storage is set."""
    code, _out, err = run_cli({}, "sync", "416")

    assert code == 3
    assert "AzureWebJobsStorage is missing" in err
    assert "needs more than the storage settings" not in err
