"""The flow board's header buttons and arranging form, written in Python: the markup the
template had, for each role, on the board and on the wall screen."""

# ruff: noqa: E501 - OLD quotes the old template verbatim

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.context_processors import PermWrapper
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.urls import reverse

from clinicops.core import roles
from clinicops.core.models import User
from patientflow import selectors
from patientflow.rows import controls_html, header_actions_html

pytestmark = pytest.mark.django_db

# patientflow/board.html's header actions and form as they were in the template language.
OLD = """
    {% if wall %}
      <a class="btn" href="{% url 'patientflow:board' %}">Leave wall screen</a>
    {% else %}
      {% if perms.patientflow.add_visit and perms.scheduling.add_appointment %}<a class="btn btn--primary" href="{% url 'patientflow:walk_in' %}">Walk-in</a>{% endif %}
      {% if perms.patientflow.view_roomturn %}<a class="btn" href="{% url 'patientflow:rooms' %}">Room board</a>{% endif %}
      <a class="btn" href="{% querystring wall=1 %}">Wall screen</a>
      {% if perms.patientflow.change_stepthreshold %}<a class="btn btn--ghost" href="{% url 'patientflow:thresholds' %}">Alert times</a>{% endif %}
    {% endif %}
|{% if not wall %}
<form class="flow-controls" method="get" action="{% url 'patientflow:board' %}" aria-label="Arrange the board">
  <div class="flow-controls__field">
    <label for="board-group">Group by</label>
    <select id="board-group" name="group">
      {% for key, label in groups.items %}<option value="{{ key }}"{% if key == params.group %} selected{% endif %}>{{ label }}</option>{% endfor %}
    </select>
  </div>
  <div class="flow-controls__field">
    <label for="board-sort">Sort by</label>
    <select id="board-sort" name="sort">
      {% for key, label in sorts.items %}<option value="{{ key }}"{% if key == params.sort %} selected{% endif %}>{{ label }}</option>{% endfor %}
    </select>
  </div>
  <button type="submit" class="btn">Apply</button>
</form>
{% endif %}"""


def squeeze(html: str) -> str:
    return re.sub(r">\s+<", "><", html.strip())


@pytest.mark.parametrize(
    "role", [roles.FRONT_DESK, roles.NURSE, roles.MANAGER, roles.PROVIDER, roles.BILLER]
)
@pytest.mark.parametrize(
    "query",
    ["", "group=provider&sort=waiting", "wall=1&group=none", "sort=patient&x=a%26b%22&x=<c>"],
)
def test_the_header_and_the_form_are_the_templates_markup(
    make_user: Callable[..., User], role: str, query: str
) -> None:
    user = make_user(role)
    request = RequestFactory().get("/flow/?" + query)
    params = {
        "group": request.GET.get("group", "step"),
        "sort": request.GET.get("sort", "time"),
    }
    wall = request.GET.get("wall") == "1"
    context = Context(
        {
            "perms": PermWrapper(user),
            "wall": wall,
            "params": params,
            "groups": selectors.GROUPS,
            "sorts": selectors.SORTS,
        }
    )
    context.request = request  # {% querystring %} reads the request's query from here
    old = Template(OLD).render(context)
    actions, form = old.split("|")
    assert squeeze(header_actions_html(user, request.GET, wall=wall)) == squeeze(actions)
    assert squeeze(controls_html(params) if not wall else "") == squeeze(form)


def test_the_desk_sees_its_buttons_and_the_form_and_a_poll_neither(
    client: Client, front_desk: User
) -> None:
    client.force_login(front_desk)
    page = client.get(reverse("patientflow:board"), {"group": "provider"}).content.decode()
    assert f'href="{reverse("patientflow:walk_in")}">Walk-in</a>' in page
    assert 'href="?group=provider&amp;wall=1">Wall screen</a>' in page
    assert '<option value="provider" selected>Provider</option>' in page
    poll = client.get(
        reverse("patientflow:board"), HTTP_HX_REQUEST="true", HTTP_X_CLINICOPS_POLL="1"
    ).content.decode()
    assert "Wall screen" not in poll
    assert "flow-controls" not in poll
