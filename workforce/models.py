"""Workforce I: rosters.

Staff contracts and rostering roles, availability and time off, shift templates, coverage rules,
roster weeks with their published versions, and the assignments themselves.

The rule that must hold however many managers edit at once lives in the database: an
exclusion constraint keeps one person's assignments from overlapping, across clinics and weeks
(the same one-point `int8range(id, id, '[]')` trick as scheduling's booking constraints, so no
btree_gist extension). The other rules (rest, hours, consecutive days, role, time off) may be
broken in a draft and are reported by `workforce.rules`; publishing refuses them unless a
manager overrides with a reason.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, RangeBoundary, RangeOperators
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from clinicops.core.models import Clinic, ClinicScopedQuerySet, Staff
from scheduling.models import Int8Range, TsTzRange

if TYPE_CHECKING:
    from django.db.models.fields.related_descriptors import RelatedManager


class RosterRole(models.TextChoices):
    """The roles a roster is built from (a person may cover more than one)."""

    FRONT_DESK = "front_desk", "Front desk"
    MEDICAL_ASSISTANT = "ma", "Medical assistant"
    NURSE = "rn", "Registered nurse"
    PROVIDER = "provider", "Provider"


WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def weekdays_label(days: list[int]) -> str:
    return ", ".join(WEEKDAY_NAMES[d] for d in sorted(days)) or "no days"


class RosterSettings(models.Model):
    """A clinic's hard limits for rosters (one row per clinic; defaults when absent)."""

    clinic = models.OneToOneField(Clinic, on_delete=models.CASCADE, related_name="roster_settings")
    min_rest_minutes = models.PositiveIntegerField(
        default=600, validators=[MaxValueValidator(24 * 60)], help_text="Default 10 hours."
    )
    max_day_minutes = models.PositiveIntegerField(
        default=12 * 60, validators=[MinValueValidator(60), MaxValueValidator(24 * 60)]
    )
    max_week_minutes = models.PositiveIntegerField(
        default=48 * 60, validators=[MinValueValidator(60), MaxValueValidator(7 * 24 * 60)]
    )
    max_consecutive_days = models.PositiveSmallIntegerField(
        default=6, validators=[MinValueValidator(1), MaxValueValidator(14)]
    )
    late_after = models.TimeField(
        default=time(18, 0), help_text="A shift ending after this local time counts as late."
    )
    punch_grace_minutes = models.PositiveSmallIntegerField(
        default=7,
        validators=[MaxValueValidator(60)],
        help_text="A punch further than this from the rostered start or end is early or late.",
    )

    objects = ClinicScopedQuerySet["RosterSettings"].as_manager()

    def __str__(self) -> str:
        return f"Roster settings for {self.clinic}"


class StaffContractQuerySet(ClinicScopedQuerySet["StaffContract"]):
    clinic_lookup = "staff__clinics"


class StaffContract(models.Model):
    """A person's rostering profile: contracted hours, the role they work, the roles they cover."""

    staff = models.OneToOneField(Staff, on_delete=models.CASCADE, related_name="contract")
    role = models.CharField(max_length=12, choices=RosterRole.choices)
    also_covers = ArrayField(
        models.CharField(max_length=12, choices=RosterRole.choices),
        default=list,
        blank=True,
        help_text="Other roles this person is qualified to cover.",
    )
    contract_minutes_week = models.PositiveIntegerField(
        default=40 * 60, validators=[MaxValueValidator(80 * 60)]
    )
    preferred_days = ArrayField(
        models.PositiveSmallIntegerField(validators=[MaxValueValidator(6)]),
        default=list,
        blank=True,
        help_text="Weekdays (0 = Monday) the person prefers to work.",
    )
    is_active = models.BooleanField(default=True)

    objects = StaffContractQuerySet.as_manager()

    class Meta:
        ordering = ["staff__user__last_name", "staff__user__first_name"]

    def __str__(self) -> str:
        return f"{self.staff} ({self.get_role_display()})"

    @property
    def roles(self) -> frozenset[str]:
        return frozenset([self.role, *self.also_covers])

    @property
    def contract_hours(self) -> float:
        return self.contract_minutes_week / 60


class Unavailability(models.Model):
    """A recurring stretch of a weekday (clinic-local time) a person cannot work."""

    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="unavailability")
    weekday = models.PositiveSmallIntegerField(validators=[MaxValueValidator(6)])
    start_time = models.TimeField()
    end_time = models.TimeField()
    note = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["staff", "weekday", "start_time"]
        verbose_name_plural = "unavailability"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_time__gt=models.F("start_time")),
                name="unavailability_ends_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(weekday__lte=6), name="unavailability_weekday_0_6"
            ),
        ]

    def __str__(self) -> str:
        day = WEEKDAY_NAMES[self.weekday]
        return f"{self.staff} unavailable {day} {self.start_time}-{self.end_time}"


