"""One checklist item's verdict."""

from __future__ import annotations

import dataclasses
from typing import Literal

Status = Literal["pass", "fail", "warn"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class CheckResult:
    name: str
    status: Status
    reason: str
    details: list[str] = dataclasses.field(default_factory=list)

    @property
    def mark(self) -> str:
        return {"pass": "✓", "fail": "✗", "warn": "!"}[self.status]
