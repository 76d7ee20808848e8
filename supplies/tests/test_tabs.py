"""The supplies screens' tabs: written in Python, the markup the template had, per permission."""

# ruff: noqa: E501 - TEMPLATE quotes the old template verbatim

from __future__ import annotations

import re

import pytest
from django.contrib.auth.context_processors import PermWrapper
from django.template import Context, Template
from django.test import Client
from django.urls import reverse

from clinicops.core import roles
from clinicops.core.models import User
from clinicops.core.tests.factories import StaffFactory
from supplies.models import StockLocation
from supplies.views.tabs import TABS, tabs_html

pytestmark = pytest.mark.django_db

# supplies/_tabs.html as it was in the template language, before tabs_html (verbatim: long lines).
TEMPLATE = """<nav class="tabs" aria-label="Supplies">
  <ul class="tabs__list">
    {% if perms.supplies.log_usage %}<li><a class="tabs__link" href="{% url 'supplies:tablet' %}"{% if tab == "use" %} aria-current="page"{% endif %}>Log use</a></li>{% endif %}
    {% if perms.supplies.view_locationitem %}<li><a class="tabs__link" href="{% url 'supplies:below_par' %}"{% if tab == "below_par" %} aria-current="page"{% endif %}>Below par</a></li>{% endif %}
    {% if perms.supplies.view_countsession %}<li><a class="tabs__link" href="{% url 'supplies:counts' %}"{% if tab == "counts" %} aria-current="page"{% endif %}>Counts</a></li>{% endif %}
    {% if perms.supplies.view_expiryalert %}<li><a class="tabs__link" href="{% url 'supplies:expiry' %}"{% if tab == "expiry" %} aria-current="page"{% endif %}>Expiry</a></li>{% endif %}
    {% if perms.supplies.view_locationitem %}<li><a class="tabs__link" href="{% url 'supplies:levels' %}"{% if tab == "levels" %} aria-current="page"{% endif %}>Levels</a></li>{% endif %}
    {% if perms.supplies.view_reordersuggestion %}<li><a class="tabs__link" href="{% url 'supplies:reorder' %}"{% if tab == "reorder" %} aria-current="page"{% endif %}>Reorder</a></li>{% endif %}
    {% if perms.supplies.view_purchaseorder %}<li><a class="tabs__link" href="{% url 'supplies:orders' %}"{% if tab == "orders" %} aria-current="page"{% endif %}>Orders</a></li>{% endif %}
    {% if perms.supplies.import_supplyitem %}<li><a class="tabs__link" href="{% url 'supplies:import' %}"{% if tab == "import" %} aria-current="page"{% endif %}>Item import</a></li>{% endif %}
  </ul>
</nav>"""


def squeeze(html: str) -> str:
    return re.sub(r">\s+<", "><", html.strip())


@pytest.mark.parametrize(
    "role", [roles.NURSE, roles.MANAGER, roles.COMPLIANCE, roles.FRONT_DESK, roles.ADMINISTRATOR]
)
def test_the_tabs_are_the_templates_markup_for_each_role_and_tab(role: str) -> None:
    user = StaffFactory(roles=[role]).user
    for tab in [None, *(key for key, *_ in TABS)]:
        old = Template(TEMPLATE).render(Context({"perms": PermWrapper(user), "tab": tab}))
        assert squeeze(tabs_html(user, tab)) == squeeze(old), (role, tab)


def test_a_nurse_sees_the_tabs_she_may_open_with_log_use_current(
    client: Client, nurse: User, supply_room: StockLocation
) -> None:
    client.force_login(nurse)
    html = client.get(reverse("supplies:tablet") + "?choose=1").content.decode()
    tabs = re.findall(r'<a class="tabs__link" href="([^"]*)"([^>]*)>([^<]*)</a>', html)
    assert (reverse("supplies:tablet"), ' aria-current="page"', "Log use") in tabs
    assert [label for _, _, label in tabs if label == "Item import"] == []
