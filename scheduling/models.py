"""Scheduling: appointment types, provider templates, closures, time off, appointments.

The rules that must hold when many people book at once live in the database: two exclusion
constraints keep a provider's and a room's live appointments from overlapping. They use only
built-in range types and their GiST operator classes (no btree_gist extension): a one-point
`int8range(id, id, '[]')` overlaps another exactly when the ids are equal.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import (
    BigIntegerRangeField,
    DateTimeRangeField,
    RangeBoundary,
    RangeOperators,
)
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from clinicops.core.models import (
    Clinic,
    ClinicScopedQuerySet,
    OpeningHours,
    Patient,
    Payer,
    Room,
    Staff,
)

if TYPE_CHECKING:
    from django.db.models.fields.related_descriptors import RelatedManager


MAX_APPOINTMENT_LENGTH = timedelta(hours=12)


class Int8Range(models.Func):
    function = "int8range"
    output_field = BigIntegerRangeField()


class TsTzRange(models.Func):
    function = "tstzrange"
    output_field = DateTimeRangeField()


class AppointmentType(models.Model):
    class Kind(models.TextChoices):
        NEW_PATIENT = "new", "New patient"
        FOLLOW_UP = "follow_up", "Follow-up"
        OTHER = "other", "Other"

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="appointment_types")
    name = models.CharField(max_length=80)
    duration_minutes = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(5), MaxValueValidator(8 * 60)]
    )
    color = models.CharField(
        max_length=7,
        default="#3b82f6",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour is # and six hex digits.")],
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.FOLLOW_UP)
    room_kind = models.CharField(
        max_length=20,
        choices=Room.Kind.choices,
        blank=True,
        help_text="The kind of room this visit needs; blank if it needs none.",
    )
    is_active = models.BooleanField(default=True)

    objects = ClinicScopedQuerySet["AppointmentType"].as_manager()

    class Meta:
        ordering = ["clinic", "name"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="unique_appt_type_per_clinic"),
            models.CheckConstraint(
                condition=models.Q(duration_minutes__gt=0), name="appt_type_positive_duration"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.duration_minutes} min)"

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)


class ScheduleTemplateQuerySet(ClinicScopedQuerySet["ScheduleTemplate"]):
    def covering(self, start: date, end: date) -> ScheduleTemplateQuerySet:
        """Templates in effect on at least one day of [start, end]."""
        return self.filter(effective_from__lte=end).filter(
            models.Q(effective_to__isnull=True) | models.Q(effective_to__gte=start)
        )


class ScheduleTemplate(models.Model):
    """A provider's weekly pattern at one clinic from `effective_from` (to `effective_to`).

    Where two templates of a provider and clinic cover the same day, the one that started
    later wins: a new template takes over from its first day without rewriting the past.
    """

    provider = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="templates")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="schedule_templates")
    name = models.CharField(max_length=80, blank=True)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True, help_text="Blank: open-ended.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScheduleTemplateQuerySet.as_manager()

    if TYPE_CHECKING:
        blocks: RelatedManager[TemplateBlock]

    class Meta:
        ordering = ["clinic", "provider", "-effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(effective_to__isnull=True)
                | models.Q(effective_to__gte=models.F("effective_from")),
                name="template_ends_after_it_starts",
            ),
            models.UniqueConstraint(
                fields=["provider", "clinic", "effective_from"],
                name="one_template_start_per_provider_day",
            ),
        ]

    def __str__(self) -> str:
        until = f" to {self.effective_to}" if self.effective_to else ""
        return f"{self.provider} at {self.clinic} from {self.effective_from}{until}"

    def covers(self, day: date) -> bool:
        ends_after = self.effective_to is None or day <= self.effective_to
        return self.effective_from <= day and ends_after


class TemplateBlock(models.Model):
    """A stretch of one weekday, in the clinic's local time, cut into slots of one length."""

    class Kind(models.TextChoices):
        REGULAR = "regular", "Regular"
        SAME_DAY_HOLD = "same_day_hold", "Same-day hold (open access)"
        BUFFER = "buffer", "Buffer (urgent add-ons)"
        ADMIN = "admin", "Admin / lunch (not bookable)"

    template = models.ForeignKey(ScheduleTemplate, on_delete=models.CASCADE, related_name="blocks")
    weekday = models.PositiveSmallIntegerField(choices=OpeningHours.Weekday.choices)
    start_time = models.TimeField(help_text="Local time at the clinic.")
    end_time = models.TimeField(help_text="Local time at the clinic.")
    slot_minutes = models.PositiveSmallIntegerField(
        default=15, validators=[MinValueValidator(5), MaxValueValidator(240)]
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.REGULAR)
    appointment_types = models.ManyToManyField(
        AppointmentType, blank=True, related_name="blocks", help_text="None chosen: any type."
    )
    hold_release_hours = models.PositiveSmallIntegerField(
        default=24, help_text="Same-day holds: bookable this many hours before the slot."
    )
    overbook_limit = models.PositiveSmallIntegerField(
        default=0, help_text="Declared overbooks allowed in this block per day."
    )

    BOOKABLE_KINDS: ClassVar[frozenset[str]] = frozenset({Kind.REGULAR, Kind.SAME_DAY_HOLD})

    class Meta:
        ordering = ["template", "weekday", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_time__gt=models.F("start_time")),
                name="block_ends_after_it_starts",
            ),
            models.CheckConstraint(
                condition=models.Q(slot_minutes__gt=0), name="block_positive_slot_length"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_weekday_display()} {self.start_time:%H:%M}-{self.end_time:%H:%M} "
            f"{self.get_kind_display()}"
        )

    @property
    def minutes(self) -> int:
        start = self.start_time.hour * 60 + self.start_time.minute
        return self.end_time.hour * 60 + self.end_time.minute - start


