"""Supplies screens: the nurse's tablet, below par and the pick list, reorder and purchase
orders, cycle counts, expiry, levels with suggested par, and the item-master import.

Views parse a form, call a service or a selector, and render the page or (for htmx) the
fragment that changed. A refused action answers 200 with the fragment and the reason, since
htmx does not swap 4xx bodies; the service has changed nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Sum
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.fields import parse_id
from clinicops.core.models import Clinic

from . import importers, selectors, services
from .forms import (
    CountForm,
    ExpiryWindowForm,
    ImportForm,
    KeyForm,
    LevelsForm,
    LogUseForm,
    PostCountForm,
    QuickCountForm,
    ReceiveForm,
    count_name,
    new_key,
    quantity_name,
    reason_name,
    receive_names,
)
from .models import (
    CountSession,
    ItemBarcode,
    LocationItem,
    LotStock,
    PurchaseOrder,
    StockLocation,
    StockMovement,
    UsageSubmission,
)

TABLET = "supplies/tablet.html"
CHOOSE = "supplies/choose_location.html"
BELOW_PAR = "supplies/below_par.html"
REORDER = "supplies/reorder.html"
ORDERS = "supplies/orders.html"
ORDER = "supplies/order.html"
COUNTS = "supplies/counts.html"
COUNT = "supplies/count.html"
EXPIRY = "supplies/expiry.html"
LEVELS = "supplies/levels.html"
LEVELS_EDIT = "supplies/levels_edit.html"
IMPORT = "supplies/import.html"

# {clinic id: location id}: the tablet remembers its location per clinic.
SESSION_LOCATION = "supplies_location"
QTY_FIELD = re.compile(r"^qty_(\d{1,18})$")
# The tablet shows this many of today's last logs at its location.
RECENT_LOGS_SHOWN = 3
# The counts screen lists at most this many found-at-use movements waiting for review.
FOUND_SHOWN = 50


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
    clinic: Clinic | None


def _clinic(request: HtmxHttpRequest) -> Clinic:
    if request.clinic is None:
        raise PermissionDenied("You are not assigned to a clinic yet. Ask an administrator.")
    return request.clinic


def _fragment(request: HtmxHttpRequest) -> bool:
    """An htmx request for a fragment (a history restore needs the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def _render(
    request: HtmxHttpRequest, template: str, partial: str, context: dict[str, Any]
) -> HttpResponse:
    name = f"{template}#{partial}" if _fragment(request) else template
    response = render(request, name, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _int(value: str | None) -> int | None:
    """An id from a query string or form; anything malformed is None."""
    return parse_id(value)


def _locations(request: HtmxHttpRequest, clinic: Clinic) -> Any:
    return StockLocation.objects.for_user(request.user).filter(clinic=clinic, is_active=True)


def _location(request: HtmxHttpRequest, clinic: Clinic, location_id: int) -> StockLocation:
    return get_object_or_404(_locations(request, clinic).select_related("clinic"), pk=location_id)


def _location_item(request: HtmxHttpRequest, clinic: Clinic, pk: int) -> LocationItem:
    return get_object_or_404(
        LocationItem.objects.for_user(request.user)
        .filter(location__clinic=clinic)
        .select_related("item__supplier", "location__clinic"),
        pk=pk,
    )


def _error_text(error: services.SupplyError) -> str:
    message = error.message
    return message[:1].upper() + message[1:]


# ---------------------------------------------------------------------------------------------
# Entry


@require_GET
@permission_required("supplies.view_locationitem", raise_exception=True)
def index(request: HtmxHttpRequest) -> HttpResponse:
    if request.user.has_perm("supplies.log_usage"):
        return redirect("supplies:tablet")
    return redirect("supplies:below_par")


# ---------------------------------------------------------------------------------------------
# The tablet: log use


@dataclass
class Feedback:
    """What the big box above the tiles says after an action."""

    kind: str  # success, warning, danger, info
    title: str
    lines: list[Any] = field(default_factory=list)
    low: list[Any] = field(default_factory=list)
    note: str = ""
    undo: UsageSubmission | None = None
    undo_until: datetime | None = None
    count_item: LocationItem | None = None
    count_form: QuickCountForm | None = None


def _remembered_location(request: HtmxHttpRequest, clinic: Clinic) -> StockLocation | None:
    remembered = request.session.get(SESSION_LOCATION) or {}
    location_id = remembered.get(str(clinic.pk)) if isinstance(remembered, dict) else None
    if not isinstance(location_id, int):
        return None
    return _locations(request, clinic).filter(pk=location_id).first()


def _remember(request: HtmxHttpRequest, clinic: Clinic, location: StockLocation) -> None:
    remembered = request.session.get(SESSION_LOCATION)
    remembered = dict(remembered) if isinstance(remembered, dict) else {}
    if remembered.get(str(clinic.pk)) != location.pk:
        remembered[str(clinic.pk)] = location.pk
        request.session[SESSION_LOCATION] = remembered


@never_cache
@require_GET
@permission_required("supplies.log_usage", raise_exception=True)
def tablet(request: HtmxHttpRequest) -> HttpResponse:
    """Go to the remembered location, or offer the clinic's locations as big buttons."""
    clinic = _clinic(request)
    if request.GET.get("choose") != "1":
        location = _remembered_location(request, clinic)
        if location is not None:
            return redirect("supplies:log", location_id=location.pk)
    locations = list(selectors.locations(request.user, clinic))
    current = _remembered_location(request, clinic)
    return render(
        request,
        CHOOSE,
        {"locations": locations, "current": current, "tab": "use", "clinic": clinic},
    )


def _undo_until(submission: UsageSubmission) -> datetime:
    return submission.created_at + timedelta(seconds=settings.SUPPLIES_UNDO_SECONDS)


def _last_entry(request: HtmxHttpRequest, location: StockLocation) -> Feedback | None:
    """The user's last log here, while it can still be undone."""
    now = timezone.now()
    since = now - timedelta(seconds=settings.SUPPLIES_UNDO_SECONDS)
    last = (
        selectors.recent_submissions(request.user, location, since=since)  # type: ignore[arg-type]
        .filter(undone_at__isnull=True)
        .first()
    )
    if last is None:
        return None
    return Feedback(
        kind="info",
        title="Your last entry here",
        lines=selectors.submission_lines(last),
        undo=last,
        undo_until=_undo_until(last),
    )


def _tile_codes(items: list[LocationItem]) -> dict[int, list[str]]:
    codes: dict[int, list[str]] = {}
    for item_id, code in ItemBarcode.objects.filter(
        item_id__in=[li.item_id for li in items]
    ).values_list("item_id", "code"):
        codes.setdefault(item_id, []).append(code)
    return codes


def _matches(li: LocationItem, query: str) -> bool:
    query = query.casefold()
    return any(
        query in (text or "").casefold() for text in (li.item.name, li.item.sku, li.item.category)
    )


def _tablet_context(
    request: HtmxHttpRequest,
    location: StockLocation,
    items: list[LocationItem],
    visits: list[Any],
    form: LogUseForm,
    feedback: Feedback | None,
    *,
    focus_scan: bool = False,
    refused: dict[int, str] | None = None,
) -> dict[str, Any]:
    codes = _tile_codes(items)
    refused = refused or {}
    query = ""
    if form.is_bound:
        query = str(form.data.get("q", ""))[:100].strip()
    tiles = []
    selected = []
    for li in items:
        raw = form.raw_quantity(li)
        name = quantity_name(li.pk)
        errors = form.errors.get(name) if form.is_bound else None
        tiles.append(
            {
                "li": li,
                "name": name,
                "error": errors[0] if errors else refused.get(li.pk, ""),
                "value": raw,
                "codes": " ".join([*codes.get(li.item_id, []), li.item.sku]),
                "hidden": bool(query) and not _matches(li, query),
                "cap": form.fields[name].max_value,
            }
        )
        if (number := parse_id(raw)) is not None and number > 0:
            selected.append((li, number))
    visit_value = ""
    if form.is_bound:
        visit_value = str(form.data.get("visit", ""))
    clinic = location.clinic
    since = datetime.combine(clinic.today(), time.min, tzinfo=clinic.tz)
    return {
        "clinic": clinic,
        "location": location,
        # What is stored, so a nurse who is unsure whether a tap went through can see it did.
        "recent_logs": selectors.recent_logs(location, since=since, limit=RECENT_LOGS_SHOWN),
        "form": form,
        "tiles": tiles,
        "selected": selected,
        "query": query,
        "visits": visits,
        "visit_value": visit_value,
        "feedback": feedback,
        "focus_scan": focus_scan,
        "tab": "use",
    }


def _audit_patients_shown(
    request: HtmxHttpRequest, location: StockLocation, visits: list[Any]
) -> None:
    """The picker shows patients' names: that is a read of PHI, so it is audited."""
    if not visits:
        return
    with transaction.atomic():
        audit.record(
            actor=request.user,
            action=AuditEvent.Action.VIEW,
            object_type="supplies.tablet",
            object_id=location.pk,
            clinic=location.clinic_id,
            summary=f"Supplies tablet at {location.name}: {len(visits)} patient(s) shown",
            changes={"patient_ids": sorted({v.patient_id for v in visits})},
        )


def _render_tablet(
    request: HtmxHttpRequest,
    location: StockLocation,
    items: list[LocationItem],
    visits: list[Any],
    form: LogUseForm,
    feedback: Feedback | None,
    *,
    focus_scan: bool = False,
    refused: dict[int, str] | None = None,
) -> HttpResponse:
    context = _tablet_context(
        request, location, items, visits, form, feedback, focus_scan=focus_scan, refused=refused
    )
    if not _fragment(request):
        _audit_patients_shown(request, location, visits)
    return _render(request, TABLET, "log-panel", context)


def _fresh_form(
    items: list[LocationItem], visits: list[Any], *, keep: QueryDict | None = None
) -> LogUseForm:
    """An empty log form with a new key (the visit kept, so the next log is for them too)."""
    data = QueryDict(mutable=True)
    data["idempotency_key"] = new_key()
    if keep is not None:
        data["visit"] = keep.get("visit", "")
    return LogUseForm(data, location_items=items, visits=visits)


def _adjust(data: QueryDict, name: str, delta: int, cap: int | None) -> None:
    raw = str(data.get(name, "")).strip()
    current = number if (number := parse_id(raw)) is not None and number < 10**9 else 0
    value = max(current + delta, 0)
    if cap is not None:
        value = min(value, cap)
    data[name] = str(value) if value else ""


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("supplies.log_usage", raise_exception=True)
def log(request: HtmxHttpRequest, location_id: int) -> HttpResponse:
    """The tablet at one location: GET shows it; POST logs, or adds a scanned/tapped item."""
    clinic = _clinic(request)
    location = _location(request, clinic, location_id)
    _remember(request, clinic, location)
    items = list(selectors.location_items(location))
    visits = selectors.visits_for_logging(request.user, location)  # type: ignore[arg-type]
    if request.method == "GET":
        form = _fresh_form(items, visits)
        return _render_tablet(
            request, location, items, visits, form, _last_entry(request, location)
        )
    data = request.POST.copy()
    if _int(data.get("add")) or _int(data.get("remove")):
        return _tap(request, location, items, visits, data)
    if data.get("action") != "log":
        return _scan(request, location, items, visits, data)
    return _log_use(request, location, items, visits, data)


def _tap(
    request: HtmxHttpRequest,
    location: StockLocation,
    items: list[LocationItem],
    visits: list[Any],
    data: QueryDict,
) -> HttpResponse:
    """A tile or stepper tap without JavaScript (the page does this in the browser otherwise)."""
    adding = _int(data.get("add"))
    li = next((li for li in items if li.pk == (adding or _int(data.get("remove")))), None)
    if li is not None:
        cap = min(li.item.use_cap, services.MAX_BULK_QUANTITY)
        _adjust(data, quantity_name(li.pk), 1 if adding else -1, cap)
    form = LogUseForm(data, location_items=items, visits=visits)
    return _render_tablet(request, location, items, visits, form, None)


def _scan(
    request: HtmxHttpRequest,
    location: StockLocation,
    items: list[LocationItem],
    visits: list[Any],
    data: QueryDict,
) -> HttpResponse:
    """A scanned (or typed) code and Enter: one more of that item, nothing logged yet."""
    code = str(data.get("barcode", "")).strip()[:64]
    feedback = None
    if code:
        li = selectors.item_by_barcode(location, code)
        if li is not None and any(li.pk == tile.pk for tile in items):
            cap = min(li.item.use_cap, services.MAX_BULK_QUANTITY)
            _adjust(data, quantity_name(li.pk), 1, cap)
            feedback = Feedback(kind="info", title=f"Added {li.item.name}")
        else:
            feedback = Feedback(
                kind="warning",
                title=f"Nothing stocked at {location.name} has the barcode “{code}”.",
                note="Check the label, or tap the item's tile instead.",
            )
    data["barcode"] = ""
    form = LogUseForm(data, location_items=items, visits=visits)
    return _render_tablet(request, location, items, visits, form, feedback, focus_scan=True)


def _log_use(
    request: HtmxHttpRequest,
    location: StockLocation,
    items: list[LocationItem],
    visits: list[Any],
    data: QueryDict,
) -> HttpResponse:
    """The "Log" tap: everything on the tiles in one service call, once per key."""
    by_pk = {li.pk: li for li in items}
    data["barcode"] = ""  # a half-typed code does not stop a log
    form = LogUseForm(data, location_items=items, visits=visits)
    stale = [
        int(m.group(1))
        for key, value in data.items()
        if (m := QTY_FIELD.match(key)) and str(value).strip() not in ("", "0")
    ]
    if any(pk not in by_pk for pk in stale):
        form.add_error(
            None,
            f"An item on this screen is no longer stocked at {location.name}; "
            "reload the screen and log again.",
        )
    if not form.is_valid():
        return _render_tablet(request, location, items, visits, form, None)
    quantities = form.quantities()
    if not quantities:
        form.add_error(None, "Tap at least one item, then Log.")
        return _render_tablet(request, location, items, visits, form, None)
    visit = form.cleaned_data["visit"]
    try:
        result = services.log_usage(
            actor=request.user,
            location=location,
            lines=[services.UsageLine(by_pk[pk].item_id, qty) for pk, qty in quantities.items()],
            visit=visit,
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except services.InsufficientStock as refused:
        li = by_pk.get(refused.location_item.pk) or refused.location_item
        feedback = Feedback(
            kind="danger",
            title=f"Not logged: {li.item.name}",
            note=_error_text(refused),
            count_item=li,
            count_form=QuickCountForm(),
        )
        return _render_tablet(
            request, location, items, visits, form, feedback, refused={li.pk: feedback.note}
        )
    except services.SupplyError as refused:
        form.add_error("visit" if refused.field == "patient" else None, _error_text(refused))
        return _render_tablet(request, location, items, visits, form, None)

    who = f" for {visit.patient.first_name} {visit.patient.last_name}" if visit else ""
    notes = []
    if result.replayed:
        notes.append("This tap had already been logged; nothing was logged twice.")
    for line in result.found_lines:
        # The figures are the ones the service stored (the found line of the ledger).
        notes.append(
            f"Logged {line.quantity} {line.item_name}; {line.found} "
            f"{'was' if line.found == 1 else 'were'} not on the books and "
            f"{'is' if line.found == 1 else 'are'} flagged for review."
        )
        if line.expired:
            notes.append(
                f"{line.expired} expired {line.item_name} still on the books here: waste them."
            )
    found_li = by_pk.get(result.found_lines[0].location_item_id) if result.found_lines else None
    feedback = Feedback(
        kind="warning" if result.low_lines or result.found_lines else "success",
        title=f"Logged at {location.name}{who}",
        lines=list(result.lines),
        low=list(result.low_lines),
        note=" ".join(notes),
        undo=result.submission if result.submission.undone_at is None else None,
        undo_until=_undo_until(result.submission),
        # The books were short: offer to count what is really there now.
        count_item=found_li,
        count_form=QuickCountForm() if found_li is not None else None,
    )
    for line in result.lines:
        if line.location_item_id in by_pk:
            by_pk[line.location_item_id].on_hand = line.on_hand
    return _render_tablet(
        request, location, items, visits, _fresh_form(items, visits, keep=data), feedback
    )


def _keep_form(
    request: HtmxHttpRequest, items: list[LocationItem], visits: list[Any]
) -> LogUseForm:
    """The log form as the page had it (sent along by hx-include), or a fresh one."""
    if request.POST.get("idempotency_key"):
        data = request.POST.copy()
        data["barcode"] = ""
        return LogUseForm(data, location_items=items, visits=visits)
    return _fresh_form(items, visits)


@never_cache
@require_POST
@permission_required("supplies.log_usage", raise_exception=True)
def undo(request: HtmxHttpRequest, submission_id: int) -> HttpResponse:
    """Undo one's own last log within the window (compensating movements)."""
    clinic = _clinic(request)
    submission = get_object_or_404(
        UsageSubmission.objects.for_user(request.user)
        .filter(location__clinic=clinic, kind=UsageSubmission.Kind.USE)
        .select_related("location__clinic"),
        pk=submission_id,
    )
    location = submission.location
    try:
        result = services.undo_usage(actor=request.user, submission=submission)
    except services.UndoRefused as refused:
        feedback = Feedback(kind="danger", title="Not undone", note=_error_text(refused))
    else:
        feedback = Feedback(
            kind="success",
            title="Undone: put back",
            lines=list(result.lines),
            note="The log was reversed; the history keeps both entries.",
        )
    items = list(selectors.location_items(location))
    visits = selectors.visits_for_logging(request.user, location)  # type: ignore[arg-type]
    return _render_tablet(
        request, location, items, visits, _keep_form(request, items, visits), feedback
    )


@never_cache
@require_POST
@permission_required("supplies.count_stock", raise_exception=True)
def quick_count(request: HtmxHttpRequest, location_item_id: int) -> HttpResponse:
    """Record a count after a refusal: count one item where it stands and adjust at once."""
    clinic = _clinic(request)
    li = _location_item(request, clinic, location_item_id)
    location = li.location
    form = QuickCountForm(request.POST)
    items = list(selectors.location_items(location))
    visits = selectors.visits_for_logging(request.user, location)  # type: ignore[arg-type]
    if form.is_valid():
        try:
            result = services.quick_count(
                actor=request.user,
                location_item=li,
                counted=form.cleaned_data["counted"],
                reason=form.cleaned_data["reason"],
            )
        except services.SupplyError as refused:
            form.add_error(
                refused.field if refused.field in form.fields else None, _error_text(refused)
            )
        else:
            # Every figure below is what the service stored and read back.
            lots = "; ".join(
                f"{f'lot {c.lot.lot_number}' if c.lot else 'without a lot'} {c.before} → {c.after}"
                for c in result.lots
                if c.before != c.after
            )
            feedback = Feedback(
                kind="success",
                title=f"Counted {li.item.name} at {location.name}: {result.after}",
                note=f"On hand was {result.before}; it is now {result.after}."
                + (f" ({lots})" if lots else ""),
            )
            items = list(selectors.location_items(location))
            return _render_tablet(
                request, location, items, visits, _keep_form(request, items, visits), feedback
            )
    feedback = Feedback(
        kind="danger",
        title=f"Count of {li.item.name} not saved",
        note="Check the counted quantity.",
        count_item=li,
        count_form=form,
    )
    return _render_tablet(
        request, location, items, visits, _keep_form(request, items, visits), feedback
    )


# ---------------------------------------------------------------------------------------------
# Below par and the pick list


def _below_par_context(request: HtmxHttpRequest, clinic: Clinic) -> dict[str, Any]:
    picks = {p.location_item.pk: p for p in selectors.pick_list(clinic)}
    groups: list[dict[str, Any]] = []
    for li in selectors.below_par(clinic):
        if not groups or groups[-1]["location"].pk != li.location_id:
            groups.append({"location": li.location, "rows": []})
        groups[-1]["rows"].append({"li": li, "pick": picks.get(li.pk), "key": new_key()})
    return {
        "clinic": clinic,
        "groups": groups,
        "total": sum(len(g["rows"]) for g in groups),
        "room": selectors.supply_room(clinic),
        "tab": "below_par",
    }


def _render_below_par(
    request: HtmxHttpRequest, clinic: Clinic, *, flash: str = "", flash_kind: str = "success"
) -> HttpResponse:
    context = _below_par_context(request, clinic)
    context.update({"flash": flash, "flash_kind": flash_kind})
    return _render(request, BELOW_PAR, "board", context)


@never_cache
@require_GET
@permission_required("supplies.view_locationitem", raise_exception=True)
def below_par(request: HtmxHttpRequest) -> HttpResponse:
    return _render_below_par(request, _clinic(request))


@never_cache
@require_POST
@permission_required("supplies.transfer_stock", raise_exception=True)
def refill(request: HtmxHttpRequest, location_item_id: int) -> HttpResponse:
    """One tap of the pick list: move what refills the cart to par from the supply room."""
    clinic = _clinic(request)
    li = _location_item(request, clinic, location_item_id)
    form = KeyForm(request.POST)
    if not form.is_valid():
        flash, kind = "This screen is out of date; it has been reloaded. Tap again.", "warning"
    else:
        try:
            result = services.refill_from_supply_room(
                actor=request.user,
                location_item=li,
                idempotency_key=form.cleaned_data["idempotency_key"],
            )
        except services.SupplyError as refused:
            flash, kind = _error_text(refused), "warning"
        else:
            flash = (
                f"Moved {result.quantity} {li.item.unit_of_use} of {li.item.name} from the "
                f"supply room to {li.location.name}."
            )
            if result.replayed:
                flash += " (That tap had already been done; nothing moved twice.)"
            kind = "success"
    if not _fragment(request):
        messages.add_message(
            request, messages.SUCCESS if kind == "success" else messages.WARNING, flash
        )
        return redirect("supplies:below_par")
    return _render_below_par(request, clinic, flash=flash, flash_kind=kind)


# ---------------------------------------------------------------------------------------------
# Reorder suggestions and purchase orders


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("supplies.view_reordersuggestion", raise_exception=True)
def reorder(request: HtmxHttpRequest) -> HttpResponse:
    """The supply room's reorder suggestions; a manager turns the ticked ones into drafts."""
    clinic = _clinic(request)
    error = ""
    if request.method == "POST":
        if not request.user.has_perm("supplies.add_purchaseorder"):
            raise PermissionDenied("Only a manager can create purchase orders.")
        ids = [i for i in (_int(v) for v in request.POST.getlist("location_item")) if i]
        if not ids:
            error = "Tick at least one item to order."
        else:
            try:
                made = services.create_purchase_orders_from_suggestions(
                    actor=request.user, clinic=clinic, location_item_ids=ids
                )
            except services.SupplyError as refused:
                error = _error_text(refused)
            else:
                if made.orders:
                    names = ", ".join(str(po) for po in made.orders)
                    messages.success(request, f"Drafted {names}. Check and send each one.")
                else:
                    messages.info(request, "Nothing to order: those items are already on order.")
                for item in made.without_supplier:
                    messages.warning(
                        request, f"{item.name} has no supplier; set one in the admin to order it."
                    )
                return redirect("supplies:orders")
    suggestions = selectors.reorder_suggestions(clinic)
    context = {
        "clinic": clinic,
        "suggestions": suggestions,
        "total": sum((s.extended_cost for s in suggestions), start=0),
        "room": selectors.supply_room(clinic),
        "error": error,
        "tab": "reorder",
    }
    return render(request, REORDER, context)


def _orders(request: HtmxHttpRequest, clinic: Clinic) -> Any:
    return PurchaseOrder.objects.for_user(request.user).filter(clinic=clinic)


@never_cache
@require_GET
@permission_required("supplies.view_purchaseorder", raise_exception=True)
def orders(request: HtmxHttpRequest) -> HttpResponse:
    clinic = _clinic(request)
    rows = (
        _orders(request, clinic)
        .select_related("supplier", "created_by")
        .annotate(
            line_count=Count("lines"),
            value=Sum(
                ExpressionWrapper(
                    F("lines__quantity") * F("lines__unit_cost"),
                    output_field=DecimalField(max_digits=18, decimal_places=4),
                )
            ),
        )
        .order_by("-created_at")[:100]
    )
    return render(request, ORDERS, {"clinic": clinic, "orders": rows, "tab": "orders"})


def _order(request: HtmxHttpRequest, clinic: Clinic, pk: int) -> PurchaseOrder:
    return get_object_or_404(
        _orders(request, clinic).select_related("supplier", "location", "created_by"), pk=pk
    )


def _render_order(
    request: HtmxHttpRequest,
    order: PurchaseOrder,
    *,
    form: ReceiveForm | None = None,
    error: str = "",
) -> HttpResponse:
    lines = list(order.lines.select_related("item").order_by("item__name"))
    receiving = order.status in (PurchaseOrder.Status.SENT, PurchaseOrder.Status.PARTLY_RECEIVED)
    if form is None and receiving:
        form = ReceiveForm(lines=lines)
    rows = []
    for line in lines:
        qty, lot, expiry = receive_names(line)
        fields = form.fields if form is not None else {}
        rows.append(
            {
                "line": line,
                "qty": form[qty] if form is not None and qty in fields else None,
                "lot": form[lot] if form is not None and lot in fields else None,
                "expiry": form[expiry] if form is not None and expiry in fields else None,
                "value": line.quantity * line.unit_cost,
            }
        )
    context = {
        "order": order,
        "rows": rows,
        "form": form,
        "receiving": receiving,
        "error": error,
        "total": sum((r["value"] for r in rows), start=0),
        "tab": "orders",
    }
    return render(request, ORDER, context)


@never_cache
@require_GET
@permission_required("supplies.view_purchaseorder", raise_exception=True)
def order(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _render_order(request, _order(request, _clinic(request), pk))


def _move_order(request: HtmxHttpRequest, pk: int, verb: str) -> HttpResponse:
    po = _order(request, _clinic(request), pk)
    try:
        if verb == "send":
            services.send_purchase_order(actor=request.user, order=po)
            messages.success(request, f"{po} is marked as sent to {po.supplier.name}.")
        else:
            services.cancel_purchase_order(actor=request.user, order=po)
            messages.success(request, f"{po} is cancelled.")
    except services.SupplyError as refused:
        messages.warning(request, _error_text(refused))
    return redirect("supplies:order", pk=po.pk)


@require_POST
@permission_required("supplies.send_purchaseorder", raise_exception=True)
def order_send(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _move_order(request, pk, "send")


@require_POST
@permission_required("supplies.change_purchaseorder", raise_exception=True)
def order_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _move_order(request, pk, "cancel")


_RECEIPT_FIELD = re.compile(r"^lines\[(\d+)\]\.(\w+)$")


@never_cache
@require_POST
@permission_required("supplies.receive_purchaseorder", raise_exception=True)
def order_receive(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Record what arrived: quantities, lots and expiry; stock goes into the supply room."""
    po = _order(request, _clinic(request), pk)
    lines = list(po.lines.select_related("item").order_by("item__name"))
    form = ReceiveForm(request.POST, lines=lines)
    if not form.is_valid():
        return _render_order(request, po, form=form)
    planned = form.receipts()
    try:
        services.receive_purchase_order(
            actor=request.user,
            order=po,
            receipts=[
                services.Receipt(line_id=line.pk, quantity=q, lot_number=lot, expiry=expiry)
                for line, q, lot, expiry in planned
            ],
        )
    except services.SupplyError as refused:
        target = None
        match = _RECEIPT_FIELD.match(refused.field or "")
        if match and 0 < int(match.group(1)) <= len(planned):
            line = planned[int(match.group(1)) - 1][0]
            qty, lot, expiry = receive_names(line)
            target = {"quantity": qty, "lot_number": lot, "expiry": expiry}.get(match.group(2))
        form.add_error(target if target in form.fields else None, _error_text(refused))
        return _render_order(request, po, form=form)
    units = sum(q for _, q, _, _ in planned)
    messages.success(request, f"Received {units} units on {po}; they are in stock now.")
    return redirect("supplies:order", pk=po.pk)


# ---------------------------------------------------------------------------------------------
# Cycle counts


@never_cache
@require_GET
@permission_required("supplies.view_countsession", raise_exception=True)
def counts(request: HtmxHttpRequest) -> HttpResponse:
    clinic = _clinic(request)
    sessions = CountSession.objects.for_user(request.user).filter(location__clinic=clinic)
    open_counts = {s.location_id: s for s in sessions.filter(status=CountSession.Status.OPEN)}
    locations = [
        {"location": loc, "open": open_counts.get(loc.pk)}
        for loc in selectors.locations(request.user, clinic)  # type: ignore[arg-type]
    ]
    recent = (
        sessions.exclude(status=CountSession.Status.OPEN)
        .select_related("location", "posted_by")
        .annotate(lines_count=Count("lines"))
        .order_by("-started_at")[:15]
    )
    found = selectors.found_to_review(clinic).filter(
        location_item__location__in=[row["location"] for row in locations]
    )
    return render(
        request,
        COUNTS,
        {
            "clinic": clinic,
            "locations": locations,
            "recent": recent,
            "found": found[:FOUND_SHOWN],
            "found_total": found.count(),
            "tab": "counts",
        },
    )


@require_POST
@permission_required("supplies.review_stockmovement", raise_exception=True)
def found_reviewed(request: HtmxHttpRequest, movement_id: int) -> HttpResponse:
    """A manager marks stock found at use as reviewed (it leaves the counts screen's list)."""
    clinic = _clinic(request)
    movement = get_object_or_404(
        StockMovement.objects.for_user(request.user)
        .filter(location_item__location__clinic=clinic, kind=StockMovement.Kind.FOUND)
        .select_related("location_item__item", "location_item__location"),
        pk=movement_id,
    )
    try:
        services.review_found_stock(actor=request.user, movement=movement)
    except services.SupplyError as refused:
        messages.info(request, _error_text(refused))
    else:
        li = movement.location_item
        messages.success(
            request,
            f"Marked reviewed: {movement.quantity} {li.item.name} found at {li.location.name}.",
        )
    return redirect("supplies:counts")


@require_POST
@permission_required("supplies.count_stock", raise_exception=True)
def count_start(request: HtmxHttpRequest) -> HttpResponse:
    clinic = _clinic(request)
    location_id = _int(request.POST.get("location"))
    if location_id is None:
        raise Http404("No such location.")
    location = _location(request, clinic, location_id)
    try:
        session = services.start_count(actor=request.user, location=location)
    except services.SupplyError as refused:
        messages.info(request, _error_text(refused))
        session = CountSession.objects.get(location=location, status=CountSession.Status.OPEN)
    return redirect("supplies:count", pk=session.pk)


@dataclass(frozen=True)
class CountRow:
    name: str
    label: str
    li: LocationItem
    lot: Any
    lot_label: str


def _count_rows(location: StockLocation) -> list[CountRow]:
    """One input per item, or per lot (plus stock held without a lot) for lot-tracked items."""
    items = list(
        LocationItem.objects.filter(location=location, is_active=True)
        .select_related("item")
        .order_by("item__name")
    )
    lots: dict[int, list[LotStock]] = {}
    for stock in (
        LotStock.objects.filter(location_item__in=items, on_hand__gt=0)
        .select_related("lot")
        .order_by("lot__expiry", "lot__lot_number")
    ):
        lots.setdefault(stock.location_item_id, []).append(stock)
    rows = []
    for li in items:
        stocks = lots.get(li.pk, [])
        for stock in stocks:
            expiry = f", expires {stock.lot.expiry:%Y-%m-%d}" if stock.lot.expiry else ""
            rows.append(
                CountRow(
                    name=count_name(li.pk, stock.lot_id),
                    label=f"Counted {li.item.name}, lot {stock.lot.lot_number}",
                    li=li,
                    lot=stock.lot,
                    lot_label=f"Lot {stock.lot.lot_number}{expiry}",
                )
            )
        if not stocks or li.on_hand > sum(s.on_hand for s in stocks):
            rows.append(
                CountRow(
                    name=count_name(li.pk, None),
                    label=f"Counted {li.item.name}" + (", without a lot" if stocks else ""),
                    li=li,
                    lot=None,
                    lot_label="Without a lot" if stocks else "",
                )
            )
    return rows


def _count_session(request: HtmxHttpRequest, pk: int) -> CountSession:
    return get_object_or_404(
        CountSession.objects.for_user(request.user)
        .filter(location__clinic=_clinic(request))
        .select_related("location__clinic", "started_by", "posted_by"),
        pk=pk,
    )


def _render_count(
    request: HtmxHttpRequest,
    session: CountSession,
    *,
    form: CountForm | None = None,
    post_form: PostCountForm | None = None,
    flash: str = "",
) -> HttpResponse:
    rows = _count_rows(session.location) if session.status == CountSession.Status.OPEN else []
    variances = list(selectors.count_variances(session.pk))
    if form is None:
        initial = {count_name(v.location_item_id, v.lot_id): v.counted for v in variances}
        form = CountForm(rows=rows, initial=initial)
    if post_form is None:
        post_form = PostCountForm(
            lines=variances, initial={reason_name(v): v.reason for v in variances}
        )
    counted_rows = [{"row": row, "field": form[row.name]} for row in rows]
    reasons = {line.pk: post_form[reason_name(line)] for line in post_form.lines}
    context = {
        "session": session,
        "location": session.location,
        "form": form,
        "rows": counted_rows,
        "variances": [{"line": v, "reason": reasons.get(v.pk)} for v in variances],
        "post_form": post_form,
        "flash": flash,
        "tab": "counts",
    }
    return _render(request, COUNT, "count-body", context)


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("supplies.view_countsession", raise_exception=True)
def count(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A count of one location: enter what is there, see the variances (POST records)."""
    session = _count_session(request, pk)
    if request.method == "GET":
        return _render_count(request, session)
    if not request.user.has_perm("supplies.count_stock"):
        raise PermissionDenied("You cannot record counts.")
    rows = _count_rows(session.location) if session.status == CountSession.Status.OPEN else []
    form = CountForm(request.POST, rows=rows)
    if not form.is_valid():
        return _render_count(request, session, form=form)
    try:
        services.record_count(
            actor=request.user,
            session=session,
            entries=[
                services.CountEntry(
                    item_id=row.li.item_id, counted=value, lot_id=getattr(row.lot, "pk", None)
                )
                for row, value in form.entries()
            ],
        )
    except services.SupplyError as refused:
        form.add_error(None, _error_text(refused))
        return _render_count(request, session, form=form)
    return _render_count(request, session, flash=f"Saved {len(form.entries())} counted quantities.")


@require_POST
@permission_required("supplies.count_stock", raise_exception=True)
def count_post(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Post the count: every variance becomes an adjustment with its reason."""
    session = _count_session(request, pk)
    variances = list(selectors.count_variances(session.pk))
    post_form = PostCountForm(request.POST, lines=variances)
    if not post_form.is_valid():
        return _render_count(request, session, post_form=post_form)
    try:
        movements = services.post_count(
            actor=request.user, session=session, reasons=post_form.reasons()
        )
    except services.SupplyError as refused:
        post_form.add_error(None, _error_text(refused))
        return _render_count(request, session, post_form=post_form)
    messages.success(
        request,
        f"Count of {session.location.name} posted: {len(movements)} adjustment"
        f"{'' if len(movements) == 1 else 's'}.",
    )
    return redirect("supplies:count", pk=session.pk)


@require_POST
@permission_required("supplies.count_stock", raise_exception=True)
def count_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    session = _count_session(request, pk)
    try:
        services.cancel_count(actor=request.user, session=session)
    except services.SupplyError as refused:
        messages.warning(request, _error_text(refused))
        return redirect("supplies:count", pk=session.pk)
    messages.info(request, f"The count of {session.location.name} was cancelled; nothing changed.")
    return redirect("supplies:counts")


# ---------------------------------------------------------------------------------------------
# Expiry


def _render_expiry(
    request: HtmxHttpRequest, clinic: Clinic, days: int, *, flash: str = "", flash_kind: str = ""
) -> HttpResponse:
    today = clinic.today()
    stocks = list(selectors.expiring(clinic, days, today=today))
    rows = []
    for stock in stocks:
        left = (stock.lot.expiry - today).days
        rows.append({"stock": stock, "days_left": left, "expired": left < 0})
    expired = [r for r in rows if r["expired"]]
    context = {
        "clinic": clinic,
        "rows": rows,
        "days": days,
        "today": today,
        "expired_lots": len(expired),
        "expired_units": sum(r["stock"].on_hand for r in expired),
        "windows": (30, 60),
        "flash": flash,
        "flash_kind": flash_kind,
        "tab": "expiry",
    }
    return _render(request, EXPIRY, "expiry-list", context)


@never_cache
@require_GET
@permission_required("supplies.view_expiryalert", raise_exception=True)
def expiry(request: HtmxHttpRequest) -> HttpResponse:
    form = ExpiryWindowForm(request.GET)
    days = form.cleaned_data["days"] if form.is_valid() else 60
    return _render_expiry(request, _clinic(request), days or 60)


@never_cache
@require_POST
@permission_required("supplies.waste_stock", raise_exception=True)
def waste_expired(request: HtmxHttpRequest) -> HttpResponse:
    """Waste every expired lot on hand in the clinic in one action."""
    clinic = _clinic(request)
    form = ExpiryWindowForm(request.POST)
    days = (form.cleaned_data["days"] if form.is_valid() else 60) or 60
    movements = services.waste_expired(actor=request.user, clinic=clinic)
    if movements:
        units = sum(-m.quantity for m in movements)
        flash, kind = f"Wasted {units} expired units from {len(movements)} lots.", "success"
    else:
        flash, kind = "No expired stock is on hand; nothing was wasted.", "info"
    if not _fragment(request):
        messages.add_message(request, messages.SUCCESS if movements else messages.INFO, flash)
        return redirect(f"{reverse('supplies:expiry')}?days={days}")
    return _render_expiry(request, clinic, days, flash=flash, flash_kind=kind)


# ---------------------------------------------------------------------------------------------
# Levels and suggested par


def _render_levels(
    request: HtmxHttpRequest,
    clinic: Clinic,
    location: StockLocation | None,
    *,
    flash: str = "",
    flash_kind: str = "",
) -> HttpResponse:
    rows = []
    if location is not None:
        suggestions = selectors.suggested_pars(location)
        for li in (
            LocationItem.objects.filter(location=location, is_active=True)
            .select_related("item")
            .order_by("item__name")
        ):
            suggestion = suggestions.get(li.pk)
            rows.append(
                {
                    "li": li,
                    "suggestion": suggestion,
                    "differs": suggestion is not None and suggestion.par != li.par,
                }
            )
    context = {
        "clinic": clinic,
        "locations": list(selectors.locations(request.user, clinic)),  # type: ignore[arg-type]
        "location": location,
        "rows": rows,
        "flash": flash,
        "flash_kind": flash_kind,
        "tab": "levels",
    }
    return _render(request, LEVELS, "levels-table", context)


@never_cache
@require_GET
@permission_required("supplies.view_locationitem", raise_exception=True)
def levels(request: HtmxHttpRequest) -> HttpResponse:
    clinic = _clinic(request)
    location_id = _int(request.GET.get("location"))
    if location_id is not None:
        location = _location(request, clinic, location_id)
    else:
        location = (
            _remembered_location(request, clinic)
            or _locations(request, clinic).order_by("kind", "name").first()
        )
    return _render_levels(request, clinic, location)


@never_cache
@require_POST
@permission_required("supplies.change_locationitem", raise_exception=True)
def accept_par(request: HtmxHttpRequest, location_item_id: int) -> HttpResponse:
    clinic = _clinic(request)
    li = _location_item(request, clinic, location_item_id)
    before = li.par
    try:
        services.accept_suggested_par(actor=request.user, location_item=li)
    except services.SupplyError as refused:
        flash, kind = _error_text(refused), "warning"
    else:
        flash = f"Par of {li.item.name} at {li.location.name}: {before} → {li.par}."
        kind = "success"
    if not _fragment(request):
        messages.add_message(
            request, messages.SUCCESS if kind == "success" else messages.WARNING, flash
        )
        return redirect(f"{reverse('supplies:levels')}?location={li.location_id}")
    return _render_levels(request, clinic, li.location, flash=flash, flash_kind=kind)


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("supplies.change_locationitem", raise_exception=True)
def levels_edit(request: HtmxHttpRequest, location_item_id: int) -> HttpResponse:
    clinic = _clinic(request)
    li = _location_item(request, clinic, location_item_id)
    initial = {"par": li.par, "reorder_point": li.reorder_point, "max_quantity": li.max_quantity}
    form = LevelsForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.set_levels(actor=request.user, location_item=li, **form.cleaned_data)
        except services.SupplyError as refused:
            form.add_error(
                refused.field if refused.field in form.fields else None, _error_text(refused)
            )
        else:
            messages.success(request, f"Levels of {li.item.name} at {li.location.name} saved.")
            return redirect(f"{reverse('supplies:levels')}?location={li.location_id}")
    suggestion = selectors.suggested_par(li)
    return render(
        request,
        LEVELS_EDIT,
        {"li": li, "form": form, "suggestion": suggestion, "tab": "levels"},
    )


# ---------------------------------------------------------------------------------------------
# Item-master import


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("supplies.import_supplyitem", raise_exception=True)
def item_import(request: HtmxHttpRequest) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES) if request.method == "POST" else ImportForm()
    errors: list[importers.LineError] = []
    summary = None
    if request.method == "POST" and form.is_valid():
        try:
            summary = importers.import_items(form.cleaned_data["file"].read(), actor=request.user)
        except importers.ItemImportError as refused:
            errors = refused.errors
    context = {
        "form": form,
        "errors": errors,
        "summary": summary,
        "columns": importers.COLUMNS,
        "required": importers.REQUIRED_COLUMNS,
        "tab": "import",
    }
    return render(request, IMPORT, context)


@require_GET
@permission_required("supplies.import_supplyitem", raise_exception=True)
def import_template(request: HtmxHttpRequest) -> HttpResponse:
    response = HttpResponse(importers.template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="supply-items-template.csv"'
    return response
