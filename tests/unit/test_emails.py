"""Notification emails: stored renderings, escaping, links, and never a password.

The stored renderings are in `expected_emails/`: `<kind>.<lang>.subject.txt` (the subject and a
newline), `<kind>.<lang>.txt` and `<kind>.<lang>.html`, compared byte for byte. After a wording
change, rewrite them with `UPDATE_EXPECTED_EMAILS=1 pytest tests/unit/test_emails.py`, then
read the diff.
"""

from __future__ import annotations

import dataclasses
import html
import inspect
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.domain.notices import EMPLOYEE_KINDS, DailyDigest, DailyItem, Kind, Links, Notice
from connector.notify.compose import render, render_daily, render_digest
from connector.notify.document import Rendered
from connector.notify.words import Language

EXPECTED = Path(__file__).parent / "expected_emails"
UPDATE = os.environ.get("UPDATE_EXPECTED_EMAILS") == "1"
LANGUAGES: tuple[Language, ...] = ("en", "fr")
LINKS = Links("https://acme.ilucca.net")
RAISED = datetime(2026, 3, 27, 16, 5, tzinfo=UTC)
MIDNIGHT_PARIS = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # 2026-03-29 00:00 Europe/Paris

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'

NOTICES = {
    Kind.CREATED: Notice(
        kind=Kind.CREATED,
        employee_id="4217",
        name="Élodie Dupré",
        raised_at=RAISED,
        login="elodie.dupre@acme.fr",
        object_id="6f1c2a9e-3b7d-4c55-9e0a-1d2b3c4d5e6f",
        when=MIDNIGHT_PARIS,
    ),
    Kind.NOT_CREATED: Notice(
        kind=Kind.NOT_CREATED,
        employee_id="5120",
        name="François Lefèvre",
        raised_at=RAISED,
        login="francois.lefevre@acme.fr",
        reason=(
            "The address francois.lefevre@acme.fr is already used by another Entra account,"
            " which is not linked to a Lucca employee."
        ),
    ),
    Kind.LINKED: Notice(
        kind=Kind.LINKED,
        employee_id="4502",
        name="Inès Caron",
        raised_at=RAISED,
        login="ines.caron@acme.fr",
        object_id="7b6a5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d",
        matched_by="mail",
    ),
    Kind.DEACTIVATED: Notice(
        kind=Kind.DEACTIVATED,
        employee_id="3088",
        name="Hélène Mercier",
        raised_at=RAISED,
        login="helene.mercier@acme.fr",
        object_id="0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a",
        when=MIDNIGHT_PARIS,
    ),
    Kind.DEACTIVATION_FAILED: Notice(
        kind=Kind.DEACTIVATION_FAILED,
        employee_id="2951",
        name="Jérôme Nguyen",
        raised_at=RAISED,
        login="jerome.nguyen@acme.fr",
        object_id="9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
        when=MIDNIGHT_PARIS,
        reason="Microsoft Graph refused the change: 403 Authorization_RequestDenied.",
    ),
}

# As the sender words it, in the email's language.
DIGEST_REASONS: dict[Language, str] = {
    "en": (
        "6 notifications were waiting, more than the 5 emails the sending limit (10 per hour,"
        " 5 per minute) still allows within the hour: here they are in one message."
    ),
    "fr": (
        "6 notifications attendaient, plus que les 5 envois que la limite d'envoi (10 par heure,"
        " 5 par minute) permet encore dans l'heure : les voici en un seul message."
    ),
}
# The headings of failed deactivations and of created accounts, in each language.
DIGEST_HEADINGS: dict[Language, tuple[str, str]] = {
    "en": ("Deactivation failed (1)", "Account created (1)"),
    "fr": ("Échec de désactivation (1)", "Compte créé (1)"),
}
DIGEST = (
    NOTICES[Kind.CREATED],
    Notice(
        kind=Kind.CREATED,
        employee_id="4388",
        name="Gaëlle Rousseau",
        raised_at=RAISED,
        login="gaelle.rousseau@acme.fr",
        object_id="3c2b1a09-8f7e-4d6c-b5a4-938271605f4e",
    ),
    NOTICES[Kind.NOT_CREATED],
    Notice(
        kind=Kind.NOT_CREATED,
        employee_id="5133",
        name="Loïc Bénard",
        raised_at=RAISED,
        reason="The employee has no professional email in Lucca, so no login can be made.",
    ),
    NOTICES[Kind.DEACTIVATED],
    NOTICES[Kind.DEACTIVATION_FAILED],
)

