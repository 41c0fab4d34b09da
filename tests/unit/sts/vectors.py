"""Load the STS vector files from tests/vectors/sts and build common inputs from them."""
from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from vouchers.sts.dkga04 import MeterKeyParams
from vouchers.sts.pan import MeterPan
from vouchers.sts.tid import BaseDate

VECTOR_DIR = Path(__file__).resolve().parents[2] / "vectors" / "sts"


@cache
def load(name: str) -> Any:
    return json.loads((VECTOR_DIR / name).read_text(encoding="utf-8"))


def moment(text: str) -> datetime:
    """ISO 8601 with a zone (the files use Z)."""
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, text
    return value


def compliance() -> dict[str, Any]:
    return load("compliance_ea11_dkga04.json")


def params(overrides: dict[str, Any] | None = None) -> MeterKeyParams:
    """Meter key parameters: the compliance defaults with ``overrides`` applied."""
    d = {**compliance()["defaults"], **(overrides or {})}
    return MeterKeyParams(
        pan=MeterPan(d["pan"]), sgc=d["sgc"], ti=d["ti"], krn=d["krn"], key_type=d["key_type"],
        base_date=BaseDate.from_year(d["base_date"]), ken=d["ken"],
    )


def vending_key(overrides: dict[str, Any] | None = None) -> bytes:
    d = {**compliance()["defaults"], **(overrides or {})}
    return bytes.fromhex(d["vending_key"])
