"""What each email says: the five emails about one employee, the digest, the daily digest.

No email carries a password: a notice has none to give, and the "account created" email tells
the administrator how to set one. Composing reads no clock and draws no random number: the
same notice always gives the same email.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connector.domain.notices import DailyDigest, DailyItem, Kind, Links, Notice
from connector.notify.document import (
    Block,
    Email,
    Facts,
    Heading,
    Line,
    Link,
    List,
    Para,
    Rendered,
    Steps,
    Strong,
    write,
)
from connector.notify.words import Language, Words, words_for

# The digest lists what needs the administrator most first (an account possibly taken over
# by a typed-in address comes right after an account left open).
_DIGEST_ORDER = (
    Kind.DEACTIVATION_FAILED,
    Kind.LINKED,
    Kind.NOT_CREATED,
    Kind.CREATED,
    Kind.DEACTIVATED,
)


# -- values ------------------------------------------------------------------------------------


def _moment(when: datetime, zone: str, words: Words) -> str:
    """`when` in `zone`, e.g. "2026-03-29 00:00 (Europe/Paris)"; UTC if the zone is unknown."""
    instant = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    try:
        local, shown = instant.astimezone(ZoneInfo(zone)), zone
    except (ZoneInfoNotFoundError, ValueError):
        local, shown = instant.astimezone(UTC), "UTC"
    return f"{local.strftime(words.moment_format)} ({shown})"


def _day(day: str, words: Words) -> str:
    """A YYYY-MM-DD day in the language's format (as given if it is not one)."""
    try:
        return date.fromisoformat(day).strftime(words.day_format)
    except ValueError:
        return day


def _name(name: str, employee_id: str, words: Words) -> str:
    """The person's name, or "employee <id>" when Lucca gave none."""
    return name if name.strip() else words.nameless.format(id=employee_id)


# -- the five single emails ---------------------------------------------------------------------


def _user_step(notice: Notice, links: Links, words: Words) -> Link:
    """Step one: open the account's page (or find it in the user list when its id is unknown)."""
    if notice.object_id:
        return Link(words.step_open_user, links.entra_user(notice.object_id))
    login = notice.login or _name(notice.name, notice.employee_id, words)
    return Link(words.step_find_user.format(login=login), links.entra_users())


def _user_link(notice: Notice, links: Links, words: Words, label: str | None = None) -> Link:
    """The account's page in the Entra admin center (or the user list)."""
    if notice.object_id:
        return Link(label or words.entra_user, links.entra_user(notice.object_id))
    login = notice.login or _name(notice.name, notice.employee_id, words)
    return Link(label or words.find_user.format(login=login), links.entra_users())


def _lucca_link(employee_id: str, links: Links, label: str) -> Link:
    return Link(label, links.lucca_file(employee_id))


def _facts(notice: Notice, words: Words, *rows: tuple[str, str]) -> Facts:
    """Who (name and Lucca id), then the rows given."""
    name = _name(notice.name, notice.employee_id, words)
    return Facts(((words.employee, name), (words.lucca_id, notice.employee_id), *rows))


def _sentence(text: str) -> str:
    """`text` as a sentence: a capital first, a full stop last."""
    return f"{text[:1].upper()}{text[1:]}{'' if text.endswith('.') else '.'}"


def _created(notice: Notice, links: Links, words: Words) -> Email:
    name = _name(notice.name, notice.employee_id, words)
    rows = [(words.login, notice.login or words.no_login)]
    closed: list[Block] = []
    if notice.when is not None:
        rows.append((words.opens, _moment(notice.when, notice.zone, words)))
        closed.append(Para(((words.created_closed,),)))
    return Email(
        subject=words.created_subject.format(name=name),
        blocks=(
            Para(((words.created_intro.format(name=name),),)),
            _facts(notice, words, *rows),
            *closed,
            *([Para(((_sentence(notice.reason),),))] if notice.reason else []),  # login built
            Para(((words.created_random.format(name=name),),)),
            Steps(
                (
                    (_user_step(notice, links, words),),
                    (words.step_reset,),
                    (words.step_give.format(name=name),),
                )
            ),
            Para(((_lucca_link(notice.employee_id, links, words.lucca_file),),)),
        ),
        footer=words.footer.format(id=notice.employee_id),
    )


