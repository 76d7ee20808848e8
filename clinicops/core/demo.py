"""The shared model's demo data: a believable, entirely fictitious clinic group.

`manage.py seed_demo` (clinicops.demo) runs this first, then each module's own seed step.

Every person in it is made up: patients' phone numbers use the 555 exchange and their e-mail
addresses example.com. Running it again creates nothing new; a larger --patients tops the demo
clinics up to that many patients.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone
from faker import Faker
from faker.providers.person.en_US import Provider as PersonProvider
from tqdm import tqdm

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import (
    Clinic,
    Coverage,
    OpeningHours,
    Patient,
    Payer,
    Room,
    Staff,
    User,
    luhn_check_digit,
    normalize_phone,
)
from clinicops.core.tests.factories import DEMO_PASSWORD

# (role label, username): the logins a demo needs, one per role. The Makefile prints these.
DEMO_LOGINS: list[tuple[str, str]] = [
    (roles.FRONT_DESK, "frontdesk"),
    (roles.NURSE, "nurse"),
    (roles.PROVIDER, "provider"),
    (roles.BILLER, "biller"),
    (roles.MANAGER, "manager"),
    (roles.COMPLIANCE, "compliance"),
    (roles.ADMINISTRATOR, "admin"),
]

BATCH_SIZE = 5000
DEFAULT_PATIENTS = 3000
DEFAULT_SEED = 2026


@dataclass(frozen=True)
class ClinicSpec:
    name: str
    short_name: str
    time_zone: str
    address_line1: str
    city: str
    state: str
    postal_code: str
    phone: str
    # Share of the demo's patients registered here.
    share: float
    pediatric: bool
    # weekday -> (opens, closes), local time; a missing weekday is closed.
    hours: dict[int, tuple[dt.time, dt.time]]
    rooms: tuple[tuple[str, str], ...]
    area_codes: tuple[str, ...]
    towns: tuple[tuple[str, str], ...]


_WEEKDAYS_8_TO_5 = dict.fromkeys(range(5), (dt.time(8, 0), dt.time(17, 0)))

CLINICS: tuple[ClinicSpec, ...] = (
    ClinicSpec(
        name="Riverside Family Clinic",
        short_name="Riverside",
        time_zone="America/New_York",
        address_line1="1200 North Front Street",
        city="Harrisburg",
        state="PA",
        postal_code="17102",
        phone="(717) 555-0140",
        share=0.6,
        pediatric=False,
        hours={**_WEEKDAYS_8_TO_5, 5: (dt.time(9, 0), dt.time(12, 0))},
        rooms=(
            ("Exam 1", Room.Kind.EXAM),
            ("Exam 2", Room.Kind.EXAM),
            ("Exam 3", Room.Kind.EXAM),
            ("Exam 4", Room.Kind.EXAM),
            ("Exam 5", Room.Kind.EXAM),
            ("Procedure", Room.Kind.PROCEDURE),
            ("Triage", Room.Kind.TRIAGE),
            ("Lab", Room.Kind.LAB),
        ),
        area_codes=("717", "717", "223"),
        towns=(
            ("Harrisburg", "17102"),
            ("Harrisburg", "17104"),
            ("Harrisburg", "17110"),
            ("Camp Hill", "17011"),
            ("Mechanicsburg", "17055"),
            ("Hershey", "17033"),
            ("Carlisle", "17013"),
            ("Lemoyne", "17043"),
            ("New Cumberland", "17070"),
            ("Enola", "17025"),
        ),
    ),
    ClinicSpec(
        name="Hillcrest Pediatrics",
        short_name="Hillcrest",
        time_zone="America/Chicago",
        address_line1="850 Hillcrest Avenue",
        city="Springfield",
        state="IL",
        postal_code="62704",
        phone="(217) 555-0188",
        share=0.4,
        pediatric=True,
        hours={
            **dict.fromkeys(range(5), (dt.time(7, 30), dt.time(18, 0))),
            5: (dt.time(8, 0), dt.time(12, 0)),
        },
        rooms=(
            ("Exam 1", Room.Kind.EXAM),
            ("Exam 2", Room.Kind.EXAM),
            ("Exam 3", Room.Kind.EXAM),
            ("Exam 4", Room.Kind.EXAM),
            ("Well-child", Room.Kind.EXAM),
            ("Triage", Room.Kind.TRIAGE),
            ("Lab", Room.Kind.LAB),
        ),
        area_codes=("217", "217", "447"),
        towns=(
            ("Springfield", "62702"),
            ("Springfield", "62704"),
            ("Springfield", "62711"),
            ("Chatham", "62629"),
            ("Rochester", "62563"),
            ("Sherman", "62684"),
            ("Auburn", "62615"),
            ("Petersburg", "62675"),
            ("Riverton", "62561"),
        ),
    ),
)

# (name, X12 payer id, kind)
PAYERS: tuple[tuple[str, str, str], ...] = (
    ("Aetna", "60054", Payer.Kind.COMMERCIAL),
    ("Blue Cross Blue Shield", "00541", Payer.Kind.COMMERCIAL),
    ("Cigna", "62308", Payer.Kind.COMMERCIAL),
    ("Humana", "61101", Payer.Kind.COMMERCIAL),
    ("UnitedHealthcare", "87726", Payer.Kind.COMMERCIAL),
    ("Medicare", "12502", Payer.Kind.MEDICARE),
    ("Medicaid", "77027", Payer.Kind.MEDICAID),
    ("State Workers' Compensation Fund", "WC001", Payer.Kind.WORKERS_COMP),
    ("Self-pay", "", Payer.Kind.SELF_PAY),
)
COMMERCIAL_PAYERS = ("Aetna", "Blue Cross Blue Shield", "Cigna", "Humana", "UnitedHealthcare")


@dataclass(frozen=True)
class StaffSpec:
    username: str
    first_name: str
    last_name: str
    role: str
    clinics: tuple[str, ...]
    title: str
    specialty: str = ""
    # The NPI's first nine digits; the tenth is its Luhn check digit (computed, never typed).
    npi_base: str = ""
    is_staff: bool = False


RIVERSIDE, HILLCREST = CLINICS[0].name, CLINICS[1].name
BOTH = (RIVERSIDE, HILLCREST)

STAFF: tuple[StaffSpec, ...] = (
    StaffSpec("frontdesk", "Maria", "Lopez", roles.FRONT_DESK, BOTH, "Front desk lead"),
    StaffSpec("nurse", "Grace", "Kim", roles.NURSE, (RIVERSIDE,), "RN"),
    StaffSpec(
        "provider",
        "Priya",
        "Shah",
        roles.PROVIDER,
        (RIVERSIDE,),
        "MD",
        "Family medicine",
        npi_base="104729385",
    ),
    StaffSpec("biller", "Tom", "Becker", roles.BILLER, BOTH, "Billing specialist"),
    StaffSpec("manager", "Dana", "Whitfield", roles.MANAGER, BOTH, "Practice manager"),
    StaffSpec("compliance", "Alan", "Reyes", roles.COMPLIANCE, BOTH, "Compliance officer"),
    StaffSpec(
        "admin",
        "Sam",
        "Patel",
        roles.ADMINISTRATOR,
        BOTH,
        "Systems administrator",
        is_staff=True,
    ),
    StaffSpec(
        "dr.okafor",
        "Chidi",
        "Okafor",
        roles.PROVIDER,
        (RIVERSIDE,),
        "MD",
        "Family medicine",
        npi_base="119283746",
    ),
    StaffSpec(
        "np.harris",
        "Lauren",
        "Harris",
        roles.PROVIDER,
        (RIVERSIDE,),
        "NP",
        "Family medicine",
        npi_base="132847560",
    ),
    StaffSpec(
        "dr.bennett",
        "Emily",
        "Bennett",
        roles.PROVIDER,
        (HILLCREST,),
        "MD",
        "Pediatrics",
        npi_base="145930281",
    ),
    StaffSpec(
        "dr.kowalski",
        "Mark",
        "Kowalski",
        roles.PROVIDER,
        (HILLCREST,),
        "DO",
        "Pediatrics",
        npi_base="160382947",
    ),
    StaffSpec("ma.jones", "Tasha", "Jones", roles.NURSE, (HILLCREST,), "Medical assistant"),
    StaffSpec("frontdesk.hill", "Kevin", "Brooks", roles.FRONT_DESK, (HILLCREST,), "Front desk"),
)


def npi_for(base: str) -> str:
    """A valid NPI: nine digits plus the Luhn check digit over the 80840 prefix."""
    return base + str(luhn_check_digit("80840" + base))


def seed_reference_data() -> dict[str, Clinic]:
    """Clinics, opening hours, rooms, payers and staff; get_or_create throughout."""
    clinics: dict[str, Clinic] = {}
    for spec in CLINICS:
        clinic, _ = Clinic.objects.get_or_create(
            name=spec.name,
            defaults={
                "short_name": spec.short_name,
                "time_zone": spec.time_zone,
                "address_line1": spec.address_line1,
                "city": spec.city,
                "state": spec.state,
                "postal_code": spec.postal_code,
                "phone": spec.phone,
            },
        )
        clinics[spec.name] = clinic
        for weekday, (opens, closes) in spec.hours.items():
            OpeningHours.objects.get_or_create(
                clinic=clinic, weekday=weekday, defaults={"opens": opens, "closes": closes}
            )
        for name, kind in spec.rooms:
            Room.objects.get_or_create(clinic=clinic, name=name, defaults={"kind": kind})

    for name, payer_id, kind in PAYERS:
        Payer.objects.get_or_create(name=name, defaults={"payer_id": payer_id, "kind": kind})

    groups = {group.name: group for group in Group.objects.filter(name__in=roles.ALL_ROLES)}
    missing = set(roles.ALL_ROLES) - set(groups)
    if missing:
        raise CommandError(f"Role groups missing ({', '.join(sorted(missing))}): run migrate.")
    # One hash for every demo login: Argon2 is slow on purpose, and these share a password anyway.
    password_hash = make_password(DEMO_PASSWORD)
    for person in STAFF:
        user, _ = User.objects.get_or_create(
            username=person.username,
            defaults={
                "first_name": person.first_name,
                "last_name": person.last_name,
                "email": f"{person.username}@example.org",
                "is_staff": person.is_staff,
                "password": password_hash,
            },
        )
        staff, _ = Staff.objects.get_or_create(
            user=user,
            defaults={
                "title": person.title,
                "specialty": person.specialty,
                "npi": npi_for(person.npi_base) if person.npi_base else "",
            },
        )
        staff.clinics.add(*(clinics[name] for name in person.clinics))
        user.groups.add(groups[person.role])
    return clinics


def top_up_patients(clinics: dict[str, Clinic], *, total: int, seed: int, progress: bool) -> int:
    """Create patients (and their coverage) until the demo clinics hold `total` between them."""
    payers = {payer.name: payer for payer in Payer.objects.filter(name__in=[p[0] for p in PAYERS])}
    plan: list[tuple[ClinicSpec, Clinic, int, int]] = []
    remaining = total
    for index, spec in enumerate(CLINICS):
        target = remaining if index == len(CLINICS) - 1 else round(total * spec.share)
        remaining -= target
        clinic = clinics[spec.name]
        existing = Patient.objects.filter(clinic=clinic).count()
        if target > existing:
            plan.append((spec, clinic, existing, target - existing))
    missing = sum(count for *_, count in plan)
    created = 0
    with tqdm(
        total=missing, unit="patients", disable=not progress or not missing, file=sys.stderr
    ) as bar:
        for spec, clinic, existing, count in plan:
            # Seeded by what is there already, so a top-up adds new people, not the same again.
            rng = random.Random(f"{seed}:{spec.name}:{existing}")
            people = PatientMaker(spec, clinic, payers, rng)
            for start in range(0, count, BATCH_SIZE):
                size = min(BATCH_SIZE, count - start)
                created += create_batch(people, clinic, size)
                bar.update(size)
    return created


def create_batch(people: PatientMaker, clinic: Clinic, size: int) -> int:
    """Insert `size` patients and their coverage in one transaction, with one audit entry."""
    with transaction.atomic():
        batch = [people.patient() for _ in range(size)]
        # bulk_create skips save(), which is what fills these two in.
        for patient, mrn in zip(batch, Patient.allocate_mrns(size), strict=True):
            patient.mrn = mrn
            patient.phone_digits = normalize_phone(patient.phone)
        Patient.objects.bulk_create(batch, batch_size=BATCH_SIZE)
        coverages = [coverage for patient in batch for coverage in people.coverages(patient)]
        Coverage.objects.bulk_create(coverages, batch_size=BATCH_SIZE)
        audit.record(
            actor="seed_demo",
            action=AuditEvent.Action.CREATE,
            object_type="core.patient",
            clinic=clinic,
            summary=f"DEMO DATA: seed_demo registered {size} fictitious patients",
            changes={"mrns": [batch[0].mrn, batch[-1].mrn], "coverages": len(coverages)},
        )
    return size


def _by_frequency(names: dict[str, float]) -> tuple[list[str], list[float]]:
    """Names and their cumulative weights: real-world frequencies, precomputed once."""
    return list(names), list(itertools.accumulate(names.values()))


_FIRST_FEMALE = _by_frequency(PersonProvider.first_names_female)
_FIRST_MALE = _by_frequency(PersonProvider.first_names_male)
_LAST = _by_frequency(PersonProvider.last_names)
_STREET_SUFFIXES = ("Street", "Avenue", "Road", "Lane", "Drive", "Court", "Way", "Place")
_LANGUAGES = (("English", 88), ("Spanish", 8), ("Vietnamese", 1), ("Arabic", 1), ("Nepali", 1))
_MBI_LETTERS = "ACDEFGHJKMNPQRTUVWXY"  # Medicare IDs never use S, L, O, I, B or Z


class PatientMaker:
    """Makes one clinic's fictitious patients and their insurance, from one seeded generator."""

    def __init__(
        self, spec: ClinicSpec, clinic: Clinic, payers: dict[str, Payer], rng: random.Random
    ) -> None:
        self.spec = spec
        self.clinic = clinic
        self.payers = payers
        self.rng = rng
        self.today = clinic.today()
        faker = Faker("en_US")
        faker.seed_instance(rng.random())
        self.streets = [faker.last_name() for _ in range(120)] + [
            "Oak", "Maple", "Cedar", "Elm", "Walnut", "Chestnut", "Market", "Church", "Mill",
            "Park", "Ridge", "Highland", "Spring", "Lincoln", "Washington", "Orchard",
        ]  # fmt: skip
        self.languages = [name for name, _ in _LANGUAGES], [weight for _, weight in _LANGUAGES]

    def _first_name(self, sex: str) -> str:
        female = sex == Patient.Sex.FEMALE or (sex != Patient.Sex.MALE and self.rng.random() < 0.5)
        names, cumulative = _FIRST_FEMALE if female else _FIRST_MALE
        return self.rng.choices(names, cum_weights=cumulative)[0]

    def _age(self) -> int:
        rng = self.rng
        if self.spec.pediatric:
            # Pediatric panels skew young: infants come in often for well-child visits.
            return rng.choices(range(18), [9, 8, 7, 6, 6, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 4, 4])[0]
        bucket = rng.choices(((0, 17), (18, 39), (40, 64), (65, 94)), (18, 30, 33, 19))[0]
        return rng.randint(*bucket)

    def patient(self) -> Patient:
        rng = self.rng
        sex = rng.choices(
            (Patient.Sex.FEMALE, Patient.Sex.MALE, Patient.Sex.OTHER, Patient.Sex.UNKNOWN),
            (51, 48, 0.7, 0.3),
        )[0]
        first = self._first_name(sex)
        last = rng.choices(_LAST[0], cum_weights=_LAST[1])[0]
        age = self._age()
        born = self.today - dt.timedelta(days=age * 365 + age // 4 + rng.randint(0, 364))
        town, postal_code = rng.choice(self.spec.towns)
        has_email = rng.random() < (0.4 if age < 13 else 0.75)
        slug = re.sub(r"[^a-z.]", "", f"{first}.{last}".lower())
        return Patient(
            clinic=self.clinic,
            first_name=first,
            middle_name=self._first_name(sex) if rng.random() < 0.35 else "",
            last_name=last,
            preferred_name=rng.choice(("Sam", "Jo", "Alex", "Chris"))
            if rng.random() < 0.02
            else "",
            date_of_birth=born,
            sex=sex,
            phone=(
                f"({rng.choice(self.spec.area_codes)}) 555-{rng.randint(0, 9999):04d}"
                if rng.random() < 0.96
                else ""
            ),
            email=f"{slug}{rng.randint(1, 99)}@example.com" if has_email else "",
            address_line1=f"{rng.randint(10, 9899)} {rng.choice(self.streets)} "
            f"{rng.choice(_STREET_SUFFIXES)}",
            address_line2=f"Apt {rng.randint(1, 24)}{rng.choice('ABCD')}"
            if rng.random() < 0.12
            else "",
            city=town,
            state=self.spec.state,
            postal_code=postal_code,
            preferred_language=rng.choices(*self.languages)[0],
        )

    def coverages(self, patient: Patient) -> Iterator[Coverage]:
        """Insurance that fits the patient: Medicare past 65, Medicaid or a parent's plan for
        children, an employer plan for most adults, and a few who pay for themselves."""
        rng = self.rng
        age = patient.age_on(self.today)
        child = age < 18
        if age >= 65:
            primary = "Medicare"
        elif child:
            primary = "Medicaid" if rng.random() < 0.42 else rng.choice(COMMERCIAL_PAYERS)
        else:
            roll = rng.random()
            if roll < 0.06:
                return  # self-pay: no coverage on file
            primary = "Medicaid" if roll < 0.2 else rng.choice(COMMERCIAL_PAYERS)
        yield self._coverage(patient, primary, Coverage.Priority.PRIMARY, child=child)
        if age >= 65 and rng.random() < 0.4:
            secondary = rng.choice(COMMERCIAL_PAYERS)
            yield self._coverage(patient, secondary, Coverage.Priority.SECONDARY, child=False)
        elif not child and primary != "Medicaid" and rng.random() < 0.04:
            others = [name for name in COMMERCIAL_PAYERS if name != primary]
            yield self._coverage(
                patient, rng.choice(others), Coverage.Priority.SECONDARY, child=False
            )

    def _coverage(self, patient: Patient, payer: str, priority: int, *, child: bool) -> Coverage:
        rng = self.rng
        kind = self.payers[payer].kind
        if kind == Payer.Kind.MEDICARE:
            member_id = self._mbi()
            group = ""
        elif kind == Payer.Kind.MEDICAID:
            member_id = f"{rng.randint(10**9, 10**10 - 1)}"
            group = ""
        else:
            prefix = "".join(rng.choices("ABCDEFGHJKMNPRSTUVWXYZ", k=3))
            member_id = f"{prefix}{rng.randint(10**8, 10**9 - 1)}"
            group = f"{rng.randint(100000, 999999)}"
        subscriber = child and kind != Payer.Kind.MEDICAID
        parent_sex = rng.choice((Patient.Sex.FEMALE, Patient.Sex.MALE))
        years_on_plan = rng.randint(0, 6)
        verified = rng.random() < 0.6
        return Coverage(
            patient=patient,
            payer=self.payers[payer],
            priority=priority,
            member_id=member_id,
            group_number=group,
            subscriber_relationship=(
                Coverage.Relationship.CHILD if subscriber else Coverage.Relationship.SELF
            ),
            subscriber_name=(
                f"{self._first_name(parent_sex)} {patient.last_name}" if subscriber else ""
            ),
            # The parent's details a claim needs (no random draws: the rest of the demo's
            # random sequence stays as it was).
            subscriber_date_of_birth=(
                patient.date_of_birth.replace(year=patient.date_of_birth.year - 30, day=1)
                if subscriber
                else None
            ),
            subscriber_sex=parent_sex if subscriber else "",
            subscriber_address_line1=patient.address_line1 if subscriber else "",
            subscriber_city=patient.city if subscriber else "",
            subscriber_state=patient.state if subscriber else "",
            subscriber_postal_code=patient.postal_code if subscriber else "",
            effective_from=max(
                dt.date(self.today.year - years_on_plan, 1, 1), patient.date_of_birth
            ),
            eligibility_verified_at=(
                timezone.now() - dt.timedelta(days=rng.randint(0, 90)) if verified else None
            ),
        )

    def _mbi(self) -> str:
        """A Medicare Beneficiary Identifier in its published shape (e.g. 1EG4-TE5-MK73)."""
        rng = self.rng
        digit, letter = "0123456789", _MBI_LETTERS
        alnum = digit + letter
        pattern = ("123456789", letter, alnum, digit, letter, alnum, digit, letter, letter, digit,
                   digit)  # fmt: skip
        return "".join(rng.choice(chars) for chars in pattern)
