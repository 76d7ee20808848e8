"""Factories for the shared model, used by tests and by `seed_demo`."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import factory
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.utils import timezone
from factory.django import DjangoModelFactory

from clinicops.core.models import Clinic, Coverage, OpeningHours, Patient, Payer, Room, Staff, User

DEMO_PASSWORD = "demo-password-2026"  # documented in the README; demo data only


class ClinicFactory(DjangoModelFactory[Clinic]):
    class Meta:
        model = Clinic
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Clinic {n}")
    short_name = factory.LazyAttribute(lambda o: o.name.split()[0])
    time_zone = "America/New_York"
    address_line1 = factory.Faker("street_address")
    city = factory.Faker("city")
    state = factory.Faker("state_abbr")
    postal_code = factory.Faker("postcode")
    phone = factory.Faker("numerify", text="(###) ###-####")


class OpeningHoursFactory(DjangoModelFactory[OpeningHours]):
    class Meta:
        model = OpeningHours

    clinic = factory.SubFactory(ClinicFactory)
    weekday = 0
    opens = dt.time(8, 0)
    closes = dt.time(17, 0)


class RoomFactory(DjangoModelFactory[Room]):
    class Meta:
        model = Room

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Sequence(lambda n: f"Exam {n + 1}")
    kind = Room.Kind.EXAM


@functools.cache
def demo_password_hash() -> str:
    return make_password(DEMO_PASSWORD)


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    # Argon2 is slow on purpose; hash the shared demo password once per process, not per user.
    password = factory.LazyFunction(lambda: demo_password_hash())


class StaffFactory(DjangoModelFactory[Staff]):
    """A user with a staff profile. `roles=[...]` and `clinics=[...]` set groups and clinics."""

    class Meta:
        model = Staff
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)

    @factory.post_generation
    def roles(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted:
            self.user.groups.add(*Group.objects.filter(name__in=extracted))

    @factory.post_generation
    def clinics(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted:
            self.clinics.add(*extracted)


class PayerFactory(DjangoModelFactory[Payer]):
    class Meta:
        model = Payer
        django_get_or_create = ("name",)

    name = factory.Iterator(
        ["Blue Cross Blue Shield", "Aetna", "UnitedHealthcare", "Cigna", "Medicare", "Medicaid"]
    )
    payer_id = factory.Sequence(lambda n: f"{60000 + n}")
    kind = factory.LazyAttribute(
        lambda o: {"Medicare": Payer.Kind.MEDICARE, "Medicaid": Payer.Kind.MEDICAID}.get(
            o.name, Payer.Kind.COMMERCIAL
        )
    )


class PatientFactory(DjangoModelFactory[Patient]):
    class Meta:
        model = Patient

    clinic = factory.SubFactory(ClinicFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    date_of_birth = factory.Faker("date_of_birth", minimum_age=0, maximum_age=95)
    sex = factory.Iterator([Patient.Sex.FEMALE, Patient.Sex.MALE])
    phone = factory.Faker("numerify", text="(###) 555-####")
    email = factory.LazyAttribute(
        lambda o: f"{o.first_name}.{o.last_name}@example.com".lower().replace(" ", "")
    )
    address_line1 = factory.Faker("street_address")
    city = factory.Faker("city")
    state = factory.Faker("state_abbr")
    postal_code = factory.Faker("postcode")


class CoverageFactory(DjangoModelFactory[Coverage]):
    class Meta:
        model = Coverage

    patient = factory.SubFactory(PatientFactory)
    payer = factory.SubFactory(PayerFactory)
    member_id = factory.Faker("bothify", text="???#########", letters="ABCDEFGHJKLMNPQRSTUVWXYZ")
    group_number = factory.Faker("numerify", text="GRP-#####")
    effective_from = factory.LazyFunction(lambda: dt.date(timezone.localdate().year, 1, 1))
