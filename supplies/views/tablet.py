"""The nurse's tablet: choosing the location, logging use (taps and scans), undo, and the
quick count of one item.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.context_processors import PermWrapper
from django.contrib.auth.decorators import permission_required
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef
from django.http import Http404, HttpResponse, QueryDict
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import get_template
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.formats import localize
from django.utils.functional import Promise
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.fields import parse_id
from clinicops.core.models import Clinic
from clinicops.core.templatetags.formats import clock
from clinicops.core.web import HtmxHttpRequest, current_clinic, is_fragment, render_page

from .. import selectors, services
from ..forms import LogUseForm, QuickCountForm, new_key, quantity_cap, quantity_name
from ..models import ItemBarcode, LocationItem, StockLocation, UsageSubmission
from ..services import counts as count_services
from ..services import usage
from .common import SESSION_LOCATION, _error_text, _location_item, _remembered_location

TABLET = "supplies/tablet.html"
CHOOSE = "supplies/choose_location.html"
LOGGED = "supplies/_logged.html"
QTY_FIELD = re.compile(r"^qty_(\d{1,18})$")
# The tablet shows this many of today's last logs at its location.
RECENT_LOGS_SHOWN = 3


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
    # A log just stored: the tablet clears its quantities (supplies.js, data-logged).
    logged: bool = False

    @property
    def undo_seconds(self) -> int:
        """Seconds of undo left by the server's clock: the tablet counts down from this, so
        a tablet whose own clock is wrong still shows the right time left."""
        if self.undo_until is None:
            return 0
        return max(0, int((self.undo_until - timezone.now()).total_seconds()))


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
    clinic = current_clinic(request)
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


def _last_entry(last: selectors.LastEntry | None) -> Feedback | None:
    """The user's last log here, while it can still be undone (read with the screen)."""
    if last is None:
        return None
    return Feedback(
        kind="info",
        title="Your last entry here",
        lines=last.lines,
        undo=last.submission,
        undo_until=_undo_until(last.submission),
    )


def _tablet_items(location: StockLocation) -> list[LocationItem]:
    """The location's tiles, each with its item's barcodes (`codes`) in the same query."""
    codes = ItemBarcode.objects.filter(item_id=OuterRef("item_id")).order_by("code").values("code")
    return list(selectors.location_items(location).annotate(codes=ArraySubquery(codes)))


def _tile_codes(items: list[LocationItem]) -> dict[int, list[str]]:
    return {li.item_id: list(li.codes or []) for li in items}  # type: ignore[attr-defined]


def _text(value: Any) -> str:
    """`{{ value }}` in a template: localized unless text, escaped unless marked safe."""
    # The two kinds a tile writes most, without the formats machinery: plain text is what
    # conditional_escape escapes with html.escape, and a whole number is what localize gives
    # when numbers are not grouped.
    if type(value) is str:
        return html.escape(value)
    if type(value) is int and not settings.USE_THOUSAND_SEPARATOR:
        return str(value)
    if not isinstance(value, str | Promise):
        value = localize(value)
    return str(conditional_escape(value))


def tile_meta_html(li: LocationItem) -> str:
    """supplies/_tile_meta.html, for the tiles written below."""
    badge = ""
    if li.on_hand == 0:
        badge = ' <span class="badge badge--danger">Out</span>'
    elif li.is_at_or_below_reorder_point:
        badge = ' <span class="badge badge--warning">Low</span>'
    return (
        f'<span class="tile__meta" id="tile-meta-{_text(li.pk)}"><span class="tile__stock">'
        f"{_text(li.on_hand)} left</span>{badge}</span>"
    )


