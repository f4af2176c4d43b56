"""Sends one rendered email through Azure Communication Services Email.

The outcome of a send is one of three, because the outbox acts differently on each:
- sent: ACS accepted the message (and, when it answered within the wait, delivered it);
- `MailRejected`: ACS certainly sent nothing (a 4xx, or the operation ended `Failed`): the
  next attempt gets a new operation id;
- `MailUnknown`: no answer, or a 5xx: ACS may have accepted it, so the next attempt reuses
  the same `Operation-Id` and ACS, which treats it as an idempotency key, does not send twice;
- `MailThrottled`: a 429: nothing was sent, the attempt is not counted, the run stops.
The client does not retry by itself: the outbox retries, at its own pace, within the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ServiceRequestError,
    ServiceResponseError,
)

from connector.core.net import retry_after_seconds

if TYPE_CHECKING:
    from azure.communication.email import EmailClient

    from connector.notify.document import Rendered

DEFAULT_RETRY_AFTER = 60.0


class MailError(Exception):
    """A send that did not go through; `message` names no secret."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MailRejected(MailError):
    """ACS certainly sent nothing."""


class MailUnknown(MailError):
    """ACS may or may not have accepted the message."""


class MailThrottled(MailError):
    """ACS answered 429: wait `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, kw_only=True)
class Sent:
    """What ACS said about a message it accepted."""

    operation_id: str
    status: str  # Succeeded, or Running when it had not finished within the wait


class Mailer(Protocol):
    """Sends one email (the seam tests can fake in unit tests)."""

    def send(self, rendered: Rendered, operation_id: str) -> Sent:
        """Send to the configured recipients; raise a `MailError` subclass on failure."""
        ...  # pragma: no cover - protocol


class AcsMailer:
    """The real `EmailClient`, for the configured sender and recipients."""

    def __init__(
        self,
        client: EmailClient,
        *,
        sender: str,
        recipients: tuple[str, ...],
        poll_seconds: float = 2.0,
        wait_seconds: float = 30.0,
    ) -> None:
        self._client = client
        self._sender = sender
        self._recipients = recipients
        self._poll = poll_seconds
        self._wait = wait_seconds

    def send(self, rendered: Rendered, operation_id: str) -> Sent:
        """Send, and wait a little for ACS's verdict."""
        message = {
            "senderAddress": self._sender,
            "recipients": {"to": [{"address": address} for address in self._recipients]},
            "content": {
                "subject": rendered.subject,
                "plainText": rendered.text,
                "html": rendered.html,
            },
            "userEngagementTrackingDisabled": True,
        }
        try:
            poller = self._client.begin_send(
                message, operation_id=operation_id, polling_interval=self._poll
            )
            result = poller.result(timeout=self._wait)
        except ResourceExistsError:
            # The operation id was accepted before (an answer that was lost): already sent.
            return Sent(operation_id=operation_id, status="Succeeded")
        except ClientAuthenticationError as err:
            raise MailRejected(
                f"Communication Services refused the connector's credentials ({_code(err)}): "
                "check ACS_CONNECTION_STRING, or the identity's role on the resource"
            ) from None
        except HttpResponseError as err:
            raise _classified(err) from None
        except (ServiceRequestError, ServiceResponseError) as err:
            raise MailUnknown(
                f"no answer from Communication Services ({type(err).__name__})"
            ) from None
        if not poller.done():
            return Sent(operation_id=operation_id, status="Running")
        status = str((result or {}).get("status") or "Succeeded")
        if status.lower() != "succeeded":
            error = (result or {}).get("error") or {}
            raise MailRejected(
                f"Communication Services ended the send as {status}: "
                f"{error.get('code', '')} {error.get('message', '')}".strip()
            )
        return Sent(operation_id=operation_id, status=status)

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()


def _code(err: HttpResponseError) -> str:
    error = getattr(err, "error", None)
    code = getattr(error, "code", None) if error is not None else None
    return f"HTTP {err.status_code}" + (f", {code}" if code else "")


def _classified(err: HttpResponseError) -> MailError:
    """Sort an ACS error answer into the outcome the outbox acts on."""
    status = err.status_code or 0
    error = getattr(err, "error", None)
    detail = (getattr(error, "message", None) or err.reason or "").strip()
    described = f"Communication Services answered {_code(err)}" + (f": {detail}" if detail else "")
    if status == 429:
        header = None
        if err.response is not None:
            header = err.response.headers.get("Retry-After")  # type: ignore[attr-defined]
        return MailThrottled(described, retry_after_seconds(header, default=DEFAULT_RETRY_AFTER))
    if status < 400 and status != 0:
        # The status poll answered fine, and the operation it reports ended `Failed`.
        code = getattr(error, "code", None) or "Failed"
        return MailRejected(
            f"Communication Services ended the send as failed ({code})"
            + (f": {detail}" if detail else "")
        )
    if status >= 500 or status == 0:
        return MailUnknown(described)
    return MailRejected(described)
