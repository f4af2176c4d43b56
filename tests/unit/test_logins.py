"""LOGIN_TEMPLATE: the template is checked at start-up, and names become logins the way Entra's
provisioning builds them (NormalizeDiacritics, StripSpaces, SelectUniqueValue)."""

from __future__ import annotations

import pytest

from connector.domain.logins import (
    MAX_CANDIDATES,
    LoginTemplate,
    NoLogin,
    normalise,
    parse_template,
)
from connector.runtime.settings import SettingsError, load_settings
from tests.unit.test_settings import VALID

ACME = parse_template("{firstName}.{lastName}@acme.fr")


@pytest.mark.parametrize(
    ("first", "last", "login"),
    [
        ("Élodie", "N'Diaye-Saint-Éxupéry", "elodie.ndiaye-saint-exupery@acme.fr"),
        ("Zoë", "Ørsted", "zoe.orsted@acme.fr"),
        ("Jean-Luc", "Le Bœuf", "jean-luc.leboeuf@acme.fr"),
        ("François", "d'Aubigné", "francois.daubigne@acme.fr"),
        ("Anne Marie", "de la  Tour", "annemarie.delatour@acme.fr"),
        ("Łukasz", "Straße", "lukasz.strasse@acme.fr"),
        ("Æsa", "Ðorđević", "aesa.dordevic@acme.fr"),
        ("Jean", "O\u2019Brien", "jean.obrien@acme.fr"),  # a typographic apostrophe
        (" Jean ", "Dupont (RH)", "jean.dupontrh@acme.fr"),  # brackets are no UPN character
        ("Jean.", ".Dupont", "jean.dupont@acme.fr"),  # no doubled dot
        ("\uff2a\uff45\uff41\uff4e", "Dupont", "jean.dupont@acme.fr"),  # full width (NFKD)
    ],
)
def test_names_become_logins(first: str, last: str, login: str) -> None:
    """Accents stripped, lower case, spaces and apostrophes removed, one dot between parts."""
    assert ACME.login(first_name=first, last_name=last, employee_number=None, id="7") == login


def test_a_very_long_name_is_cut_to_64_before_the_at() -> None:
    """At most 64 characters before the @, with room kept for the suffix; no trailing dot."""
    template = parse_template("{lastName}.{firstName}@acme.fr")
    long_last = "Wolfeschlegelsteinhausenbergerdorff" * 2  # 70 letters
    login = template.login(first_name="Hubert", last_name=long_last, employee_number=None, id="1")
    local = login.partition("@")[0]
    assert len(local) == 64
    assert local == long_last.lower()[:64]
    assert template.candidate(login, 2).partition("@")[0] == long_last.lower()[:63] + "2"
    cut_at_dot = parse_template("{firstName}.{lastName}@acme.fr").login(
        first_name="a" * 63, last_name="Martin", employee_number=None, id="1"
    )
    assert cut_at_dot == "a" * 63 + "@acme.fr"  # the cut falls after the dot: dropped


@pytest.mark.parametrize(("first", "last"), [("王", "小明"), ("Иван", "Петров"), ("Jean", "李")])
def test_a_name_without_latin_letters_gives_no_login_and_says_why(first: str, last: str) -> None:
    """Nothing is transliterated: a placeholder with no letter left is "not created", with
    the reason (set a professional email in Lucca)."""
    with pytest.raises(NoLogin, match="professional email") as err:
        ACME.login(first_name=first, last_name=last, employee_number=None, id="9")
    assert "LOGIN_TEMPLATE" in str(err.value)


def test_every_placeholder() -> None:
    """Initials, the employee number and the Lucca id."""
    template = parse_template("{firstInitial}{lastInitial}-{employeeNumber}.{id}@Acme.FR")
    login = template.login(first_name="Émile", last_name="Zola", employee_number="A 12", id="345")
    assert login == "ez-a12.345@acme.fr"
    with pytest.raises(NoLogin, match="employeeNumber"):
        template.login(first_name="Émile", last_name="Zola", employee_number=None, id="345")


def test_candidates_are_the_login_then_numbered() -> None:
    """jean.dupont, jean.dupont2, jean.dupont3 … up to the bound."""
    base = "jean.dupont@acme.fr"
    names = [ACME.candidate(base, n) for n in range(1, MAX_CANDIDATES + 1)]
    assert names[:3] == ["jean.dupont@acme.fr", "jean.dupont2@acme.fr", "jean.dupont3@acme.fr"]
    assert names[-1] == f"jean.dupont{MAX_CANDIDATES}@acme.fr"
    assert len(set(names)) == MAX_CANDIDATES


def test_normalise() -> None:
    """The normaliser alone: what survives is a-z, 0-9, '.', '-' and '_'."""
    assert normalise("Ÿvès Þór Ĳssel!#") == "yvesthorijssel"
    assert normalise("ŒUVRE  d\u2019ART") == "oeuvredart"


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("{firstName}.{lastName}", "no @domain"),
        ("{firstName}.{surname}@acme.fr", "unknown placeholder {surname}"),
        ("{firstName}.{lastName}@{lastName}.fr", "plain domain"),
        ("{firstName}.{lastName}@acme", "plain domain"),
        ("{firstName}.{lastName}@acme..fr", "plain domain"),
        ("{firstName}.{lastName}@ac me.fr", "plain domain"),
        ("{firstName}.{lastName}@acme.fr@x.fr", "one @"),
        ("{firstName.{lastName}@acme.fr", "unbalanced"),
        ("@acme.fr", "at least one placeholder"),
        ("jean@acme.fr", "at least one placeholder"),
        ("{firstName}+{lastName}@acme.fr", "may hold only"),
    ],
)
def test_bad_templates_are_refused(template: str, why: str) -> None:
    """An unknown placeholder, no @domain, a domain that is not plain: refused, saying why."""
    with pytest.raises(ValueError, match=why.replace("{", r"\{").replace("}", r"\}")):
        parse_template(template)


def test_a_good_template() -> None:
    """The domain is kept lower case, the user-name part as written."""
    template = parse_template("{firstName}.{lastName}@Mail.Acme.fr")
    assert isinstance(template, LoginTemplate)
    assert template.domain == "mail.acme.fr"
    assert template.text == "{firstName}.{lastName}@Mail.Acme.fr"


def test_the_settings_default_to_no_template_and_mail_set() -> None:
    """LOGIN_TEMPLATE is off by default (no email: not created); LOGIN_SETS_MAIL is true."""
    settings = load_settings(VALID)
    assert settings.login_template is None
    assert settings.LOGIN_SETS_MAIL is True
    chosen = load_settings(
        VALID | {"LOGIN_TEMPLATE": " {firstName}.{lastName}@acme.fr ", "LOGIN_SETS_MAIL": "false"}
    )
    assert chosen.login_template == ACME
    assert chosen.LOGIN_SETS_MAIL is False


@pytest.mark.parametrize(
    "template", ["{firstName}.{lastName}", "{prenom}@acme.fr", "{firstName}@{lastName}.fr"]
)
def test_a_bad_template_stops_start_up_naming_the_setting(template: str) -> None:
    """Start-up fails, the error names LOGIN_TEMPLATE and says what is wrong."""
    with pytest.raises(SettingsError, match=r"setting LOGIN_TEMPLATE is malformed: \w"):
        load_settings(VALID | {"LOGIN_TEMPLATE": template})
