"""Notification emails: a notice rendered as a subject, a plain-text part and an HTML part.

Each email is described once (paragraphs, facts, steps, lists, links) and that description is
written out twice, so the two parts always say the same things. In the HTML part every value
from Lucca or Entra is escaped, links are made of http(s) URLs only, and the document needs no
external resource and runs no script; the subject never holds a line break. No email carries a
password: a notice has none to give, and the "account created" email tells the administrator
how to set one. English and French. Rendering reads no clock and draws no random number: the
same notice always gives the same email.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connector.domain.notices import DailyDigest, DailyItem, Kind, Links, Notice

Language: TypeAlias = Literal["en", "fr"]


@dataclass(frozen=True)
class Rendered:
    """One email, ready to send."""

    subject: str  # one line
    text: str  # the plain-text part
    html: str  # a small self-contained HTML document: inline styles, no external resource


# -- what an email says, before it is written out ---------------------------------------------


@dataclass(frozen=True)
class _Link:
    """A link: HTML shows the label, the plain text shows `label: url`."""

    label: str
    url: str


@dataclass(frozen=True)
class _Strong:
    """Words to stand out in HTML (plain in the text part)."""

    text: str


_Inline: TypeAlias = str | _Link | _Strong
_Line: TypeAlias = tuple[_Inline, ...]


@dataclass(frozen=True)
class _Para:
    """A paragraph of one or more lines."""

    lines: tuple[_Line, ...]


@dataclass(frozen=True)
class _Facts:
    """Labelled values: `label: value`, one a line."""

    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Steps:
    """A numbered list of things to do."""

    steps: tuple[_Line, ...]


@dataclass(frozen=True)
class _List:
    """A bulleted list: each item one or more lines; `empty` is said when there is none."""

    items: tuple[tuple[_Line, ...], ...]
    empty: str = ""


@dataclass(frozen=True)
class _Heading:
    """A section title."""

    text: str


_Block: TypeAlias = _Para | _Facts | _Steps | _List | _Heading


@dataclass(frozen=True)
class _Email:
    """An email's subject, body and footer, in one language."""

    subject: str
    blocks: tuple[_Block, ...]
    footer: str


# -- the words, in English and French ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Words:
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


