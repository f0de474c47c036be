"""The console's workflow views in headless Chromium, on a laptop and on a phone: the pipeline
(with an overdue revision), one proposal's stage diagram (meeting, date, emails under each
step) and the registry on the tile map. Each view is screenshotted and checked for its content:
into .local/screenshots/ (ignored by git), or into docs/screenshots/ with
SMARTCITY_UPDATE_SCREENSHOTS=1 (to refresh the documentation's pictures; a plain test run leaves
the working tree clean)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from smartcity_th.contracts.approvals import (
    CertificationAwarded,
    ProposalScreened,
    RevisionRequested,
    SubcommitteeApproved,
    ValidityPeriod,
)
from smartcity_th.contracts.common import BilingualText, Meeting
from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.topics import Topics
from tests.browser.test_console_browser import ARGS, CHROMIUM
from tests.e2e.test_walking_skeleton import DRAFT, submit
from tests.support import ROOT, ServiceProcess, kafka_producer, poll, record_headers

DOCS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("SMARTCITY_UPDATE_SCREENSHOTS") == "1"
    else ROOT / ".local" / "screenshots"
)
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium is absent: run infra/install-browser.sh"
    ),
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    DOCS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield b
        finally:
            await b.close()


async def new_page(
    browser: Any, viewport: dict[str, int], console: ServiceProcess, key: str
) -> Any:
    """A logged-in operator's page (every console page needs a login)."""
    context = await browser.new_context(
        locale="th-TH", viewport=viewport, is_mobile=viewport is PHONE
    )
    page = await context.new_page()
    page.set_default_timeout(45_000)
    await page.goto(f"{console.url}/login?next=/pipeline")
    await page.fill("input[name=api_key]", key)
    await page.click("#login button[type=submit]")
    await page.wait_for_url("**/pipeline")
    return page


async def publish(topic: str, *envelopes: AnyEnvelope) -> None:
    """As the approvals service would (its emitted-by stamp on the fact topic)."""
    async with kafka_producer() as producer:
        for env in envelopes:
            headers = record_headers(env, topic)
            await producer.send_and_wait(topic, env.to_bytes(), key=env.key, headers=headers)


def fact(payload: Any, pid: str) -> AnyEnvelope:
    return new_envelope(payload, producer="svc-approvals", proposal_id=pid)


async def shot(page: Any, name: str) -> Path:
    path = DOCS / name
    await page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


