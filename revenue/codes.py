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
    """Billable codes whose code starts with `query` or whose description has every word of it."""
    query = (query or "").strip()[:60]
    if len(query) < 2:
        return []
    dotted = normalize_icd(query)
    words = query.lower().split()
    found: list[tuple[str, str]] = []
    for code, description, lowered in _billable():
        if (dotted and code.startswith(dotted)) or (
            not dotted and all(word in lowered for word in words)
        ):
            found.append((code, description))
            if len(found) >= limit:
                break
    return found