DAILY = DailyDigest(
    day="2026-03-29",
    zone="Europe/Paris",
    raised_at=datetime(2026, 3, 28, 16, 0, tzinfo=UTC),
    starts=(
        DailyItem(
            employee_id="4217",
            name="Élodie Dupré",
            login="elodie.dupre@acme.fr",
            what="starts on 2026-03-29: account enabled at 00:00",
            object_id="6f1c2a9e-3b7d-4c55-9e0a-1d2b3c4d5e6f",
        ),
        DailyItem(
            employee_id="4390",
            name="Noémie Thébault",
            login="noemie.thebault@acme.fr",
            what="starts on 2026-03-29: account created at the next run",
        ),
    ),
    held_runs=(
        "Run held: 14 accounts would have been disabled at once, more than the limit of 10;"
        " an operator must release it.",
    ),
    held_people=(
        DailyItem(
            employee_id="3301",
            name="Céline Arnaud",
            login="celine.arnaud@acme.fr",
            what="disable on 2026-03-29 00:00 Europe/Paris (last day 2026-03-28, employment 91)",
        ),
        DailyItem(employee_id="3302", name="", what=""),
    ),
    conflicts=(
        DailyItem(
            employee_id="2877",
            name="Anaïs Girard",
            login="anais.girard@acme.fr",
            what="anais.girard@acme.fr already belongs to an Entra account linked to nobody",
            object_id="5e4d3c2b-1a09-4f8e-a7d6-c5b4a3928170",
        ),
    ),
)


# A leaver whose account someone had disabled by hand before the last day (issue 19).
ALREADY = dataclasses.replace(NOTICES[Kind.DEACTIVATED], already_disabled=True)
ALREADY_NAME = "account-deactivated-already"


def check_expected(name: str, language: Language, rendered: Rendered) -> None:
    """The rendering equals the stored files (rewritten first with UPDATE_EXPECTED_EMAILS=1)."""
    parts = {
        f"{name}.{language}.subject.txt": rendered.subject + "\n",
        f"{name}.{language}.txt": rendered.text,
        f"{name}.{language}.html": rendered.html,
    }
    for file, content in parts.items():
        path = EXPECTED / file
        if UPDATE:
            EXPECTED.mkdir(exist_ok=True)
            path.write_bytes(content.encode())
        assert path.exists(), f"{file} is missing: run UPDATE_EXPECTED_EMAILS=1 pytest {__file__}"
        assert path.read_bytes().decode() == content, (
            f"{file} differs: if the change is meant, rewrite it with UPDATE_EXPECTED_EMAILS=1"
        )


def all_renderings(notice: Notice) -> list[Rendered]:
    """The notice's email in both languages."""
    return [render(notice, LINKS, language) for language in LANGUAGES]


def hostile(notice: Notice, name: str, reason: str) -> Notice:
    """The notice with a hostile name and reason."""
    return dataclasses.replace(notice, name=name, reason=reason)


# -- stored renderings ---------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", EMPLOYEE_KINDS, ids=lambda kind: kind.value)
def test_single_emails_match_the_stored_renderings(kind: Kind, language: Language) -> None:
    """The five emails, word for word, as reviewed."""
    check_expected(kind.value, language, render(NOTICES[kind], LINKS, language))


@pytest.mark.parametrize("language", LANGUAGES)
def test_digest_matches_the_stored_rendering(language: Language) -> None:
    """The digest, word for word."""
    rendered = render_digest(DIGEST, LINKS, language, reason=DIGEST_REASONS[language])
    check_expected(Kind.DIGEST.value, language, rendered)


@pytest.mark.parametrize("language", LANGUAGES)
def test_daily_matches_the_stored_rendering(language: Language) -> None:
    """The daily digest, word for word."""
    check_expected(Kind.DAILY.value, language, render_daily(DAILY, LINKS, language))