def tile_html(tile: dict[str, Any]) -> str:
    """One tile of the tablet, as the tile loop of supplies/tablet.html wrote it: a screen has
    dozens, and in the template language they were most of the tablet's time."""
    li, item = tile["li"], tile["li"].item
    name, value, error = _text(item.name), tile["value"], tile["error"]
    field = f"id_{_text(tile['name'])}"
    classes = "tile"
    if value and value != "0":
        classes += " tile--selected"
    if li.is_at_or_below_reorder_point:
        classes += " tile--low"
    if error:
        classes += " tile--error"
    search = " ".join(_text(str(v).lower()) for v in (item.name, item.sku, item.category))
    invalid = f' aria-invalid="true" aria-describedby="{field}_error"' if error else ""
    pk = _text(li.pk)
    return (
        f'<li class="{classes}" data-tile data-name="{name}" data-search-text="{search}" '
        f'data-codes="{_text(tile["codes"])}"{" hidden" if tile["hidden"] else ""}>\n'
        f'  <button type="submit" name="add" value="{pk}" class="tile__add" data-step="1" '
        f'data-for="{field}">\n'
        f'    <span class="tile__name">{name}</span>\n'
        f"    {tile_meta_html(li)}\n"
        "  </button>\n"
        '  <div class="stepper">\n'
        f'    <button type="submit" name="remove" value="{pk}" class="stepper__btn" '
        f'data-step="-1" data-for="{field}" aria-label="One less {name}"><span '
        'aria-hidden="true">\u2212</span></button>\n'
        f'    <label class="visually-hidden" for="{field}">Quantity of {name} '
        f"({_text(item.unit_of_use)})</label>\n"
        '    <input class="stepper__input" type="number" inputmode="numeric" min="0" '
        f'max="{_text(tile["cap"])}" step="1" id="{field}" name="{_text(tile["name"])}" '
        f'value="{_text(value)}" placeholder="0" data-qty{invalid}>\n'
        f'    <button type="submit" name="add" value="{pk}" class="stepper__btn" data-step="1" '
        f'data-for="{field}" aria-label="One more {name}"><span aria-hidden="true">+</span>'
        "</button>\n"
        "  </div>\n"
        + (f'  <p class="tile__error" id="{field}_error">{_text(error)}</p>\n' if error else "")
        + "</li>"
    )


def chip_html(chip: selectors.VisitChip, *, checked: bool) -> str:
    """One patient chip of the picker, as the chip loop of supplies/tablet.html wrote it."""
    pk = _text(chip.pk)
    meta = f"{_text(chip.room_name)} · " if chip.room_id else ""
    return (
        f'<span class="chip"><input class="chip__input" type="radio" id="visit-{pk}" '
        f'name="visit" value="{pk}" form="log-form"{" checked" if checked else ""}><label '
        f'class="chip__label" for="visit-{pk}">{_text(chip.last_name)}, '
        f'{_text(chip.first_name)} <span class="chip__meta">{meta}{_text(chip.step_label)}'
        "</span></label></span>"
    )


def last_logs_html(
    recent_logs: list[selectors.RecentLog], *, user_id: int, oob: bool = False
) -> str:
    """The "Last logged here today" box, as supplies/_last_logs.html wrote it: on the screen
    and in every Log's answer, and in the template language it cost a millisecond a time.
    Times are the clinic's (the current time zone, which CurrentClinicMiddleware sets)."""
    if recent_logs:
        entries = []
        for entry in recent_logs:
            what = ", ".join(
                f"{_text(line.quantity)} \u00d7 {_text(line.item_name)}" for line in entry.lines
            )
            who = "you" if entry.user_id == user_id else _text(entry.user_name)
            undone = " last-logs__entry--undone" if entry.undone else ""
            entries.append(
                f'    <li class="last-logs__entry{undone}">\n'
                f'      <span class="last-logs__what">{what or "nothing"}</span>\n'
                f'      <span class="last-logs__when">{_text(clock(entry.created_at))} · by '
                f"{who}{' · undone' if entry.undone else ''}</span>\n"
                "    </li>\n"
            )
        body = '  <ol class="last-logs__list">\n' + "".join(entries) + "  </ol>\n"
    else:
        body = '  <p class="last-logs__none">Nothing logged here yet today.</p>\n'
    swap = ' hx-swap-oob="true"' if oob else ""
    return (
        f'<section class="last-logs" id="last-logs"{swap} '
        'aria-labelledby="last-logs-title" data-last-logs>\n'
        '  <h2 class="last-logs__title" id="last-logs-title">Last logged here today</h2>\n'
        + body
        + "</section>"
    )


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
    recent_logs: list[selectors.RecentLog] | None = None,
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
                "cap": quantity_cap(li),
            }
        )
        tiles[-1]["html"] = mark_safe(tile_html(tiles[-1]))  # noqa: S308 - escaped above
        if (number := parse_id(raw)) is not None and number > 0:
            selected.append((li, number))
    visit_value = str(
        form.data.get("visit", "") if form.is_bound else form.initial.get("visit", "")
    )
    # The picker's chips (a GET read them so; the POSTs read the visits themselves).
    chips = (
        visits
        if not visits or isinstance(visits[0], selectors.VisitChip)
        else selectors.visit_chips(visits)
    )
    clinic = location.clinic
    if recent_logs is None:
        since = datetime.combine(clinic.today(), time.min, tzinfo=clinic.tz)
        recent_logs = selectors.recent_logs(location, since=since, limit=RECENT_LOGS_SHOWN)
    return {
        "clinic": clinic,
        "location": location,
        # What is stored, so a nurse who is unsure whether a tap went through can see it did.
        "last_logs_html": mark_safe(  # noqa: S308 - escaped in last_logs_html
            last_logs_html(recent_logs, user_id=request.user.pk)
        ),
        "form": form,
        "tiles": tiles,
        "selected": selected,
        "query": query,
        "visits": visits,
        "chips_html": mark_safe(  # noqa: S308 - escaped in chip_html
            "\n      ".join(chip_html(c, checked=visit_value == str(c.pk)) for c in chips)
        ),
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
    # One INSERT, atomic on its own: no BEGIN and COMMIT round trips (a read's entry).
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
    recent_logs: list[selectors.RecentLog] | None = None,
) -> HttpResponse:
    """The tablet, or its log panel for htmx; `recent_logs` when already read since the last
    change (else they are read here)."""
    if items and not hasattr(items[0], "codes"):
        # A "Log" read the plain list (below); the screen shows the tiles in their order.
        items = _tablet_items(location)
    context = _tablet_context(
        request,
        location,
        items,
        visits,
        form,
        feedback,
        focus_scan=focus_scan,
        refused=refused,
        recent_logs=recent_logs,
    )
    if not is_fragment(request):
        _audit_patients_shown(request, location, visits)
    return render_page(request, TABLET, "log-panel", context)


