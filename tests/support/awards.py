"""Reviewers and threshold events for awards tests."""

from __future__ import annotations

from harness.kafka import produce
from services.awards import repository
from services.awards.auth import new_token, token_hash
from shared.events import ThresholdCrossed, ThresholdLost
from tests.conftest import eventually

THRESHOLDS, CASES = "eligibility.thresholds.v1", "awards.cases.v1"


async def add_reviewer(pool, name: str, *, lead: bool = False) -> dict[str, str]:  # noqa: ANN001
    """Authorization headers for a new reviewer."""
    token = new_token()
    assert await repository.add_reviewer(pool, name, token_hash(token), lead=lead)
    return {"Authorization": f"Bearer {token}"}


async def send(settings, *events) -> None:  # noqa: ANN001
    await produce(settings, THRESHOLDS, [(e.authority_id, e.to_json()) for e in events])


async def cases_of(awards, headers, authority_id: str, n: int = 1) -> list[dict]:  # noqa: ANN001
    """The authority's cases, once there are at least `n`."""
    async def found() -> list[dict]:
        page = (await awards.get("/v1/cases", params={"authority_id": authority_id}, headers=headers)).json()
        assert page["total"] >= n, page
        return page["items"]

    return await eventually(found)


async def history_of(awards, headers, case_id: str) -> list[str]:  # noqa: ANN001
    return [a["action"] for a in (await awards.get(f"/v1/cases/{case_id}", headers=headers)).json()["history"]]


def crossed(authority_id: str, count: int = 50, threshold: int = 50, sequence: int | None = None) -> ThresholdCrossed:
    return ThresholdCrossed(
        authority_id=authority_id, correlation_id="test", count=count, threshold=threshold, sequence=sequence
    )


def lost(authority_id: str, count: int = 49, threshold: int = 50, sequence: int | None = None) -> ThresholdLost:
    return ThresholdLost(
        authority_id=authority_id, correlation_id="test", count=count, threshold=threshold, sequence=sequence
    )
