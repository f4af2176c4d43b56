"""SYNC_SCOPE: the filter language, parsed once and evaluated over an employee's facts."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from connector.domain.sync_scope import ScopeError, parse_sync_scope
from connector.runtime.settings import SettingsError, load_settings
from tests.unit.test_settings import with_changes


class Facts:
    """An employee's values per field, as the judge would read them from Lucca."""

    def __init__(self, values: Mapping[str, tuple[str, ...]]) -> None:
        self._values = values

    def values(self, field: str) -> tuple[str, ...]:
        """The employee's values of `field` (none: an empty tuple)."""
        return self._values.get(field, ())


ALICE = Facts(
    {
        "legalEntity": ("1",),
        "establishment": ("12",),
        "department": ("104", "102", "101"),  # its own, then its parents
        "contractType": ("502", "Internship", "fixed"),
        "extension.e_site": ("Lyon",),
    }
)


@pytest.mark.parametrize(
    ("expression", "kept"),
    [
        ("legalEntity = 1", True),
        ("legalEntity = 2", False),
        ("legalEntity != 2", True),
        ("legalEntity in (1, 4)", True),
        ("legalEntity in (3, 4)", False),
        ("legalEntity not in (3, 4)", True),
        ("legalEntity not in (1)", False),
        ("department = 102", True),  # a parent department keeps its sub-departments
        ("department = 103", False),
        ("contractType = intern", False),
        ("contractType = internship", True),  # the title, case-insensitive
        ("contractType = 'Internship'", True),
        ("contractType = fixed", True),  # the term
        ("contractType != fixed", False),
        ("contractType = 502", True),  # the id
        ("extension.e_site = lyon", True),
        ('extension.e_site = "Paris"', False),
        ("extension.e_other = x", False),  # no value: equal to nothing
        ("extension.e_other != x", True),
        ("legalEntity in (1, 4) and contractType != intern", True),
        ("legalEntity = 2 or establishment = 12", True),
        ("legalEntity = 2 or establishment = 13", False),
        ("not legalEntity = 2", True),
        ("not (legalEntity = 1 and establishment = 12)", False),
        ("legalEntity = 2 or legalEntity = 1 and establishment = 13", False),  # and binds first
        ("(legalEntity = 2 or legalEntity = 1) and establishment = 12", True),
        ("LEGALENTITY = 1 AND Establishment = 12", True),  # keywords and fields: any case
    ],
)
def test_expressions_keep_or_drop(expression: str, kept: bool) -> None:
    """Each expression keeps exactly the employees it describes."""
    scope = parse_sync_scope(expression)
    assert scope is not None
    assert scope.keeps(ALICE) is kept


def test_empty_scope_is_everyone() -> None:
    """An empty SYNC_SCOPE is no scope: everyone is synced, as before."""
    assert parse_sync_scope("  ") is None


def test_fields_used_are_listed() -> None:
    """The scope says which fields it reads, so only those are read from Lucca."""
    scope = parse_sync_scope("department = 1 or extension.e_site in (a, 'b c')")
    assert scope is not None
    assert scope.fields == frozenset({"department", "extension.e_site"})


@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ("legalentiti = 1", "'legalentiti' at position 1"),
        ("legalEntity = ", "end of SYNC_SCOPE"),
        ("legalEntity == 1", "'=' at position 14"),
        ("legalEntity in 1, 2", "'1' at position 16"),
        ("legalEntity = 1 and", "end of SYNC_SCOPE"),
        ("(legalEntity = 1", "end of SYNC_SCOPE"),
        ("legalEntity = 1)", "')' at position 16"),
        ("legalEntity = 'unclosed", "unclosed quote at position 15"),
        ("extension. = 1", "'extension.' at position 1"),
        ("legalEntity = 1 establishment = 2", "'establishment' at position 17"),
        ("legalEntity = a;b", "';' at position 16"),
    ],
)
def test_errors_name_the_token_and_position(expression: str, named: str) -> None:
    """A bad expression fails with the token and its position, so it can be fixed."""
    with pytest.raises(ScopeError, match=None) as caught:
        parse_sync_scope(expression)
    assert named in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"SYNC_SCOPE": "legalEntity = 1 and"}, "setting SYNC_SCOPE is malformed: unexpected"),
        ({"SYNC_SCOPE": "salary = 1"}, "setting SYNC_SCOPE is malformed: unknown field"),
        ({"SCOPE_EXIT_ACTION": "delete"}, "setting SCOPE_EXIT_ACTION is malformed"),
    ],
)
def test_settings_refuse_a_bad_scope(changes: dict[str, str], expected: str) -> None:
    """A bad SYNC_SCOPE or SCOPE_EXIT_ACTION stops start-up, naming the setting."""
    with pytest.raises(SettingsError) as caught:
        load_settings(with_changes(**changes))
    assert str(caught.value).startswith(expected)


def test_settings_parse_the_scope() -> None:
    """A valid SYNC_SCOPE is kept parsed, and the exit action read."""
    settings = load_settings(
        with_changes(SYNC_SCOPE=" legalEntity = 2 ", SCOPE_EXIT_ACTION="disable")
    )
    assert settings.SYNC_SCOPE == "legalEntity = 2"
    assert settings.sync_scope is not None
    assert settings.sync_scope.fields == frozenset({"legalEntity"})
    assert settings.SCOPE_EXIT_ACTION == "disable"
    assert load_settings(with_changes()).sync_scope is None
