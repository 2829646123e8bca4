"""Fixtures shared by ingest's integration tests."""

from __future__ import annotations

import pytest

from services.ingest.app import build as build_ingest


@pytest.fixture
async def ingest(start):  # noqa: ANN001, ANN201
    """The ingest service in-process, with an HTTP client on its app."""
    _, client = await start("ingest", build_ingest)
    return client
