"""`make run` serves on the port given by PORT (default 8000), so a second copy of the site
can run beside the first: `PORT=8001 make run`."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def run_commands(**env) -> list[str]:
    """What `make run` would run (a dry run: nothing is installed, migrated or served)."""
    clean = {k: v for k, v in os.environ.items() if k != "PORT"}
    out = subprocess.run(["make", "--dry-run", "run"], cwd=ROOT, env={**clean, **env},
                         capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def test_make_run_serves_on_the_port_given_by_port():
    commands = run_commands(PORT="8001")

    assert any(c.endswith("manage.py runserver 127.0.0.1:8001") for c in commands), commands
    assert any("http://127.0.0.1:8001/" in c for c in commands), commands


def test_make_run_serves_on_8000_by_default():
    commands = run_commands()

    assert any(c.endswith("manage.py runserver 127.0.0.1:8000") for c in commands), commands
