"""MATCH_KEY: after the link and the anchor, which address finds an existing account."""

from __future__ import annotations

from datetime import date

import pytest

from connector.domain.entries import Action
from connector.entra.users import DirectoryUser, FindBy
from connector.flows.matching import Matcher
from connector.runtime.settings import SettingsError, load_settings
from tests.unit.fakes import FakeDirectory, FakeLucca
from tests.unit.memory import MemoryLinks
from tests.unit.test_settings import with_changes
from tests.unit.test_sync_engine import World


class Recording(FakeDirectory):
    """The fake directory, remembering which property each lookup used."""

    def __init__(self) -> None:
        super().__init__()
        self.looked: list[str] = []

    def find_users(self, prop: FindBy, value: str) -> list[DirectoryUser]:
        """Record the property, then look up."""
        self.looked.append(prop)
        return super().find_users(prop, value)


def directory_with_both() -> tuple[Recording, str, str]:
    """An account whose mail is Ada's email (another login), and one whose login is it."""
    directory = Recording()
    by_mail = directory.add(user_principal_name="a.martin@acme.fr", mail="ada.martin@acme.fr")
    by_login = directory.add(user_principal_name="ada.martin@acme.fr", mail="old@acme.fr")
    return directory, by_mail.id, by_login.id


@pytest.mark.parametrize(
    ("key", "how", "which"),
    [
        ("mail", "mail", 0),
        ("userPrincipalName", "userPrincipalName", 1),
        ("off", None, None),
    ],
)
def test_the_match_key_chooses_the_address_looked_up(
    key: str, how: str | None, which: int | None
) -> None:
    """`mail` (the default) finds by mail first, `userPrincipalName` by login only, `off` by
    neither; the lookups made are only those the key allows."""
    directory, by_mail, by_login = directory_with_both()
    ada = FakeLucca().hire("Ada", "Martin", start=date(2026, 1, 5))

    match = Matcher(directory=directory, links=MemoryLinks(), key=key).find(ada)

    assert match.how == how
    assert (match.user.id if match.user else None) == (
        None if which is None else (by_mail, by_login)[which]
    )
    expected = {"mail": ["employeeId", "mail"], "userPrincipalName": ["employeeId",
                "userPrincipalName"], "off": ["employeeId"]}[key]  # fmt: skip
    assert directory.looked == expected


def test_mail_falls_back_to_the_login_as_before() -> None:
    """With `mail`, an account holding the email only as its login is still found."""
    directory = FakeDirectory()
    user = directory.add(user_principal_name="ada.martin@acme.fr", mail=None)
    ada = FakeLucca().hire("Ada", "Martin", start=date(2026, 1, 5))

    match = Matcher(directory=directory, links=MemoryLinks()).find(ada)

    assert (match.how, match.user.id if match.user else None) == ("userPrincipalName", user.id)


def test_off_still_finds_the_anchored_and_the_linked_account() -> None:
    """`off` stops matching by address only: the anchor and the link still find the account."""
    world = World()
    ada = world.lucca.hire("Ada", "Martin", start=date(2026, 1, 5))
    anchored = world.directory.add(
        user_principal_name="someone@acme.fr", mail="someone@acme.fr", employee_id="lucca-1"
    )

    entry = world.service(match_key="off").sync(ada.id)

    link = world.links.of_employee(ada.id)
    assert link is not None and link.object_id == anchored.id
    assert entry.action in {Action.LINKED, Action.UPDATED}


def test_the_sync_with_off_creates_beside_an_account_holding_the_email() -> None:
    """With `off`, the account holding the email is never looked up: the sync goes on to
    create (Graph refuses the address: see tests/e2e/test_match_key.py for the conflict)."""
    world = World()
    ada = world.lucca.hire("Ada", "Martin", start=date(2026, 1, 5))
    world.directory.add(user_principal_name="ada.martin@acme.fr", mail="ada.martin@acme.fr")

    world.service(match_key="off").sync(ada.id)

    assert [w[0] for w in world.directory.writes][:1] == ["create"]


@pytest.mark.parametrize("value", ["mail", "userPrincipalName", "off"])
def test_match_key_values(value: str) -> None:
    """The three values load; the default is `mail`."""
    assert value == load_settings(with_changes(MATCH_KEY=value)).MATCH_KEY
    assert load_settings(with_changes()).MATCH_KEY == "mail"


def test_an_unknown_match_key_stops_start_up_naming_the_setting() -> None:
    """Another value is refused at start-up, naming MATCH_KEY."""
    with pytest.raises(SettingsError) as raised:
        load_settings(with_changes(MATCH_KEY="employeeNumber"))
    assert str(raised.value).startswith("setting MATCH_KEY is malformed")
