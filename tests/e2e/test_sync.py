"""Joiners and movers end to end: signed webhook → real queue → sync_employee → Graph.

Every scenario runs the real Functions app object: the webhook journals and queues, the
emulated host (tests/host.py) runs `sync_employee` from Azurite's queue, the connector reads
the Lucca sandbox and writes the Graph sandbox through the real SDKs over HTTP.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import pytest

from connector.domain import mapping
from connector.domain.entries import Action
from connector.domain.mapping import DEFAULT_ATTRIBUTES, Attribute, Need, anchor
from connector.domain.messages import ChangeMessage
from connector.storage.links import Links
from connector.storage.log import IntegrationLog
from tests.e2e.conftest import DOMAIN, World

pytestmark = pytest.mark.azurite
OPTIONAL_ROWS = ("companyName", "officeLocation", "usageLocation", "employeeType")


def hire(world: World, given: str, family: str, email: str | None, **job: Any) -> str:
    """Hire in Lucca, deliver the hire's events, run the syncs; returns the Lucca id."""
    before = len(world.lucca.recorded_events())
    employee_id = world.lucca.add_employee(given, family, email, **job)
    world.deliver_all(since=before)
    world.sync()
    return employee_id


def change(world: World, action: Any) -> None:
    """Change something in Lucca, deliver its events, run the syncs."""
    before = len(world.lucca.recorded_events())
    action()
    world.deliver_all(since=before)
    world.sync()


def patches(world: World) -> list[dict[str, Any]]:
    """The bodies of the PATCH requests Graph received (without the SDK's @odata.type)."""
    return [
        {k: v for k, v in r.json().items() if not k.startswith("@odata")}
        for r in world.graph.requests
        if r.method == "PATCH"
    ]


def posts_to_users(world: World) -> int:
    """How many accounts the connector asked Graph to create."""
    return world.graph.count("POST", r"^/v1\.0/users$")


# -- joiners --------------------------------------------------------------------------------
def test_hire_creates_one_account_with_lucca_attributes(world: World) -> None:
    """A hire → one account: names, email as login and mail, department, title, anchor."""
    department = world.lucca.add_department("Finance")
    employee_id = hire(
        world,
        "Zoé",
        "Martin",
        f"zoe.martin@{DOMAIN}",
        job_title="Comptable",
        department_id=department,
    )
    account = world.account_of(employee_id)
    assert {
        k: account.get(k)
        for k in (
            "givenName",
            "surname",
            "displayName",
            "mail",
            "userPrincipalName",
            "department",
            "jobTitle",
            "employeeId",
            "accountEnabled",
            "mailNickname",
        )
    } == {
        "givenName": "Zoé",
        "surname": "Martin",
        "displayName": "Zoé Martin",
        "mail": f"zoe.martin@{DOMAIN}",
        "userPrincipalName": f"zoe.martin@{DOMAIN}",
        "department": "Finance",
        "jobTitle": "Comptable",
        "employeeId": anchor(employee_id),
        "accountEnabled": True,
        "mailNickname": "zoe.martin",
    }
    create = next(r for r in world.graph.requests if r.method == "POST" and r.path == "/v1.0/users")
    profile = create.json()["passwordProfile"]
    assert profile["forceChangePasswordNextSignIn"] is True
    assert len(profile["password"]) >= 32
    [entry] = world.entries(employee_id)
    assert entry.action is Action.CREATED
    assert profile["password"] not in repr(entry)
    assert posts_to_users(world) == 1


def test_a_40000_character_title_is_cut_to_graphs_limit_and_logged_whole(world: World) -> None:
    """A 40,000-character job title: the account exists with the title cut to Graph's 128
    characters (ending in the marker), and its complete "created" entry is in the log."""
    title = "Responsable " + "x" * 40_000
    employee_id = hire(world, "Long", "Title", f"long.title@{DOMAIN}", job_title=title)

    account = world.account_of(employee_id)
    assert account["jobTitle"] == title[:127] + mapping.CUT_MARKER
    assert len(account["jobTitle"]) == 128
    [entry] = world.entries(employee_id)
    assert entry.action is Action.CREATED
    assert {c.attribute: c.new for c in entry.changes}["jobTitle"] == account["jobTitle"]
    assert entry.details["cut_to_graph_length"] == ["jobTitle"]


