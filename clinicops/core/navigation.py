"""The main navigation: each entry shows only to users who hold its permission."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    permission: str
    description: str = ""  # shown on the home page's card for the section


# Apps add their entries here as their screens land.
NAV_ITEMS: list[NavItem] = [
    NavItem("Home", "home", "core.view_clinic"),
    NavItem("Patients", "core:patient_search", "core.view_patient"),
    NavItem(
        "Schedule",
        "scheduling:day",
        "scheduling.view_appointment",
        "Every provider's day; click an open slot to book.",
    ),
    NavItem(
        "Find a slot",
        "scheduling:find",
        "scheduling.add_appointment",
        "The next open slots for a patient and a visit type.",
    ),
    NavItem(
        "Waitlist",
        "scheduling:waitlist",
        "scheduling.view_waitlistoffer",
        "Patients waiting for an earlier slot, and freed slots to offer them.",
    ),
    NavItem(
        "Templates",
        "scheduling:templates",
        "scheduling.add_scheduletemplate",
        "Providers' weekly schedule templates, with a preview of their slots.",
    ),
    NavItem(
        "Flow board",
        "patientflow:board",
        "patientflow.view_visit",
        "Today's patients from check-in to checkout, live.",
    ),
    NavItem(
        "Supplies",
        "supplies:index",
        "supplies.view_locationitem",
        "Log supply use, refill what is below par, count and order.",
    ),
    NavItem(
        "Roster",
        "workforce:roster",
        "workforce.view_rosterweek",
        "Build and publish the week's staff roster against booked demand.",
    ),
    NavItem(
        "My shifts",
        "workforce:my_shifts",
        "workforce.view_own_shifts",
        "Your published shifts, time off, and a calendar feed for your phone.",
    ),
    NavItem(
        "Billing",
        "revenue:queue",
        "revenue.view_encounter",
        "Code checked-out visits, scrub claims and export 837P batches.",
    ),
    NavItem(
        "Dashboard",
        "kpis:dashboard",
        "kpis.view_metricday",
        "This week's chosen metrics against last week and their targets.",
    ),
    NavItem(
        "Audit log",
        "compliance:audit_log",
        "audit.view_auditevent",
        "Who saw or changed which record, when and from where.",
    ),
    NavItem(
        "Flags",
        "compliance:flag_inbox",
        "compliance.view_flag",
        "Problems staff flagged from any page, to acknowledge and resolve.",
    ),
    NavItem(
        "Incidents",
        "compliance:incident_list",
        "compliance.view_incident",
        "Incidents and near misses: triage, root causes, corrective actions, closing.",
    ),
    NavItem(
        "Break-glass",
        "compliance:break_glass_reviews",
        "compliance.view_breakglassaccess",
        "Emergency access to other clinics' patients, to approve or refer to an incident.",
    ),
    NavItem(
        "Access review",
        "compliance:access_reviews",
        "compliance.view_accessreview",
        "Who can get in: confirm or revoke each user's access, quarterly and on demand.",
    ),
    NavItem(
        "Hints",
        "compliance:hints",
        "compliance.view_anomalyhint",
        "Unusual access patterns in the audit trail, for a person to look at.",
    ),
]


@lru_cache(maxsize=8)
def _reversed(urlconf: str, script_prefix: str) -> tuple[tuple[NavItem, str], ...]:
    """Each entry with its URL, reversed once per URLconf and script prefix (the arguments are
    only the cache key: `reverse` reads both from the thread)."""
    entries = []
    for item in NAV_ITEMS:
        try:
            entries.append((item, reverse(item.url_name)))
        except NoReverseMatch:
            continue
    return tuple(entries)


def navigation_for(request: HttpRequest) -> list[dict[str, object]]:
    """The entries the user may see, the current section marked; worked out once a request
    (the header and the home page's cards both ask)."""
    cached: list[dict[str, object]] | None = getattr(request, "_navigation", None)
    if cached is not None:
        return cached
    # The permissions are read afresh for every request (CurrentClinicMiddleware): only the
    # URLs, which depend on nothing but the code, are kept between requests.
    user = request.user
    # `has_perm` for each entry asked every backend in turn (a dozen imports a page); for the
    # backends in settings its answer is "an active superuser, or a permission in
    # get_all_permissions()" (the axes backend has no permissions of its own).
    held = None if user.is_active and user.is_superuser else user.get_all_permissions()
    items = []
    for item, url in _reversed(get_urlconf(settings.ROOT_URLCONF), get_script_prefix()):
        if held is not None and item.permission not in held:
            continue
        active = request.path == url if url == "/" else request.path.startswith(url)
        items.append(
            {"label": item.label, "url": url, "active": active, "description": item.description}
        )
    request._navigation = items  # type: ignore[attr-defined]
    return items