def _not_created(notice: Notice, links: Links, words: Words) -> Email:
    name = _name(notice.name, notice.employee_id, words)
    return Email(
        subject=words.not_created_subject.format(name=name),
        blocks=(
            Para(((words.not_created_intro.format(name=name),),)),
            _facts(
                notice,
                words,
                (words.planned_address, notice.login or words.no_address),
                (words.reason, notice.reason or words.no_reason),
            ),
            Para(((words.not_created_retry,),)),
            Para(((words.by_hand_prefix, Link(words.by_hand_link, links.entra_new_user())),)),
            Para(((_lucca_link(notice.employee_id, links, words.lucca_file),),)),
        ),
        footer=words.footer.format(id=notice.employee_id),
    )


def _linked(notice: Notice, links: Links, words: Words) -> Email:
    name = _name(notice.name, notice.employee_id, words)
    said = words.linked
    how = notice.matched_by
    return Email(
        subject=said.subject.format(name=name),
        blocks=(
            Para(((said.intro.format(name=name),),)),
            _facts(
                notice,
                words,
                (words.login, notice.login or words.no_login),
                (said.object_id, notice.object_id or words.no_login),
                (said.found_by, said.by.get(how, how) if how else words.no_login),
            ),
            Para(((said.check,),)),
            Para(((said.if_wrong,),)),
            Steps(
                (
                    (said.step_unlink.format(id=notice.employee_id),),
                    (said.step_restore.format(id=notice.employee_id),),
                    (said.step_lucca,),
                )
            ),
            Para(
                (
                    (_user_link(notice, links, words),),
                    (_lucca_link(notice.employee_id, links, words.lucca_file),),
                )
            ),
        ),
        footer=words.footer.format(id=notice.employee_id),
    )


def _deactivated(notice: Notice, links: Links, words: Words) -> Email:
    name = _name(notice.name, notice.employee_id, words)
    rows = [(words.login, notice.login or words.no_login)]
    if notice.when is not None:
        label = words.more.already_when if notice.already_disabled else words.deactivation
        rows.append((label, _moment(notice.when, notice.zone, words)))
    intro, sessions = words.deactivated_intro, words.sessions_revoked
    if notice.already_disabled:  # someone disabled it by hand: nothing was changed
        intro, sessions = words.more.already_intro, words.more.already_nothing
    elif notice.reason:
        sessions = words.sessions_kept.format(why=notice.reason)
    return Email(
        subject=words.deactivated_subject.format(name=name),
        blocks=(
            Para(((intro.format(name=name),),)),
            _facts(notice, words, *rows),
            Para(((sessions,),)),
            Para(
                (
                    (_user_link(notice, links, words),),
                    (_lucca_link(notice.employee_id, links, words.lucca_file),),
                )
            ),
        ),
        footer=words.footer.format(id=notice.employee_id),
    )


def _deactivation_failed(notice: Notice, links: Links, words: Words) -> Email:
    name = _name(notice.name, notice.employee_id, words)
    rows = [(words.login, notice.login or words.no_login)]
    if notice.when is not None:
        rows.append((words.deactivation_due, _moment(notice.when, notice.zone, words)))
    rows.append((words.reason, notice.reason or words.no_reason))
    return Email(
        subject=words.failed_subject.format(name=name),
        blocks=(
            Para(((words.failed_intro.format(name=name),),)),
            _facts(notice, words, *rows),
            Para(((words.what_to_do,),)),
            Steps(
                (
                    (_user_step(notice, links, words),),
                    (words.step_disable,),
                    (words.step_log.format(id=notice.employee_id),),
                )
            ),
            Para(((_lucca_link(notice.employee_id, links, words.lucca_file),),)),
        ),
        footer=words.footer.format(id=notice.employee_id),
    )


_SINGLE: dict[Kind, Callable[[Notice, Links, Words], Email]] = {
    Kind.CREATED: _created,
    Kind.NOT_CREATED: _not_created,
    Kind.LINKED: _linked,
    Kind.DEACTIVATED: _deactivated,
    Kind.DEACTIVATION_FAILED: _deactivation_failed,
}


def render(notice: Notice, links: Links, language: Language) -> Rendered:
    """The email about one employee: account created, not created, linked, deactivated, or
    not."""
    words = words_for(language)
    build = _SINGLE.get(notice.kind)
    if build is None:
        raise ValueError(f"{notice.kind.value} is not an email about one employee")
    return write(build(notice, links, words), words)


# -- the digest --------------------------------------------------------------------------------


