"""Sending over SMTP with aiosmtplib, on one connection reused across messages."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import aiosmtplib

from smartcity_th.services.notifications.metrics import SMTP_CONNECTIONS, SMTP_TRANSACTIONS
from smartcity_th.services.notifications.ports import Accepted, PermanentSmtpError


class SmtpMailer:
    """The `Mailer` on an SMTP server."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout = timeout
        self._client: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()

    @property
    def server_attributes(self) -> dict[str, str | int]:
        """The SMTP server as OpenTelemetry's semantic conventions name a client's peer."""
        return {"server.address": self._host, "server.port": self._port}

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self._host, port=self._port, timeout=self._timeout, start_tls=self._starttls
        )
        await client.connect()
        SMTP_CONNECTIONS.inc()
        if self._username:
            await client.login(self._username, self._password or "")
        return client

    async def send(self, message: EmailMessage) -> Accepted:
        """Send one message on the shared connection (reconnecting once if the server had
        dropped it); returns the server's reply and the recipients it refused while taking
        the message for the others. Raises PermanentSmtpError when every recipient got a 5xx
        reply; anything else (connection refused, timeout, 4xx) is transient."""
        async with self._lock:
            for attempt in (1, 2):
                if self._client is None or not self._client.is_connected:
                    self._client = None
                    self._client = await self._connect()
                try:
                    refused, reply = await self._client.send_message(message)
                    SMTP_TRANSACTIONS.labels("accepted").inc()
                    return Accepted(
                        reply, {addr: f"{r.code} {r.message}" for addr, r in refused.items()}
                    )
                except aiosmtplib.SMTPRecipientsRefused as exc:
                    SMTP_TRANSACTIONS.labels("refused").inc()
                    if all(500 <= r.code < 600 for r in exc.recipients):
                        raise PermanentSmtpError(
                            "; ".join(
                                f"{r.code} {r.message} ({r.recipient})" for r in exc.recipients
                            )
                        ) from exc
                    raise
                except aiosmtplib.SMTPServerDisconnected:
                    SMTP_TRANSACTIONS.labels("error").inc()
                    self._drop()
                    if attempt == 2:
                        raise
                except aiosmtplib.SMTPResponseException as exc:
                    SMTP_TRANSACTIONS.labels("refused").inc()
                    await self._reset()
                    if 500 <= exc.code < 600:
                        raise PermanentSmtpError(f"{exc.code} {exc.message}") from exc
                    raise
                except BaseException:
                    SMTP_TRANSACTIONS.labels("error").inc()
                    self._drop()  # timeout or I/O error: the connection state is unknown
                    raise
            raise AssertionError("unreachable")

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    async def _reset(self) -> None:
        """After a refused transaction, RSET so the connection can be reused."""
        if self._client is None:
            return
        try:
            await self._client.rset()
        except (aiosmtplib.SMTPException, OSError):
            self._drop()

    async def close(self) -> None:
        async with self._lock:
            if self._client is not None and self._client.is_connected:
                try:
                    await self._client.quit()
                except aiosmtplib.SMTPException:
                    self._client.close()
            self._client = None
