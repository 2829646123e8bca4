"""`python -m deploy.topics` creates every topic before the services start; a second run changes nothing."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from deploy.topics import create
from shared.topics import physical_names


async def test_every_topic_is_created_once_with_the_configured_partitions(settings) -> None:
    assert sorted(await create(settings)) == sorted(physical_names(settings))
    assert await create(settings) == []
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_list)
    await admin.start()
    try:
        described = await admin.describe_topics(physical_names(settings))
    finally:
        await admin.close()
    assert {d["topic"]: len(d["partitions"]) for d in described} == {n: settings.kafka_partitions for n in physical_names(settings)}