class ClinicClosure(models.Model):
    """A day the clinic is closed (a holiday): no slots that day."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="closures")
    day = models.DateField()
    reason = models.CharField(max_length=120, blank=True)

    objects = ClinicScopedQuerySet["ClinicClosure"].as_manager()

    class Meta:
        ordering = ["clinic", "day"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "day"], name="one_closure_per_clinic_day")
        ]

    def __str__(self) -> str:
        return f"{self.clinic} closed {self.day}"


class ProviderTimeOff(models.Model):
    """A provider away from `start` to `end` (UTC); their slots in between disappear."""

    provider = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="time_off")
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=120, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class ScopedQuerySet(ClinicScopedQuerySet["ProviderTimeOff"]):
        clinic_lookup = "provider__clinics"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["provider", "start"]
        verbose_name_plural = "provider time off"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="time_off_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} off {self.start:%Y-%m-%d %H:%M}-{self.end:%Y-%m-%d %H:%M} UTC"


class SchedulingSettings(models.Model):
    """A clinic's scheduling rules; `for_clinic` creates the defaults on first use."""

    clinic = models.OneToOneField(
        Clinic, on_delete=models.CASCADE, related_name="scheduling_settings"
    )
    late_cancel_hours = models.PositiveSmallIntegerField(
        default=24, help_text="A cancellation this close to the start counts as late."
    )
    auto_no_show_enabled = models.BooleanField(default=True)
    auto_no_show_minutes = models.PositiveSmallIntegerField(
        default=60, help_text="Minutes after the end with no check-in before a no-show."
    )
    refuse_patient_double_booking = models.BooleanField(
        default=False, help_text="Refuse (not just warn) a patient booked twice at once."
    )
    reminder_hours = models.PositiveSmallIntegerField(
        default=48, help_text="Hours before the start that the reminder email goes out."
    )

    objects = ClinicScopedQuerySet["SchedulingSettings"].as_manager()

    class Meta:
        verbose_name_plural = "scheduling settings"

    def __str__(self) -> str:
        return f"Scheduling settings of {self.clinic}"

    @classmethod
    def for_clinic(cls, clinic: Clinic | int) -> SchedulingSettings:
        clinic_id = clinic if isinstance(clinic, int) else clinic.pk
        return cls.objects.get_or_create(clinic_id=clinic_id)[0]


class AppointmentQuerySet(ClinicScopedQuerySet["Appointment"]):
    def live(self) -> AppointmentQuerySet:
        return self.filter(status__in=Appointment.LIVE_STATUSES)

    def overlapping(self, start: datetime, end: datetime) -> AppointmentQuerySet:
        return self.filter(start__lt=end, end__gt=start)


