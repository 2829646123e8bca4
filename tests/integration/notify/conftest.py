"""Notify as the tests here start it: public links under https://digitales-amt.example, anything else overridable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from services.notify.app import build as build_notify

PUBLIC_BASE_URL = "https://digitales-amt.example"


@pytest.fixture
def start_notify(start, settings) -> Callable[..., Awaitable[tuple[Any, Any]]]:  # noqa: ANN001
    async def _start(**overrides: Any) -> tuple[Any, Any]:
        return await start("notify", build_notify, settings.model_copy(update={"public_base_url": PUBLIC_BASE_URL,
                                                                              **overrides}))

    return _start