@pytest.mark.parametrize("language", LANGUAGES)
def test_already_disabled_email_matches_the_stored_rendering(language: Language) -> None:
    """The "account deactivated" email of an account found already disabled, word for word."""
    check_expected(ALREADY_NAME, language, render(ALREADY, LINKS, language))


def test_every_stored_file_is_a_rendering_of_the_tests() -> None:
    """No stale file is left in expected_emails/."""
    kinds = [kind.value for kind in (*EMPLOYEE_KINDS, Kind.DIGEST, Kind.DAILY)] + [ALREADY_NAME]
    expected = {
        f"{kind}.{language}.{suffix}"
        for kind in kinds
        for language in LANGUAGES
        for suffix in ("subject.txt", "txt", "html")
    }
    assert {path.name for path in EXPECTED.iterdir()} == expected


# -- escaping and header injection ---------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", EMPLOYEE_KINDS, ids=lambda kind: kind.value)
@pytest.mark.parametrize(("name", "reason"), [(SCRIPT, IMG), (IMG, SCRIPT)])
def test_markup_in_values_is_escaped_in_html_and_verbatim_in_text(
    kind: Kind, language: Language, name: str, reason: str
) -> None:
    """A name or a reason holding markup never reaches the HTML as markup."""
    notice = hostile(NOTICES[kind], name, reason)
    rendered = render(notice, LINKS, language)
    for value in (
        (name, reason) if kind in (Kind.NOT_CREATED, Kind.DEACTIVATION_FAILED) else (name,)
    ):
        assert value not in rendered.html
        assert html.escape(value, quote=True) in rendered.html
        assert value in rendered.text
    assert "<script" not in rendered.html
    assert "<img" not in rendered.html


@pytest.mark.parametrize("language", LANGUAGES)
def test_markup_is_escaped_in_the_digests(language: Language) -> None:
    """The digest and the daily digest escape names, reasons and sentences too."""
    notices = [hostile(notice, SCRIPT, IMG) for notice in DIGEST]
    digest = render_digest(notices, LINKS, language, reason=SCRIPT)
    daily = render_daily(
        dataclasses.replace(
            DAILY,
            starts=(DailyItem(employee_id="1", name=SCRIPT, what=IMG),),
            held_runs=(SCRIPT,),
        ),
        LINKS,
        language,
    )
    for rendered in (digest, daily):
        assert "<script" not in rendered.html
        assert "<img" not in rendered.html
        assert html.escape(SCRIPT, quote=True) in rendered.html
        assert SCRIPT in rendered.text
        assert IMG in rendered.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_ids_are_escaped_inside_links(language: Language) -> None:
    """An id that would break out of the href attribute stays inside it, escaped."""
    attack = 'x" onmouseover="alert(1)'
    notice = dataclasses.replace(NOTICES[Kind.DEACTIVATED], object_id=attack, employee_id=attack)
    rendered = render(notice, LINKS, language)
    assert attack not in rendered.html
    assert "onmouseover=" not in rendered.html.replace(html.escape(attack, quote=True), "")
    assert html.escape(LINKS.entra_user(attack), quote=True) in rendered.html


def test_only_http_links_are_made() -> None:
    """An address that is not http(s) is shown, never put in an href."""
    links = Links("javascript:alert(1)")
    rendered = render(NOTICES[Kind.CREATED], links, "en")
    assert 'href="javascript' not in rendered.html
    assert "javascript:alert(1)/directory/user/4217" in rendered.html
    hrefs = re.findall(r'href="([^"]*)"', rendered.html)
    assert hrefs
    assert all(href.startswith("https://") for href in hrefs)


@pytest.mark.parametrize("kind", EMPLOYEE_KINDS, ids=lambda kind: kind.value)
def test_a_name_cannot_add_a_header(kind: Kind) -> None:
    """CR/LF (and other controls) in a name do not reach the subject."""
    notice = dataclasses.replace(NOTICES[kind], name="Ada\r\nBcc: x@y\u2028Cc: z@y\x00")
    for rendered in all_renderings(notice):
        assert "\r" not in rendered.subject
        assert "\n" not in rendered.subject
        assert "\u2028" not in rendered.subject
        assert "\x00" not in rendered.subject
        assert "Ada Bcc: x@y Cc: z@y" in rendered.subject


