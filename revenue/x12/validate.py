"""Run pyx12's X12 validator (the 005010X222A1 map it ships) over an X12 string.

`validate_x12(text)` returns a list of `X12Issue` (segment, element, code, message, line): empty
means pyx12 found nothing wrong. It walks the file segment by segment against the implementation
guide map (loops, segment order and counts, required/situational elements, lengths, data types,
code lists such as states and places of service), and checks the envelopes (ISA/IEA, GS/GE,
ST/SE counts and control numbers, HL parents, LX numbering). Every finding pyx12 records in its
error tree is returned; what it only logs at ERROR level (a file it cannot read) is returned
when the tree is empty.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

import pyx12.errors
import pyx12.map_if
import pyx12.params
import pyx12.x12n_document

# pyx12 parses its XML map (the 837P map is 1.4 MB) on every run: 0.35-0.6 s, 15x the
# validation of a small file. The parsed maps hold no state of a run (pyx12 4 keeps its loop
# and segment counts in the walker), so they are kept per (file, map path, parameters) and
# shared between runs and threads. validate_x12(..., cache_maps=False) reads them afresh; a
# test checks that both give the same findings.
_real_load_map_file = pyx12.map_if.load_map_file
_maps: dict[tuple[str, str | None, str], Any] = {}
_maps_lock = threading.Lock()
_fresh = threading.local()


def _load_map_file(map_file: str, param: Any, map_path: str | None = None) -> Any:
    if getattr(_fresh, "on", False):
        return _real_load_map_file(map_file, param, map_path)
    key = (map_file, map_path, repr(sorted(param.params.items())))
    with _maps_lock:
        if key not in _maps:
            _maps[key] = _real_load_map_file(map_file, param, map_path)
        return _maps[key]


pyx12.map_if.load_map_file = _load_map_file


@dataclass(frozen=True)
class X12Issue:
    segment: str  # segment id ("CLM"), or "ISA"/"GS"/"ST" for envelope findings, "" when unknown
    element: str  # e.g. "CLM01" or "SV101-2"; "" for a segment- or envelope-level finding
    code: str  # pyx12's error code (X12 999 IK3/IK4 codes and its own)
    message: str
    line: int | None = None  # 1-based segment number in the file, when pyx12 knows it

    def __str__(self) -> str:
        where = f"{self.segment}{' ' + self.element if self.element else ''}"
        at = f" (segment {self.line})" if self.line else ""
        return f"{where}{at}: [{self.code}] {self.message}"


class _Collect(logging.Handler):
    """pyx12's ERROR log lines from this thread (validations in other threads log too)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


def validate_x12(text: str, *, cache_maps: bool = True) -> list[X12Issue]:
    """Validate `text` (one interchange, any transaction pyx12 has a map for) with pyx12."""
    param = pyx12.params.params()
    out = io.StringIO()
    handler = _Collect()
    logger = logging.getLogger("pyx12")
    logger.addHandler(handler)
    _fresh.on = not cache_maps
    try:
        ok = pyx12.x12n_document.x12n_document(
            param=param, src_file=io.StringIO(text), fd_997=None, fd_html=None, fd_json=out
        )
    except (pyx12.errors.EngineError, pyx12.errors.X12Error) as exc:
        return [X12Issue("", "", "engine", f"pyx12 could not read the file: {exc}")]
    except (IndexError, KeyError, ValueError, TypeError, AttributeError) as exc:
        # pyx12 4 trips over some damaged files (found by the 835 fuzz test: a composite with
        # more components than its map has); a crash of the validator is a refusal, not a 500.
        return [X12Issue("", "", "crash", f"pyx12 could not read the file ({exc!r})")]
    finally:
        _fresh.on = False
        logger.removeHandler(handler)
    issues = _issues_from_json(out.getvalue())
    if not issues:
        # pyx12 logs each finding it records too; a log line alone means it could not record
        # one (an unreadable file, a missing map), so it is reported only then.
        issues = [X12Issue("", "", "log", message) for message in handler.messages]
    if not ok and not issues:
        issues.append(X12Issue("", "", "invalid", "pyx12 reported the file invalid"))
    return issues


def _issues_from_json(raw: str) -> list[X12Issue]:
    if not raw:
        return []
    doc: dict[str, Any] = json.loads(raw)
    issues: list[X12Issue] = []

    def envelope(seg: str, node: dict[str, Any]) -> None:
        for err in node.get("errors", []):
            issues.append(
                X12Issue(seg, "", str(err["err_cde"]), err["err_str"], node.get("cur_line"))
            )

    for isa in doc.get("interchanges", []):
        envelope("ISA", isa)
        for gs in isa.get("groups", []):
            envelope("GS", gs)
            for st in gs.get("transactions", []):
                envelope("ST", st)
                for seg in st.get("segments", []):
                    line = seg.get("cur_line")
                    for err in seg.get("errors", []):
                        message = err["err_str"]
                        if err.get("err_val"):
                            message += f" (value {err['err_val']!r})"
                        issues.append(
                            X12Issue(seg["seg_id"], "", str(err["err_cde"]), message, line)
                        )
                    for ele in seg.get("elements", []):
                        name = f"{seg['seg_id']}{int(ele['ele_pos']):02d}"
                        if ele.get("subele_pos"):
                            name += f"-{ele['subele_pos']}"
                        for err in ele.get("errors", []):
                            message = err["err_str"]
                            if err.get("err_val"):
                                message += f" (value {err['err_val']!r})"
                            issues.append(
                                X12Issue(seg["seg_id"], name, str(err["err_cde"]), message, line)
                            )
    return issues
