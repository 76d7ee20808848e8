"""Patient flow: the visit, its append-only step history, payments, rooms and alert thresholds.

A visit's current step and room are stored on the visit so the flow board reads one row per
patient; they change only in `services`, under a row lock, together with a new `VisitEvent`.
The events are the history: a database trigger (migration 0002) refuses UPDATE and DELETE on
them, and a mistaken step is undone by a new event that names the one it reverses.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from clinicops.core.models import Clinic, ClinicScopedQuerySet, Coverage, Patient, Room
from scheduling.models import Appointment

if TYPE_CHECKING:
    from django.db.models.fields.related_descriptors import RelatedManager


class Step(models.TextChoices):
    CHECKED_IN = "checked_in", "Checked in"
    ROOMED = "roomed", "Roomed"
    WITH_PROVIDER = "with_provider", "With provider"
    READY_FOR_CHECKOUT = "ready_for_checkout", "Ready for checkout"
    CHECKED_OUT = "checked_out", "Checked out"
    LEFT_WITHOUT_BEING_SEEN = "left_without_being_seen", "Left without being seen"
    SENT_ELSEWHERE = "sent_elsewhere", "Sent to another department"


# The steps of a visit still in the clinic, in the order a patient goes through them.
ACTIVE_STEPS: tuple[str, ...] = (
    Step.CHECKED_IN,
    Step.ROOMED,
    Step.WITH_PROVIDER,
    Step.READY_FOR_CHECKOUT,
)
FINAL_STEPS: tuple[str, ...] = (
    Step.CHECKED_OUT,
    Step.LEFT_WITHOUT_BEING_SEEN,
    Step.SENT_ELSEWHERE,
)
# The patient occupies an exam room in these steps; "ready for checkout" means they left it.
IN_ROOM_STEPS: tuple[str, ...] = (Step.ROOMED, Step.WITH_PROVIDER)

# Moves the board and the visit page may make; checkout has its own screen and service.
NEXT_STEPS: dict[str, tuple[str, ...]] = {
    Step.CHECKED_IN: (Step.ROOMED, Step.LEFT_WITHOUT_BEING_SEEN, Step.SENT_ELSEWHERE),
    Step.ROOMED: (Step.WITH_PROVIDER, Step.LEFT_WITHOUT_BEING_SEEN, Step.SENT_ELSEWHERE),
    Step.WITH_PROVIDER: (Step.READY_FOR_CHECKOUT, Step.SENT_ELSEWHERE),
    Step.READY_FOR_CHECKOUT: (Step.CHECKED_OUT,),
    Step.CHECKED_OUT: (),
    Step.LEFT_WITHOUT_BEING_SEEN: (),
    Step.SENT_ELSEWHERE: (),
}
# The main path: what "advance" means for each active step.
FORWARD: dict[str, str] = {
    Step.CHECKED_IN: Step.ROOMED,
    Step.ROOMED: Step.WITH_PROVIDER,
    Step.WITH_PROVIDER: Step.READY_FOR_CHECKOUT,
    Step.READY_FOR_CHECKOUT: Step.CHECKED_OUT,
}

MONEY_MAX = Decimal("99999.99")


class PaymentMethod(models.TextChoices):
    CASH = "cash", "Cash"
    CARD = "card", "Card"
    CHECK = "check", "Check"
    OTHER = "other", "Other"


class IntakeForm(models.TextChoices):
    CONSENT = "consent", "Consent to treat"
    PRIVACY = "privacy", "Notice of privacy practices"
    FINANCIAL = "financial", "Financial policy"
    RELEASE = "release", "Release of information"


class Visit(models.Model):
    """One patient's visit for one appointment, from check-in to checkout."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="visits")
    appointment = models.OneToOneField(Appointment, on_delete=models.PROTECT, related_name="visit")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="visits")
    is_walk_in = models.BooleanField(default=False)
    step = models.CharField(max_length=30, choices=Step.choices, default=Step.CHECKED_IN)
    step_since = models.DateTimeField()
    room = models.ForeignKey(
        Room, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    checked_in_at = models.DateTimeField()
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    checked_out_at = models.DateTimeField(null=True, blank=True)
    # When the visit's effective timeline entered "with provider" (its step events minus the
    # undone ones): kept by the database from the event log (migration 0003's trigger on
    # VisitEvent, which every writer goes through), never written by Python. The KPI medians
    # read it instead of the events (docs/decisions: denormalised visit times).
    with_provider_at = models.DateTimeField(null=True, blank=True, editable=False)
    coverage = models.ForeignKey(
        Coverage,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The coverage this visit is billed to; empty for self-pay.",
    )
    insurance_confirmed = models.BooleanField(default=False)
    forms_signed = ArrayField(
        models.CharField(max_length=20, choices=IntakeForm.choices), default=list, blank=True
    )
    notes = models.CharField(max_length=255, blank=True)
    follow_up = models.ForeignKey(
        Appointment, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = ClinicScopedQuerySet["Visit"].as_manager()

    if TYPE_CHECKING:
        events: RelatedManager[VisitEvent]
        payments: RelatedManager[VisitPayment]

    AUDITED_FIELDS: ClassVar[tuple[str, ...]] = (
        "step",
        "room",
        "insurance_confirmed",
        "forms_signed",
        "follow_up",
        "checked_out_at",
    )

    class Meta:
        ordering = ["checked_in_at"]
        permissions = [("checkout_visit", "Can check a visit out")]
        indexes = [
            models.Index(fields=["clinic", "checked_in_at"], name="visit_clinic_checked_in"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["room"],
                condition=models.Q(step__in=["roomed", "with_provider"]),
                name="visit_one_patient_per_room",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(step__in=["roomed", "with_provider"], room__isnull=False)
                    | (
                        ~models.Q(step__in=["roomed", "with_provider"])
                        & models.Q(room__isnull=True)
                    )
                ),
                name="visit_room_only_while_in_room",
            ),
            models.CheckConstraint(
                condition=~models.Q(step="checked_out") | models.Q(checked_out_at__isnull=False),
                name="visit_checked_out_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"Visit of {self.patient} ({self.get_step_display()})"

    @property
    def is_active(self) -> bool:
        return self.step in ACTIVE_STEPS

    @property
    def arrival_minutes(self) -> int:
        """Minutes between check-in and the scheduled start: negative is early, positive late."""
        return round((self.checked_in_at - self.appointment.start) / timedelta(minutes=1))


class VisitEvent(models.Model):
    """One step of a visit: who moved it, when, from where to where, and in which room.

    Append-only: a trigger refuses UPDATE and DELETE. An undo is its own event (with a reason)
    that names the event it reverses, so the history shows both the mistake and the fix.
    """

    class Kind(models.TextChoices):
        ADVANCE = "advance", "Step"
        UNDO = "undo", "Undo"
        ROOM_CHANGE = "room_change", "Room change"

    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.ADVANCE)
    from_step = models.CharField(max_length=30, choices=Step.choices, blank=True)
    to_step = models.CharField(max_length=30, choices=Step.choices)
    room = models.ForeignKey(
        Room, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    reason = models.CharField(max_length=255, blank=True)
    undoes = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="undone_by"
    )

    class ScopedQuerySet(ClinicScopedQuerySet["VisitEvent"]):
        clinic_lookup = "visit__clinic"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["visit", "at", "pk"]
        default_permissions = ("view",)
        indexes = [models.Index(fields=["visit", "at"], name="visitevent_visit_at")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="undo")
                | (models.Q(undoes__isnull=False) & ~models.Q(reason="")),
                name="visitevent_undo_has_reason_and_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.from_step or '-'} -> {self.to_step} at {self.at:%Y-%m-%d %H:%M}"


class VisitPayment(models.Model):
    """Money taken at the desk for a visit (a copay at check-in, a balance at checkout).

    Append-only like the step history: a mistake is corrected by a later entry, not an edit.
    """

    class Kind(models.TextChoices):
        COPAY = "copay", "Copay"
        BALANCE = "balance", "Balance"

    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.DecimalField(max_digits=7, decimal_places=2)
    method = models.CharField(max_length=10, choices=PaymentMethod.choices)
    receipt_number = models.CharField(max_length=40)
    taken_at = models.DateTimeField()
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class ScopedQuerySet(ClinicScopedQuerySet["VisitPayment"]):
        clinic_lookup = "visit__clinic"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["visit", "taken_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0) & models.Q(amount__lte=MONEY_MAX),
                name="visitpayment_amount_positive",
            ),
            models.CheckConstraint(
                condition=~models.Q(receipt_number=""), name="visitpayment_has_receipt"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} ({self.get_method_display()})"


class RoomTurn(models.Model):
    """One patient's use of a room: occupied, vacated, then cleaned for the next one.

    A room has at most one turn not yet cleaned (a partial unique index), so two patients can
    never be put in one room, and a room is cleaned before the next patient goes in.
    """

    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="turns")
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="room_turns")
    occupied_at = models.DateTimeField()
    vacated_at = models.DateTimeField(null=True, blank=True)
    cleaned_at = models.DateTimeField(null=True, blank=True)
    cleaned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # A rooming that was undone: the patient never was in the room, so no turnover is counted.
    undone = models.BooleanField(default=False)

    class ScopedQuerySet(ClinicScopedQuerySet["RoomTurn"]):
        clinic_lookup = "room__clinic"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["room", "occupied_at"]
        indexes = [models.Index(fields=["room", "occupied_at"], name="roomturn_room_time")]
        constraints = [
            models.UniqueConstraint(
                fields=["room"],
                condition=models.Q(cleaned_at__isnull=True),
                name="roomturn_one_uncleaned_per_room",
            ),
            models.CheckConstraint(
                condition=models.Q(vacated_at__isnull=True)
                | models.Q(vacated_at__gte=models.F("occupied_at")),
                name="roomturn_vacated_after_occupied",
            ),
            models.CheckConstraint(
                condition=models.Q(cleaned_at__isnull=True)
                | (
                    models.Q(vacated_at__isnull=False)
                    & models.Q(cleaned_at__gte=models.F("vacated_at"))
                ),
                name="roomturn_cleaned_after_vacated",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.room} from {self.occupied_at:%H:%M}"


class StepThreshold(models.Model):
    """When a visit has waited too long in a step at one clinic: amber, then red."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="flow_thresholds")
    step = models.CharField(max_length=30, choices=[(s, Step(s).label) for s in ACTIVE_STEPS])
    amber_minutes = models.PositiveSmallIntegerField()
    red_minutes = models.PositiveSmallIntegerField()

    objects = ClinicScopedQuerySet["StepThreshold"].as_manager()

    # Defaults where a clinic has set none (minutes in the step before amber, before red).
    DEFAULTS: ClassVar[dict[str, tuple[int, int]]] = {
        Step.CHECKED_IN: (15, 30),
        Step.ROOMED: (20, 40),
        Step.WITH_PROVIDER: (30, 60),
        Step.READY_FOR_CHECKOUT: (10, 20),
    }

    class Meta:
        ordering = ["clinic", "step"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "step"], name="one_threshold_per_step"),
            models.CheckConstraint(
                condition=models.Q(amber_minutes__gt=0)
                & models.Q(red_minutes__gt=models.F("amber_minutes")),
                name="threshold_red_after_amber",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.clinic}: {self.step} amber {self.amber_minutes} red {self.red_minutes}"
