"""The custom dimensions of an integration log entry, and when telemetry turns itself on."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from connector.domain.entries import Action, Change, LogEntry
from connector.runtime.telemetry import configure
from connector.storage.dimensions import OUTCOMES, TELEMETRY_LOGGER, dimensions, outcome

WHEN = datetime(2026, 3, 29, 23, 30, tzinfo=UTC)


def test_every_action_has_an_outcome() -> None:
    """Each action the log writes is sorted into an outcome, and the table names no other."""
    assert set(OUTCOMES) == {action.value for action in Action}
    assert set(OUTCOMES.values()) == {"success", "unchanged", "conflict", "failure", "held"}


@pytest.mark.parametrize(
    ("action", "observed", "expected"),
    [
        (Action.UPDATED, False, "success"),
        (Action.UPDATED, True, "observed"),  # planned, not done
        (Action.UNCHANGED, True, "unchanged"),
        (Action.CONFLICT, True, "conflict"),
        (Action.FAILED, True, "failure"),
        (Action.RUN_HELD, False, "held"),
    ],
)
def test_observe_mode_turns_only_successes_into_observed(
    action: Action, observed: bool, expected: str
) -> None:
    """In observe mode a change the connector would make is `observed`; the rest keep theirs."""
    assert outcome(action, observed=observed) == expected


def test_dimensions_hold_ids_and_attribute_names_never_values_or_the_message() -> None:
    """The entry's ids, action, outcome and the names of the attributes changed; not the old
    or new values, nor the sentence (both may hold a name)."""
    entry = LogEntry(
        time=WHEN,
        action=Action.UPDATED,
        message="Zoé Martin's account was updated.",
        employee_id="1001",
        object_id="5b1e0c2a-0000-4000-8000-000000000001",
        changes=(
            Change(attribute="surname", old="Martin", new="Durand"),
            Change(attribute="jobTitle", old=None, new="Comptable"),
        ),
        event_keys=("9001", "9003"),
        request_id="req-7",
    )
    assert dimensions(entry, "98227556200000000-0a1b2c3d") == {
        "employee_id": "1001",
        "action": "updated",
        "outcome": "success",
        "observed": "false",
        "event_ids": "9001,9003",
        "object_id": "5b1e0c2a-0000-4000-8000-000000000001",
        "request_id": "req-7",
        "changed_attributes": "surname,jobTitle",
        "log_entry": "98227556200000000-0a1b2c3d",
        "log_partition": "day-2026-03-29",
    }


def test_an_entry_without_ids_leaves_them_out() -> None:
    """A run-level entry (no employee, no event) carries no empty dimension."""
    entry = LogEntry(time=WHEN, action=Action.RUN_HELD, message="Held: 25 at once.")
    assert set(dimensions(entry, "row")) == {
        "action",
        "outcome",
        "observed",
        "log_entry",
        "log_partition",
    }


def test_no_connection_string_no_telemetry() -> None:
    """Without APPLICATIONINSIGHTS_CONNECTION_STRING nothing is exported or attached."""
    telemetry = configure({"APPLICATIONINSIGHTS_CONNECTION_STRING": "  "})
    assert not telemetry.enabled
    assert telemetry.flush()
    assert not logging.getLogger(TELEMETRY_LOGGER).handlers


def test_a_connection_string_the_exporter_refuses_leaves_telemetry_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A malformed connection string does not stop the sync: telemetry stays off, with a
    warning that names the error's type, never the value."""
    value = "InstrumentationKey=not-a-key;IngestionEndpoint=https://ingest.acme.example/"
    with caplog.at_level(logging.WARNING):
        telemetry = configure({"APPLICATIONINSIGHTS_CONNECTION_STRING": value})
    assert not telemetry.enabled
    assert not logging.getLogger(TELEMETRY_LOGGER).handlers
    [warning] = [r for r in caplog.records if r.name == "connector.runtime.telemetry"]
    assert "structured telemetry off" in warning.getMessage()
    assert "not-a-key" not in caplog.text and "acme.example" not in caplog.text
