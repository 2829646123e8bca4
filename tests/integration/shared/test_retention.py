"""Old published outbox rows and old processed-event ids are pruned; unpublished rows never are."""

from __future__ import annotations

import uuid
from datetime import timedelta

from shared import db
from shared.retention import prune_once


async def test_prune_keeps_unpublished_and_recent_rows(database_url, pool) -> None:
    old, recent, unpublished = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await pool.execute(
        """INSERT INTO awards.outbox (event_id, topic, key, event_type, correlation_id, payload, created_at)
           VALUES ($1, 't', 'k', 'E', 'c', '\\x00', now() - interval '40 days'),
                  ($2, 't', 'k', 'E', 'c', '\\x00', now()),
                  ($3, 't', 'k', 'E', 'c', '\\x00', now() - interval '40 days')""",
        old, recent, unpublished,
    )
    assert await pool.fetchval("SELECT count(*) FROM awards.outbox_pending") == 3  # every row written is pending
    await pool.execute(  # the relay has published two of them
        "DELETE FROM awards.outbox_pending WHERE id IN (SELECT id FROM awards.outbox WHERE event_id = ANY($1::uuid[]))",
        [old, recent],
    )
    await pool.execute(
        """INSERT INTO awards.processed_event (consumer, event_id, processed_at)
           VALUES ('awards', $1, now() - interval '40 days'), ('awards', $2, now())""",
        old, recent,
    )
    awards = await db.create_pool(database_url, "awards")
    try:
        assert await prune_once(awards, timedelta(days=30), chunk=1) == (1, 1)
        assert await prune_once(awards, timedelta(days=30)) == (0, 0)
    finally:
        await awards.close()
    assert {r["event_id"] for r in await pool.fetch("SELECT event_id FROM awards.outbox")} == {recent, unpublished}
    assert [r["event_id"] for r in await pool.fetch("SELECT event_id FROM awards.processed_event")] == [recent]


async def test_a_pending_id_whose_row_is_gone_is_pruned(database_url, pool) -> None:
    """A republish may queue a row that retention deletes at the same moment; its id must not stay pending for ever
    (every drain would wait for it)."""
    await pool.execute(
        "INSERT INTO awards.outbox (event_id, topic, key, event_type, correlation_id, payload)"
        " VALUES ($1, 't', 'k', 'E', 'c', '\\x00')", uuid.uuid4(),
    )
    await pool.execute("INSERT INTO awards.outbox_pending (id) VALUES (-1)")  # its row deleted meanwhile
    awards = await db.create_pool(database_url, "awards")
    try:
        await prune_once(awards, timedelta(days=30))
    finally:
        await awards.close()
    assert await pool.fetchval("SELECT count(*) FROM awards.outbox_pending WHERE id = -1") == 0
    assert await pool.fetchval("SELECT count(*) FROM awards.outbox_pending") == 1, "a pending row stays pending"
