"""The Lucca documents the connector reads: employees and their organisation, webhook endpoints.

Frozen pydantic models of the API's JSON (version 2024-11-01); extra fields are ignored and a
`{id, type, url}` reference is read as its id.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

EmployeeStatus = Literal["active", "upcoming", "deactivated"]

# Lucca ids are short strings of digits. An id goes into URL paths (`employees/<id>`: `.` and
# `..` would be resolved as path segments, https://www.rfc-editor.org/rfc/rfc3986#section-5.2.4)
# and into table keys (no / \ # ? or control characters): it starts with a letter or a digit
# and holds only letters, digits, `.`, `_` and `-`.
LUCCA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def is_lucca_id(value: str) -> bool:
    """Whether `value` can be a Lucca id (and so a URL segment and a table key)."""
    return LUCCA_ID.fullmatch(value) is not None


def _ref_id(value: Any) -> Any:
    """A `{id, type, url}` reference as its id."""
    return value.get("id") if isinstance(value, dict) else value


def _day(value: Any) -> Any:
    """An employment bound `{date}` as its date."""
    return value.get("date") if isinstance(value, dict) else value


Ref = Annotated[str, BeforeValidator(_ref_id)]
OptionalRef = Annotated[str | None, BeforeValidator(_ref_id)]


class _Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class LuccaEmployment(_Document):
    """A contract: `end` is the last day worked (included), None for a permanent one."""

    id: str
    employee_id: Ref = Field(alias="employee")
    start: Annotated[date, BeforeValidator(_day)]
    end: Annotated[date | None, BeforeValidator(_day)] = None
    legal_entity_id: Ref = Field(alias="legalEntity")
    status: EmployeeStatus | None = None
    template_id: OptionalRef = Field(default=None, alias="template")  # employment-template


class LuccaJobPosition(_Document):
    """A stage of an employment: job title, manager, department and establishment."""

    id: str
    employee_id: Ref = Field(alias="employee")
    employment_id: Ref = Field(alias="employment")
    job_title: str | None = Field(default=None, alias="jobTitle")
    manager_id: OptionalRef = Field(default=None, alias="manager")
    department_id: Ref = Field(alias="department")
    establishment_id: Ref = Field(alias="businessEstablishment")
    starts_on: date = Field(alias="startsOn")
    ends_on: date | None = Field(default=None, alias="endsOn")


class LuccaEmployee(_Document):
    """An employee with the applicable employment and job position."""

    id: str
    given_name: str = Field(alias="givenName")
    family_name: str = Field(alias="familyName")
    email: str | None
    status: EmployeeStatus
    employee_number: str | None = Field(default=None, alias="employeeNumber")
    phone_number: str | None = Field(default=None, alias="phoneNumber")  # the `phone` schema
    last_updated_at: datetime | None = Field(default=None, alias="lastUpdatedAt")
    employment: LuccaEmployment | None = None
    job_position: LuccaJobPosition | None = None


class LuccaDepartment(_Document):
    """A department."""

    id: str
    name: str
    parent_id: OptionalRef = Field(default=None, alias="parent")  # None at the top


class LuccaLegalEntity(_Document):
    """A legal entity; `country_code` is ISO 3166 alpha-3, as Lucca gives it."""

    id: str
    name: str = Field(alias="legalName")
    country_code: str = Field(alias="countryCode")


class LuccaEstablishment(_Document):
    """A business establishment and its IANA time zone."""

    id: str
    name: str
    timezone_id: str | None = Field(default=None, alias="timezoneId")
    legal_entity_id: OptionalRef = Field(default=None, alias="legalEntity")


# -- webhook endpoints and events -------------------------------------------------------------
# The topics the connector subscribes to (lucca.md): what can change an Entra account.
WEBHOOK_TOPICS = (
    "employee.created",
    "employee.updated",
    "employee.deleted",
    "employment.created",
    "employment.updated",
    "employment.deleted",
    "job-position.created",
    "job-position.updated",
    "job-position.deleted",
)


class LuccaWebhookEndpoint(_Document):
    """A webhook endpoint as Lucca lists it (schema `webhook-endpoint`; never the secret)."""

    id: str
    name: str = ""
    webhook_url: str = Field(alias="webhookUrl")
    topics: tuple[str, ...] = ()
    status: str = "inactive"  # active | suspended | inactive (the schema's default)

    @property
    def missing_topics(self) -> tuple[str, ...]:
        """The connector's topics the endpoint is not subscribed to."""
        return tuple(topic for topic in WEBHOOK_TOPICS if topic not in self.topics)


class LuccaWebhookDelivery(_Document):
    """What Lucca answers to a ping (schema `webhook-delivery`)."""

    id: str
    status: str | None = None  # delivered | undelivered | failed
    attempts_count: int | None = Field(default=None, alias="attemptsCount")
    next_attempt_at: datetime | None = Field(default=None, alias="nextAttemptAt")
