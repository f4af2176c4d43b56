"""What the Functions host does for queue triggers, emulated over the real Azurite queues.

The host cannot run here (Core Tools needs Microsoft's CDN), so this does its part, as
documented for the queue trigger and configured in host.json:
- it takes messages from the queue with a visibility timeout, base64-decodes them
  (`messageEncoding`), and calls the function with a `func.QueueMessage` carrying the
  dequeue count, and a `func.Context` with the invocation's own W3C trace context;
- a function that returns → the message is deleted; one that raises → the message becomes
  visible again after `visibilityTimeout` (shortened here so tests need not wait 30 s);
- after `maxDequeueCount` failed tries the message is moved to `<queue>-poison`, whose own
  trigger then runs;
- several "instances" (threads) can drain the queue at once.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueClient

from tests.conftest import user_function
from tests.invocation import HostContext

HOST_JSON = Path(__file__).resolve().parents[1] / "host.json"


class QueueHost:
    """Runs `sync_employee` and `sync_employee_poison` the way the host would."""

    def __init__(
        self,
        module: ModuleType,
        connection_string: str,
        *,
        queue: str = "lucca-changes",
        retry_visibility_seconds: int = 0,
    ) -> None:
        settings = json.loads(HOST_JSON.read_text())["extensions"]["queues"]
        assert settings["messageEncoding"] == "base64"
        self.max_dequeue_count = int(settings["maxDequeueCount"])
        self.retry_visibility_seconds = retry_visibility_seconds
        self._queue = QueueClient.from_connection_string(connection_string, queue)
        self._poison = QueueClient.from_connection_string(connection_string, f"{queue}-poison")
        self._sync = user_function(module, "sync_employee")
        self._on_poison = user_function(module, "sync_employee_poison")
        self.calls = 0
        self.contexts: list[HostContext] = []  # each call's, in order
        self.failures: list[BaseException] = []
        # Called before each `sync_employee` call: a test moves the connector's clock here, as
        # time passes between one try and the next (Azurite keeps real time).
        self.before_each: Callable[[], None] | None = None
        self._lock = threading.Lock()

    # -- one message ------------------------------------------------------------------------
    def _run(self, client: QueueClient, function: Callable[..., Any], poison: bool) -> bool:
        """Take one visible message and run the function on it; False when none was visible."""
        try:
            messages = list(client.receive_messages(max_messages=1, visibility_timeout=120))
        except ResourceNotFoundError:
            return False
        if not messages:
            return False
        message = messages[0]
        body = base64.b64decode(message.content)
        request = QueueMessage(
            id=message.id,
            body=body,
            dequeue_count=message.dequeue_count,
            pop_receipt=message.pop_receipt,
        )
        context = HostContext("sync_employee_poison" if poison else "sync_employee")
        with self._lock:
            self.calls += 1
            self.contexts.append(context)
        if not poison and self.before_each is not None:
            self.before_each()
        try:
            function(request, context=context)
        except Exception as err:
            with self._lock:
                self.failures.append(err)
            if not poison and message.dequeue_count >= self.max_dequeue_count:
                if not self._exists(self._poison):
                    self._poison.create_queue()
                self._poison.send_message(message.content)
                client.delete_message(message)
            else:
                client.update_message(message, visibility_timeout=self.retry_visibility_seconds)
            return True
        client.delete_message(message)
        return True

    @staticmethod
    def _exists(client: QueueClient) -> bool:
        try:
            client.get_queue_properties()
        except ResourceNotFoundError:
            return False
        return True

    def _waiting(self, client: QueueClient) -> int:
        """Messages on the queue, visible or not (delayed ones included)."""
        try:
            return int(client.get_queue_properties().approximate_message_count)
        except ResourceNotFoundError:
            return 0

    def queued(self) -> int:
        """Messages on `lucca-changes`, visible or not."""
        return self._waiting(self._queue)

    def poisoned(self) -> int:
        """Messages on `lucca-changes-poison`, visible or not."""
        return self._waiting(self._poison)

    # -- draining ---------------------------------------------------------------------------
    def run_visible(self) -> int:
        """Run every message visible now on both queues, not waiting for delayed ones."""
        before = self.calls
        while self._run(self._queue, self._sync, poison=False) or self._run(
            self._poison, self._on_poison, poison=True
        ):
            pass
        return self.calls - before

    def drain(self, *, instances: int = 1, timeout: float = 60.0) -> int:
        """Run until both queues are empty (delayed messages included); returns the calls."""
        deadline = time.monotonic() + timeout
        before = self.calls

        def instance() -> None:
            while time.monotonic() < deadline:
                worked = self._run(self._queue, self._sync, poison=False)
                worked = self._run(self._poison, self._on_poison, poison=True) or worked
                if not worked:
                    if self._waiting(self._queue) == 0 and self._waiting(self._poison) == 0:
                        return
                    time.sleep(0.05)

        with ThreadPoolExecutor(instances) as pool:
            for future in [pool.submit(instance) for _ in range(instances)]:
                future.result()
        if self._waiting(self._queue) or self._waiting(self._poison):
            raise TimeoutError(f"queues not drained within {timeout} s")
        return self.calls - before
