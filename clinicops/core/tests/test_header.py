"""The layout's header (clinicops.core.layout) shows what is true now, in the same process.

The header is built in Python with the links it shows reversed once per process; everything
about the user (roles, permissions, clinics, name) is read on every request. These tests change
each of those between two requests of one process and expect the next page to show it.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from clinicops.core import roles
from clinicops.core.navigation import NAV_ITEMS
from clinicops.core.tests.factories import ClinicFactory

pytestmark = pytest.mark.django_db

NAV_LINK = re.compile(r'class="app-nav__link" href="([^"]+)"[^>]*>([^<]+)</a>')


def nav(client: Client, path: str = "/") -> list[str]:
    return [label for _, label in NAV_LINK.findall(client.get(path).content.decode())]


def test_a_role_given_or_taken_shows_in_the_navigation_at_once(client: Client, make_user) -> None:
    # given
    user = make_user(roles.FRONT_DESK)
    client.force_login(user)
    assert "Audit log" not in nav(client)
    # when
    user.groups.add(Group.objects.get(name=roles.COMPLIANCE))
    # then
    assert "Audit log" in nav(client)
    assert re.search(r'class="user-menu__roles">[^<]*Compliance', client.get("/").content.decode())
    # when
    user.groups.remove(Group.objects.get(name=roles.COMPLIANCE))
    # then
    assert "Audit log" not in nav(client)


def test_the_current_section_follows_the_page(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    html = client.get("/patients/").content.decode()
    assert 'href="/patients/" aria-current="page">Patients</a>' in html
    html = client.get("/scheduling/day/").content.decode()
    assert 'href="/patients/" aria-current' not in html
    assert 'href="/scheduling/day/" aria-current="page">Schedule</a>' in html


def test_a_new_clinic_brings_the_switcher_at_once(client: Client, make_user, clinic) -> None:
    # given
    user = make_user(roles.FRONT_DESK)
    client.force_login(user)
    html = client.get("/").content.decode()
    assert 'action="/clinic/switch/"' not in html
    assert 'class="clinic-current__name">Riverside Family Clinic<' in html
    # when
    user.staff.clinics.add(ClinicFactory(name="Lakeside Clinic"))
    html = client.get("/patients/?q=a&b=<c>").content.decode()
    # then
    options = re.findall(r'<option value="\d+"( selected)?>([^<]+)</option>', html)
    assert sorted(options) == [("", "Lakeside Clinic"), (" selected", "Riverside Family Clinic")]
    assert 'name="next" value="/patients/?q=a&amp;b=%3Cc%3E"' in html


def test_a_renamed_clinic_shows_its_new_name_at_once(client: Client, front_desk, clinic) -> None:
    client.force_login(front_desk)
    assert "Riverside Family Clinic" in client.get("/").content.decode()
    clinic.name = "Riverside & <Sons>"
    clinic.save()
    html = client.get("/").content.decode()
    assert 'class="clinic-current__name">Riverside &amp; &lt;Sons&gt;<' in html


def test_the_user_menu_escapes_the_name(client: Client, make_user) -> None:
    client.force_login(make_user(roles.FRONT_DESK, first_name="<b>Ann</b>", last_name="O'Neil"))
    html = client.get("/").content.decode()
    assert '<span class="user-menu__name">&lt;b&gt;Ann&lt;/b&gt; O&#x27;Neil</span>' in html
    assert '<span class="avatar" aria-hidden="true">&lt;O</span>' in html


def test_every_form_in_the_header_carries_the_pages_csrf_token(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    html = client.get("/patients/").content.decode()
    header = html[html.index("<header") : html.index("</header>")]
    tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', header)
    assert len(tokens) == 2  # Flag a problem, Log out
    hx_token = re.search(r'"X-CSRFToken": "([^"]+)"', html)
    assert hx_token is not None
    assert set(tokens) == {hx_token.group(1)}


def test_flag_a_problem_posts_the_path_not_the_query(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    html = client.get("/patients/?q=Lindqvist").content.decode()
    assert 'action="/compliance/flags/new/"' in html
    assert '<input type="hidden" name="page" value="/patients/">' in html
    assert "Lindqvist" not in html[html.index("<details") : html.index("</details>")]


def test_a_logged_out_user_gets_no_menu_nor_navigation(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    assert nav(client)
    client.post("/logout/")
    html = client.get("/login/").content.decode()
    assert "app-nav" not in html
    assert "user-menu" not in html
    assert "clinic-switcher" not in html
    assert '<a class="brand" href="/">' in html


@pytest.mark.parametrize("role", [*roles.ALL_ROLES, "superuser"])
def test_the_navigation_shows_exactly_the_entries_the_user_may_open(
    client: Client, make_user, role: str
) -> None:
    # The header reads the user's permissions in one go instead of asking has_perm per entry:
    # the same entries either way.
    user = make_user(is_superuser=True) if role == "superuser" else make_user(role)
    client.force_login(user)
    fresh = type(user).objects.get(pk=user.pk)
    expected = [item.label for item in NAV_ITEMS if fresh.has_perm(item.permission)]
    assert nav(client, "/patients/") == expected