def _fresh_form(visits: list[Any], *, keep: QueryDict | None = None) -> LogUseForm:
    """An empty log form with a new key (the visit kept, so the next log is for them too).

    Unbound, with the key and visit as initial values: nothing was submitted to it, so there
    is nothing to validate (a bound form would clean every tile's field to show no error), and
    it has no field per tile either: those validate a submission, and the tiles are written by
    tile_html (the screen shows this form's key, search and scan fields)."""
    initial = {"idempotency_key": new_key()}
    if keep is not None:
        initial["visit"] = str(keep.get("visit", ""))
    return LogUseForm(initial=initial, location_items=(), visits=visits)


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
    clinic = current_clinic(request)
    logging = request.method == "POST" and request.POST.get("action") == "log"
    # The location, its tiles, today's last logs and the user's undoable entry in one query.
    # A "Log" needs the location's items, not their order by use or their barcodes: a stored
    # log answers with what changed (a screen shown again reads the tiles then).
    screen = selectors.tablet_screen(
        request.user,  # type: ignore[arg-type]
        clinic,
        location_id,
        now=timezone.now(),
        ordered=not logging,
        recent=RECENT_LOGS_SHOWN,
        # The screen's patient picker shows the patients in rooms; a POST that names one needs
        # the visit itself (for the log and its audit entry), read below.
        with_visits=request.method == "GET",
    )
    if screen is None:
        raise Http404("No such stock location here.")
    location, items = screen.location, screen.items
    _remember(request, clinic, location)
    visits: list[Any]
    if request.method == "GET":
        visits = screen.visits
    elif is_fragment(request) and not request.POST.get("visit"):
        # The answer to htmx has no patient picker, and no patient was chosen to check.
        visits = []
    else:
        visits = selectors.visits_for_logging(request.user, location)  # type: ignore[arg-type]
    if request.method == "GET":
        form = _fresh_form(visits)
        return _render_tablet(
            request,
            location,
            items,
            visits,
            form,
            _last_entry(screen.last_entry),
            recent_logs=screen.recent_logs,
        )
    data = request.POST.copy()
    if parse_id(data.get("add")) or parse_id(data.get("remove")):
        return _tap(request, location, items, visits, data, screen.recent_logs)
    if data.get("action") != "log":
        return _scan(request, location, items, visits, data, screen.recent_logs)
    return _log_use(request, location, items, visits, data, screen.recent_logs)