# -- never a password ----------------------------------------------------------------------------


def test_render_cannot_be_given_a_password() -> None:
    """A notice has no password field and `render` takes nothing else that could hold one."""
    assert not [field.name for field in dataclasses.fields(Notice) if "pass" in field.name.lower()]
    assert list(inspect.signature(render).parameters) == ["notice", "links", "language"]


def test_the_created_email_tells_the_admin_to_reset_the_password() -> None:
    """The administrator sets a temporary password in Entra and hands it over safely."""
    english, french = all_renderings(NOTICES[Kind.CREATED])
    for rendered, reset, safe in (
        (english, '"Reset password"', "safe channel"),
        (french, "« Réinitialiser le mot de passe »", "canal sûr"),
    ):
        assert reset in rendered.text
        assert html.escape(reset, quote=True) in rendered.html
        assert safe in rendered.text
        assert safe in rendered.html


def test_no_email_shows_a_password_value() -> None:
    """No "password: <value>" line anywhere, in any email."""
    renderings = [rendered for notice in NOTICES.values() for rendered in all_renderings(notice)]
    renderings += [
        render_digest(DIGEST, LINKS, language, reason=DIGEST_REASONS[language])
        for language in LANGUAGES
    ]
    renderings += [render_daily(DAILY, LINKS, language) for language in LANGUAGES]
    shown = re.compile(r"(password|mot de passe)\s*[:=]\s*\S", re.IGNORECASE)
    for rendered in renderings:
        for part in (rendered.subject, rendered.text, rendered.html):
            assert not shown.search(part)


# -- subjects, times and links -------------------------------------------------------------------


def test_subjects_are_distinct_per_kind_and_language() -> None:
    """One subject per kind and language, all different; each names the person."""
    subjects = {
        (kind, language): render(NOTICES[kind], LINKS, language).subject
        for kind in EMPLOYEE_KINDS
        for language in LANGUAGES
    }
    assert len(set(subjects.values())) == len(subjects)
    for (kind, _), subject in subjects.items():
        assert subject.endswith(NOTICES[kind].name)
    assert subjects[Kind.CREATED, "en"] == "Entra account created: Élodie Dupré"
    assert subjects[Kind.CREATED, "fr"] == "Compte Entra créé : Élodie Dupré"


@pytest.mark.parametrize(
    ("language", "shown", "in_utc"),
    [
        ("en", "2026-03-29 00:00 (Europe/Paris)", "2026-03-28 23:00 (UTC)"),
        ("fr", "29/03/2026 00:00 (Europe/Paris)", "28/03/2026 23:00 (UTC)"),
    ],
)
def test_times_are_shown_in_the_notice_zone(language: Language, shown: str, in_utc: str) -> None:
    """The instant (UTC) is shown in the notice's zone, in the language's format (UTC if the
    zone is unknown); 2026-03-28T23:00Z is midnight in Paris the night clocks go forward."""
    for kind in (Kind.CREATED, Kind.DEACTIVATED, Kind.DEACTIVATION_FAILED):
        rendered = render(NOTICES[kind], LINKS, language)
        assert shown in rendered.text
        assert shown in rendered.html
    new_york = dataclasses.replace(NOTICES[Kind.DEACTIVATED], zone="America/New_York")
    assert "(America/New_York)" in render(new_york, LINKS, language).text
    unknown = dataclasses.replace(NOTICES[Kind.DEACTIVATED], zone="Mars/Olympus")
    assert in_utc in render(unknown, LINKS, language).text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", EMPLOYEE_KINDS, ids=lambda kind: kind.value)
