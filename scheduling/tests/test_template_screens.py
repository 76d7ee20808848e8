"""The manager's screens: schedule templates (list, create, preview) and time off / closures."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.tests.factories import StaffFactory
from scheduling.models import (
    Appointment,
    ClinicClosure,
    ProviderTimeOff,
    ScheduleTemplate,
    TemplateBlock,
)
from scheduling.tests.conftest import MONDAY, local
from scheduling.tests.factories import (
    AppointmentFactory,
    ProviderTimeOffFactory,
    ScheduleTemplateFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
DASH = "\N{EN DASH}"  # between a slot's start and end
EMPTY_ROW = {
    "weekday": "",
    "start_time": "",
    "end_time": "",
    "slot_minutes": "15",
    "kind": "regular",
    "hold_release_hours": "24",
    "overbook_limit": "0",
}


def template_data(provider, blocks: list[dict[str, str]], **header: str) -> dict[str, object]:
    """The new-template form as the browser posts it: filled rows, then blank spare rows."""
    rows = [*blocks, EMPTY_ROW, EMPTY_ROW]
    data: dict[str, object] = {
        "provider": str(provider.pk),
        "name": "Spring",
        "effective_from": MONDAY.isoformat(),
        "effective_to": "",
        "blocks-TOTAL_FORMS": str(len(rows)),
        "blocks-INITIAL_FORMS": "0",
        "blocks-MIN_NUM_FORMS": "0",
        "blocks-MAX_NUM_FORMS": "60",
    }
    data.update(header)
    for i, row in enumerate(rows):
        for key, value in {**EMPTY_ROW, **row}.items():
            data[f"blocks-{i}-{key}"] = value
    return data


def block(weekday: int, start: str, end: str, **fields: str) -> dict[str, str]:
    return {"weekday": str(weekday), "start_time": start, "end_time": end, **fields}


@pytest.fixture
def manager_client(client: Client, manager) -> Client:
    client.force_login(manager)
    return client


def test_front_desk_is_refused_the_manager_screens(client: Client, front_desk, provider) -> None:
    client.force_login(front_desk)
    for url in ("/scheduling/templates/", "/scheduling/templates/new/"):
        assert client.get(url).status_code == 403
    data = template_data(provider, [block(0, "08:00", "12:00")])
    assert client.post("/scheduling/templates/new/", data).status_code == 403
    assert client.post("/scheduling/templates/preview/", data).status_code == 403
    time_off = {
        "timeoff-provider": provider.pk,
        "timeoff-start": "2027-03-01T08:00",
        "timeoff-end": "2027-03-01T12:00",
    }
    assert client.post("/scheduling/time-off/add/", time_off).status_code == 403
    assert (
        client.post("/scheduling/closures/add/", {"closure-day": "2027-03-01"}).status_code == 403
    )
    assert not ProviderTimeOff.objects.exists()
    assert not ClinicClosure.objects.exists()
    assert not ScheduleTemplate.objects.exists()


def test_another_clinics_template_and_provider_are_404(
    manager_client: Client, other_clinic
) -> None:
    stranger = StaffFactory(roles=[roles.PROVIDER], clinics=[other_clinic])
    theirs = ScheduleTemplateFactory(clinic=other_clinic, provider=stranger)
    assert manager_client.get(f"/scheduling/templates/{theirs.pk}/").status_code == 404
    assert (
        manager_client.get(f"/scheduling/templates/new/?provider={stranger.pk}").status_code == 404
    )
    assert manager_client.get(f"/scheduling/templates/?provider={stranger.pk}").status_code == 404


def test_a_provider_of_another_clinic_is_a_form_error(manager_client: Client, other_clinic) -> None:
    stranger = StaffFactory(roles=[roles.PROVIDER], clinics=[other_clinic])
    data = template_data(stranger, [block(0, "08:00", "12:00")])
    response = manager_client.post("/scheduling/templates/new/", data)
    assert response.status_code == 200
    assert b"This provider does not work at" in response.content
    assert not ScheduleTemplate.objects.exists()


def test_the_list_shows_the_clinics_templates_only(
    manager_client: Client, template, other_clinic
) -> None:
    stranger = StaffFactory(roles=[roles.PROVIDER], clinics=[other_clinic], user__last_name="Zed")
    ScheduleTemplateFactory(clinic=other_clinic, provider=stranger, name="Elsewhere")
    response = manager_client.get("/scheduling/templates/")
    assert response.status_code == 200
    assert f"/scheduling/templates/{template.pk}/".encode() in response.content
    assert b"Elsewhere" not in response.content
    fragment = manager_client.get(f"/scheduling/templates/?provider={template.provider_id}", **HTMX)
    assert fragment.status_code == 200
    assert b"<html" not in fragment.content
    assert b'id="template-list"' in fragment.content


def test_a_template_is_created_with_blocks(manager_client: Client, provider, visit) -> None:
    data = template_data(
        provider,
        [
            block(0, "08:00", "12:00", slot_minutes="20", appointment_types=str(visit.pk)),
            block(0, "12:00", "13:00", kind="admin"),
            block(2, "13:00", "15:00", kind="same_day_hold", hold_release_hours="4"),
        ],
    )
    response = manager_client.post("/scheduling/templates/new/", data)
    template = ScheduleTemplate.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/scheduling/templates/{template.pk}/"
    assert template.provider == provider
    assert template.effective_from == MONDAY
    blocks = list(template.blocks.order_by("weekday", "start_time"))
    assert [(b.weekday, b.start_time, b.end_time, b.kind) for b in blocks] == [
        (0, dt.time(8), dt.time(12), TemplateBlock.Kind.REGULAR),
        (0, dt.time(12), dt.time(13), TemplateBlock.Kind.ADMIN),
        (2, dt.time(13), dt.time(15), TemplateBlock.Kind.SAME_DAY_HOLD),
    ]
    assert list(blocks[0].appointment_types.all()) == [visit]
    assert blocks[0].slot_minutes == 20
    assert blocks[2].hold_release_hours == 4
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.CREATE, object_id=str(template.pk)
    ).exists()
    detail = manager_client.get(response["Location"])
    assert detail.status_code == 200
    assert f"08:00{DASH}08:20".encode() in detail.content  # the saved template's week of slots


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ([block(0, "12:00", "08:00")], b"A block must end after it starts."),
        ([block(0, "08:00", "12:00"), block(0, "11:00", "13:00")], b"Blocks overlap on weekday 0"),
        ([], b"Add at least one block."),
        ([block(0, "08:00", "12:00", slot_minutes="2")], b"greater than or equal to 5"),
        ([block(9, "08:00", "12:00")], b"Select a valid choice"),
        ([block(0, "8am", "12:00")], b"Enter a valid time"),
    ],
)
def test_bad_blocks_show_a_message_and_save_nothing(
    manager_client: Client, provider, blocks, message: bytes
) -> None:
    response = manager_client.post("/scheduling/templates/new/", template_data(provider, blocks))
    assert response.status_code == 200
    assert message in response.content
    assert not ScheduleTemplate.objects.exists()
    assert not TemplateBlock.objects.exists()


def test_a_second_template_on_the_same_day_names_the_date(
    manager_client: Client, provider, template
) -> None:
    data = template_data(
        provider, [block(0, "08:00", "12:00")], effective_from=template.effective_from.isoformat()
    )
    response = manager_client.post("/scheduling/templates/new/", data)
    assert response.status_code == 200
    assert b"Takes over from: This provider already has a template starting that day." in (
        response.content
    )
    assert ScheduleTemplate.objects.count() == 1


def test_garbage_input_is_a_message_not_an_error(manager_client: Client, provider) -> None:
    data = template_data(provider, [block(0, "08:00", "12:00")], effective_from="soon")
    data["provider"] = "abc"
    data["blocks-TOTAL_FORMS"] = "x"
    for url in ("/scheduling/templates/new/", "/scheduling/templates/preview/"):
        response = manager_client.post(url, data)
        assert response.status_code == 200
    assert not ScheduleTemplate.objects.exists()


def test_add_rows_keeps_what_was_typed_and_saves_nothing(manager_client: Client, provider) -> None:
    data = template_data(provider, [block(0, "08:00", "12:00")])
    data["more"] = "1"
    response = manager_client.post("/scheduling/templates/new/", data)
    assert response.status_code == 200
    assert b'name="blocks-TOTAL_FORMS" value="8"' in response.content
    assert b'value="08:00"' in response.content
    assert b"There is a problem" not in response.content
    assert not ScheduleTemplate.objects.exists()


def test_preview_renders_the_weeks_slots_and_saves_nothing(
    manager_client: Client, provider
) -> None:
    data = template_data(
        provider,
        [
            block(0, "08:00", "09:00", slot_minutes="20"),
            block(0, "09:00", "10:00", kind="buffer", slot_minutes="30"),
        ],
    )
    response = manager_client.post("/scheduling/templates/preview/", data, **HTMX)
    assert response.status_code == 200
    content = response.content.decode()
    assert "<html" not in content
    assert 'id="template-preview"' in content
    for slot in (
        f"08:00{DASH}08:20",
        f"08:20{DASH}08:40",
        f"08:40{DASH}09:00",
        f"09:00{DASH}09:30",
        f"09:30{DASH}10:00",
    ):
        assert slot in content
    assert "Buffer (urgent add-ons)" in content
    assert not ScheduleTemplate.objects.exists()
    assert not TemplateBlock.objects.exists()


def test_preview_keeps_local_times_on_a_daylight_saving_day(
    manager_client: Client, provider
) -> None:
    dst_sunday = dt.date(2027, 3, 14)  # New York springs forward at 02:00
    data = template_data(
        provider,
        [block(6, "01:00", "04:00", slot_minutes="60")],
        effective_from=dst_sunday.isoformat(),
    )
    content = manager_client.post("/scheduling/templates/preview/", data, **HTMX).content.decode()
    # 01:00 local is EST, 04:00 is EDT: two real hours, so two one-hour slots.
    assert f"01:00{DASH}03:00" in content
    assert f"03:00{DASH}04:00" in content
    assert content.count("tpl-slot tpl-slot--regular") == 2


def test_preview_of_an_incomplete_form_lists_the_problems(manager_client: Client, provider) -> None:
    data = template_data(provider, [block(0, "12:00", "08:00")])
    response = manager_client.post("/scheduling/templates/preview/", data, **HTMX)
    assert response.status_code == 200
    assert b"Block 1, End: A block must end after it starts." in response.content
    assert not ScheduleTemplate.objects.exists()


def test_preview_opened_directly_is_the_whole_page(manager_client: Client, provider) -> None:
    data = template_data(provider, [block(0, "08:00", "09:00")])
    response = manager_client.get("/scheduling/templates/preview/", data)
    assert response.status_code == 200
    assert b"<html" in response.content
    assert f"08:00{DASH}08:15".encode() in response.content


@pytest.fixture
def booked(clinic, provider, visit, make_patient) -> Appointment:
    return AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        patient=make_patient(last_name="Bookedpatient"),
        start=local(MONDAY, 9),
    )


def test_time_off_lists_the_appointments_to_move(
    manager_client: Client, provider, booked, visit, make_patient, clinic, other_clinic
) -> None:
    provider.clinics.add(other_clinic)
    AppointmentFactory(
        clinic=other_clinic,
        provider=provider,
        patient__last_name="Elsewherepatient",
        start=local(MONDAY, 11),
    )
    AppointmentFactory(
        clinic=clinic,
        provider=provider,
        appointment_type=visit,
        patient=make_patient(last_name="Cancelledpatient"),
        start=local(MONDAY, 10),
        status=Appointment.Status.CANCELLED,
        cancel_reason=Appointment.CancelReason.PATIENT_REQUEST,
    )
    response = manager_client.post(
        "/scheduling/time-off/add/",
        {
            "timeoff-provider": provider.pk,
            "timeoff-start": "2027-03-01T08:00",
            "timeoff-end": "2027-03-01T12:00",
            "timeoff-reason": "Conference",
        },
        **HTMX,
    )
    assert response.status_code == 200
    time_off = ProviderTimeOff.objects.get()
    assert time_off.start == local(MONDAY, 8)
    assert b"1 booked appointment to move" in response.content
    assert f'href="/scheduling/appointments/{booked.pk}/"'.encode() in response.content
    assert b"Bookedpatient" in response.content
    assert b"Cancelledpatient" not in response.content
    assert b"Elsewherepatient" not in response.content
    assert b"1 more at clinics you do not work at" in response.content
    shown = AuditEvent.objects.get(action=AuditEvent.Action.VIEW)
    assert shown.changes["appointment_ids"] == [booked.pk]


def test_time_off_ending_before_it_starts_saves_nothing(manager_client: Client, provider) -> None:
    response = manager_client.post(
        "/scheduling/time-off/add/",
        {
            "timeoff-provider": provider.pk,
            "timeoff-start": "2027-03-01T12:00",
            "timeoff-end": "2027-03-01T08:00",
        },
    )
    assert response.status_code == 200
    assert b"Until: The end must be after the start." in response.content
    assert not ProviderTimeOff.objects.exists()


def test_time_off_for_another_clinics_provider_saves_nothing(
    manager_client: Client, other_clinic
) -> None:
    stranger = StaffFactory(roles=[roles.PROVIDER], clinics=[other_clinic])
    response = manager_client.post(
        "/scheduling/time-off/add/",
        {
            "timeoff-provider": stranger.pk,
            "timeoff-start": "2027-03-01T08:00",
            "timeoff-end": "2027-03-01T12:00",
        },
    )
    assert response.status_code == 200
    assert b"This provider does not work at" in response.content
    assert not ProviderTimeOff.objects.exists()


def test_a_closure_lists_the_days_appointments_and_refuses_a_second(
    manager_client: Client, booked
) -> None:
    response = manager_client.post(
        "/scheduling/closures/add/", {"closure-day": "2027-03-01", "closure-reason": "Storm"}
    )
    assert response.status_code == 200
    assert f'href="/scheduling/appointments/{booked.pk}/"'.encode() in response.content
    assert ClinicClosure.objects.get().reason == "Storm"
    again = manager_client.post("/scheduling/closures/add/", {"closure-day": "2027-03-01"})
    assert again.status_code == 200
    assert b"Day: The clinic is already closed that day." in again.content
    assert ClinicClosure.objects.count() == 1
    bad = manager_client.post("/scheduling/closures/add/", {"closure-day": "someday"})
    assert b"Day: Enter a valid date." in bad.content


def test_the_time_off_page_shows_whats_ahead(
    manager_client: Client, provider, clinic, front_desk
) -> None:
    ProviderTimeOffFactory(provider=provider, reason="Jury duty")
    response = manager_client.get("/scheduling/time-off/")
    assert response.status_code == 200
    assert b"Jury duty" in response.content
    assert b"Add provider time off" in response.content
    manager_client.force_login(front_desk)
    desk_view = manager_client.get("/scheduling/time-off/")
    assert desk_view.status_code == 200
    assert b"Add provider time off" not in desk_view.content
