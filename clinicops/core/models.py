"""The shared model every module builds on.

Clinic-owned rows use `ClinicScopedQuerySet.for_user()`: the one place that limits a query to
the clinics a user works in. Views look records up through it, so an id from another clinic is
a 404, never someone else's data.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Self

from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.contrib.postgres.indexes import OpClass
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import connection, models
from django.db.models.functions import Upper
from django.utils import timezone

from . import roles

if TYPE_CHECKING:
    from django.db.models.fields.related_descriptors import RelatedManager


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"“{value}” is not a known time zone (for example America/Chicago).")


def luhn_check_digit(digits: str) -> int:
    """The Luhn check digit for a string of digits (used by MRNs and, with 80840, by NPIs)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        n = int(char)
        if index % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return (10 - total % 10) % 10


def validate_npi(value: str) -> None:
    if not re.fullmatch(r"\d{10}", value or ""):
        raise ValidationError("An NPI is exactly 10 digits.")
    if luhn_check_digit("80840" + value[:9]) != int(value[9]):
        raise ValidationError("That NPI fails its check digit; check for a typo.")


# Patients a user may open outside their clinics, and why: {patient id: grant id}. Apps register
# a provider (compliance registers break-glass access, which expires by itself); core imports no
# app. Providers are asked once per user object (`User.extra_patient_grants`), so once a request.
PatientGrantProvider = Callable[["User"], Mapping[int, int]]
PATIENT_GRANT_PROVIDERS: list[PatientGrantProvider] = []


@dataclass(frozen=True)
class UserRead:
    """A fact about the user an app has CurrentClinicMiddleware read in its one query (the
    user's clinics, permissions and roles), so every page does not pay a round trip for it.

    `sql()` is a scalar SQL expression with the user id as its only parameter, of type
    `output_field`; `remember(user, value)` keeps the answer for the rest of the request (on
    the user object). Apps register theirs in USER_READS; core imports no app.
    """

    name: str
    sql: Callable[[], str]
    output_field: models.Field[Any, Any]
    remember: Callable[[User, Any], None]


USER_READS: list[UserRead] = []


class ClinicScopedQuerySet[M: models.Model](models.QuerySet[M]):
    """A queryset that knows how to limit itself to the clinics a user works in."""

    # The lookup from this model to its clinic, set per model (e.g. "patient__clinic").
    clinic_lookup = "clinic"
    # The lookup from this model to its patient's id, for models a patient-level grant
    # (break-glass) opens too ("pk" for Patient, "patient" for Coverage); None: clinic only.
    patient_lookup: str | None = None

    def for_user(self, user: User | AnonymousUser) -> Self:
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        in_clinics = models.Q(**{f"{self.clinic_lookup}__in": user.clinic_ids})
        if self.patient_lookup is not None:
            granted = user.extra_patient_grants
            if granted:
                return self.filter(
                    in_clinics | models.Q(**{f"{self.patient_lookup}__in": list(granted)})
                )
        return self.filter(in_clinics)

    def for_clinic(self, clinic: Clinic) -> Self:
        return self.filter(**{self.clinic_lookup: clinic})


class User(AbstractUser):
    """A person who logs in. Their work profile (roles, clinics, NPI) is `staff`."""

    @cached_property
    def clinic_ids(self) -> list[int]:
        """Ids of the clinics this user works in (all clinics for a superuser)."""
        if self.is_superuser:
            return list(Clinic.objects.values_list("pk", flat=True))
        return list(
            Clinic.objects.filter(staff__user=self, is_active=True).values_list("pk", flat=True)
        )

    @cached_property
    def extra_patient_grants(self) -> dict[int, int]:
        """{patient id: grant id} of the patients outside this user's clinics they may open
        now (break-glass), from the providers apps register in PATIENT_GRANT_PROVIDERS."""
        grants: dict[int, int] = {}
        for provider in PATIENT_GRANT_PROVIDERS:
            grants.update(provider(self))
        return grants

    @cached_property
    def role_names(self) -> list[str]:
        return sorted(self.groups.values_list("name", flat=True))

    def has_role(self, role: str) -> bool:
        return role in self.role_names

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class ClinicQuerySet(models.QuerySet["Clinic"]):
    def for_user(self, user: User | AnonymousUser) -> ClinicQuerySet:
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self.filter(is_active=True)
        return self.filter(pk__in=user.clinic_ids, is_active=True)


class Clinic(models.Model):
    name = models.CharField(max_length=120, unique=True)
    short_name = models.CharField(max_length=30, blank=True)
    time_zone = models.CharField(
        max_length=64, default="America/New_York", validators=[validate_time_zone]
    )
    address_line1 = models.CharField("address", max_length=200, blank=True)
    address_line2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=50, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    phone = models.CharField(max_length=30, blank=True)
    is_active = models.BooleanField(default=True)

    class WallDisplay(models.TextChoices):
        FIRST_NAME_INITIAL = "first_initial", "First name and last initial (Maria L.)"
        INITIALS = "initials", "Initials only (M. L.)"
        TICKET = "ticket", "Ticket number only"

    # How the waiting-room wall screen names a patient; never the full name.
    wall_display = models.CharField(
        "wall screen shows",
        max_length=20,
        choices=WallDisplay.choices,
        default=WallDisplay.FIRST_NAME_INITIAL,
    )

    objects = ClinicQuerySet.as_manager()

    if TYPE_CHECKING:
        opening_hours: RelatedManager[OpeningHours]
        rooms: RelatedManager[Room]

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def today(self) -> date:
        """Today's date where the clinic is, which is not the server's (UTC) date."""
        return timezone.localdate(timezone=self.tz)