class Appointment(models.Model):
    class Status(models.TextChoices):
        BOOKED = "booked", "Booked"
        CONFIRMED = "confirmed", "Confirmed"
        ARRIVED = "arrived", "Arrived"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        NO_SHOW = "no_show", "No-show"

    class CancelReason(models.TextChoices):
        PATIENT_REQUEST = "patient", "Patient request"
        PATIENT_ILL = "patient_ill", "Patient ill"
        PROVIDER_UNAVAILABLE = "provider", "Provider unavailable"
        CLINIC_CLOSED = "clinic", "Clinic closed"
        RESCHEDULED = "rescheduled", "Rescheduled"
        OTHER = "other", "Other"

    # The statuses that hold a provider's (and a room's) time. A no-show or a cancellation
    # frees it, so a walk-in can take the slot.
    LIVE_STATUSES: ClassVar[tuple[str, ...]] = (
        Status.BOOKED,
        Status.CONFIRMED,
        Status.ARRIVED,
        Status.COMPLETED,
    )
    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.BOOKED: frozenset(
            {Status.CONFIRMED, Status.ARRIVED, Status.CANCELLED, Status.NO_SHOW}
        ),
        Status.CONFIRMED: frozenset({Status.ARRIVED, Status.CANCELLED, Status.NO_SHOW}),
        Status.ARRIVED: frozenset({Status.COMPLETED}),
        Status.COMPLETED: frozenset(),
        Status.CANCELLED: frozenset(),
        Status.NO_SHOW: frozenset(),
    }

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="appointments")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    provider = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="appointments")
    room = models.ForeignKey(
        Room, on_delete=models.PROTECT, null=True, blank=True, related_name="appointments"
    )
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.PROTECT, related_name="appointments"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.BOOKED)
    cancel_reason = models.CharField(max_length=12, choices=CancelReason.choices, blank=True)
    cancel_note = models.CharField(max_length=255, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    late_cancel = models.BooleanField(default=False)
    rescheduled_from = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rescheduled_to",
        help_text="The appointment this one replaced.",
    )
    is_overbook = models.BooleanField(default=False)
    overbook_reason = models.CharField(max_length=255, blank=True)
    notes = models.TextField(blank=True)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The key of the form rendering that booked it: a repeated submission of that form finds
    # this appointment instead of booking again. Empty for bookings not made from a form.
    submission_key = models.CharField(max_length=64, blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)

    objects = AppointmentQuerySet.as_manager()

    if TYPE_CHECKING:
        events: RelatedManager[AppointmentEvent]

    AUDITED_FIELDS: ClassVar[tuple[str, ...]] = (
        "status",
        "start",
        "end",
        "provider",
        "room",
        "appointment_type",
        "cancel_reason",
        "late_cancel",
        "is_overbook",
        "overbook_reason",
        "notes",
    )

    class Meta:
        ordering = ["start", "provider"]
        permissions = [("overbook_appointment", "Can book a declared overbook")]
        indexes = [
            models.Index(fields=["clinic", "start"], name="appt_clinic_start"),
            models.Index(fields=["provider", "start"], name="appt_provider_start"),
            models.Index(fields=["patient", "start"], name="appt_patient_start"),
            models.Index(fields=["room", "start"], name="appt_room_start"),
            models.Index(
                fields=["status", "start"],
                condition=models.Q(status__in=["booked", "confirmed"]),
                name="appt_open_by_start",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="appt_ends_after_it_starts"
            ),
            models.UniqueConstraint(
                fields=["booked_by", "submission_key"],
                condition=~models.Q(submission_key=""),
                name="appt_one_booking_per_submission",
            ),
            # Availability looks for overlaps from `start - MAX_LENGTH` on, so this bound is
            # what lets that search use the (provider, start) index.
            models.CheckConstraint(
                condition=models.Q(end__lte=models.F("start") + MAX_APPOINTMENT_LENGTH),
                name="appt_at_most_12_hours",
            ),
            models.CheckConstraint(
                condition=models.Q(is_overbook=False) | ~models.Q(overbook_reason=""),
                name="appt_overbook_has_reason",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="cancelled") | ~models.Q(cancel_reason=""),
                name="appt_cancel_has_reason",
            ),
            ExclusionConstraint(
                name="appt_no_provider_overlap",
                expressions=[
                    (
                        Int8Range("provider", "provider", RangeBoundary(True, True)),
                        RangeOperators.OVERLAPS,
                    ),
                    (TsTzRange("start", "end", RangeBoundary()), RangeOperators.OVERLAPS),
                ],
                condition=models.Q(
                    status__in=["booked", "confirmed", "arrived", "completed"], is_overbook=False
                ),
                violation_error_code="provider_overlap",
                violation_error_message="The provider already has an appointment at that time.",
            ),
            ExclusionConstraint(
                name="appt_no_room_overlap",
                expressions=[
                    (Int8Range("room", "room", RangeBoundary(True, True)), RangeOperators.OVERLAPS),
                    (TsTzRange("start", "end", RangeBoundary()), RangeOperators.OVERLAPS),
                ],
                condition=models.Q(
                    status__in=["booked", "confirmed", "arrived", "completed"],
                    room__isnull=False,
                ),
                violation_error_code="room_overlap",
                violation_error_message="The room is already taken at that time.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.appointment_type.name} {self.start:%Y-%m-%d %H:%M} UTC ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES

    def can_become(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.status]

    def local_start(self) -> datetime:
        return self.start.astimezone(self.clinic.tz)

    def local_end(self) -> datetime:
        return self.end.astimezone(self.clinic.tz)


class AppointmentEvent(models.Model):
    """One change of an appointment's status. Append-only (a trigger refuses edits)."""

    appointment = models.ForeignKey(Appointment, on_delete=models.PROTECT, related_name="events")
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    from_status = models.CharField(max_length=12, choices=Appointment.Status.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=Appointment.Status.choices)
    note = models.CharField(max_length=255, blank=True)

    class ScopedQuerySet(ClinicScopedQuerySet["AppointmentEvent"]):
        clinic_lookup = "appointment__clinic"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["appointment", "at", "pk"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.from_status or '-'} -> {self.to_status} at {self.at:%Y-%m-%d %H:%M}"


class WaitlistEntry(models.Model):
    """A patient waiting for an earlier slot of a type (optionally with one provider)."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        BOOKED = "booked", "Booked"
        REMOVED = "removed", "Removed"

    class TimeOfDay(models.TextChoices):
        ANY = "any", "Any time"
        MORNING = "morning", "Morning (before noon)"
        AFTERNOON = "afternoon", "Afternoon (from noon)"

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="waitlist")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="waitlist_entries")
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.CASCADE, related_name="waitlist_entries"
    )
    provider = models.ForeignKey(
        Staff, on_delete=models.CASCADE, null=True, blank=True, related_name="waitlist_entries"
    )
    earliest = models.DateField()
    latest = models.DateField()
    time_of_day = models.CharField(max_length=10, choices=TimeOfDay.choices, default=TimeOfDay.ANY)
    notes = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet["WaitlistEntry"].as_manager()

    class Meta:
        ordering = ["clinic", "created_at"]
        verbose_name_plural = "waitlist entries"
        indexes = [
            models.Index(
                fields=["clinic", "appointment_type", "earliest"],
                condition=models.Q(status="waiting"),
                name="waitlist_waiting",
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(latest__gte=models.F("earliest")),
                name="waitlist_latest_after_earliest",
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient} waiting for {self.appointment_type.name}"

    def accepts_time(self, local_time: time) -> bool:
        if self.time_of_day == self.TimeOfDay.MORNING:
            return local_time < time(12)
        if self.time_of_day == self.TimeOfDay.AFTERNOON:
            return local_time >= time(12)
        return True


class WaitlistOffer(models.Model):
    """A freed slot offered to a waiting patient; the front desk works these as a queue."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Slot gone"

    entry = models.ForeignKey(WaitlistEntry, on_delete=models.CASCADE, related_name="offers")
    freed_by = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="waitlist_offers"
    )
    provider = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    booked = models.ForeignKey(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class ScopedQuerySet(ClinicScopedQuerySet["WaitlistOffer"]):
        clinic_lookup = "entry__clinic"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["start", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "freed_by"], name="one_offer_per_entry_slot")
        ]

    def __str__(self) -> str:
        return f"Offer of {self.start:%Y-%m-%d %H:%M} UTC to {self.entry.patient}"


class VisitTypeCopay(models.Model):
    """A payer's copay for one visit type, where it differs from the plan's usual copay
    (Coverage.copay_amount / copay_percent): a specialist visit, a procedure. An amount or a
    percentage of the visit's charge; check-in prefills it."""

    payer = models.ForeignKey(Payer, on_delete=models.CASCADE, related_name="visit_type_copays")
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.CASCADE, related_name="payer_copays"
    )
    amount = models.DecimalField("copay ($)", max_digits=8, decimal_places=2, null=True, blank=True)
    percent = models.DecimalField(
        "coinsurance (%)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["payer", "appointment_type"], name="one_copay_per_payer_and_visit_type"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__isnull=False) | models.Q(percent__isnull=False),
                name="visit_type_copay_has_amount_or_percent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.payer} · {self.appointment_type}"
