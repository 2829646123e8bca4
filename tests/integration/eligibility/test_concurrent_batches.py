"""Two consumers briefly holding one partition (a rebalance) apply the same events at once: counted once."""

from __future__ import annotations

import asyncio

import pytest

from harness.builders import linked_event
from services.eligibility.app import MIGRATIONS
from services.eligibility.handlers import on_procedure_links
from shared.runtime import database_only
from tests.conftest import eventually

KITZINGEN = "09675141"


@pytest.mark.parametrize("known", [True, False], ids=["known authority", "new authority"])
async def test_a_batch_applied_twice_at_the_same_time_counts_once(settings, known: bool) -> None:
    handle = on_procedure_links(settings)
    events = [linked_event(KITZINGEN, f"p-{i}") for i in range(3)]
    later = [*events, linked_event(KITZINGEN, "p-later")]  # the second consumer's batch goes further
    async with database_only("eligibility", MIGRATIONS, settings) as pool:
        if known:
            await handle_committed(pool, handle, [linked_event(KITZINGEN, "p-seed")])
        async with pool.acquire() as first, pool.acquire() as second:
            tx = first.transaction()
            await tx.start()
            await handle(first, events)  # holds Kitzingen's standing until it commits

            async def again() -> None:
                async with second.transaction():
                    await handle(second, later)

            redelivered = asyncio.create_task(again())

            async def waiting_for_the_first() -> bool:  # the second backend blocks on the first one's lock
                wait = await pool.fetchval(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", second.get_server_pid()
                )
                return wait == "Lock"

            await eventually(waiting_for_the_first, timeout=10, interval=0.02)
            assert not redelivered.done(), "the second transaction must wait for the first"
            await tx.commit()
            await asyncio.wait_for(redelivered, 10)
        count = await pool.fetchval("SELECT count FROM authority_count WHERE authority_id = $1", KITZINGEN)
        stored = await pool.fetchval("SELECT count(*) FROM procedure_link WHERE authority_id = $1", KITZINGEN)
    assert count == stored == 4 + known


async def handle_committed(pool, handle, events) -> None:  # noqa: ANN001
    async with pool.acquire() as conn, conn.transaction():
        await handle(conn, events)
