"""The main job: replay Thailand's 2022 smart-city certification round through the whole stack.

1. Baseline: the areas certified before 2022 (subcommittee meetings 1/2564 and 2/2564) go through
   the same events a real history would have: submitted, screened, approved, acknowledged,
   endorsed, certified (logos handed over on 24 December 2021).
2. The 2022 round, as the agencies played it: the 15 applicants submit; depa screens them and
   sends one back for revision (an illustrative step: the public record has no revision), which
   is resubmitted and screened; the DES subcommittee approves all 15 at meeting 1/2565
   (6 August 2022); the steering committee acknowledges (meeting 1/2565, 9 November 2022); the
   Cabinet endorses (date and letter number illustrative); the logos are awarded (9 January
   2023).
3. It prints the registry, computed from the approvals service: areas by province, the totals,
   the 1/2565 batch, and the emails delivered and to whom.

Data: contracts/reference/certified_areas.csv (public facts) and scenarios/data/applicants.csv
(which agency applied for each area; illustrative where the public sources do not say). Every
date and number below says where it comes from; what no public source gives is marked
illustrative here, in the texts the demo sends, and in docs/process.md. Decisions carry their
historical dates (the meeting's, the resolution's, the award's), which the timelines show.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from smartcity_th.contracts.approvals import MeetingRecorded
from smartcity_th.contracts.common import BilingualText, Stage
from smartcity_th.contracts.reference import CertifiedArea, certified_areas, province
from smartcity_th.contracts.workflow import ORDER, STAGE_NAMES
from smartcity_th.scenarios.client import StackClient, wait_for

ROUND = "1/2565"
SECRETARIATS = ("des-subcommittee", "steering-committee", "cabinet-secretariat")
"""The committees' secretariats, which record meetings as signed claims."""
REVISED_AREA = "Pattani Smart City"  # the one depa sends back, to show that path (illustrative)
ILLUSTRATIVE = BilingualText(
    th="ขั้นตอนสมมติเพื่อการสาธิต ไม่มีในบันทึกสาธารณะ",
    en="Illustrative step for the demo, not in the public record",
)
DIMENSIONS = ("environment", "economy", "mobility", "energy", "people", "living", "governance")
CHAIRS = {
    "subcommittee": {
        "th": "รัฐมนตรีว่าการกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม",
        "en": "Minister of Digital Economy and Society",
    },
    # A Deputy Prime Minister chairs the steering committee (docs/process.md).
    "steering_committee": {"th": "รองนายกรัฐมนตรี", "en": "Deputy Prime Minister"},
    "cabinet": {"th": "นายกรัฐมนตรี", "en": "Prime Minister"},
}


@dataclass(frozen=True)
class Batch:
    """One subcommittee batch and the later steps of its path (dates: see `source`)."""

    meeting_id: str
    subcommittee_on: dt.date
    steering_id: str
    steering_on: dt.date
    cabinet_meeting: str
    cabinet_number: str
    cabinet_on: dt.date
    certified_from: dt.date
    source: str
    received_on: dt.date
    """When depa received the batch's proposals (illustrative: not in the public record)."""
    screened_on: dt.date
    """When depa screened them (illustrative)."""
    date_notes: tuple[tuple[str, dict[str, str]], ...] = ()
    """(body, note) for each meeting whose date is not from a public source: shown beside the
    date in every letter and page."""


