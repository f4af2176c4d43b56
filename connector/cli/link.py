"""`python -m connector unlink EMPLOYEE_ID` and `link EMPLOYEE_ID OBJECT_ID`: an operator's own
decision about which Entra account is an employee's.

`unlink` drops the employee's link and records a refusal of that account for that employee: no
sync links it again (by anchor, mail or login), nor creates another account beside it, until
`link` takes it back. It writes nothing to Entra: the account keeps its employeeId (the anchor
`lucca-<id>` there also keeps the account from being matched to another employee), and the
timer drops the employee's dated enables and disables when due (it acts on linked accounts
only). `link` checks that the account exists and that the matcher would take it (not a guest,
not synchronised from on-premises, not another employee's link or anchor, …), links it, takes
back any refusal, and runs the employee's sync.

Both take the employee's lease as `sync` does (a busy employee: exit 1, nothing done), record
the operator's decision whatever `CONNECTOR_MODE` says (the sync after `link` follows it), and
write an integration log entry ("unlinked", "linked by an operator").

Exit codes: 0 done (for `link`, the sync after it ended created, updated, unchanged or
linked); 1 busy, nothing to unlink, an account that may not be linked, or a sync that ended
otherwise; 4 a service failed.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connector.cli.common import EXIT_OK, EXIT_PROBLEMS, Context, add_command, parsed
from connector.cli.identity_checks import warn_if_persons
from connector.cli.sync import SUCCEEDED, busy, employee_lease, parse_employee_id, sync_now
from connector.core.errors import NotFound
from connector.domain.entries import Action, LogEntry
from connector.domain.mapping import anchor
from connector.flows.matching import Matcher
from connector.runtime.build import Clients
from connector.storage.links import Links
from connector.storage.log import IntegrationLog
from connector.storage.logquery import ParameterError

if TYPE_CHECKING:
    from connector.entra.users import DirectoryUser

EMPLOYEE_HELP = "the Lucca employee id (as in the Lucca URL /directory/user/ID)"


def parse_object_id(text: str) -> str:
    """An Entra object id: a GUID."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise ParameterError("account: not an Entra object id (a GUID)") from None


def add_link_commands(commands: Any) -> None:
    """Register `unlink EMPLOYEE_ID` and `link EMPLOYEE_ID OBJECT_ID`."""
    unlink = add_command(
        commands,
        "unlink",
        run_unlink,
        "drop an employee's link: the connector leaves that account alone",
        "Drop the link between a Lucca employee and its Entra account, and refuse that account\n"
        "to that employee: no sync links it again or creates another account beside it (a\n"
        "conflict says so) until `link`. Nothing is written to Entra. Takes the employee's\n"
        "lease like `sync`.",
        examples="  python -m connector unlink 416\n",
    )
    unlink.add_argument(
        "employee_id", metavar="EMPLOYEE_ID", type=parsed(parse_employee_id), help=EMPLOYEE_HELP
    )
    link = add_command(
        commands,
        "link",
        run_link,
        "link an employee to an existing account, then sync it",
        "Link a Lucca employee to an existing Entra account an operator chose, then sync the\n"
        "employee. The account must be one the connector may link (a cloud member account,\n"
        "not another employee's); an earlier unlink of it is taken back. Takes the employee's\n"
        "lease like `sync`.",
        examples=(
            "  python -m connector link 416 3f2b6c1e-9d4a-4e57-b0c2-7a1d5e8f9a10\n"
            "  python -m connector --settings local.settings.json link 416 3f2b6c1e-… --json\n"
        ),
    )
    link.add_argument(
        "employee_id", metavar="EMPLOYEE_ID", type=parsed(parse_employee_id), help=EMPLOYEE_HELP
    )
    link.add_argument(
        "object_id",
        metavar="OBJECT_ID",
        type=parsed(parse_object_id),
        help="the Entra account's object id (Entra admin center: the user's Object ID)",
    )


def _print(ctx: Context, answer: dict[str, Any], lines: list[str]) -> None:
    """`answer` as JSON with --json, else `lines` (each on one line)."""
    if ctx.args.json:
        json.dump(answer, ctx.out, ensure_ascii=False, indent=2)
        ctx.out.write("\n")
    elif lines:
        ctx.out.write("\n".join(" ".join(line.split()) for line in lines) + "\n")