class TimeOffRequest(models.Model):
    """A request for whole days off, decided by a manager. A provider's approved request is
    written to scheduling's ProviderTimeOff (its one source of truth) and linked here."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"
        CANCELLED = "cancelled", "Cancelled"

    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="time_off_requests")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    first_day = models.DateField()
    last_day = models.DateField()
    reason = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=200, blank=True)
    provider_time_off_id = models.BigIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet["TimeOffRequest"].as_manager()

    class Meta:
        ordering = ["-first_day"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(last_day__gte=models.F("first_day")),
                name="time_off_request_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.staff} off {self.first_day}-{self.last_day} ({self.status})"


class ShiftTemplate(models.Model):
    """A named shift at a clinic, in local time; an overnight shift ends the next day."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="shift_templates")
    name = models.CharField(max_length=60)
    role = models.CharField(max_length=12, choices=RosterRole.choices)
    start_time = models.TimeField()
    end_time = models.TimeField()
    overnight = models.BooleanField(default=False, help_text="Ends the next day.")
    break_minutes = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(180)])
    weekdays = ArrayField(
        models.PositiveSmallIntegerField(validators=[MaxValueValidator(6)]),
        default=list,
        help_text="Days it runs (0 = Monday).",
    )
    is_active = models.BooleanField(default=True)

    objects = ClinicScopedQuerySet["ShiftTemplate"].as_manager()

    class Meta:
        ordering = ["clinic", "role", "start_time", "name"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="unique_shift_name_per_clinic"),
            # A day shift ends after it starts; an overnight one ends (the next day) at or
            # before its start time.
            models.CheckConstraint(
                condition=(
                    models.Q(overnight=False, end_time__gt=models.F("start_time"))
                    | models.Q(overnight=True, end_time__lte=models.F("start_time"))
                ),
                name="shift_template_end_matches_overnight",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.start_time:%H:%M}-{self.end_time:%H:%M}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.start_time is not None and self.end_time is not None:
            if not self.overnight and self.end_time <= self.start_time:
                errors["end_time"] = (
                    "The shift ends before it starts; tick 'overnight' if it ends the next day."
                )
            elif self.overnight and self.end_time > self.start_time:
                errors["overnight"] = "An overnight shift ends the next day, before its start time."
        if not self.weekdays:
            errors["weekdays"] = "Choose at least one day the shift runs."
        elif any(not 0 <= d <= 6 for d in self.weekdays):
            errors["weekdays"] = "Days are 0 (Monday) to 6 (Sunday)."
        if not errors and self.clinic_id:
            same = ShiftTemplate.objects.filter(
                clinic_id=self.clinic_id,
                role=self.role,
                start_time=self.start_time,
                end_time=self.end_time,
                is_active=True,
                weekdays__overlap=self.weekdays,
            ).exclude(pk=self.pk)
            twin = same.first()
            if twin is not None:
                errors["start_time"] = (
                    f"{twin.name} already runs these hours for this role on some of these days."
                )
        if errors:
            raise ValidationError(errors)

    @property
    def paid_minutes(self) -> int:
        start = self.start_time.hour * 60 + self.start_time.minute
        end = self.end_time.hour * 60 + self.end_time.minute
        if self.overnight:
            end += 24 * 60
        return end - start - self.break_minutes


class CoverageRule(models.Model):
    """How many people of a role a clinic needs in an hour band on some weekdays.

    FIXED: `count` people throughout. PER_PROVIDER: `count` per provider whose template has a
    bookable block in the band. PER_PATIENTS: one per `patients_per_person` patients booked to
    start in each hour of the band (rounded up). Required = max(fixed, sum of ratios).
    """

    class Kind(models.TextChoices):
        FIXED = "fixed", "Fixed minimum"
        PER_PROVIDER = "per_provider", "Per provider session"
        PER_PATIENTS = "per_patients", "Per booked patients an hour"

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="coverage_rules")
    role = models.CharField(max_length=12, choices=RosterRole.choices)
    kind = models.CharField(max_length=14, choices=Kind.choices, default=Kind.FIXED)
    weekdays = ArrayField(
        models.PositiveSmallIntegerField(validators=[MaxValueValidator(6)]), default=list
    )
    start_time = models.TimeField()
    end_time = models.TimeField()
    count = models.PositiveSmallIntegerField(
        default=1, validators=[MaxValueValidator(50)], help_text="People (fixed, per provider)."
    )
    patients_per_person = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(100)], help_text="Per booked patients: N."
    )
    is_active = models.BooleanField(default=True)

    objects = ClinicScopedQuerySet["CoverageRule"].as_manager()

    class Meta:
        ordering = ["clinic", "role", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_time__gt=models.F("start_time")),
                name="coverage_rule_ends_after_start",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="per_patients") | models.Q(patients_per_person__gt=0),
                name="coverage_rule_ratio_positive",
            ),
        ]

    def __str__(self) -> str:
        hours = f"{self.start_time:%H:%M}-{self.end_time:%H:%M}"
        return f"{self.get_role_display()} {self.get_kind_display()} {hours}"


