"""Reviewers and threshold events for awards tests."""

from __future__ import annotations

from services.awards import repository
from services.awards.auth import new_token, token_hash
from shared.events import ThresholdCrossed, ThresholdLost


async def add_reviewer(pool, name: str) -> dict[str, str]:
    """Authorization headers for a new reviewer."""
    token = new_token()
    assert await repository.add_reviewer(pool, name, token_hash(token))
    return {"Authorization": f"Bearer {token}"}


def crossed(authority_id: str, count: int = 50, threshold: int = 50, sequence: int | None = None) -> ThresholdCrossed:
    return ThresholdCrossed(
        authority_id=authority_id, correlation_id="test", count=count, threshold=threshold, sequence=sequence
    )


def lost(authority_id: str, count: int = 49, threshold: int = 50, sequence: int | None = None) -> ThresholdLost:
    return ThresholdLost(
        authority_id=authority_id, correlation_id="test", count=count, threshold=threshold, sequence=sequence
    )
