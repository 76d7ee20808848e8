"""Manager screens: a provider's schedule templates (list, create with a week preview) and
provider time off and clinic closures, with the booked appointments they leave to move.

Each view renders its whole page, or for an htmx request only the fragment that changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth.decorators import permission_required
from django.forms.utils import ErrorDict
from django.http import HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinicops.core.models import Clinic, Staff
from clinicops.core.web import HtmxHttpRequest, current_clinic, render_page

from . import availability, selectors
from .models import ClinicClosure, ProviderTimeOff, ScheduleTemplate, TemplateBlock
from .screens import clinic_providers, record_list_view
from .services import SchedulingError, common
from .services import templates as template_services
from .services.templates import BlockSpec
from .template_forms import MAX_BLOCK_ROWS, BlockFormSet, ClosureForm, TemplateForm, TimeOffForm

BLOCKS_PREFIX = "blocks"
MORE_ROWS = 5
KIND_LABELS = dict(TemplateBlock.Kind.choices)


@dataclass(frozen=True)
class PreviewDay:
    day: date
    in_effect: bool
    slots: list[tuple[datetime, datetime, str]]


def _preview(
    *, clinic: Clinic, specs: list[BlockSpec], effective_from: date, effective_to: date | None
) -> list[PreviewDay]:
    """The first week of unsaved blocks as slots (local wall clock, so DST days are right)."""
    days = []
    for offset in range(7):
        day = effective_from + timedelta(days=offset)
        in_effect = effective_to is None or day <= effective_to
        slots = []
        if in_effect:
            for spec in sorted(specs, key=lambda s: s.start_time):
                if spec.weekday != day.weekday():
                    continue
                start = availability.local_datetime(day, spec.start_time, clinic.tz)
                end = availability.local_datetime(day, spec.end_time, clinic.tz)
                step = timedelta(minutes=spec.slot_minutes)
                while start + step <= end:
                    slots.append((start, start + step, spec.kind))
                    start += step
        days.append(PreviewDay(day, in_effect, slots))
    return days


def _saved_preview(template: ScheduleTemplate, week_start: date) -> list[PreviewDay]:
    preview = selectors.template_week_preview(template=template, week_start=week_start)
    return [
        PreviewDay(day, template.covers(day), [(s.start, s.end, s.kind) for s in slots])
        for day, slots in preview.items()
    ]


# --- schedule templates ------------------------------------------------------------------


@never_cache
@require_GET
@permission_required("scheduling.add_scheduletemplate", raise_exception=True)
def template_list(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    providers = clinic_providers(clinic)
    provider = None
    if request.GET.get("provider"):
        try:
            provider = get_object_or_404(providers, pk=int(request.GET["provider"]))
        except ValueError:
            provider = None
    templates = (
        ScheduleTemplate.objects.for_user(request.user)
        .filter(clinic=clinic)
        .select_related("provider__user")
        .prefetch_related("blocks")
        .order_by("provider__user__last_name", "provider_id", "-effective_from")
    )
    if provider is not None:
        templates = templates.filter(provider=provider)
    context = {
        "providers": providers,
        "provider": provider,
        "templates": templates,
        "today": clinic.today(),
    }
    return render_page(request, "scheduling/templates_list.html", "template-list", context)


@never_cache
@require_GET
@permission_required("scheduling.add_scheduletemplate", raise_exception=True)
def template_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    clinic = current_clinic(request)
    template = get_object_or_404(
        ScheduleTemplate.objects.for_user(request.user)
        .filter(clinic=clinic)
        .select_related("provider__user", "clinic"),
        pk=pk,
    )
    week_start = max(template.effective_from, clinic.today())
    if template.effective_to is not None and week_start > template.effective_to:
        week_start = template.effective_from
    blocks = template.blocks.prefetch_related("appointment_types").order_by("weekday", "start_time")
    context = {
        "template": template,
        "blocks": blocks,
        "preview": _saved_preview(template, week_start),
        "kind_labels": KIND_LABELS,
    }
    return render_page(request, "scheduling/templates_detail.html", "template-detail", context)


def _template_forms(
    request: HtmxHttpRequest, clinic: Clinic, data: QueryDict | None
) -> tuple[TemplateForm, Any]:
    initial: dict[str, Any] = {"effective_from": clinic.today() + timedelta(days=1)}
    if data is None and request.GET.get("provider"):
        try:
            provider_id = int(request.GET["provider"])
        except ValueError:
            provider_id = 0
        provider: Staff = get_object_or_404(clinic_providers(clinic), pk=provider_id)
        initial["provider"] = provider.pk
    form = TemplateForm(data, clinic=clinic, initial=initial)
    formset = BlockFormSet(data, prefix=BLOCKS_PREFIX, form_kwargs={"clinic": clinic})
    return form, formset


def _with_more_rows(data: QueryDict) -> QueryDict:
    data = data.copy()
    key = f"{BLOCKS_PREFIX}-TOTAL_FORMS"
    try:
        total = int(data.get(key, "0"))
    except ValueError:
        total = 0
    data[key] = str(min(max(total, 0) + MORE_ROWS, MAX_BLOCK_ROWS))
    return data


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("scheduling.add_scheduletemplate", raise_exception=True)
def template_new(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    data = request.POST if request.method == "POST" else None
    if data is not None and "more" in data:
        form, formset = _template_forms(request, clinic, _with_more_rows(data))
        _quiet(form, formset)
        data = None
    else:
        form, formset = _template_forms(request, clinic, data)
    context = {"form": form, "formset": formset, "preview": None, "kind_labels": KIND_LABELS}
    if data is not None and form.is_valid() and formset.is_valid():
        try:
            template = template_services.create_template(
                actor=request.user,
                clinic=clinic,
                provider=form.cleaned_data["provider"],
                effective_from=form.cleaned_data["effective_from"],
                effective_to=form.cleaned_data["effective_to"],
                name=form.cleaned_data["name"],
                blocks=formset.specs(),
            )
        except SchedulingError as error:
            _add_scheduling_error(form, formset, error)
        else:
            return redirect("scheduling:template_detail", pk=template.pk)
    return render_page(request, "scheduling/templates_new.html", "template-form", context)


def _quiet(form: TemplateForm, formset: Any) -> None:
    """Adding rows is not a submission: keep what was typed, without complaints about it."""
    form._errors = ErrorDict()
    formset._errors = []
    formset._non_form_errors = formset.error_class()
    for block_form in formset.forms:
        block_form._errors = ErrorDict()


def _add_scheduling_error(form: TemplateForm, formset: Any, error: SchedulingError) -> None:
    if error.field in form.fields:
        form.add_error(error.field, error.message)
    elif error.field == BLOCKS_PREFIX:
        formset.non_form_errors().append(error.message)
    else:
        form.add_error(None, error.message)


@never_cache
@require_http_methods(["GET", "POST"])
@permission_required("scheduling.add_scheduletemplate", raise_exception=True)
def template_preview(request: HtmxHttpRequest) -> HttpResponse:
    """The week the form's blocks would produce; nothing is saved."""
    clinic = current_clinic(request)
    data = request.POST if request.method == "POST" else request.GET
    form, formset = _template_forms(request, clinic, data or None)
    preview = None
    if data and form.is_valid() and formset.is_valid():
        preview = _preview(
            clinic=clinic,
            specs=formset.specs(),
            effective_from=form.cleaned_data["effective_from"],
            effective_to=form.cleaned_data["effective_to"],
        )
    context = {"form": form, "formset": formset, "preview": preview, "kind_labels": KIND_LABELS}
    return render_page(request, "scheduling/templates_new.html", "template-preview", context)