class RosterWeek(models.Model):
    """One clinic's roster for the week starting `week_start` (a Monday)."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="roster_weeks")
    week_start = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    version = models.PositiveIntegerField(default=0, help_text="Published versions so far.")
    # Changed since the last publish (a published week edited again).
    changed_since_publish = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClinicScopedQuerySet["RosterWeek"].as_manager()

    if TYPE_CHECKING:
        assignments: RelatedManager[Assignment]
        versions: RelatedManager[RosterVersion]

    class Meta:
        ordering = ["clinic", "-week_start"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "week_start"], name="one_roster_per_week"),
            models.CheckConstraint(
                condition=models.Q(week_start__week_day=2), name="roster_week_starts_monday"
            ),
        ]
        permissions = [
            ("publish_rosterweek", "Can publish a roster week"),
            ("override_rosterweek", "Can publish a roster week over rule violations"),
        ]

    def __str__(self) -> str:
        return f"{self.clinic} week of {self.week_start}"

    @property
    def days(self) -> list[date]:
        return [self.week_start + timedelta(days=i) for i in range(7)]


class RosterVersion(models.Model):
    """A published version of a week: what was published, by whom, and any override."""

    week = models.ForeignKey(RosterWeek, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    published_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    assignments = models.JSONField(default=list)
    violations = models.JSONField(default=list)
    override_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["week", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["week", "number"], name="one_roster_version_number"),
            models.CheckConstraint(
                condition=models.Q(violations=[]) | ~models.Q(override_reason=""),
                name="roster_override_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.week} v{self.number}"


class AssignmentQuerySet(ClinicScopedQuerySet["Assignment"]):
    clinic_lookup = "week__clinic"


class Assignment(models.Model):
    """A person on a shift on a day. `start`/`end` are UTC, computed from the template and the
    clinic's time zone, so a DST night is as long as it really is."""

    class Source(models.TextChoices):
        MANAGER = "manager", "Manager"
        AUTOFILL = "autofill", "Auto-fill"

    week = models.ForeignKey(RosterWeek, on_delete=models.CASCADE, related_name="assignments")
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="roster_assignments")
    template = models.ForeignKey(
        ShiftTemplate, on_delete=models.PROTECT, related_name="assignments"
    )
    role = models.CharField(max_length=12, choices=RosterRole.choices)
    day = models.DateField()
    start = models.DateTimeField()
    end = models.DateTimeField()
    break_minutes = models.PositiveSmallIntegerField(default=0)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANAGER)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AssignmentQuerySet.as_manager()

    AUDITED_FIELDS: ClassVar[tuple[str, ...]] = ("staff", "template", "day", "start", "end")

    class Meta:
        ordering = ["day", "start", "staff"]
        permissions = [("view_own_shifts", "Can read one's own shifts")]
        indexes = [models.Index(fields=["staff", "start"], name="assignment_staff_start")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="assignment_ends_after_start"
            ),
            models.CheckConstraint(
                condition=models.Q(end__lte=models.F("start") + timedelta(hours=24)),
                name="assignment_at_most_24_hours",
            ),
            ExclusionConstraint(
                name="assignment_no_staff_overlap",
                expressions=[
                    (
                        Int8Range("staff", "staff", RangeBoundary(True, True)),
                        RangeOperators.OVERLAPS,
                    ),
                    (TsTzRange("start", "end", RangeBoundary()), RangeOperators.OVERLAPS),
                ],
                violation_error_code="staff_overlap",
                violation_error_message="That person already works a shift overlapping this one.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.staff} {self.template.name} {self.day}"

    @property
    def paid_minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60) - self.break_minutes