class OpeningHours(models.Model):
    """One weekday's opening hours, in the clinic's local time. A missing weekday is closed."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering = ["clinic", "weekday"]
        verbose_name_plural = "opening hours"
        constraints = [
            models.UniqueConstraint(fields=["clinic", "weekday"], name="one_opening_per_weekday"),
            models.CheckConstraint(
                condition=models.Q(closes__gt=models.F("opens")), name="opening_closes_after_opens"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"


class Room(models.Model):
    class Kind(models.TextChoices):
        EXAM = "exam", "Exam room"
        PROCEDURE = "procedure", "Procedure room"
        TRIAGE = "triage", "Triage"
        CONSULT = "consult", "Consult room"
        LAB = "lab", "Lab / draw station"
        OTHER = "other", "Other"

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="rooms")
    name = models.CharField(max_length=60)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.EXAM)
    is_active = models.BooleanField(default=True)

    objects = ClinicScopedQuerySet["Room"].as_manager()

    class Meta:
        ordering = ["clinic", "name"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="unique_room_name_per_clinic")
        ]

    def __str__(self) -> str:
        return self.name


class Staff(models.Model):
    """A user's work profile: the clinics they work in and, for providers, their NPI."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="staff")
    clinics = models.ManyToManyField(Clinic, related_name="staff", blank=True)
    title = models.CharField(max_length=80, blank=True, help_text="e.g. RN, MD, Front desk lead")
    npi = models.CharField(
        "NPI",
        max_length=10,
        blank=True,
        validators=[validate_npi],
        help_text="National Provider Identifier; providers only.",
    )
    specialty = models.CharField(max_length=80, blank=True)
    phone = models.CharField(max_length=30, blank=True)
    # The clinic this person last chose in the header: a new login lands there.
    last_clinic = models.ForeignKey(
        Clinic, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name_plural = "staff"
        ordering = ["user__last_name", "user__first_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["npi"], condition=~models.Q(npi=""), name="unique_staff_npi"
            )
        ]

    def __str__(self) -> str:
        return self.user.display_name

    @property
    def is_provider(self) -> bool:
        return self.user.has_role(roles.PROVIDER)


class Payer(models.Model):
    class Kind(models.TextChoices):
        COMMERCIAL = "commercial", "Commercial"
        MEDICARE = "medicare", "Medicare"
        MEDICAID = "medicaid", "Medicaid"
        WORKERS_COMP = "workers_comp", "Workers' compensation"
        SELF_PAY = "self_pay", "Self-pay"
        OTHER = "other", "Other"

    name = models.CharField(max_length=120, unique=True)
    payer_id = models.CharField(
        "payer ID", max_length=20, blank=True, help_text="The clearinghouse / X12 payer identifier."
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.COMMERCIAL)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def normalize_phone(phone: str) -> str:
    """The last ten digits of a phone number (drops a leading country code 1)."""
    return re.sub(r"\D", "", phone or "")[-10:]


phone_validator = RegexValidator(
    r"^[0-9+()\-. ]{7,30}$", "Enter a phone number of digits, spaces, +, (, ), - or ."
)


class PatientQuerySet(ClinicScopedQuerySet["Patient"]):
    patient_lookup = "pk"

    def search(self, query: str) -> PatientQuerySet:
        """Patients matching an MRN, a date of birth, a phone number or a name prefix.

        Every branch is an indexed lookup (prefix LIKE on lower-cased names with pattern ops,
        equality elsewhere): no trigram extension is needed, so the embedded Postgres works too.
        """
        from .search import parse_patient_query

        return self.filter(parse_patient_query(query))


