"""Code lists: ICD-10-CM (the public CDC list shipped by `simple-icd-10-cm`) and procedure codes.

Only billable ICD-10-CM codes (the leaves of the tabulation) may go on a claim. The package
ships one release of the code set (`ICD10_RELEASE`): a date of service outside that release's
fiscal year cannot be checked against it, and the scrubber says so rather than guess.
"""

from __future__ import annotations

import functools
import importlib
import re
import warnings
from datetime import date
from types import ModuleType

# The fiscal-year release the installed package ships: valid for dates of service in it.
ICD10_RELEASE = "FY2026 (April 1, 2026 update)"
ICD10_VALID_FROM = date(2025, 10, 1)
ICD10_VALID_TO = None  # the newest release stays in force until the package is upgraded


@functools.cache
def _cm() -> ModuleType:
    """The code list, loaded on first use (it takes a second; most requests never need it).
    The package reads its data with an importlib.resources call deprecated in Python 3.11."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module("simple_icd_10_cm")


# Codes primary care uses most: a word search lists them first.
COMMON = frozenset(
    (
        *("I10", "E11.9", "E78.5", "E78.2", "J06.9", "J02.9", "J20.9", "M54.50", "Z00.00"),
        *("Z00.01", "Z00.129", "Z00.121", "K21.9", "F41.1", "F32.A", "R05.9", "N39.0"),
        *("J45.909", "E66.9", "G43.909", "Z23", "H66.90", "R50.9", "L20.9", "E03.9", "M25.561"),
        *("R10.9", "R51.9", "I25.10", "E55.9", "D64.9", "J30.9", "K59.00", "R42", "Z79.4"),
        *("F90.9", "B34.9"),
    )
)

_ICD_SHAPE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$")


def normalize_icd(code: str) -> str:
    """Upper case, with the dot after the third character (E11.9); "" when it is not a code."""
    code = (code or "").strip().upper().replace(" ", "")
    if not _ICD_SHAPE.match(code):
        return ""
    bare = code.replace(".", "")
    return bare if len(bare) == 3 else f"{bare[:3]}.{bare[3:]}"


def icd_problem(code: str, *, on: date | None = None) -> str:
    """Why `code` may not go on a claim ("" when it is a billable code valid on `on`)."""
    dotted = normalize_icd(code)
    cm = _cm()
    if not dotted or not cm.is_valid_item(dotted):
        return f"{code} is not an ICD-10-CM code."
    if not cm.is_leaf(dotted):
        return f"{dotted} is a category, not a billable code: choose a more specific code under it."
    if on is not None and on < ICD10_VALID_FROM:
        return (
            f"The date of service {on} is before the code set release we check against "
            f"({ICD10_RELEASE}, from {ICD10_VALID_FROM}); check {dotted} by hand."
        )
    return ""


def icd_description(code: str) -> str:
    dotted = normalize_icd(code)
    try:
        return str(_cm().get_description(dotted)) if dotted else ""
    except ValueError:
        return ""


@functools.cache
def _billable() -> tuple[tuple[str, str, str], ...]:
    """(dotted code, description, lower-case description) of every billable code, once."""
    cm = _cm()
    rows = []
    for code in cm.get_all_codes(True):
        if cm.is_category_or_subcategory(code) and cm.is_leaf(code):
            description = str(cm.get_description(code))
            rows.append((str(code), description, description.lower()))
    return tuple(rows)


def search_icd(query: str, *, limit: int = 15) -> list[tuple[str, str]]:
    """Billable codes whose code starts with `query`, or whose description has every word of
    it: the common primary-care codes first, then those where the words start description
    words, then shorter descriptions (unspecified codes before the very specific ones)."""
    query = (query or "").strip()[:60]
    if len(query) < 2:
        return []
    dotted = normalize_icd(query)
    if dotted:
        return [(c, d) for c, d, _ in _billable() if c.startswith(dotted)][:limit]
    words = query.lower().split()
    found: list[tuple[int, int, str, str]] = []
    for code, description, lowered in _billable():
        if all(word in lowered for word in words):
            starts = all(f" {word}" in f" {lowered}" for word in words)
            rank = 0 if code in COMMON else (1 if starts else 2)
            found.append((rank, len(description), code, description))
    found.sort()
    return [(code, description) for _s, _n, code, description in found[:limit]]
