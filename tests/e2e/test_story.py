"""The README's first command tells the whole story: it must keep working."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.azurite


def test_story_runs_and_shows_directory_and_log() -> None:
    """`python -m tests.story` ends well and prints the directory and the integration log
    with the hire, the manager set later, the move, the new email, the matched account (and its
    "linked existing account" email), and the change by hand that `reconcile` shows and the
    nightly run repairs."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.story"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for expected in (
        "The directory (Graph sandbox):",
        "hugo.bernard@acme.fr       Hugo Bernard     Auditeur     Audit",
        "manager=Claire Moreau",
        "mail=claire.moreau-roy@acme.fr",
        "employeeId=lucca-1003",
        "manager: - → Claire Moreau",
        "→ hugo.bernard enabled, leo.faure disabled",
        "→ hugo.bernard disabled, leo.faure enabled",
        "disable scheduled for",
        "It stays disabled until the first day (scheduled).",
        "Linked to the existing account ana.lopez@acme.fr (matched by mail).",
        "Subject: Entra account created: Claire Moreau",
        "Subject: Entra account created: Hugo Bernard",
        "Subject: Entra account created: Léo Faure",
        "Subject: Entra account not created: Zoé Petit",
        "Reason: The domain acme-partner.example is not a verified domain",
        "Subject: Entra account deactivated: Hugo Bernard",
        "$ python -m connector reconcile",
        "matched by link: jobTitle: Intern → CFO",
        "`--apply` would hand 1 employee to the sync.",
        "reconcile_nightly: reconciled: 5 employees reconciled: 3 in step, 1 to update, "
        "1 cannot be created; applied: 1 updated.",
        "jobTitle: 'Intern' → 'CFO'",
    ):
        assert expected in out, expected
    # Ana's account was matched, not created: one email, to check the link.
    emails = out.partition("The emails sent")[2]
    assert "Subject: Existing Entra account linked: Ana Lopez" in emails
    assert "Subject: Entra account created: Ana Lopez" not in emails
    assert "python -m connector unlink" in emails
