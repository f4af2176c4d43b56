"""Benchmark of the webhook intake: 1,000 signed Lucca events through `lucca_webhook`.

Runs against a real Azurite, through the Functions app object, with events made by the
Lucca sandbox. Prints events per second, answer-time percentiles, and the import time of
the intake path against the whole app's (what a cold start pays before the first answer).

    python -m bench.webhook [--events N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.azurite import Azurite  # noqa: E402
from tests.conftest import WEBHOOK_SECRET, base_settings, http_request  # noqa: E402
from tests.sandboxes.lucca import LuccaSandbox, signed_delivery  # noqa: E402

# What the webhook's cold start imports, and what the whole app imports once its sync
# runs (msgraph-sdk, httpx, azure-identity: `connector.runtime.build` builds the sync).
INTAKE_IMPORTS = "import function_app"
WHOLE_APP_IMPORTS = "import function_app, connector.runtime.build"


def import_seconds(statement: str, env: dict[str, str], runs: int = 5) -> float:
    """Median wall time of a fresh interpreter running `statement`, minus a bare one."""

    def timed(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)  # noqa: S603
        return time.perf_counter() - started

    bare = statistics.median(timed("pass") for _ in range(runs))
    return statistics.median(timed(statement) for _ in range(runs)) - bare


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of `values` fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()

    with Azurite() as azurite, LuccaSandbox() as lucca:
        env = {**os.environ, **base_settings(azurite.connection_string)}
        os.environ.update(base_settings(azurite.connection_string))
        import function_app  # noqa: PLC0415 - after the settings are in place

        webhook = next(
            f.get_user_function()
            for f in function_app.app.get_functions()
            if f.get_function_name() == "lucca_webhook"
        )
        for n in range(args.events // 3 + 1):
            lucca.add_employee("Camille", "Durand", f"camille.durand{n}@acme.fr")
        events = lucca.recorded_events()[: args.events]
        deliveries = [signed_delivery(e, WEBHOOK_SECRET) for e in events]

        answers: list[float] = []
        statuses: dict[int, int] = {}
        started = time.perf_counter()
        for body, headers in deliveries:
            t0 = time.perf_counter()
            response = webhook(http_request("POST", body=body, headers=headers))
            answers.append(time.perf_counter() - t0)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        elapsed = time.perf_counter() - started

        intake_import = import_seconds(INTAKE_IMPORTS, env)
        whole_import = import_seconds(WHOLE_APP_IMPORTS, env)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"events: {len(deliveries)} signed deliveries, answers {dict(sorted(statuses.items()))}")
    print(f"throughput: {len(deliveries) / elapsed:.0f} events/s (one caller, sequential)")
    print(
        "answer time: "
        f"p50 {percentile(answers, 0.50) * 1000:.1f} ms, "
        f"p95 {percentile(answers, 0.95) * 1000:.1f} ms, "
        f"p99 {percentile(answers, 0.99) * 1000:.1f} ms"
    )
    print(
        f"import time: intake path {intake_import * 1000:.0f} ms, "
        f"whole app {whole_import * 1000:.0f} ms (median of 5 fresh interpreters)"
    )


if __name__ == "__main__":
    main()