def test_same_event_five_times_gives_one_account(world: World) -> None:
    """Lucca delivering the hire's event 5 times → one account, one creation."""
    employee_id = world.lucca.add_employee("Léa", "Petit", f"lea.petit@{DOMAIN}")
    created = world.lucca.recorded_events("employee.created")[-1]
    for _ in range(5):
        assert world.deliver(created).status_code == 202
        world.sync()
    assert posts_to_users(world) == 1
    assert [u["employeeId"] for u in world.graph.users] == [anchor(employee_id)]


def test_fifty_shuffled_events_for_twenty_employees_processed_concurrently(world: World) -> None:
    """Out of order, four instances at once, with changes for one employee queued several
    times (as when events arrive while its sync runs) → exactly one account each, with
    Lucca's current attributes, and no failure or conflict."""
    ids = [
        world.lucca.add_employee("Agent", f"N{n}", f"agent.n{n}@{DOMAIN}", job_title="Junior")
        for n in range(20)
    ]
    for employee_id in ids[:5]:
        position = world.lucca.job_position_of(employee_id)
        assert position is not None
        world.lucca.update_job_position(position, job_title="Senior")
    events = world.lucca.recorded_events()
    shuffled = random.Random(7).sample(events, len(events))[:50]
    shuffled += [e for e in events if e not in shuffled]  # every employee's events arrive
    for event in shuffled:
        assert world.deliver(event).status_code in (200, 202)
    # Events that arrive while a sync runs queue a message of their own: three per employee.
    for event in shuffled[:40]:
        employee_id = (
            event["data"]["id"]
            if event["topic"].startswith("employee.")
            else (event["data"]["employee"]["id"])
        )
        world.enqueue(
            ChangeMessage(
                employee_id=employee_id,
                event_key=str(event["id"]),
                topic=event["topic"],
                queued_at=datetime.now(UTC),
            )
        )
    world.sync(instances=4)
    assert world.host.failures == []
    entries = [e for i in ids for e in world.entries(i)]
    assert {e.action for e in entries} <= {Action.CREATED, Action.UNCHANGED, Action.UPDATED}

    assert posts_to_users(world) == 20
    anchors = sorted(u["employeeId"] for u in world.graph.users)
    assert anchors == sorted(anchor(i) for i in ids)
    titles = {u["employeeId"]: u["jobTitle"] for u in world.graph.users}
    assert all(titles[anchor(i)] == "Senior" for i in ids[:5])
    assert all(titles[anchor(i)] == "Junior" for i in ids[5:])


def test_apostrophe_in_email(world: World) -> None:
    """o'brien@… is created, then found again by its quoted filter (no second account)."""
    employee_id = hire(world, "Seán", "O'Brien", f"sean.o'brien@{DOMAIN}")
    change(world, lambda: world.lucca.update_employee(employee_id, family_name="O'Brien-Roy"))
    assert posts_to_users(world) == 1
    assert world.account_of(employee_id)["surname"] == "O'Brien-Roy"


@pytest.mark.parametrize(
    ("email", "domain", "reason"),
    [
        ("eve@partner.example", None, "not a verified domain"),
        ("eve@unverified.example", ("unverified.example", False, "Managed"), "not a verified"),
        ("eve@corp.example", ("corp.example", True, "Federated"), "is federated"),
        ("ève.durand@acme.fr", None, "cannot be a sign-in name"),
        (None, None, "no professional email"),
    ],
)
def test_creation_refused_without_a_request(
    world: World, email: str | None, domain: tuple[str, bool, str] | None, reason: str
) -> None:
    """Unverified or federated domain, characters a UPN may not hold, no email → no POST,
    a "creation failed" entry with the reason in plain words."""
    if domain is not None:
        world.graph.add_domain(domain[0], is_verified=domain[1], authentication_type=domain[2])
    employee_id = hire(world, "Eve", "Durand", email)
    assert posts_to_users(world) == 0
    [entry] = world.entries(employee_id)
    assert entry.action is Action.CREATION_FAILED
    assert reason in entry.message


