"""A real SMTP server (aiosmtpd) that keeps what it receives and can refuse on purpose."""

from __future__ import annotations

import contextlib
import email
import email.policy
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from harness.infra import free_port


class Sink:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.temporary_failures = 0  # answer 451 to the next n recipients
        self.permanent: dict[str, str] = {}  # recipient -> 5xx answer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201, N802
        if address in self.permanent:
            return self.permanent[address]
        if self.temporary_failures > 0:
            self.temporary_failures -= 1
            return "451 4.3.0 Mailbox temporarily unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(msg)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@contextlib.contextmanager
def smtp_server(port: int | None = None) -> Iterator[tuple[Sink, int]]:
    """A sink listening on 127.0.0.1 (on `port`, e.g. one a service was told before the server came up)."""
    sink = Sink()
    port = port or free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def body(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    return part.get_content()


@contextlib.asynccontextmanager
async def smtp_sink(port: int | None = None) -> AsyncIterator[tuple[Sink, int]]:
    """`smtp_server` for an `async with` beside other asynchronous contexts."""
    with smtp_server(port) as found:
        yield found