_EN = _Words(
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
    notification=("notification", "notifications"),
    digest_subject="Entra accounts: {count} in one email",
    digest_intro="They are grouped below by kind, the most urgent first.",
    headings={
        Kind.DEACTIVATION_FAILED: ("Deactivation failed", "Deactivations failed"),
        Kind.NOT_CREATED: ("Account not created", "Accounts not created"),
        Kind.CREATED: ("Account created", "Accounts created"),
        Kind.DEACTIVATED: ("Account deactivated", "Accounts deactivated"),
    },
    notes={
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
        Kind.DEACTIVATION_FAILED: "{login}",
        Kind.NOT_CREATED: "planned address {login}",
        Kind.CREATED: "{login}",
        Kind.DEACTIVATED: "{login}",
    },
    compact_when={
        Kind.DEACTIVATION_FAILED: ", deactivation due {moment}",
        Kind.NOT_CREATED: "",
        Kind.CREATED: ", opens {moment}",
        Kind.DEACTIVATED: ", deactivated {moment}",
    },
    compact_links={
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

_FR = _Words(
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
    notification=("notification", "notifications"),
    digest_subject="Comptes Entra : {count} en un seul e-mail",
    digest_intro="Elles sont regroupées ci-dessous par type, les plus urgentes d'abord.",
    headings={
        Kind.DEACTIVATION_FAILED: ("Échec de désactivation", "Échecs de désactivation"),
        Kind.NOT_CREATED: ("Compte non créé", "Comptes non créés"),
        Kind.CREATED: ("Compte créé", "Comptes créés"),
        Kind.DEACTIVATED: ("Compte désactivé", "Comptes désactivés"),
    },
    notes={
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
        Kind.DEACTIVATION_FAILED: "{login}",
        Kind.NOT_CREATED: "adresse prévue {login}",
        Kind.CREATED: "{login}",
        Kind.DEACTIVATED: "{login}",
    },
    compact_when={
        Kind.DEACTIVATION_FAILED: ", désactivation prévue le {moment}",
        Kind.NOT_CREATED: "",
        Kind.CREATED: ", ouverture le {moment}",
        Kind.DEACTIVATED: ", désactivé le {moment}",
    },
    compact_links={
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

_WORDS: dict[str, _Words] = {"en": _EN, "fr": _FR}

# The digest lists what needs the administrator most first.
_DIGEST_ORDER = (Kind.DEACTIVATION_FAILED, Kind.NOT_CREATED, Kind.CREATED, Kind.DEACTIVATED)


def _words(language: str) -> _Words:
    try:
        return _WORDS[language]
    except KeyError:
        raise ValueError(f"no emails in language {language!r}: 'en' or 'fr'") from None


# -- values ------------------------------------------------------------------------------------


def _moment(when: datetime, zone: str, words: _Words) -> str:
    """`when` in `zone`, e.g. "2026-03-29 00:00 (Europe/Paris)"; UTC if the zone is unknown."""
    instant = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    try:
        local, shown = instant.astimezone(ZoneInfo(zone)), zone
    except (ZoneInfoNotFoundError, ValueError):
        local, shown = instant.astimezone(UTC), "UTC"
    return f"{local.strftime(words.moment_format)} ({shown})"


def _day(day: str, words: _Words) -> str:
    """A YYYY-MM-DD day in the language's format (as given if it is not one)."""
    try:
        return date.fromisoformat(day).strftime(words.day_format)
    except ValueError:
        return day


def _name(name: str, employee_id: str, words: _Words) -> str:
    """The person's name, or "employee <id>" when Lucca gave none."""
    return name if name.strip() else words.nameless.format(id=employee_id)


_SUBJECT_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _one_line(text: str) -> str:
    """The text with every line break and control character made a space (header injection)."""
    return " ".join(_SUBJECT_BREAKS.sub(" ", text).split())


def _is_web(url: str) -> bool:
    return url.lower().startswith(("https://", "http://"))


# -- the four single emails --------------------------------------------------------------------


def _user_step(notice: Notice, links: Links, words: _Words) -> _Link:
    """Step one: open the account's page (or find it in the user list when its id is unknown)."""
    if notice.object_id:
        return _Link(words.step_open_user, links.entra_user(notice.object_id))
    login = notice.login or _name(notice.name, notice.employee_id, words)
    return _Link(words.step_find_user.format(login=login), links.entra_users())


def _user_link(notice: Notice, links: Links, words: _Words, label: str | None = None) -> _Link:
    """The account's page in the Entra admin center (or the user list)."""
    if notice.object_id:
        return _Link(label or words.entra_user, links.entra_user(notice.object_id))
    login = notice.login or _name(notice.name, notice.employee_id, words)
    return _Link(label or words.find_user.format(login=login), links.entra_users())


def _lucca_link(employee_id: str, links: Links, label: str) -> _Link:
    return _Link(label, links.lucca_file(employee_id))


def _facts(notice: Notice, words: _Words, *rows: tuple[str, str]) -> _Facts:
    """Who (name and Lucca id), then the rows given."""
    name = _name(notice.name, notice.employee_id, words)
    return _Facts(((words.employee, name), (words.lucca_id, notice.employee_id), *rows))


def _created(notice: Notice, links: Links, words: _Words) -> _Email:
    name = _name(notice.name, notice.employee_id, words)
    rows = [(words.login, notice.login or words.no_login)]
    closed: list[_Block] = []
    if notice.when is not None:
        rows.append((words.opens, _moment(notice.when, notice.zone, words)))
        closed.append(_Para(((words.created_closed,),)))
    return _Email(
        subject=words.created_subject.format(name=name),
        blocks=(
            _Para(((words.created_intro.format(name=name),),)),
            _facts(notice, words, *rows),
            *closed,
            _Para(((words.created_random.format(name=name),),)),
            _Steps(
                (
                    (_user_step(notice, links, words),),
                    (words.step_reset,),
                    (words.step_give.format(name=name),),
                )
            ),
            _Para(((_lucca_link(notice.employee_id, links, words.lucca_file),),)),
        ),
        footer=words.footer.format(id=notice.employee_id),
    )


def _not_created(notice: Notice, links: Links, words: _Words) -> _Email:
    name = _name(notice.name, notice.employee_id, words)
    return _Email(
        subject=words.not_created_subject.format(name=name),
        blocks=(
            _Para(((words.not_created_intro.format(name=name),),)),
            _facts(
                notice,
                words,
                (words.planned_address, notice.login or words.no_address),
                (words.reason, notice.reason or words.no_reason),
            ),
            _Para(((words.not_created_retry,),)),
            _Para(((words.by_hand_prefix, _Link(words.by_hand_link, links.entra_new_user())),)),
            _Para(((_lucca_link(notice.employee_id, links, words.lucca_file),),)),
        ),
        footer=words.footer.format(id=notice.employee_id),
    )


def _deactivated(notice: Notice, links: Links, words: _Words) -> _Email:
    name = _name(notice.name, notice.employee_id, words)
    rows = [(words.login, notice.login or words.no_login)]
    if notice.when is not None:
        rows.append((words.deactivation, _moment(notice.when, notice.zone, words)))
    return _Email(
        subject=words.deactivated_subject.format(name=name),
        blocks=(
            _Para(((words.deactivated_intro.format(name=name),),)),
            _facts(notice, words, *rows),
            _Para(
                (
                    (
                        words.sessions_kept.format(why=notice.reason)
                        if notice.reason
                        else words.sessions_revoked,
                    ),
                )
            ),
            _Para(
                (
                    (_user_link(notice, links, words),),
                    (_lucca_link(notice.employee_id, links, words.lucca_file),),
                )
            ),
        ),
        footer=words.footer.format(id=notice.employee_id),
    )


def _deactivation_failed(notice: Notice, links: Links, words: _Words) -> _Email:
    name = _name(notice.name, notice.employee_id, words)
    rows = [(words.login, notice.login or words.no_login)]
    if notice.when is not None:
        rows.append((words.deactivation_due, _moment(notice.when, notice.zone, words)))
    rows.append((words.reason, notice.reason or words.no_reason))
    return _Email(
        subject=words.failed_subject.format(name=name),
        blocks=(
            _Para(((words.failed_intro.format(name=name),),)),
            _facts(notice, words, *rows),
            _Para(((words.what_to_do,),)),
            _Steps(
                (
                    (_user_step(notice, links, words),),
                    (words.step_disable,),
                    (words.step_log.format(id=notice.employee_id),),
                )
            ),
            _Para(((_lucca_link(notice.employee_id, links, words.lucca_file),),)),
        ),
        footer=words.footer.format(id=notice.employee_id),
    )


_SINGLE: dict[Kind, Callable[[Notice, Links, _Words], _Email]] = {
    Kind.CREATED: _created,
    Kind.NOT_CREATED: _not_created,
    Kind.DEACTIVATED: _deactivated,
    Kind.DEACTIVATION_FAILED: _deactivation_failed,
}


def render(notice: Notice, links: Links, language: Language) -> Rendered:
    """The email about one employee: account created, not created, deactivated, or not."""
    words = _words(language)
    build = _SINGLE.get(notice.kind)
    if build is None:
        raise ValueError(f"{notice.kind.value} is not an email about one employee")
    return _write(build(notice, links, words), words)


# -- the digest --------------------------------------------------------------------------------


def _compact(notice: Notice, links: Links, words: _Words) -> tuple[_Line, ...]:
    """One notice as a list item: who and the facts on one line, the reason, then the links."""
    kind = notice.kind
    if kind is Kind.NOT_CREATED and not notice.login:
        facts = words.compact_no_address
    else:
        facts = words.compact[kind].format(login=notice.login or words.no_login)
    if notice.when is not None and words.compact_when[kind]:
        facts += words.compact_when[kind].format(moment=_moment(notice.when, notice.zone, words))
    lines: list[_Line] = [
        (
            _Strong(_name(notice.name, notice.employee_id, words)),
            _after_name(notice.employee_id, words),
            facts,
        )
    ]
    if kind in (Kind.NOT_CREATED, Kind.DEACTIVATION_FAILED):
        lines.append((f"{words.reason}{words.colon}{notice.reason or words.no_reason}",))
    if kind is Kind.NOT_CREATED:
        lines.append((_Link(words.compact_links[kind], links.entra_new_user()),))
    else:
        lines.append((_user_link(notice, links, words, words.compact_links[kind]),))
    lines.append((_lucca_link(notice.employee_id, links, words.lucca_file_short),))
    return tuple(lines)


def _after_name(employee_id: str, words: _Words) -> str:
    """What follows the name on a list item: " (Lucca id 4217): "."""
    return words.after_name.format(id=employee_id) + words.colon


def _count(count: int, forms: tuple[str, str]) -> str:
    return f"{count} {forms[0] if count == 1 else forms[1]}"


def _heading(text: str, count: int) -> _Heading:
    return _Heading(f"{text} ({count})")


def render_digest(
    notices: Sequence[Notice], links: Links, language: Language, *, reason: str
) -> Rendered:
    """One email listing many waiting notices, grouped by kind; `reason` says why (its intro)."""
    words = _words(language)
    for notice in notices:
        if notice.kind not in _SINGLE:
            raise ValueError(f"{notice.kind.value} cannot be listed in a digest")
    blocks: list[_Block] = [_Para(((reason,),)), _Para(((words.digest_intro,),))]
    for kind in _DIGEST_ORDER:
        group = [notice for notice in notices if notice.kind is kind]
        if not group:
            continue
        one, many = words.headings[kind]
        blocks.append(_heading(one if len(group) == 1 else many, len(group)))
        blocks.append(_Para(((words.notes[kind],),)))
        blocks.append(_List(tuple(_compact(notice, links, words) for notice in group)))
    return _write(
        _Email(
            subject=words.digest_subject.format(count=_count(len(notices), words.notification)),
            blocks=tuple(blocks),
            footer=words.footer_digest,
        ),
        words,
    )


# -- the daily digest --------------------------------------------------------------------------


def _daily_item(item: DailyItem, links: Links, words: _Words) -> tuple[_Line, ...]:
    name = _name(item.name, item.employee_id, words)
    first: _Line = (
        _Strong(name),
        _after_name(item.employee_id, words),
        item.what,
    )
    lines: list[_Line] = [first]
    if item.object_id:
        lines.append((_Link(words.entra_user_short, links.entra_user(item.object_id)),))
    lines.append((_lucca_link(item.employee_id, links, words.lucca_file_short),))
    return tuple(lines)


def render_daily(digest: DailyDigest, links: Links, language: Language) -> Rendered:
    """Tomorrow's starts and leavers, held runs and open conflicts, each section counted."""
    words = _words(language)
    day = _day(digest.day, words)
    sections: tuple[tuple[str, tuple[tuple[_Line, ...], ...], str], ...] = (
        (
            words.starts,
            tuple(_daily_item(item, links, words) for item in digest.starts),
            words.no_starts,
        ),
        (
            words.leavers,
            tuple(_daily_item(item, links, words) for item in digest.leavers),
            words.no_leavers,
        ),
        (words.held_runs, tuple(((run,),) for run in digest.held_runs), words.no_held_runs),
        (
            words.conflicts,
            tuple(_daily_item(item, links, words) for item in digest.conflicts),
            words.no_conflicts,
        ),
    )
    blocks: list[_Block] = [_Para(((words.daily_intro.format(day=day, zone=digest.zone),),))]
    for title, items, empty in sections:
        blocks.append(_heading(title, len(items)))
        blocks.append(_List(items, empty))
    return _write(
        _Email(
            subject=words.daily_subject.format(day=day),
            blocks=tuple(blocks),
            footer=words.footer_daily,
        ),
        words,
    )


# -- writing out: plain text and HTML ----------------------------------------------------------


def _write(email: _Email, words: _Words) -> Rendered:
    subject = _one_line(email.subject)
    return Rendered(
        subject=subject,
        text=_text(email, words),
        html=_html(email, subject, words),
    )


def _text_line(line: _Line, words: _Words) -> str:
    out: list[str] = []
    for part in line:
        if isinstance(part, _Link):
            out.append(f"{part.label}{words.colon}{part.url}")
        elif isinstance(part, _Strong):
            out.append(part.text)
        else:
            out.append(part)
    return "".join(out)


def _text_block(block: _Block, words: _Words) -> str:
    if isinstance(block, _Para):
        return "\n".join(_text_line(line, words) for line in block.lines)
    if isinstance(block, _Facts):
        return "\n".join(f"{label}{words.colon}{value}" for label, value in block.rows)
    if isinstance(block, _Steps):
        return "\n".join(
            f"{number}. {_text_line(step, words)}" for number, step in enumerate(block.steps, 1)
        )
    if isinstance(block, _List):
        if not block.items:
            return block.empty
        return "\n".join(
            "\n  ".join(
                ("- " + _text_line(item[0], words), *(_text_line(line, words) for line in item[1:]))
            )
            for item in block.items
        )
    return f"{block.text}\n{'-' * len(block.text)}"


def _text(email: _Email, words: _Words) -> str:
    body = "\n\n".join(_text_block(block, words) for block in email.blocks)
    return f"{body}\n\n--\n{email.footer}\n"


def _e(value: str) -> str:
    return html.escape(value, quote=True)


_BODY = (
    "margin:0;padding:24px;background-color:#f4f5f7;color:#1f2328;"
    "font-family:'Segoe UI',Helvetica,Arial,sans-serif;font-size:14px;line-height:1.5"
)
_CARD = (
    "max-width:640px;margin:0 auto;padding:24px;background-color:#ffffff;"
    "border:1px solid #d8dce1;border-radius:6px"
)
_H1 = "margin:0 0 16px;font-size:18px;line-height:1.3"
_H2 = "margin:20px 0 8px;font-size:15px;line-height:1.3"
_P = "margin:0 0 12px"
_EMPTY = "margin:0 0 12px;color:#59636e"
_TABLE = "margin:0 0 12px;border-collapse:collapse"
_TH = "padding:2px 16px 2px 0;text-align:left;vertical-align:top;font-weight:normal;color:#59636e"
_TD = "padding:2px 0;vertical-align:top"
_OL = "margin:0 0 12px;padding-left:24px"
_LI = "margin:0 0 6px"
_A = "color:#0b5cad"
_FOOTER = (
    "margin:24px 0 0;padding-top:12px;border-top:1px solid #d8dce1;font-size:12px;color:#59636e"
)


def _html_line(line: _Line, words: _Words) -> str:
    out: list[str] = []
    for part in line:
        if isinstance(part, _Link):
            if _is_web(part.url):
                out.append(f'<a href="{_e(part.url)}" style="{_A}">{_e(part.label)}</a>')
            else:  # never a link that is not http(s): the address is shown, not followed
                out.append(_e(f"{part.label}{words.colon}{part.url}"))
        elif isinstance(part, _Strong):
            out.append(f"<strong>{_e(part.text)}</strong>")
        else:
            out.append(_e(part))
    return "".join(out)


def _html_block(block: _Block, words: _Words) -> str:
    if isinstance(block, _Para):
        lines = "<br>\n".join(_html_line(line, words) for line in block.lines)
        return f'<p style="{_P}">{lines}</p>'
    if isinstance(block, _Facts):
        rows = "\n".join(
            f'<tr><th scope="row" style="{_TH}">{_e(label)}</th>'
            f'<td style="{_TD}">{_e(value)}</td></tr>'
            for label, value in block.rows
        )
        return f'<table role="presentation" style="{_TABLE}">\n{rows}\n</table>'
    if isinstance(block, _Steps):
        steps = "\n".join(
            f'<li style="{_LI}">{_html_line(step, words)}</li>' for step in block.steps
        )
        return f'<ol style="{_OL}">\n{steps}\n</ol>'
    if isinstance(block, _List):
        if not block.items:
            return f'<p style="{_EMPTY}">{_e(block.empty)}</p>'
        items = "\n".join(
            f'<li style="{_LI}">{"<br>".join(_html_line(line, words) for line in item)}</li>'
            for item in block.items
        )
        return f'<ul style="{_OL}">\n{items}\n</ul>'
    return f'<h2 style="{_H2}">{_e(block.text)}</h2>'


def _html(email: _Email, subject: str, words: _Words) -> str:
    body = "\n".join(_html_block(block, words) for block in email.blocks)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{words.lang}">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(subject)}</title>\n"
        "</head>\n"
        f'<body style="{_BODY}">\n'
        f'<div style="{_CARD}">\n'
        f'<h1 style="{_H1}">{_e(subject)}</h1>\n'
        f"{body}\n"
        f'<p style="{_FOOTER}">{_e(email.footer)}</p>\n'
        "</div>\n"
        "</body>\n"
        "</html>\n"
    )
