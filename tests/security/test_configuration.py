"""Services refuse to start on unsafe configuration they can detect, with one line saying why."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shared.settings import Settings, unsafe
from tests.support.processes import ROOT, env_for


@pytest.mark.parametrize(
    ("service", "overrides", "problem"),
    [
        ("ingest", {"bind_host": "0.0.0.0", "feed_secret": None}, "FEED_SECRET is not set"),
        ("ingest", {"bind_host": "0.0.0.0", "feed_secret": "short"}, "shorter than 16"),
        ("notify", {"smtp_host": "mail.example.invalid", "smtp_password": "pw"}, "clear text"),
    ],
)
def test_unsafe_configurations_are_named(service: str, overrides: dict, problem: str) -> None:
    problems = unsafe(Settings(_env_file=None, **overrides), service)
    assert len(problems) == 1 and problem in problems[0]


def test_safe_configurations_pass() -> None:
    assert unsafe(Settings(_env_file=None), "ingest") == []
    assert unsafe(Settings(_env_file=None, bind_host="0.0.0.0", feed_secret="x" * 32), "ingest") == []
    assert unsafe(Settings(_env_file=None, smtp_host="mail.example.invalid", smtp_password="pw", smtp_starttls=True), "notify") == []


def test_ingest_refuses_to_listen_publicly_without_a_feed_secret(settings) -> None:
    env = env_for(settings, BIND_HOST="0.0.0.0", FEED_SECRET="")
    env.pop("FEED_SECRET")
    done = subprocess.run([sys.executable, "-m", "services.ingest"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "ingest: refusing to start: FEED_SECRET is not set while binding to 0.0.0.0"
    )
