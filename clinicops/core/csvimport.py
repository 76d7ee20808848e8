"""What every CSV import answers with: errors that name line and field, or a summary.

Imports are all or nothing (docs/decisions/0014-hostile-input.md): any failing line refuses the
whole file with `ImportRefused`, whose `errors` list each line and field; a file that passes
returns an `ImportSummary` of what was stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LineError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.message}"


class ImportRefused(Exception):
    """The file was refused; nothing was imported. `errors` names each line and field."""

    def __init__(self, errors: list[LineError]) -> None:
        super().__init__("; ".join(str(e) for e in errors[:5]))
        self.errors = errors


@dataclass
class ImportSummary:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)
