"""`seed_compliance` (run by seed_demo): flags in several states, one anonymous, all audited."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic
from compliance.models import Flag

pytestmark = pytest.mark.django_db


def test_the_demo_flags_cover_the_states_and_are_audited_and_sealed() -> None:
    call_command("seed_demo", stdout=StringIO(), verbosity=0, core_only=True, patients=20)
    call_command("seed_compliance", stdout=StringIO())
    clinics = Clinic.objects.count()
    assert clinics >= 1
    assert Flag.objects.count() == 4 * clinics
    assert set(Flag.objects.values_list("status", flat=True)) == {
        "new",
        "in_progress",
        "resolved",
    }
    anonymous = Flag.objects.filter(anonymous=True)
    assert anonymous.count() == clinics
    assert not anonymous.exclude(reporter=None).exists()
    assert AuditEvent.objects.filter(object_type="compliance.flag").count() == 4 * clinics + 2 * (
        clinics
    )
    result = audit.verify_chain()
    assert (result.broken, result.unsealed) == (None, 0)
    # a second run adds nothing
    call_command("seed_compliance", stdout=StringIO())
    assert Flag.objects.count() == 4 * clinics