def run_unlink(ctx: Context) -> int:
    """Drop the employee's link and refuse that account to it, under the lease."""
    employee_id: str = ctx.args.employee_id
    storage = ctx.storage()
    with employee_lease(storage, employee_id) as held:
        if not held:
            return busy(ctx, employee_id)
        now = ctx.clock()
        dropped = Links(storage).unlink(employee_id, at=now, why="unlink command")
        if dropped is None:
            message = f"Employee {employee_id} has no linked account: nothing was unlinked."
            _print(ctx, {"employee_id": employee_id, "unlinked": False, "message": message}, [])
            ctx.err.write(f"connector: {message}\n")
            return EXIT_PROBLEMS
        entry = LogEntry(
            time=now,
            action=Action.UNLINKED,
            message=(
                f"An operator unlinked employee {employee_id} from account {dropped.object_id} "
                "(`python -m connector unlink`). The connector no longer changes, enables or "
                "disables that account for this employee, and will not link it to them again "
                f"until `python -m connector link {employee_id} {dropped.object_id}`. Nothing "
                "was written to Entra: the account's employeeId is left as it is."
            ),
            employee_id=employee_id,
            object_id=dropped.object_id,
        )
        IntegrationLog(storage).write(entry)
    _print(ctx, entry.to_json(), [f"Result: {entry.action.value}", entry.message])
    return EXIT_OK


def run_link(ctx: Context) -> int:
    """Link the employee to the account an operator chose, if it may be linked; then sync."""
    employee_id: str = ctx.args.employee_id
    object_id: str = ctx.args.object_id
    settings = ctx.settings()
    storage = ctx.storage()
    with employee_lease(storage, employee_id) as held:
        if not held:
            return busy(ctx, employee_id)
        clients = Clients.from_settings(settings, storage)
        try:
            warn_if_persons(clients.directory, ctx.err)  # it syncs after linking
            links = Links(storage)
            user = _account(clients, links, employee_id, object_id)
            if isinstance(user, str):
                answer = {"employee_id": employee_id, "object_id": object_id, "linked": False}
                _print(ctx, answer | {"message": user}, [f"Not linked: {user}"])
                return EXIT_PROBLEMS
            linked = _link(links, IntegrationLog(storage), employee_id, user, at=ctx.clock())
            synced = sync_now(ctx, settings, storage, clients, employee_id)
        finally:
            clients.close()
    _print(
        ctx,
        {"link": linked.to_json(), "sync": synced.to_json()},
        [
            f"Result: {linked.action.value}",
            linked.message,
            f"Then the sync: {synced.action.value}",
            synced.message,
        ],
    )
    return EXIT_OK if synced.action in SUCCEEDED else EXIT_PROBLEMS


def _account(
    clients: Clients, links: Links, employee_id: str, object_id: str
) -> DirectoryUser | str:
    """The account, if it may be linked to this employee now; else why not."""
    current = links.of_employee(employee_id)
    if current is not None:
        if current.object_id == object_id:
            return f"employee {employee_id} is linked to account {object_id} already."
        return (
            f"employee {employee_id} is linked to account {current.object_id}: run "
            f"`python -m connector unlink {employee_id}` first."
        )
    try:
        clients.lucca.employee(employee_id)
    except NotFound:
        return f"Lucca has no employee {employee_id} (or the API client may not see it)."
    user = clients.directory.get_user(object_id)
    if user is None:
        return f"Entra has no account {object_id}."
    reasons = Matcher(directory=clients.directory, links=links).eligibility(employee_id, user)
    if reasons:
        login = user.user_principal_name or object_id
        return f"account {login} cannot be linked: {'; '.join(reasons)}."
    return user


def _link(
    links: Links, log: IntegrationLog, employee_id: str, user: DirectoryUser, *, at: datetime
) -> LogEntry:
    """Link, take back a refusal, and log the operator's decision."""
    now = at
    links.link(
        employee_id,
        user.id,
        how="operator",
        at=now,
        stamped=user.employee_id == anchor(employee_id),
    )
    links.clear_refusal(employee_id, user.id)
    entry = LogEntry(
        time=now,
        action=Action.LINKED_BY_OPERATOR,
        message=(
            f"An operator linked employee {employee_id} to account "
            f"{user.user_principal_name or user.id} (`python -m connector link`); any earlier "
            "unlink of that account from this employee is taken back."
        ),
        employee_id=employee_id,
        object_id=user.id,
    )
    log.write(entry)
    return entry