def test_login_held_by_an_account_with_another_employee_id(world: World) -> None:
    """The email is the login of an account whose employeeId holds another value: found by
    userPrincipalName, not linked, nothing created; the conflict names it and why."""
    holder = world.graph.add_user(
        userPrincipalName=f"max.roux@{DOMAIN}",
        displayName="Max Roux (old)",
        mail=None,
        employeeId="HR-0042",
    )
    # Found by UPN, but its employeeId holds another value: a conflict, not a create.
    employee_id = hire(world, "Max", "Roux", f"max.roux@{DOMAIN}")
    [entry] = world.entries(employee_id)
    assert entry.action is Action.CONFLICT
    assert "HR-0042" in entry.message and holder["userPrincipalName"] in entry.message
    assert world.graph_writes() == 0


def test_address_taken_as_an_alias_is_creation_failed(world: World) -> None:
    """The email is another account's alias: no candidate by mail or login, so the connector
    creates; Graph answers ObjectConflict → "creation failed" saying the address is taken."""
    world.graph.add_user(
        userPrincipalName=f"max@{DOMAIN}",
        mail=f"max@{DOMAIN}",
        displayName="Max",
        proxyAddresses=[f"SMTP:max@{DOMAIN}", f"smtp:max.roux@{DOMAIN}"],
    )
    employee_id = hire(world, "Max", "Roux", f"max.roux@{DOMAIN}")
    assert posts_to_users(world) == 1
    assert len(world.graph.users) == 1
    [entry] = world.entries(employee_id)
    assert entry.action is Action.CREATION_FAILED
    assert f"max.roux@{DOMAIN} is already used" in entry.message
    assert entry.request_id


def test_deactivated_employee_is_never_created(world: World) -> None:
    """Someone who left before the connector saw them gets no account."""
    employee_id = hire(
        world, "Old", "Timer", f"old.timer@{DOMAIN}", start="2020-01-01", end="2021-06-30"
    )
    assert posts_to_users(world) == 0
    [entry] = world.entries(employee_id)
    assert entry.action is Action.SKIPPED and "deactivated" in entry.message


# -- matching existing accounts -------------------------------------------------------------
def test_existing_account_is_matched_by_mail_and_stamped(world: World) -> None:
    """An account made by hand with the same mail is linked, its empty employeeId stamped."""
    existing = world.graph.add_user(
        userPrincipalName=f"ana.lopez@{DOMAIN}",
        mail=f"Ana.Lopez@{DOMAIN}",
        displayName="Ana Lopez",
        givenName="Ana",
        surname="Lopez",
    )
    employee_id = hire(world, "Ana", "Lopez", f"ana.lopez@{DOMAIN}", job_title="Juriste")
    assert posts_to_users(world) == 0
    account = world.graph.user(existing["id"])
    assert account["employeeId"] == anchor(employee_id)
    assert account["jobTitle"] == "Juriste"
    [entry] = world.entries(employee_id)
    assert entry.action is Action.LINKED and "matched by mail" in entry.message


@pytest.mark.parametrize(
    ("accounts", "why"),
    [
        ([{"userType": "Guest"}], "a guest account"),
        ([{"onPremisesSyncEnabled": True}], "on-premises"),
        ([{"accountEnabled": False}], "disabled"),
        ([{"employeeId": "E-1234"}], "employeeId already holds 'E-1234'"),
        ([{}, {"userPrincipalName": f"tom.b2@{DOMAIN}"}], "2 accounts have mail"),
    ],
)
def test_unclear_candidates_are_conflicts(
    world: World, accounts: list[dict[str, Any]], why: str
) -> None:
    """A guest, an on-premises account, a disabled one, another employeeId, two with the same
    mail → nothing changes, a "conflict" entry names the candidates and why."""
    for n, overrides in enumerate(accounts):
        world.graph.add_user(
            **{
                "userPrincipalName": f"tom.blanc{n}@{DOMAIN}",
                "mail": f"tom.blanc@{DOMAIN}",
                "displayName": "Tom Blanc",
                **overrides,
            }
        )
    employee_id = hire(world, "Tom", "Blanc", f"tom.blanc@{DOMAIN}")
    [entry] = world.entries(employee_id)
    assert entry.action is Action.CONFLICT
    assert why in entry.message
    assert world.graph_writes() == 0