# Sources (docs/process.md lists them): subcommittee 1/2565 on 6 August 2022 (ryt9.com
# 3344873); steering committee 1/2565 on 9 November 2022 (reference notes); the 2021 logo group
# acknowledged by the steering committee on 7 November 2021 (National News Bureau of Thailand);
# logos handed over on 24 December 2021 and 9 January 2023 (issue 15; not confirmed against a
# source found here). Illustrative: the dates of subcommittee meetings 1/2564 and 2/2564, the
# 2021 steering meeting's number, every Cabinet meeting number, date and Secretariat letter.
ILLUSTRATIVE_DATE = {"th": "วันที่ตัวอย่าง", "en": "illustrative date"}
REPORTED_DATE = {"th": "วันที่ตามที่มีรายงานข่าว", "en": "date as reported in the news"}
CABINET_LETTER_2564 = "นร 0505/ว 530 (ตัวอย่าง / illustrative)"
CABINET_LETTER_2565 = "นร 0505/ว 610 (ตัวอย่าง / illustrative)"
BATCHES = {
    "1/2564": Batch(
        "1/2564",
        dt.date(2021, 3, 25),  # illustrative
        "1/2564",  # meeting number illustrative; date: National News Bureau
        dt.date(2021, 11, 7),
        "45/2564",  # illustrative
        CABINET_LETTER_2564,
        dt.date(2021, 12, 7),  # illustrative
        dt.date(2021, 12, 24),
        "logos 24 Dec 2021, steering committee 7 Nov 2021; other 2021 dates illustrative",
        dt.date(2021, 1, 15),  # illustrative
        dt.date(2021, 3, 1),  # illustrative
        (
            ("subcommittee", ILLUSTRATIVE_DATE),
            ("steering_committee", REPORTED_DATE),
            ("cabinet", ILLUSTRATIVE_DATE),
        ),
    ),
    "2/2564": Batch(
        "2/2564",
        dt.date(2021, 9, 9),  # illustrative
        "1/2564",
        dt.date(2021, 11, 7),
        "45/2564",
        CABINET_LETTER_2564,
        dt.date(2021, 12, 7),
        dt.date(2021, 12, 24),
        "logos 24 Dec 2021, steering committee 7 Nov 2021; other 2021 dates illustrative",
        dt.date(2021, 6, 15),  # illustrative
        dt.date(2021, 8, 16),  # illustrative
        (
            ("subcommittee", ILLUSTRATIVE_DATE),
            ("steering_committee", REPORTED_DATE),
            ("cabinet", ILLUSTRATIVE_DATE),
        ),
    ),
    ROUND: Batch(
        ROUND,
        dt.date(2022, 8, 6),
        "1/2565",
        dt.date(2022, 11, 9),
        "50/2565",  # illustrative
        CABINET_LETTER_2565,
        dt.date(2022, 12, 20),  # illustrative
        dt.date(2023, 1, 9),
        "subcommittee 6 Aug 2022, steering committee 9 Nov 2022, logos 9 Jan 2023; "
        "Cabinet date and letter illustrative",
        dt.date(2022, 5, 16),  # illustrative
        dt.date(2022, 7, 15),  # illustrative
        # The public source of meeting 1/2565 is a news item of Saturday 6 August 2022; it gives
        # no meeting date.
        (("subcommittee", ILLUSTRATIVE_DATE), ("cabinet", ILLUSTRATIVE_DATE)),
    ),
}

RESOLUTIONS: dict[str, tuple[str, str]] = {
    "SubcommitteeApproved": (
        'ที่ประชุมมีมติเห็นชอบข้อเสนอ "{th}"',
        'The meeting approved "{en}".',
    ),
    "SteeringCommitteeAcknowledged": (
        'ที่ประชุมรับทราบผลการพิจารณาของคณะอนุกรรมการฯ เรื่อง "{th}"',
        'The committee acknowledged the subcommittee\'s approval of "{en}".',
    ),
    "CabinetEndorsed": (
        'คณะรัฐมนตรีรับทราบและเห็นชอบ "{th}" (ข้อความตัวอย่าง)',
        'The Cabinet noted and endorsed "{en}" (illustrative wording).',
    ),
}
"""Resolution wording per decision, in Thai and in English (schema version 2 carries the two
apart). The wording is the demo's; the decisions and their dates are as sourced above."""


@dataclass(frozen=True)
class Area:
    index: int
    batch: str
    name_th: str
    name_en: str
    province_code: str
    applicant: str
    note: str


