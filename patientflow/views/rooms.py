"""The room board: each room free, occupied or being cleaned, and marking a room clean."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from clinicops.core.models import Clinic, Room
from clinicops.core.web import HtmxHttpRequest, current_clinic, is_fragment, render_page

from .. import selectors, services
from ..services import housekeeping
from .common import _LEVELS, _is_refresh

ROOMS = "patientflow/rooms.html"


def _render_rooms(
    request: HtmxHttpRequest, clinic: Clinic, *, flash: str = "", flash_kind: str = "success"
) -> HttpResponse:
    now = timezone.now()
    states = selectors.room_board(user=request.user, clinic=clinic, now=now)
    housekeeping.record_board_view(
        actor=request.user,  # type: ignore[arg-type]
        clinic=clinic,
        board="room_board",
        patient_ids=[s.patient_id for s in states if s.patient_id is not None],
        poll=_is_refresh(request),
    )
    wall = request.GET.get("wall") == "1"
    context = {
        "states": states,
        "clinic": clinic,
        "now": now,
        "wall": wall,
        "poll_url": reverse("patientflow:rooms") + ("?wall=1" if wall else ""),
        "updated": selectors.clock(now, clinic.tz, seconds=True),
        "can_view_visit": request.user.has_perm("patientflow.view_visit"),
        "can_clean": request.user.has_perm("patientflow.change_roomturn"),
        "flash": flash,
        "flash_kind": flash_kind,
        "counts": {
            state: sum(1 for s in states if s.state == state)
            for state in ("free", "occupied", "cleaning")
        },
    }
    return render_page(request, ROOMS, "rooms", context)


@never_cache
@require_GET
@permission_required("patientflow.view_roomturn", raise_exception=True)
def rooms(request: HtmxHttpRequest) -> HttpResponse:
    return _render_rooms(request, current_clinic(request))


@require_POST
@permission_required("patientflow.change_roomturn", raise_exception=True)
def room_clean(request: HtmxHttpRequest, room_id: int) -> HttpResponse:
    room = get_object_or_404(Room.objects.for_user(request.user), pk=room_id, is_active=True)
    try:
        turn = housekeeping.mark_room_clean(actor=request.user, room=room)  # type: ignore[arg-type]
    except services.FlowError as error:
        message, kind = error.message, "warning"
    else:
        message = f"{room.name} is clean and free." if turn else f"{room.name} was already clean."
        kind = "success"
    if is_fragment(request):
        return _render_rooms(request, current_clinic(request), flash=message, flash_kind=kind)
    messages.add_message(request, _LEVELS[kind], message)
    return redirect("patientflow:rooms")