class AssignmentChange(models.Model):
    """A change to a week after it was published: who is affected and whether they saw it."""

    class Kind(models.TextChoices):
        ADDED = "added", "Added"
        REMOVED = "removed", "Removed"

    week = models.ForeignKey(RosterWeek, on_delete=models.CASCADE, related_name="changes")
    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="roster_changes")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    description = models.CharField(max_length=200)
    changed_at = models.DateTimeField(auto_now_add=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-changed_at"]

    def __str__(self) -> str:
        return self.description


class AutofillRun(models.Model):
    """One auto-fill of a week: progress while the task runs, then the proposal to accept."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        APPLIED = "applied", "Applied"
        DISCARDED = "discarded", "Discarded"

    week = models.ForeignKey(RosterWeek, on_delete=models.CASCADE, related_name="autofill_runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    time_limit_seconds = models.PositiveSmallIntegerField(default=10)
    progress = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=300, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Auto-fill of {self.week} ({self.status})"


def local_span(
    day: date, start: time, end: time, overnight: bool, tz: tzinfo
) -> tuple[datetime, datetime]:
    """The UTC start and end of a shift from `start` on `day` to `end` (the next day when
    overnight), in the time zone `tz`."""
    begin = datetime.combine(day, start, tzinfo=tz)
    finish_day = day + timedelta(days=1) if overnight else day
    finish = datetime.combine(finish_day, end, tzinfo=tz)
    return begin.astimezone(UTC), finish.astimezone(UTC)


# ---------------------------------------------------------------------------------------------
# Workforce II: the time clock, timesheets, overtime rules and credentials.


class TimeclockBadge(models.Model):
    """How a person identifies at the kiosk: an optional badge barcode and a 4-6 digit PIN,
    stored hashed (Django's password hasher), never in clear."""

    staff = models.OneToOneField(Staff, on_delete=models.CASCADE, related_name="timeclock_badge")
    badge_code = models.CharField(max_length=40, null=True, blank=True, unique=True)
    pin_hash = models.CharField(max_length=128)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Time clock badge of {self.staff}"


class Punch(models.Model):
    """One clock event, append-only (a database trigger refuses UPDATE and DELETE).

    A manager's correction is a new row with `source=manager`, a reason, and, when it replaces
    or cancels an earlier punch, `replaces` pointing at it (kind VOID cancels it outright). A
    resend carries the same `request_key` and finds the first row (docs/decisions)."""

    class Kind(models.TextChoices):
        IN = "in", "Clock in"
        OUT = "out", "Clock out"
        BREAK_START = "break_start", "Break start"
        BREAK_END = "break_end", "Break end"
        VOID = "void", "Cancelled punch"

    class Source(models.TextChoices):
        KIOSK = "kiosk", "Kiosk"
        SELF = "self", "Own session"
        MANAGER = "manager", "Manager correction"
        DEMO = "demo", "Demo data"

    class Flag(models.TextChoices):
        NONE = "", "On time"
        EARLY = "early", "Early"
        LATE = "late", "Late"
        UNROSTERED = "unrostered", "Not rostered"

    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="punches")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="punches")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    at = models.DateTimeField()
    source = models.CharField(max_length=8, choices=Source.choices)
    assignment = models.ForeignKey(
        Assignment, on_delete=models.SET_NULL, null=True, blank=True, related_name="punches"
    )
    flag = models.CharField(max_length=12, choices=Flag.choices, blank=True, default="")
    replaces = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="replaced_by"
    )
    reason = models.CharField(max_length=300, blank=True)
    request_key = models.UUIDField(unique=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet["Punch"].as_manager()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["staff", "at"], name="punch_staff_at")]
        permissions = [
            ("use_kiosk", "Can open the time clock kiosk"),
            ("punch_own", "Can clock in and out from one's own session"),
            ("correct_punch", "Can add corrections to timesheets"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(source="manager") | ~models.Q(reason=""),
                name="punch_correction_has_reason",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="void") | models.Q(replaces__isnull=False),
                name="punch_void_names_its_punch",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.staff} {self.get_kind_display()} {self.at:%Y-%m-%d %H:%M}"


