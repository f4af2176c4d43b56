"""The documentation: a short README that links every page of docs/, and no broken link."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README_MAX_LINES = 200
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings (lower case, punctuation dropped, spaces → -)."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def broken_links(page: Path) -> list[str]:
    """The relative links of a Markdown page whose file (or heading) does not exist."""
    broken = []
    for target in _LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        missing_heading = anchor and file.suffix == ".md" and anchor not in _anchors(file)
        if not file.exists() or missing_heading:
            broken.append(target)
    return broken


def test_the_readme_is_short_and_links_every_page() -> None:
    """README.md stays under ~200 lines, and every page of docs/ is linked from it."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in _LINK.findall(readme)}
    missing = [p.name for p in _pages() if p.resolve() not in linked]
    assert not missing, f"docs pages not linked from the README: {missing}"


@pytest.mark.parametrize("page", [ROOT / "README.md", *_pages()], ids=lambda p: p.name)
def test_no_link_is_broken(page: Path) -> None:
    """Every relative link (and its heading anchor) of the README and docs/ resolves."""
    assert broken_links(page) == []


def test_the_link_check_finds_a_broken_link(tmp_path: Path) -> None:
    """The check itself: a missing file and a missing heading are both reported."""
    (tmp_path / "there.md").write_text("# A heading, here\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md) [ok](there.md#a-heading-here) [web](https://example.com)\n"
        "[gone](missing.md) [no heading](there.md#nowhere)\n"
    )
    assert broken_links(page) == ["missing.md", "there.md#nowhere"]


def test_the_configuration_page_names_each_settings_azd_value() -> None:
    """docs/configuration.md's azd value column names exactly the settings docs/deploy.md lists
    as azd values; every other setting says what sets it instead."""
    deploy = (DOCS / "deploy.md").read_text()
    table = deploy[deploy.index("## The azd values") : deploy.index("## Upgrading")]
    azd_values = set(re.findall(r"^\| `([A-Za-z_]+)` \|", table, flags=re.MULTILINE))
    rows = re.findall(
        r"^\| `([A-Za-z_]+)` \| ([^|]+) \|", (DOCS / "configuration.md").read_text(), re.MULTILINE
    )
    assert rows
    for name, azd in rows:
        if name in azd_values:
            assert azd.strip() == f"`{name}`", name
        else:
            assert azd.strip() and f"`{name}`" != azd.strip(), name


def test_the_layout_names_every_module() -> None:
    """docs/development.md's layout table names every module of each package's row."""
    page = (DOCS / "development.md").read_text()
    missing = []
    for package in sorted(p for p in (ROOT / "connector").iterdir() if p.is_dir()):
        if not (package / "__init__.py").exists():
            continue
        [row] = [r for r in page.splitlines() if f"| `{package.name}/` |" in r]
        missing += [
            f"{package.name}/{m.stem}"
            for m in sorted(package.glob("*.py"))
            if m.stem != "__init__" and f"`{m.stem}`" not in row
        ]
    assert not missing, f"modules missing from docs/development.md's layout: {missing}"
