"""The day's reference data comes from the cache, and any change to it is seen at once."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduling import screens
from scheduling.models import ClinicClosure, ProviderTimeOff
from scheduling.tests.conftest import MONDAY, local

pytestmark = pytest.mark.django_db


def test_the_days_reference_is_cached_and_replaced_on_change(clinic, provider, front_desk) -> None:
    first = screens.day_reference(user=front_desk, clinic=clinic, day=MONDAY)
    assert first.closure is None
    with CaptureQueriesContext(connection) as cached:
        again = screens.day_reference(user=front_desk, clinic=clinic, day=MONDAY)
    assert again.closure is None
    assert len(cached.captured_queries) == 0

    ClinicClosure.objects.create(clinic=clinic, day=MONDAY, reason="Flood")
    assert screens.day_reference(user=front_desk, clinic=clinic, day=MONDAY).closure.reason == (
        "Flood"
    )

    ProviderTimeOff.objects.create(
        provider=provider, start=local(MONDAY, 9), end=local(MONDAY, 10), reason="Dentist"
    )
    assert provider.pk in screens.day_reference(user=front_desk, clinic=clinic, day=MONDAY).time_off


def test_another_clinics_user_gets_nothing_from_the_cache(clinic, other_clinic, make_user) -> None:
    from clinicops.core import roles

    screens.day_reference(user=make_user(roles.FRONT_DESK), clinic=clinic, day=MONDAY)
    outsider = make_user(roles.FRONT_DESK, clinics=[other_clinic], username="outsider")
    found = screens.day_reference(user=outsider, clinic=clinic, day=MONDAY)
    assert found.providers == []
    assert found.templates == {}