def test_account_linked_to_another_employee_is_a_conflict(world: World) -> None:
    """An account already linked to Lucca employee A is never taken for employee B."""
    first = hire(world, "Paul", "Henry", f"paul.henry@{DOMAIN}")
    # B carries the same professional email: the only candidate is A's account.
    second = hire(world, "Paul", "Henry", f"paul.henry@{DOMAIN}")
    [entry] = world.entries(second)
    assert entry.action is Action.CONFLICT
    assert f"linked to Lucca employee {first}" in entry.message
    assert posts_to_users(world) == 1


# -- movers ---------------------------------------------------------------------------------
def test_event_that_changes_nothing_writes_nothing(world: World) -> None:
    """A re-sync with Lucca unchanged → zero Graph writes, an "unchanged" entry."""
    employee_id = hire(world, "Inès", "Morel", f"ines.morel@{DOMAIN}", job_title="RH")
    world.graph.reset_log()
    world.lucca.reset_log()
    change(world, lambda: world.lucca.update_employee(employee_id, employee_number="E-77"))
    assert world.graph_writes() == 0
    # One read each: the employee (with its job embedded) and the account (with its manager).
    assert [(r.method, r.path) for r in world.graph.requests] == [
        ("GET", f"/v1.0/users/{world.account_of(employee_id)['id']}")
    ]
    assert world.lucca.count(path=r"^/lucca-api/") == 1
    assert world.entries(employee_id)[0].action is Action.UNCHANGED


def test_title_and_department_change_patch_only_them(world: World) -> None:
    """A promotion: one PATCH with exactly jobTitle and department."""
    finance = world.lucca.add_department("Finance")
    audit = world.lucca.add_department("Audit")
    employee_id = hire(
        world,
        "Jules",
        "Fabre",
        f"jules.fabre@{DOMAIN}",
        job_title="Comptable",
        department_id=finance,
    )
    position = world.lucca.job_position_of(employee_id)
    assert position is not None
    world.graph.reset_log()
    change(
        world,
        lambda: world.lucca.update_job_position(
            position, job_title="Auditeur", department_id=audit
        ),
    )
    assert [sorted(p) for p in patches(world)] == [["department", "jobTitle"]]
    entry = world.entries(employee_id)[0]
    assert entry.action is Action.UPDATED
    assert {(c.attribute, c.old, c.new) for c in entry.changes} == {
        ("jobTitle", "Comptable", "Auditeur"),
        ("department", "Finance", "Audit"),
    }


def test_email_change_updates_mail_alone_and_keeps_the_login(world: World) -> None:
    """New professional email → mail in its own PATCH; the sign-in name stays (SYNC_UPN)."""
    employee_id = hire(world, "Rose", "Dumas", f"rose.dumas@{DOMAIN}")
    world.graph.reset_log()
    change(world, lambda: world.lucca.update_employee(employee_id, email=f"rose.leroy@{DOMAIN}"))
    assert patches(world) == [{"mail": f"rose.leroy@{DOMAIN}"}]
    account = world.account_of(employee_id)
    assert (account["mail"], account["userPrincipalName"]) == (
        f"rose.leroy@{DOMAIN}",
        f"rose.dumas@{DOMAIN}",
    )


def test_email_change_renames_the_login_with_sync_upn(make_world: Any) -> None:
    """With SYNC_UPN=true the login follows, in a PATCH of its own."""
    world = make_world(SYNC_UPN="true")
    employee_id = hire(world, "Rose", "Dumas", f"rose.dumas@{DOMAIN}")
    change(world, lambda: world.lucca.update_employee(employee_id, email=f"rose.leroy@{DOMAIN}"))
    assert world.account_of(employee_id)["userPrincipalName"] == f"rose.leroy@{DOMAIN}"


