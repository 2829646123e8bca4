"""The deployment files agree with the code: compose parses, runs every service, creates every topic."""

from __future__ import annotations

from pathlib import Path

import yaml

from shared.settings import SERVICES, Settings
from shared.topics import physical_names

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_every_service_on_its_port_with_every_topic() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    defaults = Settings(_env_file=None)
    for name in SERVICES:
        assert services[name]["command"] == ["python", "-m", f"services.{name}"]
        port = defaults.port_of(name)
        assert services[name]["ports"] == [f"{port}:{port}"]
        assert services[name]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    script = services["topics"]["command"][0]
    for topic in physical_names(Settings(kafka_topic_prefix="")):
        base = topic.removesuffix(".dlq")
        assert base in script
    assert "$$name" in script and "$$t.dlq" in script
    assert {"kafka", "postgres", "mailpit"} <= set(services)


def test_procfile_runs_every_service() -> None:
    lines = (ROOT / "Procfile").read_text().splitlines()
    assert sorted(lines) == sorted(f"{s}: python -m services.{s}" for s in SERVICES)
