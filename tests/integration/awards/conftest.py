"""Awards in-process with timers of seconds (`*_DAYS` accept fractions), and reviewers for its tests."""

from __future__ import annotations

import pytest

from services.awards.app import build as build_awards
from tests.support.awards import add_reviewer

SECONDS = 1 / 86_400  # one second, in days


@pytest.fixture
async def awards(start, settings):
    own = settings.model_copy(update={"revocation_grace_days": 1.5 * SECONDS, "rereview_after_days": 1.5 * SECONDS,
                                      "timer_poll_s": 0.1})
    rt, client = await start("awards", build_awards, own)
    client.rt = rt
    return client


@pytest.fixture
async def alice(awards):
    return await add_reviewer(awards.rt.pool, "alice")


@pytest.fixture
async def bob(awards):
    return await add_reviewer(awards.rt.pool, "bob")


@pytest.fixture
async def lead(awards):
    return await add_reviewer(awards.rt.pool, "leitung", lead=True)
