"""Hostile input never gets a 500: every view, every parameter it reads, GET and POST.

The parameters are not listed by hand. A middleware records which query and form parameters a
view actually reads; each URL is requested (as the first role it lets in) with valid values
for what it read until it reads nothing new. Then every parameter found is sent, one at a
time and the others left valid, with each hostile value: a NUL character, the calendar's
first and last days, huge and negative numbers, very long strings, non-numeric ids, unicode
digits that `str.isdigit` accepts and `int` refuses, and so on. Path ids get huge numbers
too. A Hypothesis test then draws further values at random for the parameters found.

Any answer is fine (a message on the form, a clamp, a 400, a 404) except a 500.
"""

from __future__ import annotations

import datetime as dt
import re
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse, QueryDict
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import CoverageFactory, PatientFactory, RoomFactory
from clinicops.kpis import registry
from patientflow.services import checkin
from patientflow.tests.clock import midday_zone
from scheduling.services import reminders as scheduling_reminders
from scheduling.services import transitions as scheduling_transitions
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    ScheduleTemplateFactory,
    TemplateBlockFactory,
    WaitlistEntryFactory,
)
from supplies.services import counts as supplies_counts
from supplies.services import orders as supplies_orders
from supplies.services import usage as supplies_usage
from supplies.tests.factories import (
    LocationItemFactory,
    StockLocationFactory,
    SupplierFactory,
    SupplyItemFactory,
    SupplyRoomFactory,
)

pytestmark = pytest.mark.django_db

HOSTILE: dict[str, str] = {
    "nul": "a\x00b",
    "first day": "0001-01-01",
    "last day": "9999-12-31",
    "last minute": "9999-12-31T23:59",
    "huge int": "9" * 30,
    "negative int": "-1",
    "very long": "x" * 3000,
    "not a number": "abc",
    "superscript digit": "\u00b2",  # "²".isdigit() is True, int("²") raises
    "unicode": "\u202e\U0001d54f\U0001f600\u0301",
    "control characters": "\x01\x1b[31m\x7f",
}
# The order roles are tried in: the first one a URL lets in is the one it is swept as.
ROLE_ORDER = [
    roles.FRONT_DESK,
    roles.NURSE,
    roles.MANAGER,
    roles.PROVIDER,
    roles.BILLER,
    roles.COMPLIANCE,
    roles.ADMINISTRATOR,
]
SKIPPED_NAMESPACES = {"admin"}  # Django's own admin: only administrators, its own forms
SKIPPED_NAMES = {"logout"}  # would end the session the sweep runs in


# --- recording which parameters a view reads ---------------------------------------------------