def _tap(
    request: HtmxHttpRequest,
    location: StockLocation,
    items: list[LocationItem],
    visits: list[Any],
    data: QueryDict,
    recent_logs: list[selectors.RecentLog],
) -> HttpResponse:
    """A tile or stepper tap without JavaScript (the page does this in the browser otherwise)."""
    adding = parse_id(data.get("add"))
    li = next((li for li in items if li.pk == (adding or parse_id(data.get("remove")))), None)
    if li is not None:
        _adjust(data, quantity_name(li.pk), 1 if adding else -1, quantity_cap(li))
    form = LogUseForm(data, location_items=items, visits=visits)
    return _render_tablet(request, location, items, visits, form, None, recent_logs=recent_logs)


def _scan(
    request: HtmxHttpRequest,
    location: StockLocation,
    items: list[LocationItem],
    visits: list[Any],
    data: QueryDict,
    recent_logs: list[selectors.RecentLog],
) -> HttpResponse:
    """A scanned (or typed) code and Enter: one more of that item, nothing logged yet."""
    code = str(data.get("barcode", "")).strip()[:64]
    feedback = None
    if code:
        li = selectors.item_by_barcode(location, code)
        if li is not None and any(li.pk == tile.pk for tile in items):
            _adjust(data, quantity_name(li.pk), 1, quantity_cap(li))
            feedback = Feedback(kind="info", title=f"Added {li.item.name}")
        else:
            feedback = Feedback(
                kind="warning",
                title=f"Nothing stocked at {location.name} has the barcode “{code}”.",
                note="Check the label, or tap the item's tile instead.",
            )
    data["barcode"] = ""
    form = LogUseForm(data, location_items=items, visits=visits)
    return _render_tablet(
        request,
        location,
        items,
        visits,
        form,
        feedback,
        focus_scan=True,
        recent_logs=recent_logs,
    )


def _log_use(
    request: HtmxHttpRequest,
    location: StockLocation,
    items: list[LocationItem],
    visits: list[Any],
    data: QueryDict,
    recent_logs: list[selectors.RecentLog],
) -> HttpResponse:
    """The "Log" tap: everything on the tiles in one service call, once per key.

    `recent_logs` were read before the log: a refusal shows them as they are (nothing was
    stored), a stored log puts itself at their head (`_with_stored`)."""
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
        return _render_tablet(request, location, items, visits, form, None, recent_logs=recent_logs)
    quantities = form.quantities()
    if not quantities:
        form.add_error(None, "Tap at least one item, then Log.")
        return _render_tablet(request, location, items, visits, form, None, recent_logs=recent_logs)
    visit = form.cleaned_data["visit"]
    try:
        result = usage.log_usage(
            actor=request.user,
            location=location,
            lines=[usage.UsageLine(by_pk[pk].item_id, qty) for pk, qty in quantities.items()],
            visit=visit,
            idempotency_key=form.cleaned_data["idempotency_key"],
            location_items=items,
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
            request,
            location,
            items,
            visits,
            form,
            feedback,
            refused={li.pk: feedback.note},
            recent_logs=recent_logs,
        )
    except services.SupplyError as refused:
        form.add_error("visit" if refused.field == "patient" else None, _error_text(refused))
        return _render_tablet(request, location, items, visits, form, None, recent_logs=recent_logs)

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
        logged=True,
        undo_until=_undo_until(result.submission),
        # The books were short: offer to count what is really there now.
        count_item=found_li,
        count_form=QuickCountForm() if found_li is not None else None,
    )
    changed = []
    for line in result.lines:
        if line.location_item_id in by_pk:
            by_pk[line.location_item_id].on_hand = line.on_hand
            changed.append(by_pk[line.location_item_id])
    if is_fragment(request):
        recent_logs = _with_stored(request, location, recent_logs, result)
        return _render_logged(request, location, visits, data, feedback, changed, recent_logs)
    return _render_tablet(
        request, location, items, visits, _fresh_form(visits, keep=data), feedback
    )


