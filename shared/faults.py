"""The error policy, in one place: whose fault a failure is decides what happens to the message or the task.

- **poison**: the message cannot be understood (not JSON, wrong schema, unknown type) or a domain rule refuses it.
  It goes to `<topic>.dlq` and the partition moves on. Retrying cannot help.
- **infrastructure**: the database, the broker or the network failed, or PostgreSQL refused for a reason that is
  not about the data (connection, resources, operator intervention, system errors, read-only after a fail-over).
  Never dead-lettered: the consumer pauses and retries with capped backoff for as long as it takes, and the
  service reports itself not ready meanwhile. A lost race (serialization failure, deadlock) is retried at once.
- **bug**: anything else. Logged with its traceback, retried a bounded number of times (it may be a race we did
  not foresee), then treated as poison; the dead-letter topic can be re-driven once the bug is fixed.
"""

from __future__ import annotations

from typing import Literal

import asyncpg
from aiokafka.errors import KafkaError
from pydantic import ValidationError

Fault = Literal["poison", "infrastructure", "race", "bug"]

# PostgreSQL error classes that are about the server, never about the data (SQLSTATE's first two characters):
# 08 connection exception, 53 insufficient resources (disk full, out of memory, too many connections),
# 57 operator intervention (query cancelled, admin shutdown, cannot connect now), 58 system error (I/O).
INFRASTRUCTURE_CLASSES = frozenset({"08", "53", "57", "58"})
# Single states that are the infrastructure's too: read-only transaction (a replica after a fail-over, or
# `default_transaction_read_only`) and lock not available (a lock timeout).
INFRASTRUCTURE_STATES = frozenset({"25006", "55P03"})
RACE_STATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock detected: repeat the transaction

UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    KafkaError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
)


class PoisonMessage(Exception):
    """A message that can never be processed: not JSON, wrong schema, unknown type, or refused by a domain rule."""


def sqlstate(exc: BaseException) -> str:
    return str(getattr(exc, "sqlstate", "") or "")


def classify(exc: BaseException) -> Fault:
    """Whose fault `exc` is (see the module docstring for what each answer means)."""
    if isinstance(exc, PoisonMessage | ValidationError):
        return "poison"
    if isinstance(exc, asyncpg.PostgresError):
        state = sqlstate(exc)
        if state in RACE_STATES:
            return "race"
        if state[:2] in INFRASTRUCTURE_CLASSES or state in INFRASTRUCTURE_STATES:
            return "infrastructure"
    if isinstance(exc, (*UNREACHABLE, asyncpg.InternalClientError)) or _closed_connection(exc):
        return "infrastructure"  # InternalClientError: asyncpg's protocol state, e.g. on a connection cut mid-way
    return "bug"


def _closed_connection(exc: BaseException) -> bool:
    """asyncpg's InterfaceError also covers bad query input (DataError) and misuse; only a closed connection or
    pool is the infrastructure's."""
    if type(exc) is not asyncpg.InterfaceError:
        return False
    return any(word in str(exc) for word in ("closed", "closing"))


def is_infrastructure(exc: BaseException) -> bool:
    """An outage (or a lost race): worth waiting for and repeating, never a reason to drop a message."""
    return classify(exc) in ("infrastructure", "race")
