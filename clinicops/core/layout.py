"""The base layout's header, written in Python: brand, clinic switcher, "Flag a problem", user
menu and the main navigation.

Every page renders it. In the template language it was the largest part of what a page pays
for its frame (three includes, a dozen `{% url %}`s and `{% csrf_token %}`s, nineteen
permission checks): rendering the base layout around an empty page took 0.9 ms of CPU, 0.4 ms
with this, against about 2.5 ms for the whole request of a bare page. Only what depends on the
code alone (the URLs) is kept between requests; the user, their roles and clinics, the page
and the request's CSRF token are read for every request, so nothing shown can be stale. Same
markup as the templates it replaced (whitespace between tags aside).
"""

from __future__ import annotations

from functools import lru_cache
from html import escape
from typing import Any

from django.conf import settings
from django.template import Context
from django.template.defaulttags import CsrfTokenNode
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.safestring import SafeString, mark_safe

from .navigation import navigation_for
from .templatetags.ui import initials

_CSRF = CsrfTokenNode()


@lru_cache(maxsize=8)
def _urls(urlconf: str, script_prefix: str) -> dict[str, str]:
    """The header's fixed links, reversed once per URLconf and script prefix (the arguments
    are the cache key; `reverse` reads both from the thread)."""
    names = ["home", "switch_clinic", "logout", "compliance:flag_create", "compliance:my_flags"]
    return {name: reverse(name) for name in names}


def header_html(context: Context) -> SafeString:
    """The `<header>` of the base layout for this request."""
    request = context.get("request")
    user = context.get("user")
    urls = _urls(get_urlconf(settings.ROOT_URLCONF), get_script_prefix())
    parts = [
        '<header class="app-header">\n<div class="app-header__bar">\n'
        f'<a class="brand" href="{escape(urls["home"])}">\n'
        f'<img class="brand__logo" src="{escape(static("img/logo.svg"))}" alt=""'
        ' width="28" height="28">\n'
        '<span class="brand__name">ClinicOps</span>\n</a>\n'
    ]
    navigation = ""
    if request is not None and user is not None and user.is_authenticated:
        csrf = _CSRF.render(context)
        parts.append(
            _clinic_switcher(
                clinics=context.get("user_clinics") or [],
                current=context.get("current_clinic"),
                next_url=request.get_full_path(),
                action=urls["switch_clinic"],
                csrf=csrf,
            )
        )
        if user.has_perm("compliance.add_flag") and getattr(request, "clinic", None):
            parts.append(_flag_problem(urls, csrf, request.path))
        parts.append(_user_menu(user, urls["logout"], csrf))
        navigation = _navigation(navigation_for(request))
    parts.append(f"</div>\n{navigation}</header>")
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped


def _clinic_switcher(*, clinics: Any, current: Any, next_url: str, action: str, csrf: str) -> str:
    if len(clinics) > 1:
        current_pk = current.pk if current is not None else None
        options = "".join(
            f'<option value="{c.pk}"{" selected" if c.pk == current_pk else ""}>'
            f"{escape(c.name)}</option>"
            for c in clinics
        )
        return (
            f'<form class="clinic-switcher" method="post" action="{escape(action)}">\n'
            f"{csrf}\n"
            f'<input type="hidden" name="next" value="{escape(next_url)}">\n'
            '<label class="clinic-switcher__label" for="clinic-switch">Clinic</label>\n'
            '<select class="clinic-switcher__select" id="clinic-switch" name="clinic">\n'
            f"{options}\n</select>\n"
            '<button type="submit" class="btn btn--on-dark btn--small">Switch</button>\n'
            "</form>\n"
        )
    if current:
        return (
            '<p class="clinic-current"><span class="clinic-switcher__label">Clinic</span> '
            f'<span class="clinic-current__name">{escape(current.name)}</span></p>\n'
        )
    return ""