def test_links_appear_in_both_parts(kind: Kind, language: Language) -> None:
    """Lucca file always; the user page, or for a missing account the new-user page."""
    notice = NOTICES[kind]
    rendered = render(notice, LINKS, language)
    present = [LINKS.lucca_file(notice.employee_id)]
    absent = []
    if kind is Kind.NOT_CREATED:
        present.append(LINKS.entra_new_user())
        absent.append("UserProfileMenuBlade")
    else:
        assert notice.object_id is not None
        present.append(LINKS.entra_user(notice.object_id))
    for url in present:
        assert url in rendered.text
        assert f'href="{html.escape(url, quote=True)}"' in rendered.html
    for fragment in absent:
        assert fragment not in rendered.text
        assert fragment not in rendered.html


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_not_created_email_says_when_there_is_no_address(language: Language) -> None:
    """No login: the email says the employee has no professional email."""
    notice = dataclasses.replace(NOTICES[Kind.NOT_CREATED], login=None)
    text = render(notice, LINKS, language).text
    assert ("no professional email" if language == "en" else "pas d'e-mail professionnel") in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_reasons_are_kept_verbatim(language: Language) -> None:
    """The connector's sentence is quoted as it is, after a translated label."""
    label = "Reason: " if language == "en" else "Motif : "
    for kind in (Kind.NOT_CREATED, Kind.DEACTIVATION_FAILED):
        reason = NOTICES[kind].reason
        assert reason is not None
        assert label + reason in render(NOTICES[kind], LINKS, language).text


@pytest.mark.parametrize("language", LANGUAGES)
def test_emails_are_self_contained(language: Language) -> None:
    """No script, no image, no external style or resource: inline styles and links only."""
    renderings = all_renderings(NOTICES[Kind.CREATED])
    renderings.append(render_digest(DIGEST, LINKS, language, reason=DIGEST_REASONS[language]))
    renderings.append(render_daily(DAILY, LINKS, language))
    for rendered in renderings:
        for forbidden in ("<script", "<img", "<link", "<iframe", "src=", "url(", "@import"):
            assert forbidden not in rendered.html.lower()
        assert rendered.html.startswith("<!DOCTYPE html>\n")


def test_rendering_is_deterministic() -> None:
    """The same notice gives the same email."""
    assert all_renderings(NOTICES[Kind.CREATED]) == all_renderings(NOTICES[Kind.CREATED])


def test_only_employee_notices_are_rendered_alone() -> None:
    """A digest kind is not a single email; an unknown language is refused."""
    with pytest.raises(ValueError, match="not an email about one employee"):
        render(dataclasses.replace(NOTICES[Kind.CREATED], kind=Kind.DIGEST), LINKS, "en")
    with pytest.raises(ValueError, match="cannot be listed"):
        render_digest(
            [dataclasses.replace(NOTICES[Kind.CREATED], kind=Kind.DAILY)],
            LINKS,
            "en",
            reason="x",
        )
    with pytest.raises(ValueError, match="language"):
        render(NOTICES[Kind.CREATED], LINKS, "de")  # type: ignore[arg-type]


# -- digests -------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_digest_lists_every_notice_once(language: Language) -> None:
    """Each name once, under its kind, with the caller's reason as the intro."""
    rendered = render_digest(DIGEST, LINKS, language, reason=DIGEST_REASONS[language])
    assert rendered.text.startswith(DIGEST_REASONS[language] + "\n")
    for notice in DIGEST:
        assert rendered.text.count(notice.name) == 1
        assert rendered.html.count(html.escape(notice.name, quote=True)) == 1
        assert LINKS.lucca_file(notice.employee_id) in rendered.text
    assert "6 notifications" in rendered.subject
    headings = (
        ["Deactivation failed (1)", "Accounts not created (2)", "Accounts created (2)"]
        if language == "en"
        else ["Échec de désactivation (1)", "Comptes non créés (2)", "Comptes créés (2)"]
    )
    positions = [rendered.text.index(heading) for heading in headings]
    assert positions == sorted(positions)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_daily_digest_has_counted_sections(language: Language) -> None:
    """Four sections with counts; an empty one says so."""
    full = render_daily(DAILY, LINKS, language)
    empty = render_daily(
        DailyDigest(day="2026-03-29", zone="Europe/Paris", raised_at=RAISED), LINKS, language
    )
    if language == "en":
        headings = ["Starts (2)", "Leavers (0)", "Held runs (1)", "Open conflicts (1)"]
        nothing = [
            "No one starts tomorrow.",
            "No one leaves tomorrow.",
            "No run is held.",
            "No open conflict.",
        ]
        day = "2026-03-29"
    else:
        headings = [
            "Arrivées (2)",
            "Départs (0)",
            "Exécutions suspendues (1)",
            "Conflits ouverts (1)",
        ]
        nothing = [
            "Aucune arrivée demain.",
            "Aucun départ demain.",
            "Aucune exécution suspendue.",
            "Aucun conflit ouvert.",
        ]
        day = "29/03/2026"
    for heading in headings:
        assert heading in full.text
        assert html.escape(heading) in full.html
    assert nothing[1] in full.text
    for line in (nothing[0], nothing[2], nothing[3]):
        assert line not in full.text
    for line in nothing:
        assert line in empty.text
        assert html.escape(line, quote=True) in empty.html
    assert day in full.subject


