"""`seed_incidents` (run by seed_demo): incidents in every state, with actions and a linked
flag, audited and sealed; a second run adds nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from clinicops.audit import audit
from clinicops.core.models import Clinic
from clinicops.demo.management.commands.seed_demo import APP_SEEDERS
from compliance.models import CorrectiveAction, Incident

pytestmark = pytest.mark.django_db


def test_the_demo_incidents_cover_every_state_with_actions_and_a_linked_flag() -> None:
    call_command("seed_demo", stdout=StringIO(), verbosity=0, core_only=True, patients=20)
    call_command("seed_compliance", stdout=StringIO())
    call_command("seed_incidents", stdout=StringIO())

    clinics = Clinic.objects.count()
    assert Incident.objects.count() == 7 * clinics
    assert set(Incident.objects.values_list("status", flat=True)) == set(Incident.Status.values)
    assert Incident.objects.filter(reopen_count=1).count() == clinics
    assert Incident.objects.exclude(close_reason="").count() == clinics
    assert set(CorrectiveAction.objects.values_list("status", flat=True)) == {
        "open",
        "done",
        "verified",
    }
    assert Incident.objects.filter(flags__isnull=False).count() == clinics
    for incident in Incident.objects.filter(status="closed"):
        assert incident.closed_at > incident.reported_at
    result = audit.verify_chain()
    assert (result.broken, result.unsealed) == (None, 0)

    call_command("seed_incidents", stdout=StringIO())
    assert Incident.objects.count() == 7 * clinics


def test_seed_demo_runs_it_after_the_flags() -> None:
    assert APP_SEEDERS.index("seed_incidents") > APP_SEEDERS.index("seed_compliance")
