"""The import dialog's steps as pure logic: which step a submitted form leads to, and the API body.

Steps, as the seed walks them: ``details`` (integration, type, sender ID, and the country of a
shortcode) → for a shortcode ``compliance`` (Help, Opt-out, Re Opt-in tabs) → ``confirm`` →
submitted. Values travel in the form itself (hidden fields), so every step is a plain page.
The console checks nothing the API checks: the API's answer, in the user's language, is what the
dialog shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

Step = Literal["details", "compliance", "confirm", "submit"]
TYPES = ("local", "mobile", "tollfree", "shortcode")
BLOCKS = ("help", "opt_out", "re_opt_in")
FIELDS = (
    "integration_id",
    "type",
    "sender_id",
    "country",
    *(f"{block}_{part}" for block in BLOCKS for part in ("keywords", "message")),
)


@dataclass(frozen=True)
class ImportForm:
    values: dict[str, str]

    @classmethod
    def of(cls, data: Mapping[str, str]) -> ImportForm:
        return cls({name: str(data.get(name, "")).strip() for name in FIELDS})

    @property
    def is_short_code(self) -> bool:
        return self.values["type"] == "shortcode"

    def keywords(self, block: str) -> list[str]:
        return [k.strip() for k in self.values[f"{block}_keywords"].split(",") if k.strip()]

    def body(self) -> dict[str, Any]:
        """The ``POST /api/v2/sms/numbers/imports`` body."""
        body: dict[str, Any] = {
            "integration_id": self.values["integration_id"],
            "type": self.values["type"],
            "sender_id": self.values["sender_id"],
        }
        if self.is_short_code:
            body["country"] = self.values["country"] or None
            body["compliance"] = {
                block: {"keywords": self.keywords(block), "message": self.values[f"{block}_message"]}
                for block in BLOCKS
            }
        return body

    def without_compliance_when_long_code(self) -> ImportForm:
        if self.is_short_code:
            return self
        return replace(self, values={**self.values, "country": "", **dict.fromkeys(FIELDS[4:], "")})


def next_step(current: str, action: str, form: ImportForm) -> Step:
    """Where ``action`` (``next`` or ``back``) on step ``current`` leads."""
    if action == "back":
        if current == "confirm" and form.is_short_code:
            return "compliance"
        return "details"
    if current == "details":
        return "compliance" if form.is_short_code else "confirm"
    if current == "compliance":
        return "confirm"
    if current == "confirm":
        return "submit"
    return "details"