def test_deactivated_email_says_when_sessions_were_not_revoked() -> None:
    """With REVOKE_SESSIONS off (or refused), the email does not claim they were revoked."""
    notice = Notice(
        kind=Kind.DEACTIVATED,
        employee_id="77",
        name="Léa Roux",
        raised_at=datetime(2026, 10, 24, 22, 0, tzinfo=UTC),
        login="lea.roux@acme.fr",
        object_id="0f0e0d0c-0000-4000-8000-000000000077",
        when=datetime(2026, 10, 24, 22, 0, tzinfo=UTC),
        reason="its sign-in sessions were left as they are (REVOKE_SESSIONS is off)",
    )
    expected: tuple[tuple[Language, str], ...] = (
        ("en", "were not revoked"),
        ("fr", "n'ont pas été révoquées"),
    )
    for language, said in expected:
        rendered = render(notice, Links(lucca_base="https://acme.ilucca.net"), language)
        assert said in rendered.text
        assert "REVOKE_SESSIONS is off" in rendered.text
        assert "sessions were revoked;" not in rendered.text


# -- linked existing account ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "found", "check", "undo"),
    [
        (
            "en",
            {
                "mail": "Found by: mail (the account's email address)",
                "userPrincipalName": "Found by: userPrincipalName (the account's sign-in name)",
            },
            "not a service, shared or administrator account",
            "Run `python -m connector unlink 4502`",
        ),
        (
            "fr",
            {
                "mail": "Trouvé par : mail (l'adresse e-mail du compte)",
                "userPrincipalName": (
                    "Trouvé par : userPrincipalName (l'identifiant de connexion du compte)"
                ),
            },
            "pas un compte de service, partagé ou d'administration",
            "Exécutez `python -m connector unlink 4502`",
        ),
    ],
)
def test_the_linked_email_says_which_account_how_and_how_to_undo_it(
    language: Language, found: dict[str, str], check: str, undo: str
) -> None:
    """The login, the object id, how it was found (mail or login), what to check, the unlink
    command and both links, in both parts."""
    object_id = "7b6a5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d"
    for how, said in found.items():
        notice = dataclasses.replace(NOTICES[Kind.LINKED], matched_by=how)
        rendered = render(notice, LINKS, language)
        assert said in rendered.text
        value = said.split(": ", 1)[1]
        shown = [
            "ines.caron@acme.fr",
            object_id,
            value,
            check,
            undo,
            LINKS.entra_user(object_id),
            LINKS.lucca_file("4502"),
        ]
        for text in shown:
            assert text in rendered.text
            assert html.escape(text, quote=True) in rendered.html


