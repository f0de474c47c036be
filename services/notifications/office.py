"""The sending office of the letters: what its letterhead, register and signature say. Pure data.

One office sends every letter today (depa's Smart City Thailand Office, the workflow's
secretariat; `letters.LetterRule.office` names it). Its values are deployment settings
(`NOTIFICATIONS_OFFICE__<FIELD>`, e.g. `NOTIFICATIONS_OFFICE__REGISTER_PREFIX`). The defaults
are the demo's: depa's name and public address are real; the register prefix, the signatory
and the unit's telephone and mailbox are not known from a public source and are marked
illustrative in every letter while `illustrative` is true (docs/process.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from smartcity_th.contracts.common import BilingualText, Email

ILLUSTRATIVE_MARK = BilingualText(th="(ตัวอย่าง)", en="(illustrative)")


class Office(BaseModel):
    """One sending office (หน่วยงานเจ้าของหนังสือ) and the unit that owns its letters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field("depa", description="Which office of the letter table this is")
    name: BilingualText = Field(
        BilingualText(th="สำนักงานส่งเสริมเศรษฐกิจดิจิทัล", en="Digital Economy Promotion Agency (depa)"),
        description="The sending organisation, as on its letterhead",
    )
    address: BilingualText = Field(
        BilingualText(
            th="เลขที่ 80 ซอยลาดพร้าว 4 แขวงจอมพล เขตจตุจักร กรุงเทพมหานคร 10900",
            en="80 Soi Lat Phrao 4, Chom Phon, Chatuchak, Bangkok 10900",
        ),
        description="Its postal address, under its name",
    )
    register_prefix: str = Field(
        "สศด 04",
        min_length=1,
        max_length=40,
        description="The letter number's prefix (ที่ <prefix>/<number>), numbered per "
        "Buddhist-era year",
    )
    register_prefix_en: str = Field(
        "DEPA 04",
        min_length=1,
        max_length=40,
        description="The same prefix as the English letter writes it",
    )
    signatory: BilingualText = Field(
        BilingualText(th="นายสมชาย ใจดี", en="Mr Somchai Jaidee"),
        description="Who signs (written in parentheses under the signature)",
    )
    position: BilingualText = Field(
        BilingualText(
            th="ผู้อำนวยการสำนักงานเมืองอัจฉริยะประเทศไทย\n"
            "ปฏิบัติการแทนผู้อำนวยการใหญ่สำนักงานส่งเสริมเศรษฐกิจดิจิทัล",
            en="Director, Smart City Thailand Office\n"
            "for the President and CEO, Digital Economy Promotion Agency",
        ),
        description="The signatory's position (and on whose behalf), one line each",
    )
    unit: BilingualText = Field(
        BilingualText(th="สำนักงานเมืองอัจฉริยะประเทศไทย", en="Smart City Thailand Office"),
        description="The unit that owns the matter (ส่วนราชการเจ้าของเรื่อง)",
    )
    phone: str = Field("0 2026 2333", description="The unit's telephone")
    email: Email = Field(
        "smartcity@depa.example.go.th",
        description="The unit's mailbox: Reply-To of every letter, and printed under it",
    )
    illustrative: bool = Field(
        True,
        description="Mark the prefix, signatory and contact details, and the certificate "
        "numbers this system gives (not the official register's), as illustrative",
    )

    @property
    def mark_th(self) -> str:
        """What follows an illustrative value in Thai ("" when the values are real)."""
        return f" {ILLUSTRATIVE_MARK.th}" if self.illustrative else ""

    @property
    def mark_en(self) -> str:
        return f" {ILLUSTRATIVE_MARK.en}" if self.illustrative else ""