async def test_pipeline_stage_diagram_and_tile_map(
    browser: Any,
    services: dict[str, ServiceProcess],
    console: ServiceProcess,
    console_key: str,
    api_keys: dict[tuple[str, str], str],
    topics: Topics,
) -> None:
    approved = await submit(services, api_keys[("proposals", "lg-phuket-city")], DRAFT)
    revising = await submit(
        services,
        api_keys[("proposals", "lg-khon-kaen-city")],
        {
            **DRAFT,
            "province": "Khon Kaen",
            "area_name": {"th": "ขอนแก่นเมืองอัจฉริยะ", "en": "Khon Kaen Smart City"},
        },
    )
    assert approved.status_code == revising.status_code == 201
    pid, late = approved.json()["proposal_id"], revising.json()["proposal_id"]
    meeting = Meeting(
        meeting_id="1/2565",
        held_on=dt.date(2022, 8, 6),
        chair=BilingualText(th="ปลัดกระทรวงดิจิทัลฯ", en="Permanent Secretary, DES"),
    )
    await publish(
        topics.decisions,
        fact(ProposalScreened(screened_by="depa"), pid),
        fact(SubcommitteeApproved(meeting=meeting, resolution="อนุมัติ / approved"), pid),
        fact(
            RevisionRequested(
                requested_by="depa",
                reasons=BilingualText(th="ขอแผนข้อมูลเมืองเพิ่มเติม", en="More on the data platform"),
                respond_by=dt.date(2024, 1, 31),
            ),
            late,
        ),
        fact(
            CertificationAwarded(
                certificate_number="SCT-2565-0199",
                area_name=BilingualText(th="ภูเก็ตเมืองอัจฉริยะ", en="Phuket Smart City"),
                province_code="83",
                subcommittee_meeting_id="1/2565",
                validity=ValidityPeriod.starting(dt.date(2026, 1, 20)),
            ),
            f"{pid}-award",
        ),
    )

    page = await new_page(browser, LAPTOP, console, console_key)

    # Pipeline: the revision is overdue (its date has passed); counts per stage.
    async def pipeline_ready() -> bool:
        await page.goto(f"{console.url}/pipeline")
        lane = page.locator('#pipeline li[data-stage="revision_requested"]')
        return await lane.get_attribute("data-overdue") not in (None, "0")

    await poll(pipeline_ready, timeout=60, interval=1.0, what="the overdue revision")
    assert await page.get_attribute("html", "lang") == "th"
    assert (
        int(
            await page.get_attribute(
                '#pipeline li[data-stage="subcommittee_approved"]', "data-count"
            )
            or 0
        )
        >= 1
    )
    await shot(page, "console-pipeline.png")
    # Its row: among the stage's longest-waiting on /pipeline, else on one of its pages.
    overdue_row = page.locator(f'tr.overdue[data-proposal="{late}"]')
    number = 0
    while not await overdue_row.count():
        await page.goto(f"{console.url}/pipeline/revision_requested?page={number}")
        assert await page.locator("table.lane-table").count() == 1
        if not await overdue_row.count():
            assert await page.locator("#page-next").count(), "not on any page of its stage"
        number += 1
    assert "เกินกำหนด" in await overdue_row.inner_text()
    assert "ขอนแก่นเมืองอัจฉริยะ" in await overdue_row.inner_text()

    # One proposal's stages: the meeting and its date under the approval, emails under steps.
    async def diagram_ready() -> bool:
        await page.goto(f"{console.url}/proposals/{pid}")
        step = page.locator('#stage-diagram li[data-stage="submitted"] .step-emails li')
        count: int = await step.count()
        return count > 0

    await poll(diagram_ready, timeout=60, interval=1.0, what="emails under the submission step")
    current = page.locator('#stage-diagram li[data-state="current"]')
    assert await current.get_attribute("data-stage") == "subcommittee_approved"
    text = await current.inner_text()
    assert "1/2565" in text
    assert "2022-08-06" in text
    ahead = page.locator('#stage-diagram li[data-state="ahead"]')
    assert await ahead.count() == 3
    assert await page.locator("#timeline a.trace").count() >= 1  # each event links its trace
    await shot(page, "console-proposal-stages.png")

    # The submission's trace, drawn from Jaeger's query API: every service, down to SMTP.
    trace_href = await page.locator("#timeline a.trace").first.get_attribute("href")
    assert trace_href

    async def trace_ready() -> bool:
        await page.goto(f"{console.url}{trace_href}")
        smtp = page.locator('#waterfall tr[data-operation="smtp send"]')
        services_seen = await page.locator("#waterfall tr").evaluate_all(
            "rows => [...new Set(rows.map(r => r.dataset.service).filter(Boolean))]"
        )
        ready: bool = await smtp.count() > 0 and len(services_seen) >= 4
        return ready

    await poll(trace_ready, timeout=90, interval=2.0, what="the trace with every service")
    await shot(page, "console-trace.png")

    # Registry: the tile map beside the table; Phuket's tile is coloured.
    async def map_ready() -> bool:
        await page.goto(f"{console.url}/registry")
        areas = await page.get_attribute('#tile-map li[data-code="83"]', "data-areas")
        return int(str(areas or 0)) >= 1

    await poll(map_ready, timeout=60, interval=1.0, what="Phuket on the tile map")
    assert await page.locator("#tile-map li.tile").count() == 77
    tile = page.locator('#tile-map li[data-code="83"]')
    assert "level-0" not in (await tile.get_attribute("class") or "")
    map_box = await page.locator("#tile-map").bounding_box()
    table_box = await page.locator("#registry").bounding_box()
    assert map_box
    assert table_box
    assert map_box["x"] < table_box["x"]  # beside, on a laptop
    await shot(page, "console-registry-map.png")

    # On a phone: the same views stack and stay readable (no sideways scrolling of the page).
    phone = await new_page(browser, PHONE, console, console_key)
    for path, name in (
        ("/pipeline", "phone-pipeline.png"),
        (f"/proposals/{pid}", "phone-proposal-stages.png"),
        ("/registry", "phone-registry-map.png"),
    ):
        await phone.goto(f"{console.url}{path}")
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 2, f"{path} is {width}px wide on a phone"
        await shot(phone, name)
    map_box = await phone.locator("#tile-map").bounding_box()
    table_box = await phone.locator("#registry").bounding_box()
    assert map_box
    assert table_box
    assert map_box["y"] < table_box["y"]  # stacked, on a phone