def test_login_rename_refused_leaves_the_login(make_world: Any) -> None:
    """SYNC_UPN=true, but the new login is held by another account: the login stays, a
    conflict names the holder, the mail follows."""
    world = make_world(SYNC_UPN="true")
    employee_id = hire(world, "Rose", "Dumas", f"rose.dumas@{DOMAIN}")
    world.graph.add_user(userPrincipalName=f"rose@{DOMAIN}", mail=None, displayName="Rose B")
    change(world, lambda: world.lucca.update_employee(employee_id, email=f"rose@{DOMAIN}"))
    account = world.account_of(employee_id)
    assert account["userPrincipalName"] == f"rose.dumas@{DOMAIN}"
    entry = world.entries(employee_id)[0]
    assert entry.action is Action.CONFLICT
    assert "userPrincipalName was left as" in entry.message and f"rose@{DOMAIN}" in entry.message


def test_mail_taken_leaves_mail_and_applies_the_rest(world: World) -> None:
    """A mail another account holds → mail unchanged, other attributes applied, a conflict
    entry naming the holder."""
    employee_id = hire(world, "Luc", "Garnier", f"luc.garnier@{DOMAIN}", job_title="Dev")
    world.graph.add_user(
        userPrincipalName=f"luc.g@{DOMAIN}",
        mail=f"luc@{DOMAIN}",
        proxyAddresses=[f"SMTP:luc@{DOMAIN}"],
    )
    position = world.lucca.job_position_of(employee_id)
    assert position is not None

    def move() -> None:
        world.lucca.update_employee(employee_id, email=f"luc@{DOMAIN}")
        world.lucca.update_job_position(position, job_title="Lead dev")

    change(world, move)
    account = world.account_of(employee_id)
    assert (account["mail"], account["jobTitle"]) == (f"luc.garnier@{DOMAIN}", "Lead dev")
    entry = world.entries(employee_id)[0]
    assert entry.action is Action.CONFLICT
    assert f"luc.g@{DOMAIN}" in entry.message


# -- managers -------------------------------------------------------------------------------
def test_manager_hired_after_the_report(world: World) -> None:
    """The report's events come first: synced without a manager, pending; linking the
    manager later sets it. The report's message never creates the manager."""
    manager_id = world.lucca.add_employee("Claire", "Moreau", f"claire.moreau@{DOMAIN}")
    manager_events = world.lucca.recorded_events()
    before = len(manager_events)
    report_id = world.lucca.add_employee(
        "Hugo", "Bernard", f"hugo.bernard@{DOMAIN}", manager_id=manager_id
    )
    world.deliver_all(since=before)  # only the report's events
    world.sync()
    assert posts_to_users(world) == 1
    report = world.account_of(report_id)
    assert world.graph.manager_of(report["id"]) is None
    assert world.entries(report_id)[0].details["pending_manager"] == manager_id

    for event in manager_events:
        world.deliver(event)
    world.sync()
    manager = world.account_of(manager_id)
    assert world.graph.manager_of(report["id"]) == manager["id"]


def test_pending_manager_dropped_when_lucca_removes_it(world: World) -> None:
    """A report waiting for a manager who is then removed in Lucca never gets that manager."""
    manager_id = world.lucca.add_employee("Claire", "Moreau", f"claire.moreau@{DOMAIN}")
    manager_events = world.lucca.recorded_events()
    before = len(manager_events)
    report_id = world.lucca.add_employee(
        "Hugo", "Bernard", f"hugo.bernard@{DOMAIN}", manager_id=manager_id
    )
    world.deliver_all(since=before)
    world.sync()
    position = world.lucca.job_position_of(report_id)
    assert position is not None
    change(world, lambda: world.lucca.update_job_position(position, manager_id=None))
    for event in manager_events:
        world.deliver(event)
    world.sync()
    assert world.graph.manager_of(world.account_of(report_id)["id"]) is None


