"""Credentials against the roster: what each person's roles require, whether they hold it on a
day, the rule that keeps a lapsed required credential off the roster, and where a person
stands today (for the person's page, the roster and the expiry alerts).

The rule is registered with `rules.register_credential_rule` when the app is ready; it reads
only the `Person.credentials` the rules' loader filled, so it is a pure function like every
other rule (and the auto-fill keeps it too).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from .models import Credential, CredentialType
from .rules import ROLE_LABELS, CredentialStatus, Person, Shift

ALERT_DAYS = (60, 30, 7)


def required_types() -> list[CredentialType]:
    return list(CredentialType.objects.filter(is_active=True).exclude(required_for=[]))


def statuses_for(
    roles_by_staff: Mapping[int, Iterable[str]], types: list[CredentialType] | None = None
) -> dict[int, tuple[CredentialStatus, ...]]:
    """For each person, the credential types their roles need and the spans they hold each."""
    types = required_types() if types is None else types
    if not types or not roles_by_staff:
        return {}
    spans: dict[tuple[int, int], list[tuple[date, date]]] = defaultdict(list)
    for c in Credential.objects.filter(staff_id__in=list(roles_by_staff), type__in=types).order_by(
        "issued_on"
    ):
        spans[(c.staff_id, c.type_id)].append((c.issued_on, c.expires_on or date.max))
    out: dict[int, tuple[CredentialStatus, ...]] = {}
    for staff_id, roles in roles_by_staff.items():
        mine = frozenset(roles)
        out[staff_id] = tuple(
            CredentialStatus(
                t.code, frozenset(t.required_for), tuple(spans.get((staff_id, t.pk), ()))
            )
            for t in types
            if mine & set(t.required_for)
        )
    return out


def credential_rule(shift: Shift, person: Person) -> str | None:
    """Why `person` may not work `shift` for want of a credential its role requires, or None."""
    problems = []
    for status in person.credentials:
        if shift.role not in status.roles or status.valid_on(shift.day):
            continue
        role = ROLE_LABELS.get(shift.role, shift.role)
        ended = [last for _, last in status.spans if last < shift.day]
        if not status.spans:
            problems.append(f"has no {status.code} on file")
        elif ended and not any(first > shift.day for first, _ in status.spans):
            problems.append(f"'s {status.code} lapsed on {max(ended):%a %d %b %Y}")
        else:
            problems.append(f"'s {status.code} is not valid until a later date")
        problems[-1] += f" (required for {role})"
    if not problems:
        return None
    joined = "; ".join(problems)
    sep = "" if joined.startswith("'") else " "
    return f"{person.name}{sep}{joined}, but is on {shift.label or 'a shift'} {shift.day:%a %d %b}."


@dataclass(frozen=True)
class Standing:
    """One required credential of a person as of a day: ok, expiring (days left), lapsed or
    missing."""

    code: str
    state: str  # ok, expiring, lapsed, missing
    expires_on: date | None
    days_left: int | None

    @property
    def label(self) -> str:
        if self.state == "missing":
            return f"{self.code} missing"
        if self.state == "lapsed":
            return f"{self.code} lapsed {self.expires_on:%d %b %Y}"
        if self.state == "expiring":
            return f"{self.code} expires in {self.days_left} days"
        return f"{self.code} valid"


def standings(statuses: tuple[CredentialStatus, ...], day: date) -> list[Standing]:
    found = []
    for s in statuses:
        current = [last for first, last in s.spans if first <= day <= last]
        if current:
            last = max(current)
            left = (last - day).days if last != date.max else None
            expiring = left is not None and left <= ALERT_DAYS[0]
            found.append(
                Standing(
                    s.code,
                    "expiring" if expiring else "ok",
                    None if last == date.max else last,
                    left,
                )
            )
        elif s.spans:
            ended = [last for _, last in s.spans if last < day]
            found.append(Standing(s.code, "lapsed", max(ended) if ended else None, None))
        else:
            found.append(Standing(s.code, "missing", None, None))
    return found


def problems_today(roles_by_staff: Mapping[int, Iterable[str]], day: date) -> dict[int, list[str]]:
    """People whose required credentials are lapsed or missing on `day` (for the roster)."""
    out: dict[int, list[str]] = {}
    for staff_id, statuses in statuses_for(roles_by_staff).items():
        bad = [s.label for s in standings(statuses, day) if s.state in ("lapsed", "missing")]
        if bad:
            out[staff_id] = bad
    return out