def load_areas() -> list[Area]:
    text = files("scenarios").joinpath("data/applicants.csv").read_text(encoding="utf-8")
    applicants = list(csv.DictReader(text.splitlines()))
    facts: list[CertifiedArea] = list(certified_areas())
    if len(applicants) != len(facts):
        raise RuntimeError("scenarios/data/applicants.csv does not match the certified areas")
    areas = []
    for i, (fact, row) in enumerate(zip(facts, applicants, strict=True)):
        if fact.province is not None:
            code = fact.province.code
        else:  # the unnamed 2021 area: its province is already counted (see the data README)
            code = province(row["province_code"]).code
        name_th = fact.area_th or "พื้นที่ที่ 15 ของกลุ่มปี 2564 (ไม่ปรากฏชื่อในแหล่งข้อมูลสาธารณะ)"
        name_en = fact.area_en or "15th area of the 2021 group (name not in public sources)"
        areas.append(
            Area(
                i + 1, fact.meeting_id or "", name_th, name_en, code, row["agency_id"], row["note"]
            )
        )
    return areas


REVISION_REQUESTED_ON = dt.date(2022, 6, 15)  # illustrative, as the revision itself
RESUBMITTED_ON = dt.date(2022, 6, 30)  # illustrative


def draft(area: Area, *, revised: bool = False) -> dict[str, Any]:
    dims = [DIMENSIONS[(area.index + k) % 7] for k in range(1 + area.index % 3)]
    extra = (
        " (ฉบับแก้ไข: เพิ่มแผนการลงทุนรายปี / revised: yearly investment plan added)" if revised else ""
    )
    return {
        "province": area.province_code,
        "area_name": {"th": area.name_th, "en": area.name_en},
        "dimensions": dims,
        "plan": {
            "area_boundary_and_goals": f"ขอบเขตพื้นที่และเป้าหมายของ{area.name_th} / "
            f"Area boundary and goals of {area.name_en}",
            "infrastructure_plan": f"แผนการลงทุนโครงสร้างพื้นฐาน / Infrastructure investment "
            f"plan{extra}",
            "city_data_platform": "แพลตฟอร์มข้อมูลเมืองแบบเปิดและปลอดภัย / Open, secure city "
            "data platform",
            "smart_solutions": "บริการเมืองอัจฉริยะตามมิติที่เลือก / Smart services in the "
            f"chosen dimensions: {', '.join(dims)}",
            "management_model": "รูปแบบการบริหารจัดการที่ยั่งยืน / Sustainable management model",
        },
        "has_city_data_platform": True,
        "budget_baht": str(50_000_000 + 5_000_000 * area.index),
        "expected_value_baht": str(200_000_000 + 20_000_000 * area.index),
        "contact_emails": [f"smartcity-{area.applicant}@example.go.th"],
        # Entered now, received then: letters about it are dated the day it was received.
        "received_on": (RESUBMITTED_ON if revised else BATCHES[area.batch].received_on).isoformat(),
        **(
            {
                "changes": {
                    "th": f"เพิ่มแผนการลงทุนรายปี ({ILLUSTRATIVE.th})",
                    "en": f"Added the yearly investment plan ({ILLUSTRATIVE.en.lower()})",
                }
            }
            if revised
            else {}
        ),
    }


