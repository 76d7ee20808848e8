"""The flow board's table rows, as HTML built in Python.

Every desk and nurse station re-renders the board every 10 seconds, and with 150 visits the
Django template engine spent most of a poll's budget (30 ms) on the rows alone: about 30
variable look-ups, localisations and escapes per row. The rows are simple and all alike, so
they are built here from the flat `BoardRow`s of the selector, every value passed through
`html.escape` (the same five characters Django escapes, without its lazy-string wrapper).
So are the step counts and each group's table around its rows, which every poll repeats too,
and on the full page the header's buttons and the form that arranges the board (permission
checks, links and two option lists); the rest (the flash, the panels) stays in the template.
"""

from __future__ import annotations

from functools import lru_cache
from html import escape
from typing import Any

from django.conf import settings
from django.http import QueryDict
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.safestring import SafeString, mark_safe

from .models import Step
from .selectors import GROUPS, SORTS, ArrivalRow, BoardGroup, BoardRow, StepCount

_BADGE = {
    "red": ' <span class="badge badge--danger">Over {}</span>',
    "amber": ' <span class="badge badge--warning">Over {}</span>',
}

_ROW = (
    '<tr class="flow-row{level_class}" id="visit-{pk}">'
    '<td><a class="table__primary" href="{url}">{name}</a>{walk_in}</td>'
    '<td class="nowrap">{appt}</td>'
    "<td>{provider}</td>"
    '<td class="flow-step">{step}</td>'
    "<td>{room}</td>"
    '<td class="flow-minutes"><strong>{minutes}</strong>&nbsp;min{badge}</td>'
    "{action}</tr>"
)

_CHECKOUT = (
    '<td class="flow-action"><a class="btn btn--small btn--primary" href="{}">Check out'
    '<span class="visually-hidden"> {}</span></a></td>'
)

_FORM_OPEN = (
    '<td class="flow-action"><form method="post" action="{url}" hx-post="{url}" '
    'hx-target="#flow-board" hx-swap="outerHTML" hx-sync="closest .flow-board:replace" '
    'hx-indicator="#global-indicator" class="flow-move">'
    '<input type="hidden" name="csrfmiddlewaretoken" value="{csrf}">'
    '<input type="hidden" name="source" value="board">'
    '<input type="hidden" name="expected" value="{step}">'
    '<input type="hidden" name="to" value="{to}">'
)

_ROOM_PICK = (
    '<label class="visually-hidden" for="room-{pk}">Room for {who}</label>'
    '<select id="room-{pk}" name="room" class="flow-room-select">{options}</select>'
    '<button type="submit" class="btn btn--small btn--primary">Room'
    '<span class="visually-hidden"> {who}</span></button>'
)

_ADVANCE = (
    '<button type="submit" class="btn btn--small btn--primary" aria-label="{label}: {who}">'
    "{label}</button>"
)


def _action(row: BoardRow, *, can_check_out: bool, csrf_token: str, has_rooms: bool) -> str:
    who = escape(row.full_name)
    if row.step == Step.READY_FOR_CHECKOUT:
        if not can_check_out:
            return '<td class="flow-action"><span class="muted">At the desk</span></td>'
        return _CHECKOUT.format(escape(row.action_url), who)
    if row.step == Step.CHECKED_IN and not has_rooms:
        return '<td class="flow-action"><span class="muted">No free room</span></td>'
    opening = _FORM_OPEN.format(
        url=escape(row.action_url),
        csrf=escape(csrf_token),
        step=escape(row.step),
        to=escape(row.next_step),
    )
    if row.step == Step.CHECKED_IN:
        # room_options is already-escaped HTML built by the view with format_html_join.
        body = _ROOM_PICK.format(pk=row.visit_id, who=who, options=row.room_options)
    else:
        body = _ADVANCE.format(label=escape(row.next_label), who=who)
    return f"{opening}{body}</form></td>"


