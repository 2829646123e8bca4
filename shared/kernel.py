"""A service is a declaration; this kernel makes it run.

A `Service` says what the service consumes and with which handler, what it publishes, which HTTP routers and
background workers it has, which other services' APIs it asks, and what configuration it refuses to start with.
`Service.build` turns that into the FastAPI app and the FastStream subscribers on a `Runtime`
(shared.runtime: database, migrations, topics, broker, outbox relay, supervised workers, HTTP server).

Events leave a service only through its outbox (written in the handler's or the request's transaction) and the
relay; `publishes` declares the topics in the service's AsyncAPI document, with their message schemas.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from fastapi import APIRouter, FastAPI

from shared.consumer import Apply, BatchConsumer
from shared.http import new_app, ops_router
from shared.runtime import Runtime, run_command, run_service
from shared.settings import Settings
from shared.supervisor import Job
from shared.topics import TopicSpec


def _nothing(_: object) -> tuple[()]:
    return ()


@dataclass(frozen=True)
class Consumes:
    """One topic this service reads, as its own consumer group, and the handler that applies a batch of it."""

    topic: TopicSpec
    handler: Callable[[Runtime], Apply]  # (runtime) -> (connection, events) -> None, inside the batch's transaction
    description: str
    dedupe_event_ids: bool = True  # False for a handler that is idempotent by its own state
    members: Callable[[Settings], int] = lambda _: 1  # members in one process
    # a faster reader of a batch (a JSON array) that accepts a strict subset of the contract; None: pydantic decides
    decode: Callable[[bytes], Sequence[Any] | None] | None = None


@dataclass(frozen=True)
class Service:
    name: str
    description: str
    migrations: Path
    consumes: tuple[Consumes, ...] = ()
    publishes: tuple[TopicSpec, ...] = ()
    routers: Callable[[Runtime], Iterable[APIRouter]] = _nothing
    workers: Callable[[Runtime], Mapping[str, Job]] = lambda _: {}  # supervised: restarted with backoff, in /readyz
    clients: Mapping[str, Callable[[Settings], str]] = field(default_factory=dict)  # name -> base URL of another API
    install: Callable[[FastAPI], None] = lambda _: None  # exception handlers, error pages
    refuses: Callable[[Settings], list[str]] = lambda _: []  # configurations it must not start with, one line each

    def build(self, rt: Runtime) -> FastAPI:
        for name, url in self.clients.items():
            client = httpx.AsyncClient(base_url=url(rt.settings).rstrip("/"), timeout=5)
            rt.clients[name] = client
            rt.on_stop.append(client.aclose)
        for topic in self.publishes:
            topic.declare_publisher(rt.broker, rt.settings)
        for c in self.consumes:
            consumer = BatchConsumer(
                self.name, c.topic, c.handler(rt), pool=rt.pool, broker=rt.broker, settings=rt.settings,
                health=rt.health, dedupe_event_ids=c.dedupe_event_ids, members=c.members(rt.settings), decode=c.decode,
            )
            rt.background.update(consumer.subscribe(
                f"{c.description}. Reads {', '.join(e.__name__ for e in c.topic.event_types)}: the schemas are in "
                f"{c.topic.producer}'s AsyncAPI document", rt.connect))
        rt.background.update(self.workers(rt))
        app = new_app(self.name, self.description)
        self.install(app)
        for router in self.routers(rt):
            app.include_router(router)
        app.include_router(ops_router(self.name, rt.pool, rt.broker, rt.health))
        return app

    def serve(self) -> int:
        """`python -m services.<name>`: serve until SIGINT/SIGTERM."""
        return run_service(self.name, self.migrations, self.build, self.refuses)

    def command(self, job: Callable[[asyncpg.Pool, Settings], Awaitable[int | None]]) -> int:
        """A sub-command against the service's database."""
        return run_command(self.name, self.migrations, job)

    def main(self, argv: list[str], commands: Mapping[str, Callable[[list[str]], int]], usage: str) -> int:
        """`python -m services.<name> [serve | COMMAND ARGS...]`."""
        if not argv or argv[0] == "serve":
            return self.serve()
        if argv[0] in commands:
            return commands[argv[0]](argv[1:])
        print(f"usage: python -m services.{self.name} {usage}", file=sys.stderr)
        return 2
