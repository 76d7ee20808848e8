"""Form fields and input helpers shared by every app's forms and views.

- `SubmissionKeyField`: the hidden key of one rendering of a form that creates something, so a
  repeated submission (a double click, a resend after a timeout, the browser's "resubmit") finds
  what the first one made instead of making it again.
- `DateField` / `DateTimeField`: Django's, limited to the years 1900-2199, so a date at the edge
  of the calendar (0001-01-01, 9999-12-31) gets the field's error instead of overflowing the
  arithmetic done with it later (a day before, a week after, an appointment's end).
- `parse_id`: an id typed into a URL or a form, or None: ASCII digits only (`"²".isdigit()` is
  True but `int("²")` raises), and no more than a bigint holds.
- `clean_text`: a free-text query without NUL and other control characters (Postgres refuses
  NUL in text, and they mean nothing in a search).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone

MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2199, 12, 31)
DATE_RANGE_MESSAGE = f"Enter a date between {MIN_DATE:%m/%d/%Y} and {MAX_DATE:%m/%d/%Y}."
MAX_ID_DIGITS = 18  # below 2**63: every id fits a Postgres bigint


def parse_id(value: object) -> int | None:
    """An id from a query string or form; anything else (malformed, unicode digits, too long)
    is None."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) > MAX_ID_DIGITS or not (value.isascii() and value.isdigit()):
        return None
    return int(value)


def clean_text(value: str) -> str:
    """`value` without control characters (NUL, escapes, bidi overrides); whitespace kept."""
    return "".join(
        ch
        for ch in value
        if ch in " \t\n" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )


class DateField(forms.DateField):
    """`forms.DateField` for dates between MIN_DATE and MAX_DATE."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(MinValueValidator(MIN_DATE, message=DATE_RANGE_MESSAGE))
        self.validators.append(MaxValueValidator(MAX_DATE, message=DATE_RANGE_MESSAGE))


class DateTimeField(forms.DateTimeField):
    """`forms.DateTimeField` for moments whose date is between MIN_DATE and MAX_DATE."""

    def to_python(self, value: Any) -> dt.datetime | None:
        if isinstance(value, str):
            # Refuse an out-of-range year before the time zone conversion can overflow.
            head = value.strip()[:10]
            try:
                day = dt.date.fromisoformat(head) if len(head) == 10 else None
            except ValueError:
                day = None
            if day is not None and not MIN_DATE <= day <= MAX_DATE:
                raise forms.ValidationError(DATE_RANGE_MESSAGE, code="date_range")
        try:
            result = super().to_python(value)
        except OverflowError as error:
            raise forms.ValidationError(DATE_RANGE_MESSAGE, code="date_range") from error
        if result is not None:
            day = timezone.localtime(result).date() if timezone.is_aware(result) else result.date()
            if not MIN_DATE <= day <= MAX_DATE:
                raise forms.ValidationError(DATE_RANGE_MESSAGE, code="date_range")
        return result


MAX_SUBMISSION_KEY_LENGTH = 64
OUT_OF_DATE = "This screen is out of date; reload it and try again."


def new_submission_key() -> str:
    """A fresh key for one rendering of a form."""
    return uuid.uuid4().hex


class _SubmissionKeyBoundField(forms.BoundField):
    def value(self) -> Any:
        # A form shown again keeps the key it was sent with (nothing was made with it), unless
        # that key was missing or unusable: then it gets a fresh one, so the next try works.
        if self.form.is_bound and self.data and self.name not in self.form.errors:
            return self.data
        return self.initial


class SubmissionKeyField(forms.CharField):
    """The hidden submission key of one form rendering (required: a form without one is stale).

    Rendered unbound, each form gets a fresh key (`initial` is called per rendering).
    """

    bound_field_class = _SubmissionKeyBoundField

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", "Submission key")
        kwargs.setdefault("widget", forms.HiddenInput)
        kwargs.setdefault("initial", new_submission_key)
        kwargs.setdefault("error_messages", {"required": OUT_OF_DATE, "max_length": OUT_OF_DATE})
        super().__init__(max_length=MAX_SUBMISSION_KEY_LENGTH, **kwargs)

    def to_python(self, value: Any) -> str:
        value = super().to_python(value)
        if value and not value.isprintable():
            raise forms.ValidationError(OUT_OF_DATE, code="invalid")
        return value