def _with_stored(
    request: HtmxHttpRequest,
    location: StockLocation,
    recent_logs: list[selectors.RecentLog],
    result: usage.UsageResult,
) -> list[selectors.RecentLog]:
    """Today's last logs as read before this log, with this log (as the service stored it) in
    its place: the screen's query ran before the log, and reading them again after it would
    cost the answer another round trip. A log by someone else that committed in between shows
    on the next screen."""
    submission = result.submission
    clinic = location.clinic
    if submission.created_at < datetime.combine(clinic.today(), time.min, tzinfo=clinic.tz):
        return recent_logs  # a replay of a log from before today
    lines: dict[str, list[int]] = {}
    for line in sorted(result.lines, key=lambda line: line.item_name):
        figures = lines.setdefault(line.item_name, [0, 0])
        figures[0] += line.quantity
        figures[1] += line.found
    stored = selectors.RecentLog(
        submission_id=submission.pk,
        created_at=submission.created_at,
        user_id=request.user.pk,
        user_name=request.user.get_full_name() or request.user.get_username(),
        lines=tuple(
            selectors.RecentLogLine(item_name=name, quantity=q, found=f)
            for name, (q, f) in lines.items()
        ),
        undone=submission.undone_at is not None,
    )
    logs = [stored, *(log for log in recent_logs if log.submission_id != submission.pk)]
    logs.sort(key=lambda log: (log.created_at, log.submission_id), reverse=True)
    return logs[:RECENT_LOGS_SHOWN]


def _render_logged(
    request: HtmxHttpRequest,
    location: StockLocation,
    visits: list[Any],
    data: QueryDict,
    feedback: Feedback,
    changed: list[LocationItem],
    recent_logs: list[selectors.RecentLog],
) -> HttpResponse:
    """A stored log, answered to the tablet's htmx form: only what changed (the feedback, the
    new key, the last logs, the stock of the logged tiles), not the whole screen again."""
    context = {
        "clinic": location.clinic,
        "location": location,
        "feedback": feedback,
        "form": _fresh_form(visits, keep=data),
        "last_logs_html": mark_safe(  # noqa: S308 - escaped in last_logs_html
            last_logs_html(recent_logs, user_id=request.user.pk, oob=True)
        ),
        "changed": changed,
    }
    # The answer has none of the page's frame (navigation, clinic switcher, break-glass
    # banner), so the context processors that fill it are not run (one is a cache round
    # trip): only what the fragment uses, the user, their permissions and the CSRF token.
    context.update(
        user=request.user, perms=PermWrapper(request.user), csrf_token=get_token(request)
    )
    response = HttpResponse(get_template(LOGGED).render(context))
    response["HX-Retarget"] = "#log-feedback"
    response["HX-Reswap"] = "outerHTML"
    patch_vary_headers(response, ["HX-Request"])
    return response


def _keep_form(
    request: HtmxHttpRequest, items: list[LocationItem], visits: list[Any]
) -> LogUseForm:
    """The log form as the page had it (sent along by hx-include), or a fresh one."""
    if request.POST.get("idempotency_key"):
        data = request.POST.copy()
        data["barcode"] = ""
        return LogUseForm(data, location_items=items, visits=visits)
    return _fresh_form(visits)


@never_cache
@require_POST
@permission_required("supplies.log_usage", raise_exception=True)
def undo(request: HtmxHttpRequest, submission_id: int) -> HttpResponse:
    """Undo one's own last log within the window (compensating movements)."""
    clinic = current_clinic(request)
    submission = get_object_or_404(
        UsageSubmission.objects.for_user(request.user)
        .filter(location__clinic=clinic, kind=UsageSubmission.Kind.USE)
        .select_related("location__clinic"),
        pk=submission_id,
    )
    location = submission.location
    try:
        result = usage.undo_usage(actor=request.user, submission=submission)
    except services.UndoRefused as refused:
        feedback = Feedback(kind="danger", title="Not undone", note=_error_text(refused))
    else:
        feedback = Feedback(
            kind="success",
            title="Undone: put back",
            lines=list(result.lines),
            note="The log was reversed; the history keeps both entries.",
        )
    items = _tablet_items(location)
    visits = selectors.visits_for_logging(request.user, location)  # type: ignore[arg-type]
    return _render_tablet(
        request, location, items, visits, _keep_form(request, items, visits), feedback
    )


@never_cache
@require_POST
@permission_required("supplies.count_stock", raise_exception=True)
def quick_count(request: HtmxHttpRequest, location_item_id: int) -> HttpResponse:
    """Record a count after a refusal: count one item where it stands and adjust at once."""
    clinic = current_clinic(request)
    li = _location_item(request, clinic, location_item_id)
    location = li.location
    form = QuickCountForm(request.POST)
    items = _tablet_items(location)
    visits = selectors.visits_for_logging(request.user, location)  # type: ignore[arg-type]
    if form.is_valid():
        try:
            result = count_services.quick_count(
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
            items = _tablet_items(location)
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
