"""Events produced by eligibility on `eligibility.thresholds.v1`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.events.envelope import Event


class _ThresholdEvent(Event):
    """What both threshold events carry: the count after the change, the threshold, the authority's n-th event."""

    count: int = Field(ge=0, description="counted online procedures after the change")
    threshold: int = Field(ge=1, description="the authority's threshold")
    sequence: int | None = Field(
        None, ge=1, description="the n-th threshold event of this authority; a consumer ignores one not above the last"
    )


class ThresholdCrossed(_ThresholdEvent):
    """The authority's count reached its threshold from below."""

    event_type: Literal["ThresholdCrossed"] = "ThresholdCrossed"


class ThresholdLost(_ThresholdEvent):
    """The authority's count fell below its threshold from at or above."""

    event_type: Literal["ThresholdLost"] = "ThresholdLost"