class Patient(models.Model):
    class Sex(models.TextChoices):
        FEMALE = "F", "Female"
        MALE = "M", "Male"
        OTHER = "X", "Other / non-binary"
        UNKNOWN = "U", "Unknown"

    clinic = models.ForeignKey(
        Clinic, on_delete=models.PROTECT, related_name="patients", help_text="Registered at."
    )
    mrn = models.CharField("MRN", max_length=12, unique=True, editable=False)
    first_name = models.CharField(max_length=80)
    middle_name = models.CharField(max_length=80, blank=True)
    last_name = models.CharField(max_length=80)
    preferred_name = models.CharField(max_length=80, blank=True)
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=1, choices=Sex.choices)
    phone = models.CharField(max_length=30, blank=True, validators=[phone_validator])
    # The last ten digits of `phone`, derived on save, so 5551234567 finds (555) 123-4567.
    phone_digits = models.CharField(max_length=30, blank=True, editable=False)
    email = models.EmailField(blank=True)
    address_line1 = models.CharField("address", max_length=200, blank=True)
    address_line2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=50, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    preferred_language = models.CharField(max_length=40, default="English")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The last time someone at the desk went over the contact details with the patient.
    demographics_confirmed_at = models.DateTimeField(null=True, blank=True)
    demographics_confirmed_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = PatientQuerySet.as_manager()

    if TYPE_CHECKING:
        coverages: RelatedManager[Coverage]

    # Fields an audit entry may show in "what changed"; all are PHI, which is why the audit
    # table itself is access-controlled.
    AUDITED_FIELDS: ClassVar[tuple[str, ...]] = (
        "first_name",
        "middle_name",
        "last_name",
        "preferred_name",
        "date_of_birth",
        "sex",
        "phone",
        "email",
        "address_line1",
        "address_line2",
        "city",
        "state",
        "postal_code",
        "preferred_language",
        "is_active",
    )

    class Meta:
        ordering = ["last_name", "first_name", "date_of_birth"]
        indexes = [
            # Django runs `istartswith` as UPPER(col::text) LIKE UPPER('smi%'), which is this
            # index's expression; the pattern opclass lets LIKE use it under any collation.
            # (MRN prefix search uses the *_like index Django adds for the unique field.)
            models.Index(
                OpClass(Upper("last_name"), name="text_pattern_ops"),
                OpClass(Upper("first_name"), name="text_pattern_ops"),
                name="patient_name_prefix",
            ),
            models.Index(fields=["clinic", "date_of_birth"], name="patient_clinic_dob"),
            models.Index(fields=["phone_digits"], name="patient_phone_digits"),
        ]

    def __str__(self) -> str:
        return f"{self.last_name}, {self.first_name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.phone_digits = normalize_phone(self.phone)
        if not self.mrn:
            self.mrn = Patient.allocate_mrns(1)[0]
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.middle_name, self.last_name) if p)

    def age_on(self, day: date) -> int:
        years = day.year - self.date_of_birth.year
        if (day.month, day.day) < (self.date_of_birth.month, self.date_of_birth.day):
            years -= 1
        return years

    @staticmethod
    def allocate_mrns(count: int) -> list[str]:
        """Reserve `count` new MRNs: a database sequence plus a Luhn check digit.

        A sequence, not max()+1, so concurrent registrations never collide; the check digit
        catches most single-digit typos when an MRN is read out over the phone.
        """
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval('core_patient_mrn_seq') FROM generate_series(1, %s)", [count]
            )
            numbers = [str(row[0]) for row in cursor.fetchall()]
        return [n + str(luhn_check_digit(n)) for n in numbers]


class Coverage(models.Model):
    class Relationship(models.TextChoices):
        SELF = "self", "Self"
        SPOUSE = "spouse", "Spouse"
        CHILD = "child", "Child"
        OTHER = "other", "Other"

    class Priority(models.IntegerChoices):
        PRIMARY = 1, "Primary"
        SECONDARY = 2, "Secondary"
        TERTIARY = 3, "Tertiary"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="coverages")
    payer = models.ForeignKey(Payer, on_delete=models.PROTECT, related_name="coverages")
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.PRIMARY)
    member_id = models.CharField("member ID", max_length=40)
    group_number = models.CharField(max_length=40, blank=True)
    subscriber_relationship = models.CharField(
        max_length=10, choices=Relationship.choices, default=Relationship.SELF
    )
    subscriber_name = models.CharField(
        max_length=160, blank=True, help_text="Only when the subscriber is not the patient."
    )
    # The subscriber's own details, needed on a claim when the patient is not the subscriber.
    subscriber_date_of_birth = models.DateField(null=True, blank=True)
    subscriber_sex = models.CharField(max_length=1, choices=Patient.Sex.choices, blank=True)
    subscriber_address_line1 = models.CharField("subscriber address", max_length=200, blank=True)
    subscriber_city = models.CharField(max_length=100, blank=True)
    subscriber_state = models.CharField(max_length=50, blank=True)
    subscriber_postal_code = models.CharField(max_length=20, blank=True)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)
    eligibility_verified_at = models.DateTimeField(null=True, blank=True)
    # What the patient pays at a visit under this plan: a fixed amount or a share of the
    # visit's charge (one of them, or neither when unknown). Check-in prefills it.
    copay_amount = models.DecimalField(
        "copay ($)", max_digits=8, decimal_places=2, null=True, blank=True
    )
    copay_percent = models.DecimalField(
        "coinsurance (%)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )

    class ScopedQuerySet(ClinicScopedQuerySet["Coverage"]):
        clinic_lookup = "patient__clinic"
        patient_lookup = "patient"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["patient", "priority", "-effective_from"]
        verbose_name_plural = "coverages"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(effective_to__isnull=True)
                | models.Q(effective_to__gte=models.F("effective_from")),
                name="coverage_ends_after_it_starts",
            )
        ]

    def __str__(self) -> str:
        return f"{self.payer} · {self.member_id}"

    def is_active_on(self, day: date) -> bool:
        ends = self.effective_to
        return self.effective_from <= day and (ends is None or day <= ends)
