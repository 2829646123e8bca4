"""The error policy: which failures are the message's (dead-letter), the infrastructure's (wait) or a bug."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from pydantic import BaseModel, ValidationError

from shared.faults import PoisonMessage, classify, is_infrastructure


def _validation_error() -> ValidationError:
    class M(BaseModel):
        n: int

    try:
        M.model_validate({"n": "x"})
    except ValidationError as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("exc", "fault"),
    [
        (asyncpg.exceptions.ReadOnlySQLTransactionError("read-only"), "infrastructure"),  # 25006, after a fail-over
        (asyncpg.exceptions.DiskFullError("disk full"), "infrastructure"),  # 53100
        (asyncpg.exceptions.OutOfMemoryError("oom"), "infrastructure"),  # 53200
        (asyncpg.exceptions.TooManyConnectionsError("too many"), "infrastructure"),  # 53300
        (asyncpg.exceptions.QueryCanceledError("cancelled"), "infrastructure"),  # 57014
        (asyncpg.exceptions.AdminShutdownError("shutdown"), "infrastructure"),  # 57P01
        (asyncpg.exceptions.CannotConnectNowError("starting up"), "infrastructure"),  # 57P03
        (asyncpg.exceptions.PostgresIOError("io"), "infrastructure"),  # 58030
        (asyncpg.exceptions.ConnectionDoesNotExistError("gone"), "infrastructure"),  # 08003
        (asyncpg.exceptions.LockNotAvailableError("lock timeout"), "infrastructure"),  # 55P03
        (asyncpg.InterfaceError("connection is closed"), "infrastructure"),
        (asyncpg.InterfaceError("pool is closing"), "infrastructure"),
        (asyncpg.InternalClientError("cannot switch to state 11; another operation (2) is in progress"), "infrastructure"),
        (ConnectionRefusedError(111, "refused"), "infrastructure"),
        (TimeoutError(), "infrastructure"),
        (KafkaConnectionError(), "infrastructure"),
        (KafkaTimeoutError(), "infrastructure"),
        (asyncpg.exceptions.SerializationError("race"), "race"),  # 40001
        (asyncpg.exceptions.DeadlockDetectedError("deadlock"), "race"),  # 40P01
        (PoisonMessage("unknown event type"), "poison"),
        (_validation_error(), "poison"),
        (asyncpg.exceptions.UniqueViolationError("dup"), "bug"),  # 23505: about the data
        (asyncpg.exceptions.CheckViolationError("check"), "bug"),
        (asyncpg.exceptions.UndefinedColumnError("no column"), "bug"),
        (asyncpg.DataError("invalid input for query argument"), "bug"),
        (asyncpg.InterfaceError("the server expects 2 arguments, 1 was passed"), "bug"),
        (KeyError("award_number"), "bug"),
        (AssertionError("guard"), "bug"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v,
)
def test_each_failure_has_one_owner(exc: BaseException, fault: str) -> None:
    assert classify(exc) == fault
    assert is_infrastructure(exc) == (fault in ("infrastructure", "race"))


def test_every_postgres_error_of_the_server_classes_waits() -> None:
    """Whatever asyncpg names them, errors of classes 08, 53, 57 and 58 are outages."""
    server_classes = [
        cls for cls in vars(asyncpg.exceptions).values()
        if isinstance(cls, type) and issubclass(cls, asyncpg.PostgresError) and getattr(cls, "sqlstate", None)
        and cls.sqlstate[:2] in {"08", "53", "57", "58"}
    ]
    assert len(server_classes) > 15
    assert {cls.__name__ for cls in server_classes if classify(cls("x")) != "infrastructure"} == set()
