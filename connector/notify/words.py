"""The words of the emails, in English and French: every sentence, label and format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from connector.domain.notices import Kind
from connector.notify.words_linked import LINKED_EN, LINKED_FR, LinkedWords
from connector.notify.words_more import MORE_EN, MORE_FR, MoreWords

Language: TypeAlias = Literal["en", "fr"]


@dataclass(frozen=True, kw_only=True)
class Words:
    """Every sentence of the emails in one language (`{name}` and the like are filled in)."""

    lang: Language
    colon: str
    moment_format: str
    day_format: str
    nameless: str
    after_name: str
    employee: str
    lucca_id: str
    login: str
    reason: str
    no_reason: str
    no_login: str
    lucca_file: str
    entra_user: str
    find_user: str
    step_open_user: str
    step_find_user: str
    what_to_do: str
    footer: str
    footer_digest: str
    footer_daily: str
    # account created
    created_subject: str
    created_intro: str
    opens: str
    created_closed: str
    created_random: str
    step_reset: str
    step_give: str
    # account not created
    not_created_subject: str
    not_created_intro: str
    planned_address: str
    no_address: str
    not_created_retry: str
    by_hand_prefix: str
    by_hand_link: str
    # account deactivated
    deactivated_subject: str
    deactivated_intro: str
    deactivation: str
    sessions_revoked: str
    sessions_kept: str
    # deactivation failed
    failed_subject: str
    failed_intro: str
    deactivation_due: str
    step_disable: str
    step_log: str
    linked: LinkedWords  # linked existing account (in words_linked)
    more: MoreWords  # already disabled, the daily digest's logins (in words_more)
    # digest
    notification: tuple[str, str]
    digest_subject: str
    digest_intro: str
    headings: dict[Kind, tuple[str, str]]
    notes: dict[Kind, str]
    compact: dict[Kind, str]
    compact_when: dict[Kind, str]
    compact_links: dict[Kind, str]
    compact_no_address: str
    lucca_file_short: str
    # daily
    daily_subject: str
    daily_intro: str
    starts: str
    leavers: str
    held_runs: str
    conflicts: str
    no_starts: str
    no_leavers: str
    no_held_runs: str
    no_conflicts: str
    entra_user_short: str


_EN = Words(
    lang="en",
    colon=": ",
    moment_format="%Y-%m-%d %H:%M",
    day_format="%Y-%m-%d",
    nameless="employee {id}",
    after_name=" (Lucca id {id})",
    employee="Employee",
    lucca_id="Lucca id",
    login="Login",
    reason="Reason",
    no_reason="not given; see the integration log",
    no_login="unknown",
    lucca_file="Open the employee's file in Lucca",
    entra_user="Open the account in the Entra admin center",
    find_user="Find the account {login} in the user list of the Entra admin center",
    step_open_user="Open the user's page in the Entra admin center",
    step_find_user="Find the account {login} in the user list of the Entra admin center",
    what_to_do="What to do:",
    footer=(
        "Sent by the Lucca → Entra ID connector."
        " The integration log has the details (employee {id})."
    ),
    footer_digest=(
        "Sent by the Lucca → Entra ID connector."
        " The integration log has the details, employee by employee."
    ),
    footer_daily="Sent by the Lucca → Entra ID connector. The integration log has the details.",
    created_subject="Entra account created: {name}",
    created_intro="The connector created a Microsoft Entra ID account for {name}.",
    opens="Account opens",
    created_closed=(
        "The account was created disabled and opens at that time: until then, nobody can sign in"
        " to it."
    ),
    created_random=(
        "The account was created with a random password that nobody knows (the connector did"
        " not keep it). To let {name} sign in:"
    ),
    step_reset='Choose "Reset password": Entra shows a temporary password.',
    step_give=(
        "Give this temporary password to {name} through a safe channel: in person or by phone,"
        " never by email. Entra will ask for a new password at the first sign-in."
    ),
    not_created_subject="Entra account not created: {name}",
    not_created_intro="The connector could not create a Microsoft Entra ID account for {name}.",
    planned_address="Planned address",
    no_address="none: the employee has no professional email in Lucca",
    not_created_retry=(
        "Fix the data in Lucca or in Entra: the connector will try again the next time the"
        " employee's record changes in Lucca."
    ),
    by_hand_prefix="If it cannot wait, ",
    by_hand_link="create the account by hand in the Entra admin center",
    deactivated_subject="Entra account deactivated: {name}",
    deactivated_intro="The connector deactivated the Microsoft Entra ID account of {name}.",
    deactivation="Deactivated",
    sessions_revoked=(
        "Sign-in is blocked and the account's sign-in sessions were revoked; the integration log"
        " records both."
    ),
    sessions_kept="Sign-in is blocked, but the account's sign-in sessions were not revoked: {why}",
    failed_subject="Entra account deactivation failed: {name}",
    failed_intro=(
        "The connector could not deactivate the Microsoft Entra ID account of {name}:"
        " the account may still be open."
    ),
    deactivation_due="Deactivation due",
    step_disable=(
        'Disable it by hand: untick "Account enabled" in the user\'s properties, then choose'
        ' "Revoke sessions".'
    ),
    step_log="Then check the integration log (employee {id}) to see why the deactivation failed.",
    linked=LINKED_EN,
    more=MORE_EN,
    notification=("notification", "notifications"),
    digest_subject="Entra accounts: {count} in one email",
    digest_intro="They are grouped below by kind, the most urgent first.",
    headings={
        Kind.LINKED: LINKED_EN.heading,
        Kind.DEACTIVATION_FAILED: ("Deactivation failed", "Deactivations failed"),
        Kind.NOT_CREATED: ("Account not created", "Accounts not created"),
        Kind.CREATED: ("Account created", "Accounts created"),
        Kind.DEACTIVATED: ("Account deactivated", "Accounts deactivated"),
    },
    notes={
        Kind.LINKED: LINKED_EN.note,
        Kind.DEACTIVATION_FAILED: (
            "Each account may still be open. Disable it by hand in Entra and revoke its"
            " sessions, then check the integration log to see why the deactivation failed."
        ),
        Kind.NOT_CREATED: (
            "Fix the data in Lucca or in Entra: the connector will try again the next time each"
            " employee's record changes in Lucca. If it cannot wait, create the account by hand"
            " in the Entra admin center."
        ),
        Kind.CREATED: (
            "Each account was created with a random password that nobody knows. Open it in"
            ' Entra, choose "Reset password" and give the temporary password to the employee'
            " through a safe channel (in person or by phone, never by email); Entra will ask for"
            " a new password at the first sign-in."
        ),
        Kind.DEACTIVATED: (
            "For each account, sign-in is blocked; the integration log records it, and whether"
            " its sign-in sessions were revoked."
        ),
    },
    compact={
        Kind.LINKED: LINKED_EN.compact,
        Kind.DEACTIVATION_FAILED: "{login}",
        Kind.NOT_CREATED: "planned address {login}",
        Kind.CREATED: "{login}",
        Kind.DEACTIVATED: "{login}",
    },
    compact_when={
        Kind.LINKED: "",
        Kind.DEACTIVATION_FAILED: ", deactivation due {moment}",
        Kind.NOT_CREATED: "",
        Kind.CREATED: ", opens {moment}",
        Kind.DEACTIVATED: ", deactivated {moment}",
    },
    compact_links={
        Kind.LINKED: LINKED_EN.link,
        Kind.DEACTIVATION_FAILED: "Disable the account in Entra",
        Kind.NOT_CREATED: "Create the account in Entra",
        Kind.CREATED: "Reset the password in Entra",
        Kind.DEACTIVATED: "Account in Entra",
    },
    compact_no_address="no professional email in Lucca",
    lucca_file_short="Lucca file",
    daily_subject="Entra accounts: summary for {day}",
    daily_intro=(
        "Here is what the connector will do tomorrow, {day} ({zone}), and what is waiting for an"
        " administrator."
    ),
    starts="Starts",
    leavers="Leavers",
    held_runs="Held runs",
    conflicts="Open conflicts",
    no_starts="No one starts tomorrow.",
    no_leavers="No one leaves tomorrow.",
    no_held_runs="No run is held.",
    no_conflicts="No open conflict.",
    entra_user_short="Account in Entra",
)

_FR = Words(
    lang="fr",
    colon=" : ",
    moment_format="%d/%m/%Y %H:%M",
    day_format="%d/%m/%Y",
    nameless="collaborateur {id}",
    after_name=" (identifiant Lucca {id})",
    employee="Collaborateur",
    lucca_id="Identifiant Lucca",
    login="Identifiant de connexion",
    reason="Motif",
    no_reason="non précisé ; voir le journal d'intégration",
    no_login="inconnu",
    lucca_file="Ouvrir la fiche du collaborateur dans Lucca",
    entra_user="Ouvrir le compte dans le centre d'administration Microsoft Entra",
    find_user=(
        "Retrouver le compte {login} dans la liste des utilisateurs du centre d'administration"
        " Microsoft Entra"
    ),
    step_open_user=(
        "Ouvrez la page de l'utilisateur dans le centre d'administration Microsoft Entra"
    ),
    step_find_user=(
        "Retrouvez le compte {login} dans la liste des utilisateurs du centre d'administration"
        " Microsoft Entra"
    ),
    what_to_do="Que faire :",
    footer=(
        "Envoyé par le connecteur Lucca → Entra ID."
        " Le journal d'intégration contient le détail (collaborateur {id})."
    ),
    footer_digest=(
        "Envoyé par le connecteur Lucca → Entra ID."
        " Le journal d'intégration contient le détail, collaborateur par collaborateur."
    ),
    footer_daily=(
        "Envoyé par le connecteur Lucca → Entra ID. Le journal d'intégration contient le détail."
    ),
    created_subject="Compte Entra créé : {name}",
    created_intro="Le connecteur a créé un compte Microsoft Entra ID pour {name}.",
    opens="Ouverture du compte",
    created_closed=(
        "Le compte a été créé désactivé et s'ouvrira à cette date : d'ici là, personne ne peut"
        " s'y connecter."
    ),
    created_random=(
        "Le compte a été créé avec un mot de passe aléatoire que personne ne connaît (le"
        " connecteur ne l'a pas conservé). Pour permettre à {name} de se connecter :"
    ),
    step_reset=(
        "Choisissez « Réinitialiser le mot de passe » (Reset password) : Entra affiche un mot de"
        " passe temporaire."
    ),
    step_give=(
        "Transmettez ce mot de passe temporaire à {name} par un canal sûr : en main propre ou"
        " par téléphone, jamais par e-mail. Entra demandera un nouveau mot de passe à la"
        " première connexion."
    ),
    not_created_subject="Compte Entra non créé : {name}",
    not_created_intro="Le connecteur n'a pas pu créer de compte Microsoft Entra ID pour {name}.",
    planned_address="Adresse prévue",
    no_address="aucune : le collaborateur n'a pas d'e-mail professionnel dans Lucca",
    not_created_retry=(
        "Corrigez les données dans Lucca ou dans Entra : le connecteur réessaiera à la prochaine"
        " modification de la fiche du collaborateur dans Lucca."
    ),
    by_hand_prefix="Si cela ne peut pas attendre, ",
    by_hand_link="créez le compte à la main dans le centre d'administration Microsoft Entra",
    deactivated_subject="Compte Entra désactivé : {name}",
    deactivated_intro="Le connecteur a désactivé le compte Microsoft Entra ID associé à {name}.",
    deactivation="Désactivation",
    sessions_revoked=(
        "La connexion est bloquée et les sessions du compte ont été révoquées ; le journal"
        " d'intégration en garde la trace."
    ),
    sessions_kept=(
        "La connexion est bloquée, mais les sessions du compte n'ont pas été révoquées : {why}"
    ),
    failed_subject="Échec de désactivation du compte Entra : {name}",
    failed_intro=(
        "Le connecteur n'a pas pu désactiver le compte Microsoft Entra ID associé à {name} :"
        " le compte est peut-être encore ouvert."
    ),
    deactivation_due="Désactivation prévue",
    step_disable=(
        "Désactivez-le à la main : décochez « Compte activé » dans les propriétés de"
        " l'utilisateur, puis choisissez « Révoquer les sessions »."
    ),
    step_log=(
        "Consultez ensuite le journal d'intégration (collaborateur {id}) pour comprendre l'échec."
    ),
    linked=LINKED_FR,
    more=MORE_FR,
    notification=("notification", "notifications"),
    digest_subject="Comptes Entra : {count} en un seul e-mail",
    digest_intro="Elles sont regroupées ci-dessous par type, les plus urgentes d'abord.",
    headings={
        Kind.LINKED: LINKED_FR.heading,
        Kind.DEACTIVATION_FAILED: ("Échec de désactivation", "Échecs de désactivation"),
        Kind.NOT_CREATED: ("Compte non créé", "Comptes non créés"),
        Kind.CREATED: ("Compte créé", "Comptes créés"),
        Kind.DEACTIVATED: ("Compte désactivé", "Comptes désactivés"),
    },
    notes={
        Kind.LINKED: LINKED_FR.note,
        Kind.DEACTIVATION_FAILED: (
            "Chaque compte est peut-être encore ouvert. Désactivez-le à la main dans Entra et"
            " révoquez ses sessions, puis consultez le journal d'intégration pour comprendre"
            " l'échec."
        ),
        Kind.NOT_CREATED: (
            "Corrigez les données dans Lucca ou dans Entra : le connecteur réessaiera à la"
            " prochaine modification de la fiche de chaque collaborateur dans Lucca. Si cela ne"
            " peut pas"
            " attendre, créez le compte à la main dans le centre d'administration Microsoft"
            " Entra."
        ),
        Kind.CREATED: (
            "Chaque compte a été créé avec un mot de passe aléatoire que personne ne connaît."
            " Ouvrez-le dans Entra, choisissez « Réinitialiser le mot de passe » et transmettez"
            " le mot de passe temporaire au collaborateur par un canal sûr (en main propre ou"
            " par téléphone, jamais par e-mail) ; Entra demandera un nouveau mot de passe à la"
            " première connexion."
        ),
        Kind.DEACTIVATED: (
            "Pour chaque compte, la connexion est bloquée ; le journal d'intégration en garde"
            " la trace, et indique si ses sessions ont été révoquées."
        ),
    },
    compact={
        Kind.LINKED: LINKED_FR.compact,
        Kind.DEACTIVATION_FAILED: "{login}",
        Kind.NOT_CREATED: "adresse prévue {login}",
        Kind.CREATED: "{login}",
        Kind.DEACTIVATED: "{login}",
    },
    compact_when={
        Kind.LINKED: "",
        Kind.DEACTIVATION_FAILED: ", désactivation prévue le {moment}",
        Kind.NOT_CREATED: "",
        Kind.CREATED: ", ouverture le {moment}",
        Kind.DEACTIVATED: ", désactivé le {moment}",
    },
    compact_links={
        Kind.LINKED: LINKED_FR.link,
        Kind.DEACTIVATION_FAILED: "Désactiver le compte dans Entra",
        Kind.NOT_CREATED: "Créer le compte dans Entra",
        Kind.CREATED: "Réinitialiser le mot de passe dans Entra",
        Kind.DEACTIVATED: "Compte dans Entra",
    },
    compact_no_address="pas d'e-mail professionnel dans Lucca",
    lucca_file_short="Fiche Lucca",
    daily_subject="Comptes Entra : récapitulatif pour le {day}",
    daily_intro=(
        "Voici ce que le connecteur fera demain, le {day} ({zone}), et ce qui attend un"
        " administrateur."
    ),
    starts="Arrivées",
    leavers="Départs",
    held_runs="Exécutions suspendues",
    conflicts="Conflits ouverts",
    no_starts="Aucune arrivée demain.",
    no_leavers="Aucun départ demain.",
    no_held_runs="Aucune exécution suspendue.",
    no_conflicts="Aucun conflit ouvert.",
    entra_user_short="Compte dans Entra",
)

_WORDS: dict[str, Words] = {"en": _EN, "fr": _FR}


def words_for(language: str) -> Words:
    """The words of one language: 'en' or 'fr'."""
    try:
        return _WORDS[language]
    except KeyError:
        raise ValueError(f"no emails in language {language!r}: 'en' or 'fr'") from None