def board_rows(
    rows: list[BoardRow],
    *,
    actions: bool,
    can_check_out: bool,
    csrf_token: str,
    has_rooms: bool,
) -> SafeString:
    """The <tr>s of one group of the board."""
    html = []
    for row in rows:
        badge = _BADGE[row.level].format(row.limit) if row.level else ""
        action = (
            _action(row, can_check_out=can_check_out, csrf_token=csrf_token, has_rooms=has_rooms)
            if actions
            else ""
        )
        html.append(
            _ROW.format(
                level_class=f" flow-row--{row.level}" if row.level else "",
                pk=row.visit_id,
                url=escape(row.url),
                name=escape(row.name),
                walk_in=' <span class="badge badge--info">Walk-in</span>' if row.walk_in else "",
                appt=escape(row.appt_time),
                provider=escape(row.provider),
                step=escape(row.step_label),
                room=escape(row.room),
                minutes=row.minutes,
                badge=badge,
                action=action,
            )
        )
    # Every value above went through escape(); the rest is literal markup.
    return mark_safe("".join(html))  # noqa: S308


_FINISHED = (
    '<tr><td><a href="{url}">{name}</a></td>'
    '<td><span class="badge {badge}">{step}</span></td>'
    '<td class="nowrap">{at}</td></tr>'
)


def finished_rows(rows: list[BoardRow]) -> SafeString:
    """The <tr>s of the visits finished today."""
    html = [
        _FINISHED.format(
            url=escape(row.url),
            name=escape(row.name),
            badge="badge--success" if row.step == Step.CHECKED_OUT else "badge--neutral",
            step=escape(row.step_label),
            at=escape(row.since_time),
        )
        for row in rows
    ]
    # Every value above went through escape(); the rest is literal markup.
    return mark_safe("".join(html))  # noqa: S308


_ARRIVAL = (
    '<tr><td class="nowrap">{time}{late}</td>'
    '<td>{name}<br><span class="muted">{type_name}</span></td>'
    "<td>{provider}</td>"
    '<td class="table__actions">{action}</td></tr>'
)


def arrival_rows(rows: list[ArrivalRow], *, can_check_in: bool) -> SafeString:
    """The <tr>s of the appointments still expected today (a busy morning has dozens: in the
    template language they were a third of the board's time)."""
    html = [
        _ARRIVAL.format(
            time=escape(row.appt_time),
            late=(
                f'<br><span class="badge badge--warning">{row.minutes_late} min late</span>'
                if row.minutes_late > 0
                else ""
            ),
            name=escape(row.name),
            type_name=escape(row.type_name),
            provider=escape(row.provider),
            action=(
                f'<a class="btn btn--small" href="{escape(row.url)}">Check in'
                f'<span class="visually-hidden"> {escape(row.full_name)}</span></a>'
                if can_check_in
                else ""
            ),
        )
        for row in rows
    ]
    # Every value above went through escape() (minutes_late is an int); the rest is markup.
    return mark_safe("".join(html))  # noqa: S308


_COUNT = (
    '<li class="flow-count flow-count--{step}{alert_class}">\n'
    '<span class="flow-count__n">{count}</span>\n'
    '<span class="flow-count__label">{label}</span>\n'
    "{alerts}</li>\n"
)


def counts_html(counts: list[StepCount]) -> SafeString:
    """The <li>s of the patients per step, above the groups."""
    html = [
        _COUNT.format(
            step=escape(count.step),
            alert_class=" flow-count--alert" if count.alerts else "",
            count=count.count,
            label=escape(count.label),
            alerts=(
                f'<span class="badge badge--danger">{count.alerts} over time</span>\n'
                if count.alerts
                else ""
            ),
        )
        for count in counts
    ]
    # Every value above went through escape() (count and alerts are ints); the rest is markup.
    return mark_safe("".join(html))  # noqa: S308


_GROUP = (
    '<section class="flow-group" aria-labelledby="group-{key}">\n'
    '<h2 id="group-{key}" class="flow-group__title">{label} '
    '<span class="flow-group__count">{count}</span></h2>\n'
    '<div class="table-wrap" tabindex="0" role="region" aria-labelledby="group-{key}">\n'
    '<table class="table flow-table">\n'
    '<caption class="visually-hidden">{label}: patients, their appointment, provider, step, '
    "room and minutes in the step</caption>\n"
    "<thead>\n<tr>\n"
    '<th scope="col">Patient</th>\n'
    '<th scope="col">Appt</th>\n'
    '<th scope="col">Provider</th>\n'
    '<th scope="col">Step</th>\n'
    '<th scope="col">Room</th>\n'
    '<th scope="col">In step</th>\n'
    "{next}</tr>\n</thead>\n"
    "<tbody>{rows}</tbody>\n"
    "</table>\n</div>\n</section>\n"
)


