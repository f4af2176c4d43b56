"""A round of Graph's users delta query applied to the directory as known."""

from __future__ import annotations

from connector.entra.delta import DeltaRound, merge
from connector.entra.users import DirectoryUser


def user(object_id: str, **fields: object) -> DirectoryUser:
    """A user as read with its manager."""
    return DirectoryUser(id=object_id, manager_known=True, **fields)  # type: ignore[arg-type]


def test_a_round_replaces_changed_users_drops_removed_ones_and_keeps_managers() -> None:
    """A changed user replaces the known one (keeping its manager unless the round names one),
    a new user without `manager@delta` has none, a removed user goes, the rest stay."""
    known = {
        "a": user("a", mail="a@acme.fr", manager_id="boss"),
        "b": user("b", mail="b@acme.fr", manager_id="boss"),
        "c": user("c", mail="c@acme.fr"),
        "boss": user("boss"),
    }
    round_ = DeltaRound(
        changed=[
            DirectoryUser(id="a", mail="new@acme.fr"),  # manager unchanged: not named
            DirectoryUser(id="b", mail="b@acme.fr", manager_known=True, manager_id=None),
            DirectoryUser(id="d", mail="d@acme.fr"),
        ],
        removed=["c", "never-known"],
        delta_link="https://graph.example/users/delta?$deltatoken=2",
        pages=1,
    )

    merged = merge(known, round_)

    assert sorted(merged) == ["a", "b", "boss", "d"]
    assert (merged["a"].mail, merged["a"].manager_id) == ("new@acme.fr", "boss")
    assert merged["b"].manager_id is None
    assert merged["d"].manager_known and merged["d"].manager_id is None
    assert known["a"].mail == "a@acme.fr"  # the known copy is not changed in place