def test_pending_report_resolved_when_the_manager_is_matched(world: World) -> None:
    """The manager's account existed already and is linked by mail: the report gets it."""
    existing = world.graph.add_user(
        userPrincipalName=f"claire.moreau@{DOMAIN}",
        mail=f"claire.moreau@{DOMAIN}",
        displayName="Claire Moreau",
    )
    manager_id = world.lucca.add_employee("Claire", "Moreau", f"claire.moreau@{DOMAIN}")
    manager_events = world.lucca.recorded_events()
    before = len(manager_events)
    report_id = world.lucca.add_employee(
        "Hugo", "Bernard", f"hugo.bernard@{DOMAIN}", manager_id=manager_id
    )
    world.deliver_all(since=before)
    world.sync()
    for event in manager_events:
        world.deliver(event)
    world.sync()
    assert world.graph.manager_of(world.account_of(report_id)["id"]) == existing["id"]


def test_manager_removed_in_lucca_is_removed(world: World) -> None:
    """No manager in Lucca any more → manager/$ref deleted."""
    manager_id = hire(world, "Claire", "Moreau", f"claire.moreau@{DOMAIN}")
    report_id = hire(world, "Hugo", "Bernard", f"hugo.bernard@{DOMAIN}", manager_id=manager_id)
    report = world.account_of(report_id)
    assert world.graph.manager_of(report["id"]) == world.account_of(manager_id)["id"]
    position = world.lucca.job_position_of(report_id)
    assert position is not None
    change(world, lambda: world.lucca.update_job_position(position, manager_id=None))
    assert world.graph.manager_of(report["id"]) is None


# -- Lucca and Graph refusing ---------------------------------------------------------------
def test_linked_employee_gone_from_lucca_changes_nothing(world: World) -> None:
    """Lucca answers 404 for a linked employee → nothing changed, "no longer visible"."""
    employee_id = hire(world, "Nina", "Roy", f"nina.roy@{DOMAIN}")
    writes = world.graph_writes()
    world.lucca.inject(
        404,
        path=rf"^/lucca-api/employees/{employee_id}$",
        times=10,
        body={"title": "Not Found", "status": 404},
    )
    event = world.lucca.recorded_events("employee.created")[-1]
    world.deliver(event)
    world.host.drain()
    world.deliver(dict(event, id="999999"))  # a fresh event id: not a redelivery
    world.sync()
    assert world.graph_writes() == writes
    entry = world.entries(employee_id)[0]
    assert entry.action is Action.NOT_IN_LUCCA
    assert entry.event_keys == ("999999",)
    assert world.account_of(employee_id)["accountEnabled"] is True
    listed = IntegrationLog(world.storage).for_attention()
    assert [e.employee_id for e in listed] == [employee_id] * len(listed) and listed


def test_throttling_then_success(world: World) -> None:
    """429 from Lucca, then from Graph → the change waits Retry-After and is applied, with no
    retry used up."""
    world.lucca.throttle(times=1, retry_after=1)
    world.graph.throttle(times=4, retry_after=1, path=r"^/v1\.0/users$")
    employee_id = hire(world, "Yann", "Lebrun", f"yann.lebrun@{DOMAIN}")
    assert world.account_of(employee_id)["mail"] == f"yann.lebrun@{DOMAIN}"
    assert world.host.failures == []


def test_failure_after_creation_still_logs_the_creation(world: World) -> None:
    """Graph fails on the manager after the account was created: the creation is logged at
    once, the change is retried, and the retry sets the manager without a second account."""
    manager_id = hire(world, "Claire", "Moreau", f"claire.moreau@{DOMAIN}")
    world.graph.unavailable(times=8, path=r"/manager/\$ref$")
    report_id = hire(world, "Hugo", "Bernard", f"hugo.bernard@{DOMAIN}", manager_id=manager_id)
    actions = [e.action for e in reversed(world.entries(report_id))]
    assert actions[0] is Action.CREATED
    assert "the rest is retried" in world.entries(report_id)[-1].message
    assert posts_to_users(world) == 2
    report = world.account_of(report_id)
    assert world.graph.manager_of(report["id"]) == world.account_of(manager_id)["id"]


