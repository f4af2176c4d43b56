"""The words of the "linked existing account" email, in English and French (apart from
`words`, which holds the rest, to keep each module short)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class LinkedWords:
    """The "linked existing account" email and its digest line, in one language."""

    subject: str
    intro: str
    object_id: str
    found_by: str
    by: dict[str, str]  # how the account was found (mail, userPrincipalName) → said so
    check: str
    if_wrong: str
    step_unlink: str
    step_restore: str
    step_lucca: str
    heading: tuple[str, str]
    note: str
    compact: str
    link: str


LINKED_EN = LinkedWords(
    subject="Existing Entra account linked: {name}",
    intro=(
        "The connector linked {name} to a Microsoft Entra ID account that already existed, found"
        " by the employee's professional email in Lucca. From now on it keeps this account in"
        " step with Lucca, and disables it when the employee leaves."
    ),
    object_id="Object id",
    found_by="Found by",
    by={
        "mail": "mail (the account's email address)",
        "userPrincipalName": "userPrincipalName (the account's sign-in name)",
    },
    check=(
        "Check that this account is the employee's own: not a service, shared or administrator"
        " account (a break-glass account, for example), whose address someone typed in Lucca."
    ),
    if_wrong="If the link is wrong:",
    step_unlink="Run `python -m connector unlink {id}`: the connector lets go of the account.",
    step_restore=(
        "Put back in Entra what the connector changed on the account: the integration log"
        " (employee {id}) lists each change with its old value."
    ),
    step_lucca="Correct the employee's professional email in Lucca.",
    heading=("Existing account linked", "Existing accounts linked"),
    note=(
        "Each account already existed and was linked because its email address or sign-in name"
        " is the employee's professional email. Check that it is the employee's own, not a"
        " service, shared or administrator account; if a link is wrong, run `python -m connector"
        " unlink EMPLOYEE_ID` and put the account back as it was (the integration log lists the"
        " changes)."
    ),
    compact="{login}, found by {by}",
    link="Check the account in Entra",
)

LINKED_FR = LinkedWords(
    subject="Compte Entra existant associé : {name}",
    intro=(
        "Le connecteur a associé {name} à un compte Microsoft Entra ID qui existait déjà, trouvé"
        " par l'e-mail professionnel du collaborateur dans Lucca. Désormais, il tient ce compte"
        " à jour depuis Lucca et le désactivera au départ du collaborateur."
    ),
    object_id="Identifiant d'objet",
    found_by="Trouvé par",
    by={
        "mail": "mail (l'adresse e-mail du compte)",
        "userPrincipalName": "userPrincipalName (l'identifiant de connexion du compte)",
    },
    check=(
        "Vérifiez que ce compte est bien celui du collaborateur : pas un compte de service,"
        " partagé ou d'administration (un compte d'accès d'urgence, par exemple) dont quelqu'un"
        " aurait saisi l'adresse dans Lucca."
    ),
    if_wrong="Si l'association est erronée :",
    step_unlink=(
        "Exécutez `python -m connector unlink {id}` : le connecteur cesse de gérer le compte."
    ),
    step_restore=(
        "Rétablissez dans Entra ce que le connecteur a modifié sur le compte : le journal"
        " d'intégration (collaborateur {id}) liste chaque modification avec l'ancienne valeur."
    ),
    step_lucca="Corrigez l'e-mail professionnel du collaborateur dans Lucca.",
    heading=("Compte existant associé", "Comptes existants associés"),
    note=(
        "Chaque compte existait déjà et a été associé parce que son adresse e-mail ou son"
        " identifiant de connexion est l'e-mail professionnel du collaborateur. Vérifiez qu'il"
        " s'agit bien du sien, et pas d'un compte de service, partagé ou d'administration ; si"
        " une association est erronée, exécutez `python -m connector unlink ID_COLLABORATEUR`"
        " et rétablissez le compte tel qu'il était (le journal d'intégration liste les"
        " modifications)."
    ),
    compact="{login}, trouvé par {by}",
    link="Vérifier le compte dans Entra",
)
