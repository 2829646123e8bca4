"""A service process starts with the garbage collector off (its imports only create long-lived objects) and turns it
on once start-up is done: serving with what start-up allocated frozen, commands at once."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from harness.processes import ROOT
from services.eligibility.app import build as build_eligibility
from shared.runtime import GC_GEN0_THRESHOLD, run_command, service_runtime
from tests.conftest import MIGRATIONS

SERVICES = ("ingest", "eligibility", "awards", "notify")


@pytest.fixture
def collector_off_as_at_a_process_start():
    gc.unfreeze()
    gc.disable()
    threshold = gc.get_threshold()
    yield
    gc.set_threshold(*threshold)
    gc.enable()


def test_each_entry_point_imports_with_the_collector_off() -> None:
    probe = "; ".join([
        "import gc, importlib",
        *(f"gc.enable(); importlib.import_module('services.{name}.__main__'); print(gc.isenabled())" for name in SERVICES),
    ])
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["False"] * len(SERVICES), done.stdout


async def test_a_started_service_collects_again_with_its_start_up_frozen(
    settings, collector_off_as_at_a_process_start
) -> None:
    async with service_runtime("eligibility", MIGRATIONS["eligibility"], build_eligibility, settings):
        assert gc.isenabled()
        assert gc.get_freeze_count() > 10_000  # modules, registry, schemas: out of every later collection's way
        assert gc.get_threshold()[0] == GC_GEN0_THRESHOLD


def test_a_command_runs_with_the_collector_on(settings, monkeypatch, collector_off_as_at_a_process_start) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    seen: list[bool] = []

    async def job(pool, _settings) -> int:  # noqa: ANN001
        seen.append(gc.isenabled())
        return 0

    assert run_command("eligibility", MIGRATIONS["eligibility"], job) == 0
    assert seen == [True]
