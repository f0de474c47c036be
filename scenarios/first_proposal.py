"""One local government submits its plan; watch it reach depa's case list and two mailboxes."""

from __future__ import annotations

import uuid
from typing import Any

from rich.console import Console
from rich.table import Table

from scenarios.client import StackClient, wait_for

DRAFT: dict[str, Any] = {
    "province": "ภูเก็ต",
    "area_name": {"th": "ภูเก็ตเมืองอัจฉริยะ", "en": "Phuket Smart City"},
    "dimensions": ["economy", "environment", "living", "governance"],
    "plan": {
        "area_boundary_and_goals": "เขตเทศบาลนครภูเก็ต / Phuket City Municipality, 12 km2: "
                                   "a liveable, safe and tourism-ready old town",
        "infrastructure_plan": "Fibre backbone, public Wi-Fi, CCTV and environmental sensors",
        "city_data_platform": "Phuket City Data Platform: open data catalogue and API gateway",
        "smart_solutions": "Smart tourism, flood early warning, smart parking, e-services",
        "management_model": "Phuket City Development Company as the area operator",
    },
    "has_city_data_platform": True,
    "budget_baht": "125000000",
    "expected_value_baht": "480000000",
    "contact_emails": ["smartcity@phuketcity.example.go.th"],
}


async def run(console: Console) -> None:
    client = StackClient()
    try:
        console.rule("[bold]Smart City Thailand: one proposal through the stack")
        resp = await client.call("proposals", "POST", "/proposals", "lg-phuket-city",
                                 json=DRAFT, headers={"Idempotency-Key": str(uuid.uuid4())})
        if resp.status_code not in (200, 201):
            raise RuntimeError(f"submission refused: {resp.status_code} {resp.text}")
        proposal = resp.json()
        pid = proposal["proposal_id"]
        console.print(f"1. เทศบาลนครภูเก็ต (lg-phuket-city) submitted [bold]{pid}[/]: "
                      f"{DRAFT['area_name']['th']} / {DRAFT['area_name']['en']}, "
                      f"province {proposal['content']['province']['name_th']} "
                      f"({proposal['content']['province']['code']})")

        async def case() -> dict[str, Any] | None:
            r = await client.call("approvals", "GET", f"/cases/{pid}", "depa")
            return r.json() if r.status_code == 200 else None

        opened = await wait_for(case, "the approvals service to open the case")
        console.print(f"2. ProposalSubmitted published to Kafka; the approvals service opened "
                      f"the case at stage [bold]{opened['stage']}[/]")

        async def mails() -> list[dict[str, Any]] | None:
            found = await client.mails_about(pid)
            return found if len(found) >= 3 else None

        received = await wait_for(mails, "the acknowledgement emails")
        table = Table("to", "subject", title="3. Emails received by the mail server")
        for m in received:
            to = m["To"][0]
            table.add_row(f"{to['Name']} <{to['Address']}>", m["Subject"])
        console.print(table)
        console.print("Look next: mail catcher http://127.0.0.1:8025 · "
                      f"case {client.url('approvals')}/cases/{pid} (API key needed) · "
                      "logs in .local/logs/ · stop with `make down`")
    finally:
        await client.close()
