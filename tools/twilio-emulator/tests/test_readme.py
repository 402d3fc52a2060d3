"""The README's seed document example is a valid SeedDocument."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from twilio_emulator.app import create_app
from twilio_emulator.context import CTX
from twilio_emulator.control import SeedDocument, apply_seed

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_seed_example_applies() -> None:
    match = re.search(r"```json\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert match is not None
    document = SeedDocument.model_validate_json(match.group(1))
    app = create_app()
    result = apply_seed(app[CTX], document)
    assert result["phone_numbers"][0]["phone_number"] == "+15005550006"
    store = app[CTX].store
    number = store.number_by_phone("+15005550006")
    assert number is not None
    assert store.service_of(number.sid) is not None