class TimesheetWeek(models.Model):
    """A person's timesheet at a clinic for one work week: confirmed by the person, approved
    (and so locked) by a manager. The figures approved are kept in `totals`."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CONFIRMED = "confirmed", "Confirmed by the person"
        APPROVED = "approved", "Approved"

    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="timesheets")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="timesheets")
    week_start = models.DateField(help_text="The local day the work week starts.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    totals = models.JSONField(default=dict, blank=True)

    objects = ClinicScopedQuerySet["TimesheetWeek"].as_manager()

    class Meta:
        ordering = ["-week_start", "staff"]
        permissions = [
            ("approve_timesheetweek", "Can approve timesheets"),
            ("export_timesheetweek", "Can export approved timesheets for payroll"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["staff", "clinic", "week_start"], name="one_timesheet_per_week"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="approved") | models.Q(approved_at__isnull=False),
                name="approved_timesheet_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"Timesheet of {self.staff} at {self.clinic}, week of {self.week_start}"


class OvertimeRule(models.Model):
    """A clinic's overtime rule from `effective_from` on (the latest one on or before a day
    applies). The work week starts on `week_start_day` (0 = Monday) at `week_start_hour`
    local time; workdays start at the same hour."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="overtime_rules")
    effective_from = models.DateField()
    week_start_day = models.PositiveSmallIntegerField(
        default=6, validators=[MaxValueValidator(6)], help_text="0 = Monday, 6 = Sunday."
    )
    week_start_hour = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(23)]
    )
    weekly_minutes = models.PositiveIntegerField(
        default=40 * 60, validators=[MinValueValidator(60), MaxValueValidator(7 * 24 * 60)]
    )
    daily_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(60), MaxValueValidator(24 * 60)],
        help_text="Overtime after this many minutes in a workday (blank: no daily overtime).",
    )
    double_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(60), MaxValueValidator(24 * 60)],
        help_text="Double time after this many minutes in a workday (blank: none).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet["OvertimeRule"].as_manager()

    class Meta:
        ordering = ["clinic", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "effective_from"], name="one_overtime_rule_per_day"
            ),
            models.CheckConstraint(
                condition=models.Q(double_minutes__isnull=True)
                | models.Q(daily_minutes__isnull=True)
                | models.Q(double_minutes__gt=models.F("daily_minutes")),
                name="overtime_double_after_daily",
            ),
            models.CheckConstraint(
                condition=models.Q(week_start_day__lte=6) & models.Q(week_start_hour__lte=23),
                name="overtime_week_start_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Overtime rule of {self.clinic} from {self.effective_from}"

    def clean(self) -> None:
        if (
            self.double_minutes is not None
            and self.daily_minutes is not None
            and self.double_minutes <= self.daily_minutes
        ):
            raise ValidationError(
                {"double_minutes": "Double time starts after daily overtime does."}
            )


class CredentialType(models.Model):
    """A licence or certification (state licence, DEA, BLS, ACLS ...) and the roster roles that
    need it to work a shift."""

    code = models.CharField(max_length=20, unique=True, help_text="Short name, e.g. BLS.")
    name = models.CharField(max_length=120, unique=True)
    required_for = ArrayField(
        models.CharField(max_length=12, choices=RosterRole.choices),
        default=list,
        blank=True,
        help_text="Roster roles that may not work without it.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class CredentialQuerySet(ClinicScopedQuerySet["Credential"]):
    clinic_lookup = "staff__clinics"


class Credential(models.Model):
    """One credential a person holds. A renewal is a new row; the rows' validity together say
    whether the person is covered on a day."""

    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="credentials")
    type = models.ForeignKey(CredentialType, on_delete=models.PROTECT, related_name="held")
    number = models.CharField(max_length=60)
    issuer = models.CharField(max_length=120)
    state = models.CharField(max_length=2, blank=True, help_text="US state, e.g. NY.")
    issued_on = models.DateField()
    expires_on = models.DateField(null=True, blank=True, help_text="Blank: does not expire.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CredentialQuerySet.as_manager()

    class Meta:
        ordering = ["staff", "type", "-expires_on"]
        permissions = [("view_own_credentials", "Can read one's own credentials")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_on__isnull=True)
                | models.Q(expires_on__gte=models.F("issued_on")),
                name="credential_expires_after_issue",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type.code} of {self.staff}"

    def valid_on(self, day: date) -> bool:
        return self.issued_on <= day and (self.expires_on is None or day <= self.expires_on)


class CredentialScan(models.Model):
    """The scanned copy of a credential (a PDF or an image, type checked by content), kept in
    the database so it shares its backups and access rules; read through the app only."""

    credential = models.OneToOneField(Credential, on_delete=models.CASCADE, related_name="scan")
    content = models.BinaryField()
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    filename = models.CharField(max_length=200)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Scan of {self.credential_id}"


class CredentialAlert(models.Model):
    """An expiry alert sent: once per credential, threshold (60, 30, 7 days) and expiry date."""

    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="alerts")
    threshold_days = models.PositiveSmallIntegerField()
    expires_on = models.DateField()
    sent_at = models.DateTimeField(auto_now_add=True)
    recipients = models.TextField(blank=True)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["credential", "threshold_days", "expires_on"],
                name="one_credential_alert_per_threshold",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.threshold_days}-day alert for {self.credential_id}"