class Round:
    def __init__(self, client: StackClient, progress: Progress) -> None:
        self.c = client
        self.progress = progress
        self.ids: dict[int, str] = {}
        self.sem = asyncio.Semaphore(8)

    async def ok(
        self, service: str, method: str, path: str, agency: str, **kwargs: Any
    ) -> dict[str, Any]:
        async with self.sem:
            resp = await self.c.call(service, method, path, agency, **kwargs)
        if resp.status_code not in (200, 201):
            raise RuntimeError(
                f"{agency}: {method} {path} -> {resp.status_code}: {resp.text[:400]}"
            )
        body: dict[str, Any] = resp.json()
        return body

    async def submit(self, area: Area, task: TaskID) -> None:
        body = await self.ok(
            "proposals",
            "POST",
            "/proposals",
            area.applicant,
            json=draft(area),
            headers={"Idempotency-Key": f"demo-area-{area.index}"},
        )
        self.ids[area.index] = body["proposal_id"]
        self.progress.advance(task)

    async def decide(
        self, area: Area, agency: str, decision: dict[str, Any], key: str, task: TaskID
    ) -> None:
        await self.ok(
            "approvals",
            "POST",
            f"/cases/{self.ids[area.index]}/decisions",
            agency,
            json=decision,
            headers={"Idempotency-Key": key},
        )
        self.progress.advance(task)

    async def meeting(
        self,
        body: str,
        agency: str,
        meeting_id: str,
        held_on: dt.date,
        decision: str,
        areas: list[Area],
        task: TaskID,
        resolution_number: str | None = None,
        date_note: dict[str, str] | None = None,
    ) -> None:
        payload: dict[str, Any] = {
            "body": body,
            "meeting": {
                "meeting_id": meeting_id,
                "held_on": held_on.isoformat(),
                "chair": CHAIRS[body],
                **({"date_note": date_note} if date_note else {}),
            },
            "decisions": [
                {
                    "proposal_id": self.ids[a.index],
                    "decision": decision,
                    "resolution": {
                        "th": RESOLUTIONS[decision][0].format(th=a.name_th),
                        "en": RESOLUTIONS[decision][1].format(en=a.name_en),
                    },
                }
                for a in areas
            ],
        }
        if resolution_number:
            payload["resolution_number"] = resolution_number
        # The committee's secretariat records the meeting as a signed claim on the intake
        # topic, through the integrator kit (the other steps use the HTTP API).
        claim = MeetingRecorded.model_validate(payload)
        await self.c.claim(agency, claim, self.ids[areas[0].index])
        self.progress.advance(task, len(areas))

    async def stages(self) -> dict[str, str]:
        resp = await self.c.call("approvals", "GET", "/cases", "depa", params={"limit": 1000})
        resp.raise_for_status()
        return {case["proposal_id"]: case["stage"] for case in resp.json()}

    async def wait_stage(self, areas: list[Area], stage: str) -> None:
        """Until every area is at `stage` or further along the main path (so that a second
        run, or a run after an interruption, carries on from where the cases are)."""
        target = ORDER.index(Stage(stage))
        wanted = [self.ids[a.index] for a in areas]

        async def reached() -> bool:
            now = await self.stages()
            return all(
                pid in now and Stage(now[pid]) in ORDER and ORDER.index(Stage(now[pid])) >= target
                for pid in wanted
            )

        await wait_for(reached, f"{len(wanted)} proposals to reach {stage}", timeout=300)

    async def path(
        self, areas: list[Area], batch: Batch, tasks: dict[str, TaskID], revise: Area | None = None
    ) -> None:
        """Everything after submission, for one batch of areas."""
        await self.wait_stage(areas, "submitted")
        screened = [a for a in areas if a is not revise]
        await asyncio.gather(
            *(
                self.decide(
                    a,
                    "depa",
                    {
                        "event_type": "ProposalScreened",
                        "screened_by": "depa",
                        "effective_on": batch.screened_on.isoformat(),
                    },
                    f"demo-screen-{a.index}",
                    tasks["screened"],
                )
                for a in screened
            )
        )
        if revise is not None:
            await self.revision(revise, tasks)
        await self.wait_stage(areas, "screened")
        steps = (  # (body, agency, meeting, held on, decision, progress task, stage reached)
            (
                "subcommittee",
                "des-subcommittee",
                batch.meeting_id,
                batch.subcommittee_on,
                "SubcommitteeApproved",
                "approved",
                "subcommittee_approved",
            ),
            (
                "steering_committee",
                "steering-committee",
                batch.steering_id,
                batch.steering_on,
                "SteeringCommitteeAcknowledged",
                "acknowledged",
                "steering_acknowledged",
            ),
            (
                "cabinet",
                "cabinet-secretariat",
                batch.cabinet_meeting,
                batch.cabinet_on,
                "CabinetEndorsed",
                "endorsed",
                "cabinet_endorsed",
            ),
        )
        for body, agency, meeting_id, held_on, decision, task, reached in steps:
            number = batch.cabinet_number if body == "cabinet" else None
            await self.meeting(
                body,
                agency,
                meeting_id,
                held_on,
                decision,
                areas,
                tasks[task],
                resolution_number=number,
                date_note=dict(batch.date_notes).get(body),
            )
            await self.wait_stage(areas, reached)
        await asyncio.gather(
            *(
                self.decide(
                    a,
                    "depa",
                    {
                        "event_type": "CertificationAwarded",
                        "valid_from": batch.certified_from.isoformat(),
                    },
                    f"demo-award-{a.index}",
                    tasks["certified"],
                )
                for a in areas
            )
        )
        await self.wait_stage(areas, "certified")

    async def revision(self, area: Area, tasks: dict[str, TaskID]) -> None:
        """depa sends one proposal back; the applicant resubmits; depa screens it."""
        pid = self.ids[area.index]
        await self.ok(
            "approvals",
            "POST",
            f"/cases/{pid}/decisions",
            "depa",
            json={
                "event_type": "RevisionRequested",
                "requested_by": "depa",
                "reasons": {
                    "th": f"({ILLUSTRATIVE.th}) ขอให้เพิ่มแผนการลงทุนรายปีและตัวชี้วัด",
                    "en": f"({ILLUSTRATIVE.en}) Please add the yearly investment plan and "
                    "indicators.",
                },
                "effective_on": REVISION_REQUESTED_ON.isoformat(),
            },
            headers={"Idempotency-Key": f"demo-revision-{area.index}"},
        )

        async def awaiting() -> bool:
            doc = await self.ok("proposals", "GET", f"/proposals/{pid}", area.applicant)
            return doc.get("status") == "revision_requested" or int(doc["revision"]) >= 2

        await wait_for(awaiting, f"{pid} to await its revision")
        await self.ok(
            "proposals",
            "POST",
            f"/proposals/{pid}/revisions",
            area.applicant,
            json=draft(area, revised=True),
            headers={"Idempotency-Key": f"demo-resubmit-{area.index}"},
        )

        async def resubmitted() -> bool:
            return (await self.stages()).get(pid) not in (None, "revision_requested")

        await wait_for(resubmitted, f"{pid} to be resubmitted")
        await self.decide(
            area,
            "depa",
            {
                "event_type": "ProposalScreened",
                "screened_by": "depa",
                "notes": {
                    "th": f"ผ่านหลังแก้ไข ({ILLUSTRATIVE.th})",
                    "en": f"Passed after revision ({ILLUSTRATIVE.en.lower()})",
                },
                "effective_on": BATCHES[area.batch].screened_on.isoformat(),
            },
            f"demo-screen-{area.index}",
            tasks["screened"],
        )


