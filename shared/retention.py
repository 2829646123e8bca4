"""Housekeeping of the plumbing tables: published outbox rows and processed-event ids older than the retention."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import asyncpg
import structlog

log = structlog.get_logger(__name__)

_PRUNE_OUTBOX = """
DELETE FROM outbox WHERE id IN (
    SELECT id FROM outbox o WHERE created_at < now() - $1::interval
    AND NOT EXISTS (SELECT 1 FROM outbox_pending p WHERE p.id = o.id) ORDER BY id LIMIT $2)
"""
# A pending id whose row is gone: a republish that queued a row while retention deleted it (both rare, and the row
# older than the retention). Left, it would count as pending for ever and hold up every drain.
_PRUNE_DANGLING = "DELETE FROM outbox_pending p WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.id = p.id)"
_PRUNE_PROCESSED = """
DELETE FROM processed_event WHERE ctid IN (
    SELECT ctid FROM processed_event WHERE processed_at < now() - $1::interval LIMIT $2)
"""


async def prune_once(pool: asyncpg.Pool, keep: timedelta, *, chunk: int = 10_000) -> tuple[int, int]:
    """Delete in chunks, so that no long transaction holds locks; returns (outbox rows, processed ids) deleted."""
    totals = [0, 0]
    for i, sql in enumerate((_PRUNE_OUTBOX, _PRUNE_PROCESSED)):
        while True:
            deleted = int((await pool.execute(sql, keep, chunk)).split()[-1])
            totals[i] += deleted
            if deleted < chunk:
                break
    await pool.execute(_PRUNE_DANGLING)
    return totals[0], totals[1]


async def prune_forever(pool: asyncpg.Pool, keep: timedelta, beat: Callable[[], None], every_s: float = 3_600) -> None:
    """Event ids are kept far longer than Kafka keeps messages, so a redelivery is still recognised.

    Outbox rows go by their creation time: an event is consumed after it was written, so its consumed id outlives
    its outbox row, and a row published again after a broker lost its log is still recognised by its consumers.
    Runs under the supervisor: a failed round is reported and retried.
    """
    while True:
        outbox, processed = await prune_once(pool, keep)
        if outbox or processed:
            log.info("plumbing_pruned", outbox=outbox, processed_event=processed)
        beat()
        await asyncio.sleep(every_s)
