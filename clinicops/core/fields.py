"""Form fields shared by every app's forms.

- `SubmissionKeyField`: the hidden key of one rendering of a form that creates something, so a
  repeated submission (a double click, a resend after a timeout, the browser's "resubmit") finds
  what the first one made instead of making it again.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms

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
