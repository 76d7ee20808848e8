"""Every page shares one accessible layout and obeys the content security policy."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client, RequestFactory

from clinicops.core import roles
from clinicops.core.tests.factories import CoverageFactory, PatientFactory
from clinicops.core.views import server_error

pytestmark = pytest.mark.django_db

FORM_CONTROLS = {"input", "select", "textarea"}
UNLABELLED_INPUT_TYPES = {"hidden", "submit", "button", "reset", "image"}


class Page(HTMLParser):
    """The facts about a page the layout rules talk about."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.h1_count = 0
        self.title = ""
        self._in_title = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        if tag == "h1":
            self.h1_count += 1
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def unlabelled_controls(self) -> list[dict[str, str]]:
        labelled = {attrs.get("for") for attrs in self.all("label")}
        missing = []
        for name, attrs in self.tags:
            if name not in FORM_CONTROLS or attrs.get("type") in UNLABELLED_INPUT_TYPES:
                continue
            if attrs.get("id") not in labelled and not attrs.get("aria-label"):
                missing.append(attrs)
        return missing


def assert_layout(response, *, nonce_required: bool = True) -> Page:
    html = response.content.decode()
    page = Page(html)
    assert page.h1_count == 1, f"{page.h1_count} <h1> elements"
    assert page.title.strip().endswith("· ClinicOps")
    assert len(page.title.strip()) > len("· ClinicOps")
    assert len(page.all("main")) == 1
    assert page.all("main")[0].get("id") == "main"
    assert page.all("html")[0].get("lang") == "en"
    assert ' href="#main"' in html  # skip link
    # Strict CSP: no inline style attributes, no inline handlers, no inline scripts.
    assert ' style="' not in html
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    assert "hx-on" not in html
    assert "js:" not in html
    if nonce_required:
        nonce = response["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
        for script in page.all("script"):
            assert script.get("src"), "inline <script>"
            assert script.get("nonce") == nonce
    assert page.unlabelled_controls() == []
    return page


@pytest.fixture
def patient(clinic):
    patient = PatientFactory(clinic=clinic, last_name="Lindqvist")
    CoverageFactory(patient=patient)
    return patient


def page_urls(patient) -> dict[str, str]:
    coverage = patient.coverages.get()
    return {
        "home": "/",
        "search": "/patients/",
        "search results": "/patients/?q=lindq",
        "search, nothing found": "/patients/?q=zzzz",
        "register": "/patients/new/",
        "patient": f"/patients/{patient.pk}/",
        "edit patient": f"/patients/{patient.pk}/edit/",
        "add coverage": f"/patients/{patient.pk}/coverage/new/",
        "edit coverage": f"/patients/{patient.pk}/coverage/{coverage.pk}/edit/",
        "not found": "/patients/999999999/",
    }


def test_every_page_has_the_layout_and_a_unique_title(client: Client, front_desk, patient):
    client.force_login(front_desk)
    titles = {}
    for name, url in page_urls(patient).items():
        response = client.get(url)
        assert response.status_code == (404 if name == "not found" else 200), name
        page = assert_layout(response)
        titles[name] = page.title.strip()
    # One title per screen: the search page keeps its title whatever was searched.
    screens = {name.split(",")[0].replace(" results", ""): t for name, t in titles.items()}
    assert titles["search results"] == titles["search"]
    assert len(set(screens.values())) == len(screens), screens


def test_forms_with_errors_keep_the_layout(client: Client, front_desk, patient) -> None:
    client.force_login(front_desk)
    response = client.post("/patients/new/", {"first_name": "1"})
    page = assert_layout(response)
    invalid = [a for a in page.all("input") + page.all("select") if a.get("aria-invalid")]
    assert invalid
    # each invalid control points at its error text
    for attrs in invalid:
        assert f"{attrs['id']}_error" in attrs.get("aria-describedby", "")


def test_login_and_lockout_pages_have_the_layout(client: Client) -> None:
    login = assert_layout(client.get("/login/"))
    assert not login.all("nav")  # no navigation before logging in
    for _ in range(5):
        client.post("/login/", {"username": "ghost", "password": "wrong"})
    response = client.post("/login/", {"username": "ghost", "password": "wrong"})
    assert response.status_code == 429
    assert_layout(response)
    assert (
        "Too many failed attempts. Try again in 15 minutes or ask an administrator."
        in response.content.decode()
    )


def test_forbidden_page_renders_in_the_layout(client: Client, make_user, patient) -> None:
    client.force_login(make_user(roles.NURSE))
    response = client.get("/patients/new/")
    assert response.status_code == 403
    page = assert_layout(response)
    assert page.title.strip() == "Access denied · ClinicOps"
    assert any(a.get("action") == "/logout/" for a in page.all("form"))


def test_not_found_page_renders_in_the_layout(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    page = assert_layout(response)
    assert page.title.strip() == "Page not found · ClinicOps"
    assert 'aria-label="Main"' in response.content.decode()


def test_server_error_page_needs_no_context_and_uses_the_stylesheet() -> None:
    response = server_error(RequestFactory().get("/"))
    html = response.content.decode()
    assert response.status_code == 500
    page = Page(html)
    assert page.h1_count == 1
    assert page.title.strip() == "Something went wrong · ClinicOps"
    assert {"rel": "stylesheet", "href": "/static/css/app.css"} in page.all("link")
    assert len(page.all("main")) == 1
    assert not page.all("script")
    assert ' style="' not in html


def test_navigation_follows_permissions(client: Client, make_user) -> None:
    nav_link = re.compile(r'class="app-nav__link" href="[^"]+"[^>]*>([^<]+)</a>')

    client.force_login(make_user(roles.FRONT_DESK))
    labels = nav_link.findall(client.get("/").content.decode())
    assert "Patients" in labels
    assert "Audit log" not in labels

    client.force_login(make_user(roles.COMPLIANCE))
    labels = nav_link.findall(client.get("/").content.decode())
    assert "Audit log" in labels

    client.force_login(make_user(roles.ADMINISTRATOR))
    labels = nav_link.findall(client.get("/").content.decode())
    assert "Patients" not in labels


def test_current_page_is_marked_in_the_navigation(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    html = client.get("/patients/").content.decode()
    assert 'href="/patients/" aria-current="page">Patients</a>' in html
    assert 'href="/" aria-current="page"' not in html


def test_clinic_switcher_only_for_people_in_several_clinics(
    client: Client, make_user, clinic, other_clinic
) -> None:
    client.force_login(make_user(roles.FRONT_DESK))
    html = client.get("/").content.decode()
    assert 'action="/clinic/switch/"' not in html
    assert 'class="clinic-current__name">Riverside Family Clinic<' in html

    client.force_login(make_user(roles.FRONT_DESK, clinics=[clinic, other_clinic]))
    html = client.get("/patients/?q=x").content.decode()
    assert 'action="/clinic/switch/"' in html
    assert '<label class="clinic-switcher__label" for="clinic-switch">Clinic</label>' in html
    assert 'name="next" value="/patients/?q=x"' in html
    assert html.count("<option value=") == 2


def test_user_menu_shows_name_roles_and_a_logout_button(client: Client, make_user) -> None:
    client.force_login(make_user(roles.FRONT_DESK, first_name="Rosa", last_name="Diaz"))
    html = client.get("/").content.decode()
    assert "Rosa Diaz" in html
    assert "Front desk" in html
    assert re.search(r'<button type="submit" class="[^"]*">Log out</button>', html)


def test_messages_are_announced(client: Client, make_user, clinic, other_clinic) -> None:
    client.force_login(make_user(roles.FRONT_DESK, clinics=[clinic, other_clinic]))
    response = client.post("/clinic/switch/", {"clinic": other_clinic.pk}, follow=True)
    html = response.content.decode()
    assert re.search(r'class="message message--success" role="status"', html)
    assert "You are now working in Hillcrest Clinic." in html


def test_global_htmx_indicator_and_config(client: Client, front_desk) -> None:
    client.force_login(front_desk)
    html = client.get("/").content.decode()
    assert 'hx-indicator="#global-indicator"' in html
    assert 'id="global-indicator" class="global-indicator htmx-indicator"' in html
    assert '"includeIndicatorStyles": false' in html
    assert '"allowEval": false' in html


@pytest.mark.parametrize("path", ["css/app.css", "js/app.js", "img/logo.svg"])
def test_static_assets_exist(path: str, settings) -> None:
    from django.contrib.staticfiles import finders

    assert finders.find(path)


def test_stylesheet_styles_htmx_indicators_itself() -> None:
    from django.contrib.staticfiles import finders

    css = Path(finders.find("css/app.css")).read_text(encoding="utf-8")
    assert ".htmx-request .htmx-indicator" in css
    assert ".htmx-request.htmx-indicator" in css
    assert ":focus-visible" in css


@pytest.mark.parametrize(
    ("body", "expected_h1"),
    [
        ("{% block heading %}Rosters{% endblock %}", "<h1>Rosters</h1>"),
        ("{% block content %}<h1>Your appointment</h1>{% endblock %}", "<h1>Your appointment</h1>"),
    ],
)
def test_the_default_page_header_appears_only_with_a_heading(
    rf: RequestFactory, front_desk, body: str, expected_h1: str
) -> None:
    from django.template import engines

    request = rf.get("/")
    request.user = front_desk
    html = (
        engines["django"]
        .from_string('{% extends "base.html" %}{% block title %}T{% endblock %}' + body)
        .render({}, request)
    )
    assert html.count("<h1") == 1
    assert expected_h1 in html
