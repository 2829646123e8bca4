"""The deployment files agree with the code: compose parses, runs every service, creates every topic."""

from __future__ import annotations

from pathlib import Path

import yaml

from shared.settings import SERVICES, Settings

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_every_service_on_its_port_with_every_topic() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    defaults = Settings(_env_file=None)
    for name in SERVICES:
        assert services[name]["command"] == ["python", "-m", f"services.{name}"]
        port = defaults.port_of(name)
        assert services[name]["ports"] == [f"127.0.0.1:{port}:{port}"]
        assert services[name]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert services["topics"]["command"] == ["python", "-m", "deploy.topics"]
    assert services["topics"]["environment"]["KAFKA_REPLICATION_FACTOR"] == "1"
    for name in SERVICES:
        assert services[name]["depends_on"]["topics"] == {"condition": "service_completed_successfully"}
    assert {"kafka", "postgres", "mailpit"} <= set(services)


def test_procfile_runs_every_service() -> None:
    lines = (ROOT / "Procfile").read_text().splitlines()
    assert sorted(lines) == sorted(f"{s}: python -m services.{s}" for s in SERVICES)


def test_kubernetes_manifests_run_every_service_with_probes_and_configuration() -> None:
    docs = [d for f in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for name in SERVICES:
        assert ("Deployment", name) in kinds and ("Service", name) in kinds
        deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["python", "-m", f"services.{name}"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
        assert sources == {"digitales-amt"}
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    secret = next(d for d in docs if d["kind"] == "Secret")
    known = set(Settings.model_fields)
    assert {k.lower() for k in {**config["data"], **secret["stringData"]}} <= known
    assert {"DATABASE_URL", "FEED_SECRET", "SMTP_PASSWORD"} <= set(secret["stringData"])
    assert config["data"]["KAFKA_REPLICATION_FACTOR"] == "3"
    for name in SERVICES:
        deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)
        [init] = deployment["spec"]["template"]["spec"]["initContainers"]
        assert init["command"] == ["python", "-m", "deploy.topics"], "topics exist before the service starts"
        assert init["image"] == deployment["spec"]["template"]["spec"]["containers"][0]["image"]