class RecordingQueryDict(QueryDict):
    """A QueryDict that notes every key looked up in it."""

    seen: set[str]

    def __getitem__(self, key: str) -> Any:
        self.seen.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return super().get(key, default)

    def getlist(self, key: str, default: Any = None) -> list[Any]:
        self.seen.add(key)
        return super().getlist(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.seen.add(key)
        return super().__contains__(key)

    # Copying or listing every item (dict(), items(), urlencode) is not reading a parameter.
    def items(self) -> Iterator[tuple[str, Any]]:
        for key in dict.keys(self):
            yield key, MultiValueDict.__getitem__(self, key)

    def values(self) -> Iterator[Any]:
        for _key, value in self.items():
            yield value

    def dict(self) -> dict[str, Any]:
        return dict(self.items())

    def __deepcopy__(self, memo: dict) -> RecordingQueryDict:
        copy = super().__deepcopy__(memo)
        copy.seen = self.seen
        return copy


SEEN: set[str] = set()


def recording(source: QueryDict) -> RecordingQueryDict:
    recorded = RecordingQueryDict(mutable=True)
    recorded.seen = SEEN
    for key, values in source.lists():
        recorded.setlist(key, values)
    recorded._mutable = False
    return recorded


class RecordingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.GET = recording(request.GET)
        if request.method == "POST":
            request.POST = recording(request.POST)
        return self.get_response(request)


# --- the world the sweep runs in -----------------------------------------------------------------


@pytest.fixture
def world(clinic: Clinic, make_user: Callable[..., User], settings: Any) -> dict[str, Any]:
    settings.MIDDLEWARE = [f"{__name__}.RecordingMiddleware", *settings.MIDDLEWARE]
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "hi"}
    }
    clinic.time_zone = midday_zone()
    clinic.save(update_fields=["time_zone"])
    users = {role: make_user(role, username=role.lower().replace(" ", "")) for role in ROLE_ORDER}
    desk, nurse, manager = users[roles.FRONT_DESK], users[roles.NURSE], users[roles.MANAGER]
    provider = make_user(roles.PROVIDER, username="drosler").staff
    template = ScheduleTemplateFactory(
        clinic=clinic, provider=provider, effective_from=clinic.today() - dt.timedelta(days=7)
    )
    for weekday in range(7):
        TemplateBlockFactory(
            template=template,
            weekday=weekday,
            start_time=dt.time(8),
            end_time=dt.time(18),
            overbook_limit=1,
        )
    visit_type = AppointmentTypeFactory(clinic=clinic, name="Follow-up", duration_minutes=20)
    patient = PatientFactory(clinic=clinic, first_name="Harriet", last_name="Quimby")
    coverage = CoverageFactory(patient=patient)
    rooms = [RoomFactory(clinic=clinic, name=f"Exam {n}") for n in (1, 2)]
    now = timezone.now().astimezone(clinic.tz)
    slot = now.replace(minute=now.minute - now.minute % 20, second=0, microsecond=0)
    tomorrow = clinic.today() + dt.timedelta(days=1)
    at = dt.datetime.combine(tomorrow, dt.time(10), tzinfo=clinic.tz)

    def appointment(start: dt.datetime, **fields: Any) -> Any:
        return AppointmentFactory(
            clinic=clinic, provider=provider, appointment_type=visit_type, start=start, **fields
        )

    arriving = appointment(slot, patient=PatientFactory(clinic=clinic))
    in_visit = appointment(slot + dt.timedelta(minutes=20), patient=patient)
    visit = checkin.check_in(actor=desk, appointment=in_visit)
    upcoming = appointment(at, patient=patient)
    cancelled = appointment(at + dt.timedelta(hours=1), patient=PatientFactory(clinic=clinic))
    WaitlistEntryFactory(clinic=clinic, appointment_type=visit_type, patient=patient)
    offers = scheduling_transitions.cancel_appointment(
        actor=desk, appointment=cancelled, reason="patient"
    ).offers
    entry = WaitlistEntryFactory(clinic=clinic, appointment_type=visit_type)

    room = SupplyRoomFactory(clinic=clinic)
    cart = StockLocationFactory(clinic=clinic, name="Exam 2 cart")
    item = SupplyItemFactory(name="Gauze sponge", supplier=SupplierFactory())
    room_item = LocationItemFactory(
        location=room, item=item, par=50, reorder_point=20, max_quantity=80
    )
    cart_item = LocationItemFactory(location=cart, item=item, par=20, reorder_point=5)
    for li, quantity in ((room_item, 40), (cart_item, 8)):
        supplies_orders.receive_stock(
            actor=manager, location_item=li, quantity=quantity, reason="opening"
        )
    usage = supplies_usage.log_usage(
        actor=nurse,
        location=cart,
        lines=[supplies_usage.UsageLine(item_id=item.pk, quantity=1)],
        idempotency_key="hostile-sweep",
    )
    order = supplies_orders.create_purchase_order(
        actor=manager, clinic=clinic, supplier=item.supplier, lines=[(item, 10)]
    )
    count = supplies_counts.start_count(actor=nurse, location=cart)
    # Revenue: a claim exported in a batch, and a visit still being coded.
    from clinicops.core.models import Staff
    from compliance.models import Flag
    from revenue.services import charges as revenue_charges
    from revenue.services import export as revenue_export
    from revenue.tests import factories as revenue_factories
    from supplies.models import StockMovement
    from workforce.models import (
        Credential,
        CredentialScan,
        CredentialType,
        RosterRole,
        ShiftTemplate,
        StaffContract,
    )
    from workforce.services import autofill_runs as roster_autofill
    from workforce.services import timeclock as roster_clock
    from workforce.services import timeoff as roster_timeoff
    from workforce.services import weeks as roster_weeks
    from workforce.views.mine import ical_token

    StaffContract.objects.create(staff=desk.staff, role=RosterRole.FRONT_DESK)
    shift = ShiftTemplate.objects.create(
        clinic=clinic,
        name="Desk day",
        role=RosterRole.FRONT_DESK,
        start_time=dt.time(8),
        end_time=dt.time(16),
        weekdays=list(range(7)),
    )
    roster_week = roster_weeks.week_for(clinic, tomorrow)
    shift_assignment = roster_weeks.add_assignment(
        actor=manager, week=roster_week, staff=desk.staff, template=shift, day=tomorrow
    )
    roster_run = roster_autofill.start(actor=manager, week=roster_week)
    roster_clock.set_pin(actor=None, staff=desk.staff, pin="2468")
    credential = Credential.objects.create(
        staff=desk.staff,
        type=CredentialType.objects.create(code="BLS", name="Basic Life Support"),
        number="B-1",
        issuer="AHA",
        issued_on=tomorrow - dt.timedelta(days=400),
    )
    CredentialScan.objects.create(
        credential=credential,
        content=b"%PDF-1.4\n",
        content_type="application/pdf",
        size=9,
        sha256="0" * 64,
        filename="bls.pdf",
    )
    time_off_request = roster_timeoff.request_time_off(
        actor=desk, staff=desk.staff, clinic=clinic, first_day=tomorrow, last_day=tomorrow
    )

    Staff.objects.filter(pk=provider.pk).update(npi=revenue_factories.npi(77))
    billing = revenue_factories.BillingProfileFactory(clinic=clinic)
    revenue_factories.standard_fees(clinic)
    billed = revenue_factories.billable_patient(clinic)
    billed_coverage = revenue_factories.coverage_for(billed, coverage.payer)
    biller = users[roles.BILLER]
    coded = revenue_factories.checked_out_visit(
        clinic, provider=provider, patient=billed, coverage=billed_coverage
    )
    encounter = revenue_charges.start_encounter(actor=biller, visit=coded)
    revenue_charges.set_diagnoses(actor=biller, encounter=encounter, diagnoses=["I10"])
    revenue_charges.add_line(actor=biller, encounter=encounter, code="99213", pointers=[1])
    claim = revenue_charges.mark_ready(actor=biller, encounter=encounter)
    batch = revenue_export.export_batch(actor=biller, clinic=clinic)
    assert batch is not None, claim.edit_failures
    # A remittance that denies the exported claim: a posted file and a denial work item.
    from revenue.models import DenialItem, Remittance
    from revenue.services import remittances as revenue_remits
    from revenue.tests.remits import remit, remit_claim
    from revenue.x12.writer_835 import Cas, RemitLine

    claim.refresh_from_db()
    denied_lines = tuple(
        RemitLine(
            line.procedure_code,
            line.charge,
            Decimal(0),
            (Cas("CO", "197", line.charge),),
            line_id=line.line_id,
        )
        for line in claim.lines.all()
    )
    revenue_remits.import_835(
        actor=biller, content=remit([remit_claim(claim, denied_lines)], billing=billing)
    )
    remittance = Remittance.objects.get()
    denial = DenialItem.objects.order_by("pk").first()
    assert denial is not None
    drafting = revenue_charges.start_encounter(
        actor=biller,
        visit=revenue_factories.checked_out_visit(
            clinic, provider=provider, patient=billed, coverage=billed_coverage
        ),
    )
    revenue_charges.set_diagnoses(actor=biller, encounter=drafting, diagnoses=["I10"])
    revenue_charges.add_line(actor=biller, encounter=drafting, code="99213", pointers=[1])
    uncoded = revenue_factories.checked_out_visit(clinic, provider=provider, patient=billed)

    flag = Flag.objects.create(
        clinic=clinic, description="Fridge alarm", created_at=timezone.now(), patient=patient
    )
    from compliance import incidents as compliance_incidents

    officer = users[roles.COMPLIANCE]
    incident = compliance_incidents.report_incident(
        actor=officer,
        clinic=clinic,
        kind="incident",
        title="Fall in corridor",
        description="Wet floor",
        location="Corridor",
        occurred_at=timezone.now() - dt.timedelta(hours=1),
        category="fall",
        harm="mild",
        patient=patient,
    ).obj
    compliance_incidents.triage(
        actor=officer,
        incident=incident,
        priority="high",
        lead=officer,
        category="fall",
        harm="mild",
    )
    corrective = compliance_incidents.add_action(
        actor=officer,
        incident=incident,
        kind="corrective",
        description="Signs",
        owner=manager,
        due_date=tomorrow,
    ).obj
    # Compliance: a break-glass use of this clinic's patient by a nurse of another clinic, an
    # access review and an anomaly hint.
    from clinicops.core.tests.factories import ClinicFactory, StaffFactory
    from compliance import access_review as compliance_reviews
    from compliance import breakglass as compliance_glass
    from compliance.models import AnomalyHint

    visiting = StaffFactory(
        roles=[roles.NURSE], clinics=[ClinicFactory(name="Sweep Hillcrest")]
    ).user
    glass = compliance_glass.break_glass(
        user=visiting, patient=patient, reason="emergency", explanation="sweep"
    )
    review = compliance_reviews.start_review(clinic=clinic, actor=manager)
    hint = AnomalyHint.objects.create(
        clinic=clinic,
        user=desk,
        rule="off_hours",
        day=clinic.today(),
        detail="sweep",
        created_at=timezone.now(),
    )

    ids: dict[str, dict[str, Any]] = {
        "revenue:start": {"visit_id": uncoded.pk},
        "revenue:charge_entry": {"pk": drafting.pk},
        "revenue:set_diagnoses": {"pk": drafting.pk},
        "revenue:add_line": {"pk": drafting.pk},
        "revenue:remove_line": {"pk": drafting.pk, "position": 1},
        "revenue:mark_ready": {"pk": drafting.pk},
        "revenue:reopen": {"pk": encounter.pk},
        "revenue:claim": {"pk": claim.pk},
        "revenue:claim_scrub": {"pk": claim.pk},
        "revenue:claim_update": {"pk": claim.pk},
        "revenue:claim_status": {"pk": claim.pk},
        "revenue:claim_replace": {"pk": claim.pk},
        "revenue:batch": {"pk": batch.batch.pk},
        "revenue:batch_check": {"pk": batch.batch.pk},
        "revenue:batch_download": {"pk": batch.batch.pk},
        "revenue:remittance": {"pk": remittance.pk},
        "revenue:denial": {"pk": denial.pk},
        "revenue:denial_status": {"pk": denial.pk},
        "revenue:denial_note": {"pk": denial.pk},
        "revenue:denial_appeal": {"pk": denial.pk},
        "revenue:denial_letter": {"pk": denial.pk},
        "revenue:denial_resubmit": {"pk": denial.pk},
        "revenue:denial_write_off": {"pk": denial.pk},
        "core:patient_detail": {"pk": patient.pk},
        "core:patient_edit": {"pk": patient.pk},
        "core:coverage_add": {"pk": patient.pk},
        "core:coverage_edit": {"pk": patient.pk, "coverage_pk": coverage.pk},
        "scheduling:patient_appointments": {"pk": patient.pk},
        "scheduling:appointment": {"pk": upcoming.pk},
        "scheduling:appointment_status": {"pk": upcoming.pk},
        "scheduling:appointment_cancel": {"pk": upcoming.pk},
        "scheduling:appointment_undo_cancel": {"pk": upcoming.pk},
        "scheduling:appointment_notes": {"pk": upcoming.pk},
        "scheduling:offer_respond": {"pk": offers[0].pk if offers else 1},
        "scheduling:waitlist_remove": {"pk": entry.pk},
        "scheduling:confirm": {"token": scheduling_reminders.make_confirm_token(upcoming)},
        "scheduling:template_detail": {"pk": template.pk},
        "supplies:log": {"location_id": cart.pk},
        "supplies:undo": {"submission_id": usage.submission.pk},
        "supplies:quick_count": {"location_item_id": cart_item.pk},
        "supplies:refill": {"location_item_id": cart_item.pk},
        "supplies:order": {"pk": order.pk},
        "supplies:order_send": {"pk": order.pk},
        "supplies:order_cancel": {"pk": order.pk},
        "supplies:order_receive": {"pk": order.pk},
        "supplies:count": {"pk": count.pk},
        "supplies:count_post": {"pk": count.pk},
        "supplies:count_cancel": {"pk": count.pk},
        "supplies:found_reviewed": {
            "movement_id": StockMovement.objects.filter(location_item=cart_item).first().pk
        },
        "supplies:levels_edit": {"location_item_id": cart_item.pk},
        "supplies:accept_par": {"location_item_id": cart_item.pk},
        "patientflow:room_clean": {"room_id": rooms[0].pk},
        "patientflow:check_in": {"appointment_id": arriving.pk},
        "patientflow:demographics": {"appointment_id": arriving.pk},
        "patientflow:verify_coverage": {"appointment_id": in_visit.pk, "coverage_id": coverage.pk},
        "patientflow:visit": {"pk": visit.pk},
        "patientflow:move": {"pk": visit.pk},
        "patientflow:change_room": {"pk": visit.pk},
        "patientflow:undo": {"pk": visit.pk},
        "patientflow:checkout": {"pk": visit.pk},
        "patientflow:follow_up": {"pk": visit.pk},
        "patientflow:summary": {"pk": visit.pk},
        "compliance:flag_detail": {"pk": flag.pk},
        "compliance:flag_link": {"pk": flag.pk},
        "compliance:incident_detail": {"pk": incident.pk},
        "compliance:incident_triage": {"pk": incident.pk},
        "compliance:incident_move": {"pk": incident.pk, "move": "investigate"},
        "compliance:incident_close": {"pk": incident.pk},
        "compliance:incident_reopen": {"pk": incident.pk},
        "compliance:incident_analysis": {"pk": incident.pk},
        "compliance:action_add": {"pk": incident.pk},
        "compliance:incident_events": {"pk": incident.pk},
        "compliance:action_done": {"pk": corrective.pk},
        "compliance:action_verify": {"pk": corrective.pk},
        "compliance:action_cancel": {"pk": corrective.pk},
        "compliance:action_reassign": {"pk": corrective.pk},
        "compliance:break_glass_detail": {"pk": glass.pk},
        "compliance:access_review_detail": {"pk": review.pk},
        "compliance:hint_detail": {"pk": hint.pk},
        "kpis:clinic_dashboard": {"clinic_id": clinic.pk},
        "kpis:choose": {"clinic_id": clinic.pk},
        "kpis:weekly_csv": {"clinic_id": clinic.pk},
        "kpis:drilldown": {"clinic_id": clinic.pk, "key": "no_show_rate"},
        "kpis:drilldown_csv": {"clinic_id": clinic.pk, "key": "no_show_rate"},
        "workforce:unassign": {"pk": shift_assignment.pk},
        "workforce:autofill_run": {"pk": roster_run.pk},
        "workforce:autofill_apply": {"pk": roster_run.pk},
        "workforce:autofill_discard": {"pk": roster_run.pk},
        "workforce:ical": {"token": ical_token(desk.staff)},
        "workforce:time_off_decide": {"pk": time_off_request.pk},
        "workforce:kiosk_person": {"staff_id": desk.staff.pk},
        "workforce:timesheet": {"staff_id": desk.staff.pk},
        "workforce:timesheet_correct": {"staff_id": desk.staff.pk},
        "workforce:timesheet_approve": {"staff_id": desk.staff.pk},
        "workforce:credential_person": {"staff_id": desk.staff.pk},
        "workforce:credential_add": {"staff_id": desk.staff.pk},
        "workforce:credential_scan": {"pk": credential.pk},
    }
    valid: dict[str, str] = {
        "q": "quim",
        "date": tomorrow.isoformat(),
        "day": tomorrow.isoformat(),
        "week": tomorrow.isoformat(),
        "start_date": tomorrow.isoformat(),
        "end_date": (tomorrow + dt.timedelta(days=7)).isoformat(),
        "earliest": tomorrow.isoformat(),
        "latest": (tomorrow + dt.timedelta(days=30)).isoformat(),
        "start": f"{tomorrow.isoformat()}T11:00",
        "end": f"{tomorrow.isoformat()}T11:20",
        "patient": str(patient.pk),
        "provider": str(provider.pk),
        "appointment_type": str(visit_type.pk),
        "clinic": str(clinic.pk),
        "location": str(cart.pk),
        "room": str(rooms[1].pk),
        "item": str(item.pk),
        "count": "8",
        "time_of_day": "any",
        "within": "2w",
        "reason": "patient",
        "status": "confirmed",
        "expected": "checked_in",
        "to": "roomed",
        "answer": "decline",
        "submission_key": "0" * 32,
        "idempotency_key": "0" * 32,
        "notes": "note",
        "note": "note",
        "counted": "5",
        "quantity": "1",
        "staff": str(desk.staff.pk),
        "template": str(shift.pk),
        "hour": "9",
        "role": "front_desk",
        "first_day": tomorrow.isoformat(),
        "last_day": tomorrow.isoformat(),
        "decision": "approve",
        "override_reason": "sweep",
        "time_limit": "1",
        "diagnoses": "I10 E11.9",
        "procedure_code": "99213",
        "modifiers": "25",
        "units": "1",
        "pointers": "1",
        "prior_auth_number": "AUTH1",
        "frequency": "7",
        "payer_claim_number": "PCN1",
        "min_age": "1",
        "kind": "icd",
        "description": "The sharps bin is full",
        "urgency": "normal",
        "response": "Done",
        "page": "/",
        "mrn": patient.mrn,
        "explanation": "sweep",
        "outcome": "approved",
        "line": str(review.lines.order_by("pk").values_list("pk", flat=True).first()),
    }
    return {"ids": ids, "valid": valid, "users": users}


