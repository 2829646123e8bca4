"""Which failures are the infrastructure's (retry, never dead-letter) rather than the message's."""

from __future__ import annotations

import asyncpg
from aiokafka.errors import KafkaError

UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    KafkaError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
)

# Besides an unreachable dependency, a transaction that lost a race is worth repeating as it is.
TRANSIENT: tuple[type[BaseException], ...] = (
    *UNREACHABLE,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
)
