from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.demo import CLINICS, DEMO_LOGINS
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
    validate_npi,
)
from clinicops.core.tests.factories import DEMO_PASSWORD

pytestmark = pytest.mark.django_db

SEEDED_MODELS = (Clinic, OpeningHours, Room, Payer, User, Staff, Group, Patient, Coverage)


def seed(**options: object) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, verbosity=0, core_only=True, **options)
    return out.getvalue()


def counts() -> dict[str, int]:
    rows = {model.__name__: model.objects.count() for model in SEEDED_MODELS}
    rows["staff clinics"] = Staff.clinics.through.objects.count()
    rows["user groups"] = User.groups.through.objects.count()
    rows["audit events"] = AuditEvent.objects.count()
    return rows


def test_a_second_run_creates_nothing_new() -> None:
    seed(patients=40)
    first = counts()

    seed(patients=40)

    assert counts() == first
    assert first["Patient"] == 40
    assert first["Clinic"] == 2


def test_a_larger_count_tops_up_and_a_smaller_one_deletes_nothing() -> None:
    seed(patients=20, seed=1)
    first_mrns = set(Patient.objects.values_list("mrn", flat=True))

    seed(patients=50, seed=1)
    assert Patient.objects.count() == 50
    assert first_mrns < set(Patient.objects.values_list("mrn", flat=True))
    # The top-up adds new people rather than twins of the first twenty.
    names = list(Patient.objects.values_list("first_name", "last_name", "date_of_birth"))
    assert len(set(names)) == len(names)

    seed(patients=30, seed=1)
    assert Patient.objects.count() == 50


def test_every_demo_login_holds_its_role_and_the_demo_password() -> None:
    seed(patients=0)

    for role, username in DEMO_LOGINS:
        user = User.objects.get(username=username)
        assert user.role_names == [role], username
        assert user.check_password(DEMO_PASSWORD), username
        assert user.clinic_ids, f"{username} works in no clinic"
    assert {role for role, _ in DEMO_LOGINS} == set(roles.ALL_ROLES)
    admin = User.objects.get(username="admin")
    assert admin.is_staff
    assert not admin.is_superuser
    assert not User.objects.filter(is_staff=True).exclude(username="admin").exists()
    # The clinic switcher only shows for someone in two clinics.
    for username in ("frontdesk", "manager"):
        assert len(User.objects.get(username=username).clinic_ids) == 2


def test_providers_have_valid_distinct_npis_and_no_one_else_has_one() -> None:
    seed(patients=0)

    providers = Staff.objects.filter(user__groups__name=roles.PROVIDER)
    npis = [staff.npi for staff in providers]
    assert len(npis) >= 4
    assert len(set(npis)) == len(npis)
    for npi in npis:
        validate_npi(npi)
    for staff in providers:
        staff.full_clean()
    assert not Staff.objects.exclude(user__groups__name=roles.PROVIDER).exclude(npi="").exists()
    # Every demo clinic has someone to book with.
    for clinic in Clinic.objects.all():
        assert providers.filter(clinics=clinic).exists(), clinic


def test_clinics_have_their_time_zone_opening_hours_and_rooms() -> None:
    seed(patients=0)

    for spec in CLINICS:
        clinic = Clinic.objects.get(name=spec.name)
        assert clinic.time_zone == spec.time_zone
        assert 6 <= clinic.rooms.count() <= 8
        assert clinic.opening_hours.filter(weekday__lt=5).count() == 5
        assert not clinic.opening_hours.filter(weekday=6).exists()
    assert Clinic.objects.get(name="Hillcrest Pediatrics").time_zone == "America/Chicago"
    assert Payer.objects.filter(kind=Payer.Kind.MEDICARE).exists()


def test_a_small_run_makes_believable_fake_patients() -> None:
    out = seed(patients=60, seed=7)

    assert "DEMO DATA" in out
    patients = list(Patient.objects.select_related("clinic"))
    assert len(patients) == 60
    assert Patient.objects.filter(clinic__name="Riverside Family Clinic").count() == 36
    for patient in patients:
        assert patient.mrn[-1] == str(luhn_check_digit(patient.mrn[:-1]))
        assert patient.phone_digits == normalize_phone(patient.phone)
        assert patient.email == "" or patient.email.endswith("@example.com")
        assert patient.first_name
        assert patient.last_name
        patient.full_clean()
        if patient.clinic.name == "Hillcrest Pediatrics":
            assert patient.age_on(patient.clinic.today()) < 18
    assert len({p.mrn for p in patients}) == 60
    assert sum(bool(p.phone) for p in patients) > 40
    assert Patient.objects.filter(coverages__isnull=False).distinct().count() > 45
    for coverage in Coverage.objects.select_related("patient", "payer"):
        assert coverage.effective_from >= coverage.patient.date_of_birth
        coverage.full_clean()


def test_each_batch_of_patients_leaves_an_audit_entry() -> None:
    seed(patients=30)

    events = AuditEvent.objects.filter(action=AuditEvent.Action.CREATE, object_type="core.patient")
    assert events.count() == 2  # one batch per clinic
    assert all("DEMO DATA" in event.summary for event in events)
    assert {event.clinic_id for event in events} == set(Clinic.objects.values_list("pk", flat=True))


def test_the_same_seed_makes_the_same_people() -> None:
    seed(patients=10, seed=3)
    first = sorted(Patient.objects.values_list("first_name", "last_name", "date_of_birth"))
    Coverage.objects.all().delete()
    Patient.objects.all().delete()

    seed(patients=10, seed=3)

    assert sorted(Patient.objects.values_list("first_name", "last_name", "date_of_birth")) == first


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(CommandError, match="--patients"):
        seed(patients=-1)
    assert not Clinic.objects.exists()