def _user_menu(user: Any, logout: str, csrf: str) -> str:
    if user.role_names:
        roles = ", ".join(escape(name) for name in user.role_names)
    else:
        roles = "Superuser" if user.is_superuser else "No role assigned"
    return (
        '<div class="user-menu">\n'
        f'<span class="avatar" aria-hidden="true">{escape(initials(user))}</span>\n'
        '<p class="user-menu__who">\n'
        f'<span class="user-menu__name">{escape(user.display_name)}</span>\n'
        f'<span class="user-menu__roles">{roles}</span>\n'
        "</p>\n"
        f'<form method="post" action="{escape(logout)}">\n{csrf}\n'
        '<button type="submit" class="btn btn--on-dark btn--small">Log out</button>\n'
        "</form>\n</div>\n"
    )


def _navigation(items: list[dict[str, Any]]) -> str:
    if not items:
        return ""
    links = []
    for item in items:
        current = ' aria-current="page"' if item["active"] else ""
        links.append(
            f'<li><a class="app-nav__link" href="{escape(item["url"])}"{current}>'
            f"{escape(item['label'])}</a></li>\n"
        )
    return (
        '<nav class="app-nav" aria-label="Main">\n<ul class="app-nav__list">\n'
        f"{''.join(links)}</ul>\n</nav>\n"
    )


def _flag_problem(urls: dict[str, str], csrf: str, path: str) -> str:
    # "Flag a problem", for a signed-in user who may flag (compliance.add_flag) on a page with a
    # clinic: a disclosure in the header whose form posts the page's path (never its query: a
    # search's query may hold a patient's name).
    return _FLAG_PROBLEM.format(
        action=escape(urls["compliance:flag_create"]),
        mine=escape(urls["compliance:my_flags"]),
        csrf=csrf,
        path=escape(path),
    )


_FLAG_PROBLEM = (
    '<details class="flag-problem">\n'
    '<summary class="btn btn--on-dark btn--small">Flag a problem</summary>\n'
    '<div class="flag-problem__panel" role="group" aria-labelledby="flag-problem-title">\n'
    '<h2 class="flag-problem__title" id="flag-problem-title">Flag a problem</h2>\n'
    '<form class="form" method="post" action="{action}">\n'
    "{csrf}\n"
    '<input type="hidden" name="page" value="{path}">\n'
    '<div class="field">\n'
    '<label class="field__label" for="flag-description">What is wrong?</label>\n'
    '<textarea id="flag-description" name="description" rows="3" maxlength="2000" required>'
    "</textarea>\n"
    "</div>\n"
    '<fieldset class="field flag-problem__urgency">\n'
    '<legend class="field__label">How urgent?</legend>\n'
    '<div class="checkbox">'
    '<input type="radio" id="flag-urgency-low" name="urgency" value="low">'
    '<label for="flag-urgency-low">Low: when someone has time</label></div>\n'
    '<div class="checkbox">'
    '<input type="radio" id="flag-urgency-normal" name="urgency" value="normal" checked>'
    '<label for="flag-urgency-normal">Normal: this week</label></div>\n'
    '<div class="checkbox">'
    '<input type="radio" id="flag-urgency-high" name="urgency" value="high">'
    '<label for="flag-urgency-high">High: today</label></div>\n'
    '<div class="checkbox">'
    '<input type="radio" id="flag-urgency-urgent" name="urgency" value="urgent">'
    '<label for="flag-urgency-urgent">Urgent: someone may be harmed</label></div>\n'
    "</fieldset>\n"
    '<div class="field">\n'
    '<div class="field__label-row">'
    '<label class="field__label" for="flag-patient">Patient MRN</label>'
    '<span class="field__optional">optional</span></div>\n'
    '<input id="flag-patient" name="patient_mrn" maxlength="12" inputmode="numeric"'
    ' autocomplete="off">\n'
    "</div>\n"
    '<div class="field">\n'
    '<div class="checkbox">\n'
    '<input type="checkbox" id="flag-anonymous" name="anonymous">\n'
    '<label for="flag-anonymous">Report anonymously (your name is not stored anywhere)</label>\n'
    "</div>\n"
    "</div>\n"
    '<div class="form-actions">\n'
    '<button type="submit" class="btn btn--primary">Send flag</button>\n'
    '<a class="btn btn--ghost" href="{mine}">My flags</a>\n'
    "</div>\n"
    "</form>\n"
    "</div>\n"
    "</details>\n"
)