def _compact(notice: Notice, links: Links, words: Words) -> tuple[Line, ...]:
    """One notice as a list item: who and the facts on one line, the reason, then the links."""
    kind = notice.kind
    if kind is Kind.NOT_CREATED and not notice.login:
        facts = words.compact_no_address
    else:
        facts = words.compact[kind].format(
            login=notice.login or words.no_login, by=notice.matched_by or words.no_login
        )
    if notice.when is not None and words.compact_when[kind]:
        facts += words.compact_when[kind].format(moment=_moment(notice.when, notice.zone, words))
    if notice.already_disabled:
        facts += words.more.compact_already
    lines: list[Line] = [
        (
            Strong(_name(notice.name, notice.employee_id, words)),
            _after_name(notice.employee_id, words),
            facts,
        )
    ]
    if kind in (Kind.NOT_CREATED, Kind.DEACTIVATION_FAILED):
        lines.append((f"{words.reason}{words.colon}{notice.reason or words.no_reason}",))
    if kind is Kind.NOT_CREATED:
        lines.append((Link(words.compact_links[kind], links.entra_new_user()),))
    else:
        lines.append((_user_link(notice, links, words, words.compact_links[kind]),))
    lines.append((_lucca_link(notice.employee_id, links, words.lucca_file_short),))
    return tuple(lines)


def _after_name(employee_id: str, words: Words) -> str:
    """What follows the name on a list item: " (Lucca id 4217): "."""
    return words.after_name.format(id=employee_id) + words.colon


def _count(count: int, forms: tuple[str, str]) -> str:
    return f"{count} {forms[0] if count == 1 else forms[1]}"


def _heading(text: str, count: int) -> Heading:
    return Heading(f"{text} ({count})")


def render_digest(
    notices: Sequence[Notice], links: Links, language: Language, *, reason: str
) -> Rendered:
    """One email listing many waiting notices, grouped by kind; `reason` says why (its intro)."""
    words = words_for(language)
    for notice in notices:
        if notice.kind not in _SINGLE:
            raise ValueError(f"{notice.kind.value} cannot be listed in a digest")
    blocks: list[Block] = [Para(((reason,),)), Para(((words.digest_intro,),))]
    for kind in _DIGEST_ORDER:
        group = [notice for notice in notices if notice.kind is kind]
        if not group:
            continue
        one, many = words.headings[kind]
        blocks.append(_heading(one if len(group) == 1 else many, len(group)))
        blocks.append(Para(((words.notes[kind],),)))
        blocks.append(List(tuple(_compact(notice, links, words) for notice in group)))
    return write(
        Email(
            subject=words.digest_subject.format(count=_count(len(notices), words.notification)),
            blocks=tuple(blocks),
            footer=words.footer_digest,
        ),
        words,
    )


# -- the daily digest --------------------------------------------------------------------------


def _daily_item(item: DailyItem, links: Links, words: Words) -> tuple[Line, ...]:
    name = _name(item.name, item.employee_id, words)
    after = _after_name(item.employee_id, words)
    if item.login:  # " (Lucca id 4217), login a@b.fr: "
        after = words.after_name.format(id=item.employee_id)
        after += words.more.daily_login.format(login=item.login) + words.colon
    first: Line = (Strong(name), after, item.what)
    lines: list[Line] = [first]
    if item.object_id:
        lines.append((Link(words.entra_user_short, links.entra_user(item.object_id)),))
    lines.append((_lucca_link(item.employee_id, links, words.lucca_file_short),))
    return tuple(lines)


def _held_person(item: DailyItem, links: Links, words: Words) -> tuple[Line, ...]:
    """An employee a held run holds: "end date to check" and, if known, the disable."""
    what = words.more.held_check + (f"{words.colon}{item.what}" if item.what else "")
    return _daily_item(replace(item, what=what), links, words)


def render_daily(digest: DailyDigest, links: Links, language: Language) -> Rendered:
    """Tomorrow's starts and leavers, held runs and open conflicts, each section counted."""
    words = words_for(language)
    day = _day(digest.day, words)
    sections: tuple[tuple[str, tuple[tuple[Line, ...], ...], str], ...] = (
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
        (
            words.held_runs,
            (
                *(((run,),) for run in digest.held_runs),
                *(_held_person(item, links, words) for item in digest.held_people),
            ),
            words.no_held_runs,
        ),
        (
            words.conflicts,
            tuple(_daily_item(item, links, words) for item in digest.conflicts),
            words.no_conflicts,
        ),
    )
    blocks: list[Block] = [Para(((words.daily_intro.format(day=day, zone=digest.zone),),))]
    for title, items, empty in sections:
        counted = len(digest.held_runs) if title == words.held_runs else len(items)
        blocks.append(_heading(title, counted))
        blocks.append(List(items, empty))
    return write(
        Email(
            subject=words.daily_subject.format(day=day),
            blocks=tuple(blocks),
            footer=words.footer_daily,
        ),
        words,
    )
