"""More words of the emails, in English and French (apart from `words`, which holds the rest,
to keep each module short): an account found already disabled, and the login on the daily
digest's lines."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class MoreWords:
    """The sentences added for issue 19, in one language."""

    already_intro: str  # the "account deactivated" email of an account found disabled
    already_nothing: str
    already_when: str  # the row giving the departure's instant
    compact_already: str  # appended to its line in the grouped digest
    daily_login: str  # after the name on a line of the daily digest
    held_check: str  # a line naming an employee a held run holds


MORE_EN = MoreWords(
    already_intro=(
        "The Microsoft Entra ID account of {name} was already disabled in Entra when the"
        " departure fell due (someone had disabled it, not the connector): nothing was changed."
    ),
    already_nothing=(
        "The connector neither wrote to the account nor revoked its sign-in sessions, and it will"
        " not enable it again. The integration log records it."
    ),
    already_when="Departure due",
    compact_already=" (already disabled in Entra, nothing was changed)",
    daily_login=", login {login}",
    held_check="end date to check in Lucca (held run)",
)

MORE_FR = MoreWords(
    already_intro=(
        "Le compte Microsoft Entra ID associé à {name} était déjà désactivé dans Entra à la date"
        " du départ (désactivé par quelqu'un d'autre que le connecteur) : rien n'a été modifié."
    ),
    already_nothing=(
        "Le connecteur n'a ni modifié le compte ni révoqué ses sessions, et ne le réactivera pas."
        " Le journal d'intégration en garde la trace."
    ),
    already_when="Départ prévu",
    compact_already=" (déjà désactivé dans Entra, rien n'a été modifié)",
    daily_login=", identifiant de connexion {login}",
    held_check="date de fin à vérifier dans Lucca (exécution suspendue)",
)