async def already_played(client: StackClient) -> bool:
    resp = await client.http.get(client.url("approvals") + "/registry", params={"meeting": ROUND})
    return resp.status_code == 200 and len(resp.json()) > 0


async def play(client: StackClient, console: Console) -> list[str]:
    areas = load_areas()
    baseline = [a for a in areas if a.batch != ROUND]
    this_round = [a for a in areas if a.batch == ROUND]
    revise = next(a for a in this_round if a.name_en == REVISED_AREA)
    await client.prepare(
        [*sorted({a.applicant for a in areas}), "depa", *SECRETARIATS], SECRETARIATS
    )
    columns = (TextColumn("{task.description:<44}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console) as progress:
        tasks = {
            task: progress.add_task(
                f"{STAGE_NAMES[stage].th} / {STAGE_NAMES[stage].en}", total=len(areas)
            )
            for task, stage in (
                ("submitted", Stage.SUBMITTED),
                ("screened", Stage.SCREENED),
                ("approved", Stage.SUBCOMMITTEE_APPROVED),
                ("acknowledged", Stage.STEERING_ACKNOWLEDGED),
                ("endorsed", Stage.CABINET_ENDORSED),
                ("certified", Stage.CERTIFIED),
            )
        }
        game = Round(client, progress)
        await asyncio.gather(*(game.submit(a, tasks["submitted"]) for a in areas))
        by_batch: dict[str, list[Area]] = defaultdict(list)
        for a in baseline:
            by_batch[a.batch].append(a)
        # The 2021 history first (both 2021 batches went on together), then the 2022 round.
        await asyncio.gather(
            *(game.path(group, BATCHES[b], tasks) for b, group in by_batch.items())
        )
        await game.path(this_round, BATCHES[ROUND], tasks, revise=revise)
    return [game.ids[a.index] for a in areas]


def _party(recipient_id: str) -> str:
    if recipient_id.startswith("governor-"):
        return "provincial governors"
    if recipient_id.startswith(("lg-", "pd-", "pao-")):
        return "applicant agencies"
    return recipient_id.split(":")[0]


def _party_of_name(name_th: str) -> str:
    if name_th.startswith("ผู้ว่าราชการ"):
        return "provincial governors"
    if name_th.startswith("ฝ่ายเลขานุการ"):
        return "committee secretariats"
    return "others"


async def round_ids(client: StackClient) -> list[str]:
    """The proposals of the round played live (the one the letters are about)."""
    resp = await client.http.get(client.url("approvals") + "/registry", params={"meeting": ROUND})
    resp.raise_for_status()
    return [e["proposal_id"] for e in resp.json()]


async def wait_for_emails(client: StackClient, pids: list[str], console: Console) -> dict[str, Any]:
    """Until the notifications service has heard of the latest fact of every case and has
    nothing left to send about these proposals. (No email queued is not enough: on a busy
    machine notifications can be behind, with facts it has not read yet.)"""

    async def settled() -> dict[str, Any] | None:
        sent: list[dict[str, Any]] = []
        for pid in pids:
            case = await client.call("approvals", "GET", f"/cases/{pid}", "depa")
            case.raise_for_status()
            applied = [h for h in case.json()["history"] if h.get("refused") is None]
            resp = await client.call(
                "notifications",
                "GET",
                "/deliveries",
                "depa",
                params={"proposal_id": pid, "limit": 1000},
            )
            resp.raise_for_status()
            rows = resp.json()
            told = {r.get("event_id") for r in rows}
            if applied and applied[-1]["event_id"] not in told:
                return None
            if any(r["status"] == "queued" for r in rows):
                return None
            sent += [r for r in rows if r["status"] == "sent"]
        return {"sent": sent, "told": pids}

    with console.status("รอส่งอีเมลให้ครบ / waiting for the emails to be delivered…"):
        return await wait_for(settled, "the emails to be delivered", timeout=600)


async def deadline_scan(client: StackClient) -> dict[str, Any]:
    """Run the delivery-deadline scan as of today, as the service does every hour: the 2021 and
    2022 deadlines passed before this system knew of them (history), so none is reminded."""
    resp = await client.call("approvals", "POST", "/admin/deadline-scan", "depa")
    resp.raise_for_status()
    body: dict[str, Any] = resp.json()
    return body


async def report(
    client: StackClient,
    console: Console,
    pids: list[str],
    emails: dict[str, Any],
    scan: dict[str, Any],
) -> None:
    registry = (await client.http.get(client.url("approvals") + "/registry")).json()
    summary = (await client.http.get(client.url("approvals") + "/registry/summary")).json()
    batch = (
        await client.http.get(client.url("approvals") + "/registry", params={"meeting": ROUND})
    ).json()
    by_province: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in registry:
        by_province[entry["province_code"]].append(entry)
    table = Table(
        "จังหวัด / province",
        "พื้นที่ / areas",
        "ชื่อพื้นที่ / area names",
        title="ทะเบียนเมืองอัจฉริยะ / Certified smart-city areas",
        show_lines=False,
    )
    for code in sorted(by_province, key=lambda c: (-len(by_province[c]), province(c).name_en)):
        p = province(code)
        names = "; ".join(e["area_name"]["th"] for e in by_province[code])
        table.add_row(f"{p.name_th} ({p.name_en})", str(len(by_province[code])), names)
    console.print(table)
    batch_provinces = {e["province_code"] for e in batch}
    console.print(
        f"[bold]{summary['areas']} certified areas in {summary['provinces']} "
        f"provinces[/] (เมืองอัจฉริยะที่ได้รับการรับรอง {summary['areas']} พื้นที่ "
        f"ใน {summary['provinces']} จังหวัด)"
    )
    console.print(
        f"[bold]{len(batch)} areas in {len(batch_provinces)} provinces approved at "
        f"meeting {ROUND}[/] (อนุมัติในการประชุมครั้งที่ {ROUND} จำนวน {len(batch)} "
        f"พื้นที่ ใน {len(batch_provinces)} จังหวัด)"
    )
    statuses = ", ".join(f"{n} {status}" for status, n in summary.get("by_status", {}).items())
    console.print(
        f"Certificate status as of {summary.get('as_of')} (สถานะใบรับรอง): {statuses}; "
        f"deadline scan as of {scan['as_of']} (go-live {scan.get('go_live') or 'not set'}): "
        f"{scan['emitted']} reminders (deadlines that passed before this system knew them "
        "are history: no reminders / กำหนดส่งมอบที่ผ่านไปก่อนระบบรับรู้ไม่มีการแจ้งเตือน)"
    )
    sent = emails["sent"]
    letters = [r for r in sent if not r.get("copy_of")]
    kinds = Counter(str(r.get("event_type")) for r in letters)
    parties: Counter[str] = Counter()
    for r in sent:
        parties[f"to {_party(str(r.get('recipient_id', '?')))}"] += 1
        for copy in r.get("cc") or []:
            parties[
                "cc the applicants' contact addresses"
                if not copy.get("name")
                else f"cc {_party_of_name(str(copy['name']))}"
            ] += 1
    console.print(
        f"[bold]{len(sent)} emails delivered[/] (Thai first, English below): "
        f"{len(letters)} letters about the {len(emails['told'])} proposals of meeting {ROUND} "
        "(the 2021 round is history: recorded and shown, no letters)"
    )
    for kind, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])):
        console.print(f"  {n:>5}  {kind}")
    console.print("  by recipient (To, Cc):")
    for party, n in parties.most_common():
        console.print(f"  {n:>5}  {party}")
    example = pids[-1]
    console.print("\nWhere to look next:", soft_wrap=True)
    console.print(
        f"  operator console   {client.url('console')}  (live event log, timelines, "
        "registry, dead letters)",
        soft_wrap=True,
    )
    console.print(
        "  one proposal       "
        "export CONSOLE_API_KEY=$(.venv/bin/smartcity-admin api-key issue depa)",
        soft_wrap=True,
    )
    console.print(f"                     .venv/bin/smartcity timeline {example}", soft_wrap=True)
    console.print(f"  the emails         {client.mailpit_url}  (Mailpit)", soft_wrap=True)
    console.print(
        "  registry API       " + client.url("approvals") + "/registry/summary", soft_wrap=True
    )
    console.print(
        "  stop everything    make down   ·   play again from scratch: make demo DEMO_ARGS=--reset",
        soft_wrap=True,  # commands to copy: never wrapped, also in a log or a narrow terminal
    )


async def run(console: Console, *, reset: bool = False) -> None:
    client = StackClient()
    try:
        console.rule("[bold]Smart City Thailand: the 2022 certification round")
        if reset:
            await client.reset(console)
        if await already_played(client):
            console.print(
                f"[yellow]The {ROUND} round has already been played on this stack; "
                "nothing was created again, and the emails counted below are those "
                "delivered when it was played (Mailpit may no longer hold them).[/] "
                "(Use --reset to play it again from scratch.)"
            )
            pids = await client.all_proposal_ids()
        else:
            pids = await play(client, console)
        scan = await deadline_scan(client)
        # The 2021 round is history (before the go-live): recorded, shown, never lettered.
        live = await round_ids(client) if scan.get("go_live") else pids
        emails = await wait_for_emails(client, live, console)
        await report(client, console, pids, emails, scan)
    finally:
        await client.close()
