from __future__ import annotations

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone

from clinicops.core import roles
from clinicops.core.middleware import SESSION_CLINIC, CurrentClinicMiddleware
from clinicops.core.tests.factories import ClinicFactory

pytestmark = pytest.mark.django_db


def run_middleware(user, session_clinic=None):
    seen = {}

    def view(request):
        seen["clinic"] = request.clinic
        seen["zone"] = timezone.get_current_timezone_name()
        return HttpResponse()

    request = RequestFactory().get("/")
    request.user = user
    request.session = SessionStore()
    if session_clinic is not None:
        request.session[SESSION_CLINIC] = session_clinic.pk
    CurrentClinicMiddleware(view)(request)
    return seen


def test_requests_run_in_the_current_clinics_time_zone(make_user) -> None:
    chicago = ClinicFactory(name="Lakeside", time_zone="America/Chicago")
    user = make_user(roles.FRONT_DESK, clinics=[chicago])
    seen = run_middleware(user)
    assert seen["clinic"] == chicago
    assert seen["zone"] == "America/Chicago"
    # and the override ends with the request
    assert timezone.get_current_timezone_name() == "UTC"


def test_a_remembered_clinic_the_user_no_longer_works_in_is_ignored(
    make_user, clinic, other_clinic
) -> None:
    user = make_user(roles.FRONT_DESK, clinics=[clinic])
    seen = run_middleware(user, session_clinic=other_clinic)
    assert seen["clinic"] == clinic


def test_a_new_login_lands_on_the_clinic_chosen_last(make_user, client) -> None:
    first = ClinicFactory(name="Alder Clinic")
    second = ClinicFactory(name="Birch Clinic")
    user = make_user(roles.FRONT_DESK, clinics=[first, second])
    client.force_login(user)
    assert client.get("/patients/").context["current_clinic"] == first

    client.post("/clinic/switch/", {"clinic": second.pk, "next": "/patients/"})
    client.logout()
    client.force_login(user)

    response = client.get("/patients/")
    assert response.context["current_clinic"] == second
    assert client.session[SESSION_CLINIC] == second.pk


def test_a_last_clinic_the_user_left_is_not_used(make_user, client) -> None:
    first = ClinicFactory(name="Alder Clinic")
    second = ClinicFactory(name="Birch Clinic")
    third = ClinicFactory(name="Cedar Clinic")
    user = make_user(roles.FRONT_DESK, clinics=[first, second, third])
    client.force_login(user)
    client.post("/clinic/switch/", {"clinic": third.pk, "next": "/patients/"})
    user.staff.clinics.remove(third)
    client.logout()
    client.force_login(user)
    assert client.get("/patients/").context["current_clinic"] == first


def test_permissions_and_roles_come_with_the_clinics_in_one_query(make_user, clinic) -> None:
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user = make_user(roles.FRONT_DESK, clinics=[clinic])
    client = Client()
    client.force_login(user)
    client.get("/patients/")
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/patients/")
    assert response.status_code == 200
    assert roles.FRONT_DESK in response.content.decode()  # the header's role names
    sql = [q["sql"] for q in captured.captured_queries]
    (permissions,) = [q for q in sql if "auth_permission" in q]
    assert permissions.startswith('SELECT "core_clinic"."id"')

    # A role taken away is gone at the next request, as before.
    user.groups.remove(Group.objects.get(name=roles.FRONT_DESK))
    assert client.get("/patients/").status_code == 403


def test_the_middleware_fills_the_backends_per_request_caches(
    make_user, clinic, django_assert_num_queries
) -> None:
    from clinicops.core.models import User

    user = User.objects.get(pk=make_user(roles.NURSE, clinics=[clinic]).pk)  # no caches yet
    run_middleware(user)
    with django_assert_num_queries(0):
        assert user.has_perm("supplies.log_usage")
        assert not user.has_perm("scheduling.add_appointment")
        assert user.role_names == [roles.NURSE]
