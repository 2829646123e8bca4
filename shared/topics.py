"""Every topic of the system, the event types it carries, and their creation at start-up."""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated, Any, Union

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from pydantic import Field, TypeAdapter

from shared import events as ev
from shared.settings import Settings


@dataclass(frozen=True)
class TopicSpec:
    name: str
    producer: str
    event_types: tuple[type[ev.Event], ...]
    consumers: tuple[str, ...] = ()  # the services that read it (each as its own consumer group)

    @property
    def message_type(self) -> Any:
        """The union of this topic's event models, discriminated by `event_type`."""
        if len(self.event_types) == 1:
            return self.event_types[0]
        return Annotated[Union[self.event_types], Field(discriminator="event_type")]  # noqa: UP007

    def adapter(self) -> TypeAdapter[Any]:
        """Parses a message of this topic into its event model."""
        return TypeAdapter(self.message_type)

    def declare_publisher(self, broker: KafkaBroker, settings: Settings) -> None:
        """Documents the topic in the producer's AsyncAPI; the outbox relay publishes to it."""
        broker.publisher(
            settings.topic(self.name),
            title=self.name,
            description=f"{', '.join(t.__name__ for t in self.event_types)}; key = authority_id",
            schema=self.message_type,
        )


PROCEDURE_LINKS = TopicSpec(
    "portal.procedure-links.v1", "ingest", (ev.ProcedureLinked, ev.ProcedureUnlinked), ("eligibility",)
)
THRESHOLDS = TopicSpec(
    "eligibility.thresholds.v1", "eligibility", (ev.ThresholdCrossed, ev.ThresholdLost), ("awards",)
)
CASES = TopicSpec(
    "awards.cases.v1",
    "awards",
    (ev.CaseOpened, ev.AwardGranted, ev.AwardRejected, ev.AwardRevoked, ev.AwardKept, ev.CaseClosed,
     ev.GracePeriodStarted, ev.GracePeriodEnded, ev.AwardImported),
    ("notify",),
)
NOTIFICATIONS = TopicSpec(
    "notify.notifications.v1", "notify", (ev.NotificationUndeliverable,), ("awards",)
)
ALL_TOPICS = (PROCEDURE_LINKS, THRESHOLDS, CASES, NOTIFICATIONS)


def dlq(topic: str) -> str:
    return f"{topic}.dlq"


def topic_of(event: ev.Event) -> TopicSpec:
    for spec in ALL_TOPICS:
        if isinstance(event, spec.event_types):
            return spec
    raise LookupError(f"no topic carries {type(event).__name__}")


def physical_names(settings: Settings) -> list[str]:
    names = [settings.topic(t.name) for t in ALL_TOPICS]
    return names + [dlq(n) for n in names]


def new_topic(name: str, settings: Settings) -> NewTopic:
    """A topic as the services create it: the configured partitions and replication factor and, with more than one
    replica, `min.insync.replicas` one below it, so that an `acks=all` write survives the loss of one broker."""
    rf = settings.kafka_replication_factor
    configs = {"min.insync.replicas": str(rf - 1)} if rf > 2 else {}
    return NewTopic(name, num_partitions=settings.kafka_partitions, replication_factor=rf, topic_configs=configs)


async def partitions_of(admin: AIOKafkaAdminClient, names: Collection[str]) -> dict[str, list[int]]:
    """Partitions of those of the (physical) topics that exist. A missing topic is never described: on some brokers
    (Tansu) a metadata request for it creates it, with the broker's partition count instead of the one
    `ensure_topics` gives it (after a broker came back empty, that must be the producer's relay)."""
    existing = set(await admin.list_topics())
    wanted = [n for n in names if n in existing]
    if not wanted:
        return {}
    return {d["topic"]: sorted(p["partition"] for p in d["partitions"]) for d in await admin.describe_topics(wanted)}


async def ensure_topics(settings: Settings) -> list[str]:
    """Create whichever of our topics are missing; existing topics are left as they are. Returns those created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_list, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in physical_names(settings) if n not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([new_topic(n, settings) for n in missing])
        return missing
    finally:
        await admin.close()