def group_html(group: BoardGroup, *, actions: bool, rows: str) -> SafeString:
    """One group of the board (a step, a provider, or everyone) around its rows' <tr>s."""
    key = escape(group.key)
    return mark_safe(  # noqa: S308 - every value escaped; `rows` is board_rows' markup
        _GROUP.format(
            key=key,
            label=escape(group.label),
            count=len(group.rows),
            next='<th scope="col">Next</th>\n' if actions else "",
            rows=rows,
        )
    )


# -- The page around the board (the full page only; a poll renders the board alone) ---------


@lru_cache(maxsize=8)
def _page_urls(urlconf: str, script_prefix: str) -> dict[str, str]:
    """The page's fixed links, reversed once per URLconf and script prefix (the arguments are
    the cache key; `reverse` reads both from the thread)."""
    names = [
        "patientflow:board",
        "patientflow:walk_in",
        "patientflow:rooms",
        "patientflow:thresholds",
    ]
    return {name: escape(reverse(name)) for name in names}


def _urls() -> dict[str, str]:
    return _page_urls(get_urlconf(settings.ROOT_URLCONF), get_script_prefix())


def header_actions_html(user: Any, query: QueryDict, *, wall: bool) -> SafeString:
    """The buttons of the page header: those the user may use, or the way off the wall screen.
    `query` is the page's own (the wall screen's link keeps its grouping and sorting)."""
    urls = _urls()
    if wall:
        return mark_safe(  # noqa: S308 - the URL is escaped
            f'<a class="btn" href="{urls["patientflow:board"]}">Leave wall screen</a>'
        )
    buttons = []
    if user.has_perm("patientflow.add_visit") and user.has_perm("scheduling.add_appointment"):
        buttons.append(
            f'<a class="btn btn--primary" href="{urls["patientflow:walk_in"]}">Walk-in</a>'
        )
    if user.has_perm("patientflow.view_roomturn"):
        buttons.append(f'<a class="btn" href="{urls["patientflow:rooms"]}">Room board</a>')
    # As {% querystring wall=1 %}: the page's query with wall=1.
    to_wall = query.copy()
    to_wall["wall"] = "1"
    buttons.append(f'<a class="btn" href="?{escape(to_wall.urlencode())}">Wall screen</a>')
    if user.has_perm("patientflow.change_stepthreshold"):
        buttons.append(
            f'<a class="btn btn--ghost" href="{urls["patientflow:thresholds"]}">Alert times</a>'
        )
    return mark_safe("\n".join(buttons))  # noqa: S308 - the URLs are escaped


def _options(choices: dict[str, str], chosen: str) -> str:
    return "".join(
        f'<option value="{escape(key)}"{" selected" if key == chosen else ""}>'
        f"{escape(label)}</option>"
        for key, label in choices.items()
    )


def controls_html(params: dict[str, str]) -> SafeString:
    """The form that arranges the board (group by, sort by), the page's choices selected."""
    return mark_safe(  # noqa: S308 - every value escaped
        f'<form class="flow-controls" method="get" action="{_urls()["patientflow:board"]}"'
        ' aria-label="Arrange the board">\n'
        '  <div class="flow-controls__field">\n'
        '    <label for="board-group">Group by</label>\n'
        '    <select id="board-group" name="group">\n'
        f"      {_options(GROUPS, params['group'])}\n"
        "    </select>\n  </div>\n"
        '  <div class="flow-controls__field">\n'
        '    <label for="board-sort">Sort by</label>\n'
        '    <select id="board-sort" name="sort">\n'
        f"      {_options(SORTS, params['sort'])}\n"
        "    </select>\n  </div>\n"
        '  <button type="submit" class="btn">Apply</button>\n'
        "</form>"
    )
