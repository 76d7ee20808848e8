"""Turning what the front desk types into a patient query."""

from __future__ import annotations

import re
from datetime import date, datetime

from django.db.models import Q

_DATE_FORMATS = ("%m/%d/%Y", "%Y-%m-%d", "%m-%d-%Y", "%m/%d/%y", "%m%d%Y")


def parse_date(text: str) -> date | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date
        except ValueError:
            continue
    return None


def parse_patient_query(query: str) -> Q:
    """A Q for what was typed: a date of birth, an MRN, a phone number, or a name.

    Names: "smi" matches last names starting smi; "smith, jo" and "jo smith" also narrow by
    first name. Returns a Q matching nothing for an empty or unusable query.
    """
    text = " ".join(query.split())
    if not text:
        return Q(pk__in=[])
    if text.isdigit():
        if len(text) >= 10:
            return Q(phone_digits=text[-10:])
        # Eight bare digits are an MRN, or a date of birth typed as MMDDYYYY: offer both.
        q = Q(mrn__startswith=text)
        if (day := parse_date(text)) is not None:
            q |= Q(date_of_birth=day)
        return q
    if (day := parse_date(text)) is not None:
        return Q(date_of_birth=day)
    digits = re.sub(r"\D", "", text)
    if digits and re.fullmatch(r"[\d\s()+\-.]+", text):
        if len(digits) >= 10:
            return Q(phone_digits=digits[-10:])
        return Q(mrn__startswith=digits)
    if "," in text:
        last, _, first = text.partition(",")
        q = Q(last_name__istartswith=last.strip())
        return q & Q(first_name__istartswith=first.strip()) if first.strip() else q
    parts = text.split(" ")
    if len(parts) == 1:
        return Q(last_name__istartswith=parts[0])
    first, last = parts[0], " ".join(parts[1:])
    # "jo smith" (first last) or "smith jo" (last first): either reading.
    return (Q(first_name__istartswith=first) & Q(last_name__istartswith=last)) | (
        Q(last_name__istartswith=parts[0]) & Q(first_name__istartswith=" ".join(parts[1:]))
    )
