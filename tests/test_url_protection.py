"""Every URL the project serves needs a login, except a short, reviewed list."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

# Views that must answer without a login, each for a stated reason. Adding to this list is a
# security decision: say why in the comment.
PUBLIC_URL_NAMES = {
    "login",  # the way in
    "healthz",  # load balancer / compose health check; reveals nothing
    "scheduling:confirm",  # signed link in a reminder email; the signature is the credential
    "workforce:ical",  # a staff member's calendar feed; the signed token is the credential
}

SAMPLE_VALUES = {
    "int": "1",
    "str": "x",
    "slug": "x",
    "uuid": "00000000-0000-0000-0000-000000000001",
}


def walk(
    patterns: list[URLPattern | URLResolver], prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str]]:
    """(a concrete path, the URL's qualified name) for every pattern, resolvers included."""
    for pattern in patterns:
        route = str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            ns = pattern.namespace
            yield from walk(
                pattern.url_patterns,
                prefix + route,
                f"{namespace}:{ns}".strip(":") if ns else namespace,
            )
        else:
            name = f"{namespace}:{pattern.name}".strip(":") if pattern.name else ""
            yield prefix + route, name


def concrete(route: str) -> str | None:
    """Fill <converter:name> with sample values; skip regex routes we cannot fill safely."""
    # Regex routes (the admin's): a named group becomes its first alternative, or "x".
    path = re.sub(r"\(\?P<\w+>([^)]*)\)", lambda m: m.group(1).split("|")[0], route)
    path = path.replace("^", "").replace("$", "").replace(".*", "x")
    path = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE_VALUES.get(m.group(1) or "str", "x"), path)
    if any(ch in path for ch in "()[]?*+\\"):
        return None
    return "/" + path


ROUTES = sorted(set(walk(get_resolver().url_patterns)))


def test_the_walk_finds_the_project_urls() -> None:
    names = {name for _, name in ROUTES}
    assert {"home", "login", "core:patient_search", "compliance:audit_log"} <= names
    assert any(route.startswith("admin/") for route, _ in ROUTES)


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "name"), ROUTES, ids=[r for r, _ in ROUTES])
def test_anonymous_visit_redirects_to_login(client: Client, route: str, name: str) -> None:
    if name in PUBLIC_URL_NAMES:
        pytest.skip(f"{name} is public on purpose")
    path = concrete(route)
    if path is None:
        pytest.skip(f"cannot build a sample path for {route}")
    response = client.get(path)
    assert response.status_code == 302, f"{path} answered {response.status_code} to anonymous"
    # The admin sends its visitors via its own login URL, which forwards to ours.
    for _ in range(2):
        if response.status_code != 302 or response["Location"].startswith("/login/"):
            break
        response = client.get(response["Location"])
    assert response.status_code == 302, f"{path} ended at {response.status_code}"
    assert response["Location"].startswith("/login/"), response["Location"]


@pytest.mark.django_db
def test_public_urls_are_few_and_known() -> None:
    from django.urls import resolve

    public = set()
    for route, name in ROUTES:
        path = concrete(route)
        if path is None:
            continue
        try:
            match = resolve(path)
        except Exception:  # noqa: S112 - sample path not resolvable: not a view
            continue
        if getattr(match.func, "login_required", True) is False and not path.startswith("/admin/"):
            public.add(name)
    assert public <= PUBLIC_URL_NAMES


