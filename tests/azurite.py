"""Starts and stops Azurite (the Azure Storage emulator) for tests, the story and benchmarks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCAL_BIN = HERE / "azurite" / "node_modules" / ".bin" / "azurite"

# Azurite's fixed development account: public, documented, and only accepted by the emulator.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

_LISTENING = re.compile(r"Azurite (Queue|Table) service is successfully listening at \S+:(\d+)")
START_TIMEOUT_SECONDS = 30


def azurite_binary() -> str:
    """The Azurite launcher: $AZURITE_BIN, the project's npm install, or one on PATH."""
    candidates = [os.environ.get("AZURITE_BIN"), str(LOCAL_BIN), shutil.which("azurite")]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("Azurite is not installed: run `make setup` (npm ci --prefix tests/azurite)")


class Azurite:
    """One Azurite process serving tables and queues in memory on loopback ports."""

    def __init__(self, *, queue_port: int = 0, table_port: int = 0) -> None:
        self.queue_port = queue_port
        self.table_port = table_port
        self._process: subprocess.Popen[str] | None = None

    @property
    def connection_string(self) -> str:
        """The connection string for `AzureWebJobsStorage`."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{ACCOUNT};"
            f"TableEndpoint=http://127.0.0.1:{self.table_port}/{ACCOUNT};"
        )

    @property
    def running(self) -> bool:
        """Whether the process is up."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> Azurite:
        """Start on the configured ports (free ones the first time) and wait until ready."""
        command = [
            azurite_binary(),
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--loose",
            "--blobPort",
            "0",
            "--queuePort",
            str(self.queue_port),
            "--tablePort",
            str(self.table_port),
        ]
        process = subprocess.Popen(  # noqa: S603 - a fixed command line
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._process = process
        ports: dict[str, int] = {}
        ready = threading.Event()
        seen: list[str] = []

        def read_output() -> None:
            assert process.stdout is not None
            for line in process.stdout:  # keeps draining so Azurite never blocks on a pipe
                if not ready.is_set():
                    seen.append(line)
                    match = _LISTENING.search(line)
                    if match:
                        ports[match.group(1)] = int(match.group(2))
                        if len(ports) == 2:
                            ready.set()

        threading.Thread(target=read_output, daemon=True).start()
        if not ready.wait(START_TIMEOUT_SECONDS):
            self.stop()
            raise RuntimeError("Azurite did not start:\n" + "".join(seen[-20:]))
        self.queue_port, self.table_port = ports["Queue"], ports["Table"]
        return self

    def stop(self) -> None:
        """Stop the process (its in-memory data is gone)."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
