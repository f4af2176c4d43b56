"""An email as a document (paragraphs, facts, steps, lists, links), and its two writers.

Each email is described once and that description is written out twice, so the plain-text part
and the HTML part always say the same things. In the HTML part every value from Lucca or Entra
is escaped, links are made of http(s) URLs only, and the document needs no external resource
and runs no script; the subject never holds a line break.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import TypeAlias

from connector.notify.words import Words


@dataclass(frozen=True)
class Rendered:
    """One email, ready to send."""

    subject: str  # one line
    text: str  # the plain-text part
    html: str  # a small self-contained HTML document: inline styles, no external resource


# -- what an email says, before it is written out ---------------------------------------------


@dataclass(frozen=True)
class Link:
    """A link: HTML shows the label, the plain text shows `label: url`."""

    label: str
    url: str


@dataclass(frozen=True)
class Strong:
    """Words to stand out in HTML (plain in the text part)."""

    text: str


Inline: TypeAlias = str | Link | Strong
Line: TypeAlias = tuple[Inline, ...]


@dataclass(frozen=True)
class Para:
    """A paragraph of one or more lines."""

    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Facts:
    """Labelled values: `label: value`, one a line."""

    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Steps:
    """A numbered list of things to do."""

    steps: tuple[Line, ...]


@dataclass(frozen=True)
class List:
    """A bulleted list: each item one or more lines; `empty` is said when there is none."""

    items: tuple[tuple[Line, ...], ...]
    empty: str = ""


@dataclass(frozen=True)
class Heading:
    """A section title."""

    text: str


Block: TypeAlias = Para | Facts | Steps | List | Heading


@dataclass(frozen=True)
class Email:
    """An email's subject, body and footer, in one language."""

    subject: str
    blocks: tuple[Block, ...]
    footer: str


# -- writing out: plain text and HTML ----------------------------------------------------------


_SUBJECT_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _one_line(text: str) -> str:
    """The text with every line break and control character made a space (header injection)."""
    return " ".join(_SUBJECT_BREAKS.sub(" ", text).split())


def _is_web(url: str) -> bool:
    return url.lower().startswith(("https://", "http://"))


def write(email: Email, words: Words) -> Rendered:
    """The email written out: its subject on one line, its plain-text part and its HTML part."""
    subject = _one_line(email.subject)
    return Rendered(
        subject=subject,
        text=_text(email, words),
        html=_html(email, subject, words),
    )


def _text_line(line: Line, words: Words) -> str:
    out: list[str] = []
    for part in line:
        if isinstance(part, Link):
            out.append(f"{part.label}{words.colon}{part.url}")
        elif isinstance(part, Strong):
            out.append(part.text)
        else:
            out.append(part)
    return "".join(out)


def _text_block(block: Block, words: Words) -> str:
    if isinstance(block, Para):
        return "\n".join(_text_line(line, words) for line in block.lines)
    if isinstance(block, Facts):
        return "\n".join(f"{label}{words.colon}{value}" for label, value in block.rows)
    if isinstance(block, Steps):
        return "\n".join(
            f"{number}. {_text_line(step, words)}" for number, step in enumerate(block.steps, 1)
        )
    if isinstance(block, List):
        if not block.items:
            return block.empty
        return "\n".join(
            "\n  ".join(
                ("- " + _text_line(item[0], words), *(_text_line(line, words) for line in item[1:]))
            )
            for item in block.items
        )
    return f"{block.text}\n{'-' * len(block.text)}"


def _text(email: Email, words: Words) -> str:
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


def _html_line(line: Line, words: Words) -> str:
    out: list[str] = []
    for part in line:
        if isinstance(part, Link):
            if _is_web(part.url):
                out.append(f'<a href="{_e(part.url)}" style="{_A}">{_e(part.label)}</a>')
            else:  # never a link that is not http(s): the address is shown, not followed
                out.append(_e(f"{part.label}{words.colon}{part.url}"))
        elif isinstance(part, Strong):
            out.append(f"<strong>{_e(part.text)}</strong>")
        else:
            out.append(_e(part))
    return "".join(out)


def _html_block(block: Block, words: Words) -> str:
    if isinstance(block, Para):
        lines = "<br>\n".join(_html_line(line, words) for line in block.lines)
        return f'<p style="{_P}">{lines}</p>'
    if isinstance(block, Facts):
        rows = "\n".join(
            f'<tr><th scope="row" style="{_TH}">{_e(label)}</th>'
            f'<td style="{_TD}">{_e(value)}</td></tr>'
            for label, value in block.rows
        )
        return f'<table role="presentation" style="{_TABLE}">\n{rows}\n</table>'
    if isinstance(block, Steps):
        steps = "\n".join(
            f'<li style="{_LI}">{_html_line(step, words)}</li>' for step in block.steps
        )
        return f'<ol style="{_OL}">\n{steps}\n</ol>'
    if isinstance(block, List):
        if not block.items:
            return f'<p style="{_EMPTY}">{_e(block.empty)}</p>'
        items = "\n".join(
            f'<li style="{_LI}">{"<br>".join(_html_line(line, words) for line in item)}</li>'
            for item in block.items
        )
        return f'<ul style="{_OL}">\n{items}\n</ul>'
    return f'<h2 style="{_H2}">{_e(block.text)}</h2>'


def _html(email: Email, subject: str, words: Words) -> str:
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
