"""The web console in headless Chromium (Debian's package, driven by Playwright's Python API):
a proposal appears live, its timeline opens, an operator logs in and replays a dead letter.
Screenshots go to .local/screenshots/ (ignored by git)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from smartcity_th.contracts.topics import Topics
from tests.e2e.test_walking_skeleton import DRAFT, submit
from tests.support import ROOT, Namespace, ServiceProcess, kafka_client, poll

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / ".local" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium is absent: run infra/install-browser.sh"
    ),
]


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        context = await browser.new_context(locale="th-TH", viewport={"width": 1400, "height": 900})
        tab = await context.new_page()
        tab.set_default_timeout(45_000)
        try:
            yield tab
        finally:
            await browser.close()


async def test_live_log_timeline_and_replay_in_the_browser(
    page: Any,
    services: dict[str, ServiceProcess],
    console: ServiceProcess,
    console_key: str,
    api_keys: dict[tuple[str, str], str],
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    await page.goto(f"{console.url}/events")  # every page needs a login
    await page.wait_for_url("**/login?next=%2Fevents")
    await page.fill("input[name=api_key]", "sck_wrong")
    await page.click("#login button[type=submit]")
    assert "API key" in await page.inner_text("#login-error")
    await page.fill("input[name=api_key]", console_key)
    await page.click("#login button[type=submit]")
    await page.wait_for_url("**/events")
    assert "depa" in await page.inner_text("#who")
    assert await page.get_attribute("html", "lang") == "th"
    await page.wait_for_selector("#live-status[data-state=live]")
    assert await page.locator("script:not([src])").count() == 0  # no inline script
    served = await page.request.get(f"{console.url}/events")
    assert "script-src 'self'" in served.headers["content-security-policy"]

    body = {
        **DRAFT,
        "province": "Khon Kaen",
        "area_name": {"th": "ขอนแก่นเมืองอัจฉริยะ", "en": "Khon Kaen Smart City"},
    }
    resp = await submit(services, api_keys[("proposals", "lg-khon-kaen-city")], body)
    assert resp.status_code == 201, resp.text
    pid = resp.json()["proposal_id"]
    link = f'#event-rows a[href="/proposals/{pid}"]'
    await page.wait_for_selector(link)  # arrived over server-sent events, no reload
    # The ProposalSubmitted row itself (a NotificationSent row also says "about ProposalSubmitted"
    # and may arrive first).
    row = (
        page.locator("#event-rows tr.new")
        .filter(has_text=pid)
        .filter(has_text="ProposalSubmitted")
        .filter(has_not_text="NotificationSent")
    )
    await row.first.wait_for()
    assert "ขอนแก่นเมืองอัจฉริยะ" in await row.first.inner_text()
    await page.screenshot(path=str(SCREENSHOTS / "console-events.png"), full_page=True)

    await page.locator(link).first.click()
    await page.wait_for_url(f"**/proposals/{pid}")
    assert await page.inner_text("#proposal-id") == pid
    assert "ProposalSubmitted" in await page.inner_text("#timeline")
    await page.screenshot(path=str(SCREENSHOTS / "console-timeline.png"), full_page=True)

    poison_key = f"poison-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(**kafka_client())
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.intake, b'{"event_type": "NoSuchEvent"}', key=poison_key.encode()
        )
    finally:
        await producer.stop()
    audit = mongo[ns.db("console")]["audit"]
    letter = await poll(
        lambda: audit.find_one({"kind": "deadletter", "proposal_id": poison_key}),
        timeout=45,
        what="dead letter of the poison claim",
    )
    letter_id = letter["dead_letter_id"]

    await page.goto(f"{console.url}/deadletters")

    dialogs: list[str] = []

    async def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.accept()

    page.once("dialog", accept)
    await page.fill(f'tr[data-dead-letter-id="{letter_id}"] input[name=operator]', "สมชาย")
    await page.click(f'tr[data-dead-letter-id="{letter_id}"] form.replay button')
    await page.wait_for_selector("#replay-done")
    assert dialogs
    assert "Replay" in dialogs[0]
    replays_cell = page.locator(f'tr[data-dead-letter-id="{letter_id}"] td.replays')
    assert "depa" in await replays_cell.inner_text()
    replay = await mongo[ns.db("console")]["replays"].find_one({"dead_letter_id": letter_id})
    assert replay is not None
    assert replay["replayed_by"] == "depa (สมชาย)"
    await page.screenshot(path=str(SCREENSHOTS / "console-deadletters.png"), full_page=True)

    await page.goto(f"{console.url}/registry")
    assert "พื้นที่" in await page.inner_text("#registry-counts")
    await page.goto(f"{console.url}/deliveries")
    await page.wait_for_selector("#deliveries")
    await page.screenshot(path=str(SCREENSHOTS / "console-deliveries.png"), full_page=True)