# --- time off and closures ---------------------------------------------------------------


def _time_off_context(request: HtmxHttpRequest, clinic: Clinic, **extra: Any) -> dict[str, Any]:
    now = timezone.now()
    today = clinic.today()
    context: dict[str, Any] = {
        "time_off_form": TimeOffForm(clinic=clinic),
        "closure_form": ClosureForm(),
        "time_off": ProviderTimeOff.objects.for_user(request.user)
        .filter(provider__clinics=clinic, end__gt=now)
        .distinct()
        .select_related("provider__user")
        .order_by("start")[:50],
        "closures": ClinicClosure.objects.for_user(request.user)
        .filter(clinic=clinic, day__gte=today)
        .order_by("day")[:50],
        "result": None,
        "result_label": "",
    }
    context.update(extra)
    return context


def _shown_result(
    request: HtmxHttpRequest, clinic: Clinic, result: common.AffectedResult, label: str
) -> dict[str, Any]:
    """The appointments to move that this user may see (audited as a read), and how many not."""
    user = request.user
    # A provider may also work at clinics this user does not: those patients stay hidden.
    shown = [a for a in result.affected if user.is_superuser or a.clinic_id in user.clinic_ids]
    record_list_view(actor=user, clinic=clinic, appointments=shown, summary=label)
    return {
        "result": result,
        "result_label": label,
        "affected": shown,
        "hidden_count": len(result.affected) - len(shown),
    }


@never_cache
@require_GET
@permission_required("scheduling.view_providertimeoff", raise_exception=True)
def time_off(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    return render_page(
        request, "scheduling/timeoff_page.html", "timeoff-main", _time_off_context(request, clinic)
    )


@require_POST
@permission_required("scheduling.add_providertimeoff", raise_exception=True)
def time_off_add(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    form = TimeOffForm(request.POST, clinic=clinic)
    extra: dict[str, Any] = {"time_off_form": form}
    if form.is_valid():
        try:
            result = template_services.add_time_off(
                actor=request.user,
                provider=form.cleaned_data["provider"],
                start=form.cleaned_data["start"],
                end=form.cleaned_data["end"],
                reason=form.cleaned_data["reason"],
            )
        except SchedulingError as error:
            field = error.field if error.field in form.fields else None
            form.add_error(field, error.message)
        else:
            extra = _shown_result(request, clinic, result, f"Time off for {result.obj.provider}")
    context = _time_off_context(request, clinic, **extra)
    return render_page(request, "scheduling/timeoff_page.html", "timeoff-main", context)


@require_POST
@permission_required("scheduling.add_clinicclosure", raise_exception=True)
def closure_add(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    form = ClosureForm(request.POST)
    extra: dict[str, Any] = {"closure_form": form}
    if form.is_valid():
        try:
            result = template_services.add_closure(
                actor=request.user,
                clinic=clinic,
                day=form.cleaned_data["day"],
                reason=form.cleaned_data["reason"],
            )
        except SchedulingError as error:
            field = error.field if error.field in form.fields else None
            form.add_error(field, error.message)
        else:
            extra = _shown_result(request, clinic, result, f"{clinic.name} closed {result.obj.day}")
    context = _time_off_context(request, clinic, **extra)
    return render_page(request, "scheduling/timeoff_page.html", "timeoff-main", context)
