"""The dashboard's tiles as HTML built in Python (what the tile loop of kpis/dashboard.html was).

A manager's dashboard draws three to five tiles, each with about forty look-ups, two URL
reversals, an include for its definition and a trend chart; in the template language the
tiles were most of the page's own CPU time. They are built here from the `Tile`s of the read
model, every value passed through `html.escape` (the same five characters Django escapes).
The figures, words and statuses are the tiles' own properties, the ones the digest, the CSV
and the drill-down use too; only the markup moved. Same markup as the template it replaced
(whitespace between tags aside); the rest of the page stays in the template.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from html import escape

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from .dashboard import Tile
from .registry import Metric
from .selectors import Status

_BADGE = {
    Status.ON_TARGET: "badge--success",
    Status.WATCH: "badge--warning",
    Status.ALERT: "badge--danger",
}


def definition_html(metric: Metric) -> str:
    """ "How this is computed" (kpis/_definition.html): the definition in force, else the
    description; nothing when the metric has neither."""
    text = metric.definition or metric.description
    if not text:
        return ""
    return (
        f'<details class="kpi-definition" id="definition-{escape(metric.key)}">\n'
        '  <summary class="kpi-definition__summary">How this is computed'
        f'<span class="visually-hidden">: {escape(metric.label)}</span></summary>\n'
        f'  <p class="kpi-definition__text">{escape(text)}</p>\n'
        "</details>\n"
    )


def _figure(tile: Tile, clinic_id: int, week: str) -> str:
    display = escape(tile.display)
    # Nothing to list behind "no data": the figure opens the records only when there are some.
    if not (tile.metric.has_drilldown and tile.this_week.has_data):
        return f'<span class="kpi-tile__value">{display}</span>'
    url = escape(f"{reverse('kpis:drilldown', args=[clinic_id, tile.key])}?week={week}")
    return (
        f'<a class="kpi-tile__value" href="{url}"\n'
        f'           hx-get="{url}" hx-target="#drilldown" hx-swap="innerHTML show:#drilldown:top"'
        f' hx-push-url="true">{display}<span class="visually-hidden">: show the records behind'
        f" the {escape(tile.metric.label)} figure</span></a>"
    )


def tile_html(tile: Tile, *, clinic_id: int, week_start: date) -> str:
    """One tile: its status, this week's figure (a link to the records behind it), what it
    was computed from and the change, last week, target, alert, owner, trend and definition."""
    key = escape(tile.key)
    label = escape(tile.metric.label)
    status = tile.status
    basis = escape(tile.basis) if tile.basis else "Nothing to measure this week"
    change = tile.change
    if change:
        basis += f" · {escape(change)}"
    return (
        f'    <article class="kpi-tile kpi-tile--{escape(status)}"'
        f' aria-labelledby="tile-{key}-title">\n'
        '      <header class="kpi-tile__header">\n'
        f'        <h3 class="kpi-tile__title" id="tile-{key}-title">{label}</h3>\n'
        f'        <span class="badge {_BADGE.get(status, "badge--neutral")} kpi-tile__status">'
        f"{escape(status.label)}</span>\n"
        "      </header>\n"
        '      <p class="kpi-tile__figure">\n'
        '        <span class="visually-hidden">This week: </span>\n'
        f"        {_figure(tile, clinic_id, week_start.isoformat())}\n"
        "      </p>\n"
        f'      <p class="kpi-tile__basis muted">{basis}</p>\n'
        '      <dl class="kpi-tile__facts">\n'
        f"        <div><dt>Last week</dt><dd>{escape(tile.last_display)}</dd></div>\n"
        f"        <div><dt>Target</dt><dd>{escape(tile.target)}</dd></div>\n"
        f"        <div><dt>Alert</dt><dd>{escape(tile.alert)}</dd></div>\n"
        f"        <div><dt>Owner</dt><dd>{escape(tile.owner)}</dd></div>\n"
        "      </dl>\n"
        f"      {tile.chart_html}\n"
        f"{definition_html(tile.metric)}"
        "    </article>\n"
    )


def tiles_html(tiles: Sequence[Tile], *, clinic_id: int, week_start: date) -> SafeString:
    """The dashboard's tiles, in the clinic's chosen order."""
    return mark_safe(  # noqa: S308 - every value is escaped above; the chart escapes its own
        "".join(tile_html(t, clinic_id=clinic_id, week_start=week_start) for t in tiles)
    )
