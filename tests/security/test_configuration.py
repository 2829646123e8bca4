"""Services refuse to start on unsafe configuration they can detect, with one line saying why."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.processes import ROOT, env_for
from services.awards.app import AWARDS
from services.eligibility.app import ELIGIBILITY
from services.ingest.app import INGEST
from services.notify.app import NOTIFY
from shared.settings import Settings

SERVICES = {s.name: s for s in (INGEST, ELIGIBILITY, AWARDS, NOTIFY)}


@pytest.mark.parametrize(
    ("service", "overrides", "problem"),
    [
        ("ingest", {"bind_host": "0.0.0.0", "feed_secret": None}, "FEED_SECRET is not set"),
        ("ingest", {"bind_host": "0.0.0.0", "feed_secret": "short"}, "shorter than 16"),
        ("notify", {"smtp_host": "mail.example.invalid", "smtp_password": "pw"}, "clear text"),
        ("ingest", {"bind_host": "0.0.0.0", "feed_secret": "change-me-local-only"}, "placeholder"),
        ("notify", {"bind_host": "0.0.0.0", "admin_token": "short"}, "ADMIN_TOKEN is shorter than 16"),
        ("notify", {"bind_host": "0.0.0.0", "admin_token": "CHANGE-ME-CHANGE-ME"}, "placeholder"),
        ("awards", {"bind_host": "0.0.0.0", "admin_token": "short"}, "ADMIN_TOKEN is shorter than 16"),
    ],
)
def test_unsafe_configurations_are_named(service: str, overrides: dict, problem: str) -> None:
    problems = SERVICES[service].refuses(Settings(_env_file=None, **overrides))
    assert len(problems) == 1 and problem in problems[0]


def test_safe_configurations_pass() -> None:
    assert [s.refuses(Settings(_env_file=None)) for s in SERVICES.values()] == [[], [], [], []]
    assert INGEST.refuses(Settings(_env_file=None, bind_host="0.0.0.0", feed_secret="x" * 32)) == []
    assert NOTIFY.refuses(Settings(_env_file=None, smtp_host="mail.example.invalid", smtp_password="pw", smtp_starttls=True)) == []
    assert AWARDS.refuses(Settings(_env_file=None, bind_host="0.0.0.0", admin_token="a" * 32)) == []
    assert INGEST.refuses(Settings(_env_file=None, bind_host="0.0.0.0", feed_secret="x" * 32, admin_token="short")) == [], \
        "ingest does not use ADMIN_TOKEN"


def test_ingest_refuses_to_listen_publicly_without_a_feed_secret(settings) -> None:
    env = env_for(settings, BIND_HOST="0.0.0.0", FEED_SECRET="")
    env.pop("FEED_SECRET")
    done = subprocess.run([sys.executable, "-m", "services.ingest"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "ingest: refusing to start: FEED_SECRET is not set while binding to 0.0.0.0"
    )


def test_compose_starts_only_with_secrets_from_an_env_file_and_only_on_loopback() -> None:
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["x-service"]["environment"]
    for name in ("FEED_SECRET", "ADMIN_TOKEN"):
        assert env[name].startswith(f"${{{name}:?"), f"{name} must be required, not defaulted"
    published = [p for s in compose["services"].values() for p in s.get("ports", [])]
    assert published and all(p.startswith("127.0.0.1:") for p in published), published
    example = (ROOT / ".env.example").read_text()
    assert "FEED_SECRET=\n" in example and "ADMIN_TOKEN=\n" in example