def test_permanent_lucca_refusal_is_logged_at_once(world: World) -> None:
    """Lucca's 403 (a scope missing) is not retried five times: one "failed" entry naming it."""
    employee_id = world.lucca.add_employee("Iris", "Noel", f"iris.noel@{DOMAIN}")
    world.lucca.inject(
        403,
        path=rf"^/lucca-api/employees/{employee_id}$",
        times=10,
        body={
            "title": "Forbidden",
            "status": 403,
            "detail": "needs the scope employees.readonly",
        },
    )
    world.deliver_all()
    world.sync()
    assert world.host.failures == []
    [entry] = world.entries(employee_id)
    assert entry.action is Action.FAILED and "employees.readonly" in entry.message


def test_unseen_department_leaves_the_attribute_empty(world: World) -> None:
    """A department the API client may not see (404): the account is still created, without
    a department, and the entry says which resource was not visible."""
    department = world.lucca.add_department("Secret R&D")
    world.lucca.inject(
        404,
        path=rf"^/lucca-api/departments/{department}$",
        times=10,
        body={
            "title": "Not Found",
            "status": 404,
        },
    )
    employee_id = hire(world, "Tess", "Vial", f"tess.vial@{DOMAIN}", department_id=department)
    assert world.account_of(employee_id).get("department") is None
    [entry] = world.entries(employee_id)
    assert entry.action is Action.CREATED
    assert entry.details["not_visible_in_lucca"] == [department]


def test_lucca_unavailable_ends_as_a_failed_entry(make_world: Any) -> None:
    """Lucca down for every try, no escrow (RETRY_WINDOW_HOURS=0) → the queue retries, then the
    poison handler writes "failed" naming the employee and the last error."""
    world = make_world(RETRY_WINDOW_HOURS="0")
    world.lucca.unavailable(times=100)
    employee_id = hire(world, "Marc", "Vidal", f"marc.vidal@{DOMAIN}")
    assert len(world.host.failures) == world.host.max_dequeue_count
    entry = world.entries(employee_id)[0]
    assert entry.action is Action.FAILED
    assert "lucca answered" in entry.message
    assert posts_to_users(world) == 0


def test_graph_refusal_names_permission_or_privileged_role(world: World) -> None:
    """403 on the account → a failed entry explaining both possible causes and the fixes
    (without a token, the connector cannot tell which one it is)."""
    employee_id = hire(world, "Admin", "Istrator", f"admin@{DOMAIN}")
    account = world.account_of(employee_id)
    world.graph.deny(account["id"])
    change(world, lambda: world.lucca.update_employee(employee_id, family_name="Istrateur"))
    entry = world.entries(employee_id)[0]
    assert entry.action is Action.FAILED
    assert "admin consent" in entry.message and "privileged administrator role" in entry.message


# -- observe mode ---------------------------------------------------------------------------
def test_observe_mode_writes_nothing(make_world: Any) -> None:
    """CONNECTOR_MODE=observe: plans in the log, no write to Entra, no link."""
    world = make_world(CONNECTOR_MODE="observe")
    world.graph.add_user(userPrincipalName=f"ana.lopez@{DOMAIN}", mail=f"ana.lopez@{DOMAIN}")
    linked = hire(world, "Ana", "Lopez", f"ana.lopez@{DOMAIN}", job_title="Juriste")
    created = hire(world, "Léo", "Faure", f"leo.faure@{DOMAIN}")
    assert world.graph_writes() == 0
    plan_link, plan_create = world.entries(linked)[0], world.entries(created)[0]
    assert (plan_link.action, plan_link.observed) == (Action.LINKED, True)
    assert ("jobTitle", None, "Juriste") in {(c.attribute, c.old, c.new) for c in plan_link.changes}
    assert (plan_create.action, plan_create.observed) == (Action.CREATED, True)
    assert plan_create.message.startswith("Observe mode, nothing written")
    links = Links(world.storage)
    assert links.of_employee(linked) is None and links.of_employee(created) is None


