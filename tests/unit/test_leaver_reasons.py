"""Who the "deactivation failed" email names (connector/flows/leaver_reasons.py)."""

from __future__ import annotations

from connector.core.errors import Transient
from connector.entra.users import DirectoryUser
from connector.flows.leaver_reasons import who_failed

ACCOUNT = DirectoryUser(
    id="0f0e0d0c-0000-4000-8000-000000000077",
    user_principal_name="lea.roux@acme.fr",
    properties={"displayName": "Léa Roux (IT)"},
)


def test_the_account_read_by_the_run_gives_the_login_without_another_read() -> None:
    """The run read the account: its login, and no second read."""
    reads: list[str] = []

    def read() -> DirectoryUser | None:
        reads.append("read")
        return ACCOUNT

    assert who_failed("Léa Roux", ACCOUNT, read) == ("Léa Roux", "lea.roux@acme.fr")
    assert reads == []


def test_a_failure_before_the_read_reads_the_account_once() -> None:
    """Lucca refused first (no name, no account read): one read gives the login, and the
    account's display name stands for the name."""
    assert who_failed("", None, lambda: ACCOUNT) == ("Léa Roux (IT)", "lea.roux@acme.fr")


def test_an_account_that_cannot_be_read_leaves_the_login_unknown() -> None:
    """Graph fails that read too: the name as given, the login unknown (the email says so)."""

    def read() -> DirectoryUser | None:
        raise Transient("Graph is unavailable", service="graph")

    assert who_failed("Léa Roux", None, read) == ("Léa Roux", None)
    assert who_failed("Léa Roux", None, lambda: None) == ("Léa Roux", None)