@pytest.mark.parametrize(
    ("language", "heading", "line"),
    [
        ("en", "Existing accounts linked (2)", "ines.caron@acme.fr, found by mail"),
        ("fr", "Comptes existants associés (2)", "ines.caron@acme.fr, trouvé par mail"),
    ],
)
def test_the_digest_lists_linked_accounts_after_failed_deactivations(
    language: Language, heading: str, line: str
) -> None:
    """Links to check have their own section, right after failed deactivations, one line each
    with the login and how it was found, and the account's page."""
    login = dataclasses.replace(
        NOTICES[Kind.LINKED],
        employee_id="4503",
        name="Yann Morel",
        login="yann.morel@acme.fr",
        object_id="1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5e",
        matched_by="userPrincipalName",
    )
    notices = [
        NOTICES[Kind.CREATED],
        login,
        NOTICES[Kind.LINKED],
        NOTICES[Kind.DEACTIVATION_FAILED],
    ]
    rendered = render_digest(notices, LINKS, language, reason="x")
    assert heading in rendered.text
    assert line in rendered.text
    assert "yann.morel@acme.fr" in rendered.text and "userPrincipalName" in rendered.text
    assert LINKS.entra_user("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5e") in rendered.text
    failed = rendered.text.index(DIGEST_HEADINGS[language][0])
    created = rendered.text.index(DIGEST_HEADINGS[language][1])
    assert failed < rendered.text.index(heading) < created


def test_the_created_email_says_how_a_login_was_built_from_the_name() -> None:
    """LOGIN_TEMPLATE: the email says the login was built from the name, and the number added;
    a login from Lucca's email says nothing of the kind."""
    note = (
        "login built from the name by LOGIN_TEMPLATE {firstName}.{lastName}@acme.fr, with 2 "
        "added: jean.dupont@acme.fr was taken"
    )
    built = dataclasses.replace(NOTICES[Kind.CREATED], login="jean.dupont2@acme.fr", reason=note)
    for rendered in all_renderings(built):
        assert f"L{note[1:]}." in rendered.text
        assert html.escape(f"L{note[1:]}.", quote=True) in rendered.html
    for rendered in all_renderings(NOTICES[Kind.CREATED]):
        assert "LOGIN_TEMPLATE" not in rendered.text


# -- names and logins (issue 19) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "already", "not_said"),
    [
        ("en", "already disabled in Entra", "The connector deactivated"),
        ("fr", "déjà désactivé dans Entra", "Le connecteur a désactivé"),
    ],
)
def test_an_account_already_disabled_is_said_so_and_not_claimed(
    language: Language, already: str, not_said: str
) -> None:
    """Already disabled by hand: the email says so and that nothing was changed, and claims
    neither the deactivation nor revoked sessions; the grouped digest line says so too."""
    rendered = render(ALREADY, LINKS, language)
    for part in (rendered.text, rendered.html):
        assert already in part
        assert not_said not in part
        assert "helene.mercier@acme.fr" in part
    plain = render(NOTICES[Kind.DEACTIVATED], LINKS, language)
    assert already not in plain.text
    digest = render_digest((ALREADY,), LINKS, language, reason="one")
    assert already in digest.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_daily_line_gives_the_name_and_login(language: Language) -> None:
    """Each start, leaver and conflict of the daily digest: its name and login on one line."""
    rendered = render_daily(DAILY, LINKS, language)
    for item in (*DAILY.starts, *DAILY.leavers, *DAILY.conflicts):
        assert item.login is not None
        [line] = [line for line in rendered.text.splitlines() if item.name in line]
        assert item.login in line
        assert html.escape(item.login) in rendered.html


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_grouped_digest_line_gives_the_name_and_login(language: Language) -> None:
    """Each notice of the grouped digest: its name and login on one line."""
    rendered = render_digest(DIGEST, LINKS, language, reason=DIGEST_REASONS[language])
    for notice in DIGEST:
        if notice.login is None:
            continue
        [line] = [line for line in rendered.text.splitlines() if notice.name in line]
        assert notice.login in line


@pytest.mark.parametrize(("language", "check"), [("en", "check"), ("fr", "vérifier")])
def test_the_daily_digest_names_who_a_held_run_holds(language: Language, check: str) -> None:
    """The employees a held run holds: named with their login and Lucca file (the id alone
    only when no sync kept who they are), under the held runs."""
    rendered = render_daily(DAILY, LINKS, language)
    [line] = [line for line in rendered.text.splitlines() if "Céline Arnaud" in line]
    assert "celine.arnaud@acme.fr" in line
    assert check in line
    assert LINKS.lucca_file("3302") in rendered.text
    assert rendered.text.index("Céline Arnaud") > rendered.text.index("Run held")
