"""Wires the notifications service: one place where every dependency is built."""

from __future__ import annotations

from fastapi import FastAPI

from smartcity_th.services.common.auth import ApiKeys
from smartcity_th.services.common.runtime import Runtime
from smartcity_th.services.notifications.adapters.bodies import MessageBodies
from smartcity_th.services.notifications.adapters.delivery_log import MongoDeliveryLog
from smartcity_th.services.notifications.adapters.directory import RecipientsDirectory
from smartcity_th.services.notifications.adapters.register import LetterRegister
from smartcity_th.services.notifications.adapters.secret import load_or_create_secret
from smartcity_th.services.notifications.adapters.smtp import SmtpMailer
from smartcity_th.services.notifications.adapters.view import ProposalsView
from smartcity_th.services.notifications.config import NotificationsSettings
from smartcity_th.services.notifications.digest import DigestScheduler
from smartcity_th.services.notifications.domain import MailSettings
from smartcity_th.services.notifications.entrypoints import http, kafka, status
from smartcity_th.services.notifications.handlers import NotificationHandlers
from smartcity_th.services.notifications.links import StatusLinks
from smartcity_th.services.notifications.pdf import shared_renderer
from smartcity_th.services.notifications.ports import LEASE_SECONDS
from smartcity_th.services.notifications.sender import Sender

NAME = "notifications"


def mail_settings(settings: NotificationsSettings) -> MailSettings:
    """How the emails are written and retried (the status links' secret is loaded at start
    when it is not set)."""
    secret = settings.status_link_secret
    links = StatusLinks(
        settings.status_base_url,
        settings.status_link_days * 86400,
        secret.get_secret_value() if secret else None,
    )
    return MailSettings(
        from_name=settings.mail_from_name,
        from_email=settings.mail_from_address,
        message_id_domain=settings.message_id_domain,
        links=links,
        max_attempts=settings.send_max_attempts,
        base_delay=settings.send_base_delay_seconds,
        max_delay=settings.send_max_delay_seconds,
        office=settings.office,
        go_live=settings.go_live,
        certificate_url=settings.certificate_url,
        pdf=settings.letter_pdf,
    )


def build(settings: NotificationsSettings) -> tuple[Runtime, FastAPI]:
    letters = shared_renderer()  # WeasyPrint is loaded by the first letter it typesets
    if settings.letter_pdf:
        letters.require_font()  # every email carries its letter as a PDF in this font
    rt = Runtime(NAME, settings, settings.mongo_db)
    mail = mail_settings(settings)
    links = mail.links
    view, directory, deliveries, bodies = (
        ProposalsView(rt.store("proposals")),
        RecipientsDirectory(rt.db),
        MongoDeliveryLog(rt.store("deliveries")),
        MessageBodies(rt.db),
    )
    mailer = SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        timeout=settings.smtp_timeout_seconds,
    )
    register = LetterRegister(rt.db)
    sender = Sender(deliveries, bodies, mailer, letters, rt.dead_letters, mail)
    handlers = NotificationHandlers(
        view,
        directory,
        deliveries,
        bodies,
        mail,
        register,
        on_queued=sender.wake,
        lease_seconds=LEASE_SECONDS,
    )

    async def seed_directory() -> None:
        await directory.seed()

    async def load_link_secret() -> None:
        if not links.secret:
            links.secret = await load_or_create_secret(rt.db, "status-links")

    rt.on_start += [
        deliveries.ensure_indexes,
        register.ensure_indexes,
        seed_directory,
        load_link_secret,
    ]
    digests = DigestScheduler(deliveries, bodies, mail, register, settings.digest_hour)
    rt.background += [lambda: sender.run(settings.sender_poll_seconds), digests.run]
    rt.on_stop.append(mailer.close)
    kafka.register(
        rt.broker, rt.topics, settings.consumer_group, rt.consumer(NAME), handlers.on_event
    )
    app = rt.app(
        "Smart City Thailand: notifications",
        [
            http.build_router(
                deliveries, ApiKeys(rt.db, rt.registry), directory, digests, handlers
            ),
            status.build_router(view, links, settings.office),
        ],
        description="Thai and English emails about the workflow; the delivery log; "
        "the recipients directory.",
    )
    return rt, app
