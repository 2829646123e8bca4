import pytest

from bench.cpu import breakdown


def test_cores_in_use_and_microseconds_per_unit_of_each_component_over_one_percent() -> None:
    totals = {"sync": 3.0, "postgres ingest-worker": 0.9, "postgres other": 0.03}
    assert breakdown(totals, "pvog_1x", units=1_000_000, seconds=2.0, unit="tie") == pytest.approx({
        "pvog_1x_cpu_cores": 1.965,
        "pvog_1x_cpu_us_per_tie": 3.93,
        "pvog_1x_cpu_us_per_tie_sync": 3.0,
        "pvog_1x_cpu_us_per_tie_postgres_ingest_worker": 0.9,
    })