# --- discovering what each URL reads ---------------------------------------------------------


@dataclass
class Target:
    name: str
    url: str
    method: str
    role: str
    params: dict[str, str] = field(default_factory=dict)
    path_kwargs: dict[str, Any] = field(default_factory=dict)


def url_names() -> Iterator[tuple[str, list[str]]]:
    """(namespaced name, its kwargs) for every URL of the site, but the skipped ones."""

    def walk(patterns: list, namespace: str | None) -> Iterator[tuple[str, list[str]]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = pattern.namespace or namespace
                if inner not in SKIPPED_NAMESPACES:
                    yield from walk(pattern.url_patterns, inner)
            elif isinstance(pattern, URLPattern) and pattern.name:
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                if name not in SKIPPED_NAMES:
                    yield name, list(pattern.pattern.converters)

    yield from walk(get_resolver().url_patterns, None)


@dataclass
class Sweep:
    clients: dict[str, Client]
    failures: list[str] = field(default_factory=list)
    requests: int = 0

    def send(self, target: Target, params: Any, *, url: str | None = None) -> int:
        """Send one request; note a 500 or an exception; the status (0 for an exception)."""
        client = self.clients[target.role]
        url = url or target.url
        self.requests += 1
        SEEN.clear()
        try:
            if target.method == "GET":
                response = client.get(url, params)
            else:
                response = client.post(url, params)
        except Exception as error:
            where = traceback.extract_tb(error.__traceback__)[-1]
            self.failures.append(
                f"{target.method} {url} {_show(params)} as {target.role}: "
                f"{type(error).__name__}: {str(error)[:200]} ({where.filename}:{where.lineno})"
            )
            return 0
        if response.status_code >= 500:
            self.failures.append(
                f"{target.method} {url} {_show(params)} as {target.role}: {response.status_code}"
            )
        return response.status_code


def _show(params: Any) -> str:
    pairs = params.lists() if isinstance(params, QueryDict) else params.items()
    return repr({k: (v if len(str(v)) < 40 else str(v)[:20] + f"…({len(v)})") for k, v in pairs})


def discover(world: dict[str, Any], sweep: Sweep, namespaces: tuple[str, ...]) -> list[Target]:
    """The URLs in `namespaces`, each method they answer, and the parameters each reads."""
    targets = []
    for name, kwarg_names in url_names():
        if (name.partition(":")[0] if ":" in name else "") not in namespaces:
            continue
        kwargs = {k: world["ids"][name][k] for k in kwarg_names}
        url = reverse(name, kwargs=kwargs)
        for method in ("GET", "POST"):
            for role in ROLE_ORDER:
                target = Target(name, url, method, role, path_kwargs=kwargs)
                status = sweep.send(target, {})
                if status != 403:
                    break
            if status in (403, 405):
                continue
            seen = set(SEEN)
            # A form bound only when its data is present reads nothing from an empty request.
            sweep.send(target, world["valid"])
            seen |= SEEN
            for _ in range(6):  # fill what was read with valid values, and read again
                new = seen - target.params.keys()
                if not new:
                    break
                for key in sorted(new):
                    target.params[key] = world["valid"].get(key, "1")
                sweep.send(target, target.params)
                seen = set(SEEN)
            targets.append(target)
    return targets


def representatives(params: dict[str, str]) -> list[str]:
    """One parameter of each numbered family (qty_3, qty_4 ...; blocks-0-start, blocks-1-start
    ...): the same field of another row goes through the same code."""
    chosen: dict[str, str] = {}
    for key in sorted(params):
        chosen.setdefault(_family(key), key)
    return sorted(chosen.values())


def _family(key: str) -> str:
    # Choose metrics has one row per registered metric, the same form under the metric's key as
    # prefix (no_show_rate-target, tnaa_days-target ...): one row stands for all fifteen.
    prefix, dash, name = key.partition("-")
    if dash and registry.is_registered(prefix):
        return f"<metric>-{name}"
    return re.sub(r"\d+", "#", key)


# The URL namespaces swept together ("" is the site's own: home, login, clinic switch).
# (Smaller groups spread better over the test workers: core, compliance and kpis together were
# one eight-minute test on a busy machine.)
GROUPS = {
    "core": ("", "core"),
    "compliance": ("compliance",),
    "kpis": ("kpis",),
    "scheduling": ("scheduling",),
    "patientflow": ("patientflow",),
    "supplies": ("supplies",),
    "workforce": ("workforce",),
    "revenue": ("revenue",),
}
# The parameters that must be found: a guard against a recorder that records nothing.
MUST_READ = {
    "core": {("core:patient_search", "GET"): {"q"}},
    "scheduling": {
        ("scheduling:day", "GET"): {"date", "provider"},
        ("scheduling:book", "POST"): {"start", "patient", "submission_key"},
    },
    "patientflow": {("patientflow:walk_in", "GET"): {"q", "patient"}},
    "supplies": {("supplies:log", "POST"): {"idempotency_key"}},
    "workforce": {
        ("workforce:assign", "POST"): {"staff", "template", "day"},
        ("workforce:coverage_cell", "GET"): {"day", "hour", "role"},
        ("workforce:kiosk_punch", "POST"): {"staff", "pin", "kind", "request_key"},
        ("workforce:timesheet_correct", "POST"): {"kind", "day", "time", "reason"},
    },
    "revenue": {
        ("revenue:claims", "GET"): {"status", "payer", "min_age"},
        ("revenue:add_line", "POST"): {"procedure_code", "pointers"},
    },
}

HOSTILE_TEXT = st.one_of(
    st.sampled_from(list(HOSTILE.values())),
    st.text(max_size=60),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.dates().map(dt.date.isoformat),
    st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M")),
    st.lists(
        st.sampled_from(["\x00", "9", "-", "T", ":", "\u0663", "\u00b2", " ", "e"]), max_size=12
    ).map("".join),
)


@pytest.mark.parametrize("group", list(GROUPS))
def test_every_parameter_of_every_view_survives_hostile_values(
    world: dict[str, Any], group: str
) -> None:
    clients = {}
    for role, user in world["users"].items():
        clients[role] = Client()
        clients[role].force_login(user)
    swept = Sweep(clients)
    targets = discover(world, swept, GROUPS[group])
    read = {(t.name, t.method): set(t.params) for t in targets}
    for where, names in MUST_READ.get(group, {}).items():
        assert names <= read.get(where, set()), (where, read.get(where))

    # Each parameter with each hostile value, the others valid; and (GET) alone, since a
    # page may take another branch without the others (walk-in searches without a patient).
    for target in targets:
        for key in representatives(target.params):
            for value in HOSTILE.values():
                swept.send(target, {**target.params, key: value})
                if target.method == "GET" and len(target.params) > 1:
                    swept.send(target, {key: value})
        # Path ids beyond any column's range.
        for kwarg, value in target.path_kwargs.items():
            if isinstance(value, int):
                for huge in (2**63, 10**30):
                    url = reverse(target.name, kwargs={**target.path_kwargs, kwarg: huge})
                    swept.send(target, target.params, url=url)

    # Then values Hypothesis draws, one to three of them for a parameter.
    slots = [(t, key) for t in targets for key in representatives(t.params)]

    @hypothesis_settings(
        max_examples=75,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(slot=st.sampled_from(slots), values=st.lists(HOSTILE_TEXT, min_size=1, max_size=3))
    def fuzz(slot: tuple[Target, str], values: list[str]) -> None:
        target, key = slot
        data = QueryDict(mutable=True)
        data.update(target.params)
        data.setlist(key, values)
        swept.send(target, data)

    fuzz()
    assert not swept.failures, f"{len(swept.failures)} of {swept.requests}:\n" + "\n".join(
        swept.failures
    )


# --- the cases the attack found, by name ------------------------------------------------------


@pytest.fixture
def desk_client(world: dict[str, Any]) -> Client:
    client = Client()
    client.force_login(world["users"][roles.FRONT_DESK])
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/patients/?q=a%00b",
        "/scheduling/patients/?q=a%00b",
        "/scheduling/find/?q=a%00b",
        "/scheduling/book/?q=a%00b",
        "/flow/walk-in/?q=a%00b",
    ],
)
def test_a_nul_in_a_search_box_is_dropped(desk_client: Client, world: dict, url: str) -> None:
    response = desk_client.get(url)
    assert response.status_code == 200
    assert "\x00" not in response.content.decode()


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
@pytest.mark.parametrize("url", ["/scheduling/day/", "/scheduling/week/", "/scheduling/day-sheet/"])
def test_a_date_at_the_edge_of_the_calendar_falls_back_to_today(
    desk_client: Client, world: dict, url: str, day: str
) -> None:
    provider = world["valid"]["provider"]
    response = desk_client.get(url, {"date": day, "provider": provider})
    assert response.status_code == 200


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_find_a_slot_names_the_date_out_of_range(
    desk_client: Client, world: dict, day: str
) -> None:
    params = {"appointment_type": world["valid"]["appointment_type"], "start_date": day}
    response = desk_client.get("/scheduling/find/", params)
    assert response.status_code == 200
    assert "Enter a date between 01/01/1900 and 12/31/2199." in response.content.decode()


def test_booking_at_the_last_minute_of_the_calendar_names_the_field(
    desk_client: Client, world: dict
) -> None:
    data = {
        **{k: world["valid"][k] for k in ("patient", "provider", "appointment_type")},
        "start": "9999-12-31T23:59",
        "submission_key": "e" * 32,
    }
    for url in ("/scheduling/book/", "/scheduling/find/book/"):
        response = desk_client.post(url, data)
        assert response.status_code == 200, url
        assert "Enter a date between 01/01/1900 and 12/31/2199." in response.content.decode()
    page = desk_client.get("/scheduling/book/", {"start": "9999-12-31T23:59"})
    assert page.status_code == 200
