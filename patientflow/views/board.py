"""The flow board: the day's visits by step, moving a visit on, changing its room, undo, and
the visit page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse, QueryDict
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from clinicops.core.models import Clinic
from clinicops.core.web import HtmxHttpRequest, current_clinic, is_fragment, render_page

from .. import selectors, services
from ..forms import ChangeRoomForm, MoveForm, UndoForm
from ..models import NEXT_STEPS, Step, Visit
from ..rows import (
    arrival_rows,
    board_rows,
    controls_html,
    counts_html,
    finished_rows,
    group_html,
    header_actions_html,
)
from ..services import housekeeping, moves
from .common import _LEVELS, _first_error, _is_refresh, _record_view, _visit_for

BOARD = "patientflow/board.html"
VISIT = "patientflow/visit.html"


def _board_params(source: QueryDict) -> dict[str, str]:
    group = source.get("group", "step")
    sort = source.get("sort", "time")
    return {
        "group": group if group in selectors.GROUPS else "step",
        "sort": sort if sort in selectors.SORTS else "time",
        "wall": "1" if source.get("wall") == "1" else "",
    }


def _url_format(name: str) -> str:
    """The URL of `name` for one object as a format string: reversed once, not per row."""
    return reverse(name, args=[987654321]).replace("987654321", "{}")


def _render_board(
    request: HtmxHttpRequest,
    clinic: Clinic,
    params: dict[str, str],
    *,
    flash: str = "",
    flash_kind: str = "success",
) -> HttpResponse:
    now = timezone.now()
    board = selectors.flow_board(
        user=request.user, clinic=clinic, now=now, group=params["group"], sort=params["sort"]
    )
    housekeeping.record_board_view(
        actor=request.user,  # type: ignore[arg-type]
        clinic=clinic,
        board="flow_board",
        patient_ids=board.patient_ids,
        poll=_is_refresh(request),
    )
    visit_url, move_url, checkout_url = (
        _url_format(name)
        for name in ("patientflow:visit", "patientflow:move", "patientflow:checkout")
    )
    # The free rooms' <option>s are the same on every row but for the one pre-selected (the
    # room the appointment was booked into): built once per choice, not once per row.
    options: dict[int | None, str] = {}
    for group in board.groups:
        for row in group.rows:
            row.url = visit_url.format(row.visit_id)
            ready = row.step == Step.READY_FOR_CHECKOUT
            row.action_url = (checkout_url if ready else move_url).format(row.visit_id)
            if row.step == Step.CHECKED_IN:
                if row.booked_room_id not in options:
                    options[row.booked_room_id] = format_html_join(
                        "",
                        '<option value="{}"{}>{}</option>',
                        (
                            (pk, " selected" if pk == row.booked_room_id else "", name)
                            for pk, name in board.free_rooms
                        ),
                    )
                row.room_options = options[row.booked_room_id]
    for row in board.finished:
        row.url = visit_url.format(row.visit_id)
    check_in_url = _url_format("patientflow:check_in")
    for arrival in board.arrivals:
        arrival.url = check_in_url.format(arrival.appointment_id)
    if params["wall"] == "1":
        # The waiting room sees the wall: never a full name, only what the clinic chose.
        for group in board.groups:
            for row in group.rows:
                row.name = row.full_name = wall_label(row, clinic.wall_display)
    actions = params["wall"] != "1" and request.user.has_perm("patientflow.change_visit")
    can_check_out = request.user.has_perm("patientflow.checkout_visit")
    csrf_token = get_token(request)
    groups_html = "".join(
        group_html(
            group,
            actions=actions,
            rows=board_rows(
                group.rows,
                actions=actions,
                can_check_out=can_check_out,
                csrf_token=csrf_token,
                has_rooms=bool(board.free_rooms),
            ),
        )
        for group in board.groups
    )
    query = QueryDict(mutable=True)
    query.update({k: v for k, v in params.items() if v})
    can_check_in = request.user.has_perm("patientflow.add_visit")
    wall = params["wall"] == "1"
    context = {
        "board": board,
        "can_check_in": can_check_in,
        "actions": actions,
        "counts_html": counts_html(board.counts),
        # Every group's markup is escaped by group_html and board_rows.
        "groups_html": mark_safe(groups_html),  # noqa: S308
        # The wall screen shows no arrivals (nor anything finished).
        "arrivals_html": "" if wall else arrival_rows(board.arrivals, can_check_in=can_check_in),
        "finished_html": "" if wall else finished_rows(board.finished),
        "updated": selectors.clock(now, clinic.tz, seconds=True),
        "params": params,
        "wall": wall,
        # The full page's only (callables: a poll, which renders the board alone, never asks).
        "header_actions_html": lambda: header_actions_html(request.user, request.GET, wall=wall),
        "controls_html": lambda: controls_html(params),
        "poll_url": f"{reverse('patientflow:board')}?{query.urlencode()}",
        "flash": flash,
        "flash_kind": flash_kind,
    }
    return render_page(request, BOARD, "board", context)


def wall_label(row: Any, display: str) -> str:
    """How the wall screen names a patient (Clinic.wall_display): "Maria L.", "M. L." or
    "No. 1234" (the visit's number, which the desk reads from the check-in page)."""
    last, _, first = str(row.name).partition(", ")
    if display == Clinic.WallDisplay.TICKET:
        return f"No. {row.visit_id}"
    if display == Clinic.WallDisplay.INITIALS:
        return f"{first[:1]}. {last[:1]}."
    return f"{first} {last[:1]}."


@never_cache
@require_GET
@permission_required("patientflow.view_visit", raise_exception=True)
def board(request: HtmxHttpRequest) -> HttpResponse:
    return _render_board(request, current_clinic(request), _board_params(request.GET))


def _after_move(request: HtmxHttpRequest, visit: Visit, message: str, kind: str) -> HttpResponse:
    """Answer a step change: the board fragment for the board, else back where it came from."""
    if request.POST.get("source") == "board":
        params = _board_params(request.POST)
        if is_fragment(request):
            return _render_board(
                request, current_clinic(request), params, flash=message, flash_kind=kind
            )
        messages.add_message(request, _LEVELS[kind], message)
        query = QueryDict(mutable=True)
        query.update({k: v for k, v in params.items() if v})
        return redirect(f"{reverse('patientflow:board')}?{query.urlencode()}")
    messages.add_message(request, _LEVELS[kind], message)
    return redirect("patientflow:visit", pk=visit.pk)


@require_POST
@permission_required("patientflow.change_visit", raise_exception=True)
def move(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    visit = get_object_or_404(Visit.objects.for_user(request.user).select_related("patient"), pk=pk)
    form = MoveForm(request.POST, clinic=visit.clinic)
    if not form.is_valid():
        return _after_move(request, visit, _first_error(form), "error")
    data = form.cleaned_data
    try:
        moved = moves.move_visit(
            actor=request.user,  # type: ignore[arg-type]
            visit=visit,
            to_step=data["to"],
            expected_step=data["expected"],
            room=data["room"],
            reason=data["reason"],
        )
    except services.FlowError as error:
        return _after_move(request, visit, error.message, "warning")
    where = f" in {moved.room.name}" if moved.room and moved.step == Step.ROOMED else ""
    message = f"{visit.patient}: {moved.get_step_display().lower()}{where}."
    return _after_move(request, visit, message, "success")


@require_POST
@permission_required("patientflow.change_visit", raise_exception=True)
def change_room(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    visit = get_object_or_404(Visit.objects.for_user(request.user).select_related("patient"), pk=pk)
    form = ChangeRoomForm(request.POST, clinic=visit.clinic)
    if not form.is_valid():
        return _after_move(request, visit, _first_error(form), "error")
    try:
        moved = moves.change_room(
            actor=request.user,  # type: ignore[arg-type]
            visit=visit,
            room=form.cleaned_data["room"],
            expected_step=form.cleaned_data["expected"],
        )
    except services.FlowError as error:
        return _after_move(request, visit, error.message, "warning")
    room = moved.room.name if moved.room else ""
    return _after_move(request, visit, f"{visit.patient} moved to {room}.", "success")


@require_POST
@permission_required("patientflow.change_visit", raise_exception=True)
def undo(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    visit = get_object_or_404(Visit.objects.for_user(request.user).select_related("patient"), pk=pk)
    form = UndoForm(request.POST)
    if not form.is_valid():
        return _after_move(request, visit, _first_error(form), "error")
    try:
        moved = moves.undo_last_step(
            actor=request.user,  # type: ignore[arg-type]
            visit=visit,
            expected_step=form.cleaned_data["expected"],
            reason=form.cleaned_data["reason"],
        )
    except services.FlowError as error:
        return _after_move(request, visit, error.message, "warning")
    message = f"Undone: {visit.patient} is back at “{moved.get_step_display()}”."
    return _after_move(request, visit, message, "success")


@never_cache
@require_GET
@permission_required("patientflow.view_visit", raise_exception=True)
def visit_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    visit = _visit_for(request, pk)
    _record_view(request, visit, "Visit page")
    context = {
        "visit": visit,
        "timeline": selectors.visit_timeline(visit),
        "payments": list(visit.payments.order_by("taken_at", "pk")),
        "free_rooms": selectors.free_rooms(clinic=visit.clinic),
        "next_steps": [(s, Step(s).label) for s in NEXT_STEPS[visit.step]],
        "undo_form": UndoForm(initial={"expected": visit.step}),
        "tz": visit.clinic.tz,
    }
    return render(request, VISIT, context)