# -- optional attributes --------------------------------------------------------------------
def test_optional_rows_fill_company_office_usage_location_and_type(make_world: Any) -> None:
    """With the optional rows owned: companyName (legal entity), officeLocation
    (establishment), usageLocation (the entity's country, alpha-2), employeeType."""
    world = make_world(SYNC_ATTRIBUTES=",".join([*DEFAULT_ATTRIBUTES, *OPTIONAL_ROWS]))
    entity = world.lucca.add_legal_entity("Acme Suisse SA", country_code="CHE")
    office = world.lucca.add_establishment("Genève", "Europe/Zurich", legal_entity_id=entity)
    permanent = hire(world, "Léon", "Favre", f"leon.favre@{DOMAIN}", establishment_id=office)
    fixed = hire(
        world, "Lina", "Keller", f"lina.keller@{DOMAIN}", establishment_id=office, end="2027-06-30"
    )
    account = world.account_of(permanent)
    assert {k: account.get(k) for k in OPTIONAL_ROWS} == {
        "companyName": "Acme Suisse SA",
        "officeLocation": "Genève",
        "usageLocation": "CH",
        "employeeType": "permanent",
    }
    assert world.account_of(fixed)["employeeType"] == "fixed-term"


def test_a_row_added_to_the_table_is_read_compared_and_written(
    make_world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One row more in the mapping (Graph's `city`, from the establishment) and nothing else:
    every user read selects it, the sync's token reads establishments, the creation carries it,
    and a move to another establishment is one change PATCHed alone."""
    city = Attribute(
        name="city",
        value=lambda v: v.establishment.name if v.establishment else None,
        needs=frozenset({Need.ESTABLISHMENT}),
        description="the job position's business establishment",
    )
    rows = (*mapping.ATTRIBUTES, city)
    monkeypatch.setattr(mapping, "ATTRIBUTES", rows)
    monkeypatch.setattr(mapping, "BY_NAME", {row.name: row for row in rows})
    world = make_world(SYNC_ATTRIBUTES=",".join([*DEFAULT_ATTRIBUTES, "city"]))
    lyon = world.lucca.add_establishment("Lyon")
    paris = world.lucca.add_establishment("Paris")
    employee_id = hire(world, "Inès", "Roux", f"ines.roux@{DOMAIN}", establishment_id=lyon)
    assert world.account_of(employee_id)["city"] == "Lyon"
    tokens = [parse_qs(r.body.decode()) for r in world.lucca.requests if r.path == "/connect/token"]
    assert tokens and all("business-establishments.readonly" in t["scope"][0] for t in tokens)
    position = world.lucca.job_position_of(employee_id)
    assert position is not None
    world.graph.reset_log()

    change(world, lambda: world.lucca.update_job_position(position, establishment_id=paris))

    assert world.account_of(employee_id)["city"] == "Paris"
    assert patches(world) == [{"city": "Paris"}]
    reads = [r for r in world.graph.requests if r.method == "GET" and "/users" in r.path]
    assert reads and all("city" in str(r.param("$select")).split(",") for r in reads)
    entry = world.entries(employee_id)[0]
    assert entry.action is Action.UPDATED
    assert [(c.attribute, c.old, c.new) for c in entry.changes] == [("city", "Lyon", "Paris")]


def test_attributes_not_owned_are_never_written(make_world: Any) -> None:
    """SYNC_ATTRIBUTES without jobTitle: a title changed by hand in Entra stays."""
    owned_rows = [a for a in DEFAULT_ATTRIBUTES if a != "jobTitle"]
    world = make_world(SYNC_ATTRIBUTES=",".join(owned_rows))
    employee_id = hire(world, "Paul", "Marin", f"paul.marin@{DOMAIN}", job_title="Dev")
    assert world.account_of(employee_id).get("jobTitle") is None
    position = world.lucca.job_position_of(employee_id)
    assert position is not None
    change(world, lambda: world.lucca.update_job_position(position, job_title="Lead"))
    assert world.account_of(employee_id).get("jobTitle") is None