# Views that accept POST: forms and actions. Every other view of the project is a read and
# must answer 405 to POST (a read that accepted POST wrote a VIEW audit event on a request that
# a cross-site form could send). Adding to this set says: this view writes.
POST_URL_NAMES = {
    "login",
    "logout",
    "switch_clinic",
    "core:patient_create",
    "core:patient_edit",
    "core:coverage_add",
    "core:coverage_edit",
    "kpis:choose",
    "patientflow:check_in",
    "patientflow:verify_coverage",
    "patientflow:demographics",
    "patientflow:room_clean",
    "patientflow:thresholds",
    "patientflow:checkout",
    "patientflow:follow_up",
    "patientflow:move",
    "patientflow:change_room",
    "patientflow:undo",
    "patientflow:walk_in",
    "scheduling:appointment_cancel",
    "scheduling:appointment_undo_cancel",
    "scheduling:appointment_notes",
    "scheduling:appointment_status",
    "scheduling:book",
    "scheduling:closure_add",
    "scheduling:confirm",
    "scheduling:find_book",
    "scheduling:template_new",
    "scheduling:template_preview",
    "scheduling:time_off_add",
    "scheduling:waitlist",
    "scheduling:waitlist_remove",
    "scheduling:offer_respond",
    "supplies:refill",
    "workforce:assign",
    "workforce:unassign",
    "workforce:publish",
    "workforce:autofill",
    "workforce:autofill_apply",
    "workforce:autofill_discard",
    "workforce:time_off_request",
    "workforce:time_off_decide",
    "workforce:my_punch",
    "workforce:my_confirm",
    "workforce:my_pin",
    "workforce:kiosk_punch",
    "workforce:timesheet_correct",
    "workforce:timesheet_approve",
    "workforce:credential_add",
    "supplies:count",
    "supplies:count_cancel",
    "supplies:count_post",
    "supplies:count_start",
    "supplies:found_reviewed",
    "supplies:waste_expired",
    "supplies:import",
    "supplies:levels_edit",
    "supplies:accept_par",
    "supplies:order_cancel",
    "supplies:order_receive",
    "supplies:order_send",
    "supplies:reorder",
    "supplies:log",
    "supplies:quick_count",
    "supplies:undo",
    "revenue:start",
    "revenue:set_diagnoses",
    "revenue:add_line",
    "revenue:remove_line",
    "revenue:mark_ready",
    "revenue:reopen",
    "revenue:claim_scrub",
    "revenue:claim_update",
    "revenue:claim_status",
    "revenue:claim_replace",
    "revenue:export",
    "revenue:import_codes",
    "revenue:import_fees",
    "revenue:remittances",
    "revenue:denials_assign",
    "revenue:denial_status",
    "revenue:denial_note",
    "revenue:denial_appeal",
    "revenue:denial_resubmit",
    "revenue:denial_write_off",
    "revenue:batch_check",
    "compliance:flag_create",
    "compliance:flag_detail",
    "compliance:flag_link",
    "compliance:incident_create",
    "compliance:incident_triage",
    "compliance:incident_move",
    "compliance:incident_close",
    "compliance:incident_reopen",
    "compliance:incident_analysis",
    "compliance:incident_events",
    "compliance:action_add",
    "compliance:action_done",
    "compliance:action_verify",
    "compliance:action_cancel",
    "compliance:action_reassign",
    "compliance:break_glass",
    "compliance:break_glass_detail",
    "compliance:access_reviews",
    "compliance:access_review_detail",
    "compliance:hints",
    "compliance:hint_detail",
}

# The project's own views (the Django admin's are Django's).
PROJECT_ROUTES = [(route, name) for route, name in ROUTES if not route.startswith("admin/")]


@pytest.fixture
def superuser_client(client: Client, django_user_model: type) -> Client:
    from clinicops.core.tests.factories import ClinicFactory

    ClinicFactory()
    user = django_user_model.objects.create_superuser("root", "root@example.com", "x" * 16)
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "name"), PROJECT_ROUTES, ids=[r for r, _ in PROJECT_ROUTES])
def test_every_view_allows_only_the_methods_it_serves(
    superuser_client: Client, route: str, name: str
) -> None:
    # Asked by a user who may do everything, so that nothing but the method can refuse.
    path = concrete(route)
    assert path is not None, route
    # No view serves PUT, DELETE or PATCH: every view declares its methods.
    for method in ("put", "delete", "patch"):
        response = getattr(superuser_client, method)(path)
        assert response.status_code == 405, f"{method.upper()} {path}: {response.status_code}"
    if name in POST_URL_NAMES:
        return
    response = superuser_client.post(path, {"q": "x"})
    assert response.status_code == 405, f"POST {path} (a read) answered {response.status_code}"
    assert "GET" in response["Allow"]


def test_the_post_list_names_real_views() -> None:
    assert not POST_URL_NAMES - {name for _, name in ROUTES}


@pytest.mark.django_db
def test_reading_a_patient_by_post_writes_no_audit_event(superuser_client: Client, clinic) -> None:
    from clinicops.audit.models import AuditEvent
    from clinicops.core.tests.factories import PatientFactory

    patient = PatientFactory(clinic=clinic)
    before = AuditEvent.objects.filter(action=AuditEvent.Action.VIEW).count()
    assert superuser_client.post(f"/patients/{patient.pk}/").status_code == 405
    assert AuditEvent.objects.filter(action=AuditEvent.Action.VIEW).count() == before
