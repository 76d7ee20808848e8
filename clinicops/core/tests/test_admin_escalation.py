"""An Administrator (staff, not superuser) cannot raise anyone's privileges, their own included.

Every route the Django admin offers is tried as the `admin` role: the user change and add
forms, the password form, bulk actions, the group (role) admin, the staff admin and its
inline, and the administrator's own account. Roles and clinics, which administrators do
assign, go through `core.access` and leave an entry in the audit trail.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, Staff, User
from clinicops.core.tests.factories import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


class _FormFields(HTMLParser):
    """The fields a browser would submit from the page's main form (inputs, selects, textareas)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name", "")
        if tag == "input" and name and a.get("type") not in {"submit", "button", "file"}:
            if a.get("type") in {"checkbox", "radio"} and "checked" not in a:
                return
            default = "on" if a.get("type") in {"checkbox", "radio"} else ""
            self.data.setdefault(name, []).append(a.get("value", default))
        elif tag == "select":
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select].append(a.get("value", ""))
        elif tag == "textarea":
            self._textarea = name
            self.data.setdefault(name, [""])

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea][-1] += data


def errors_of(response) -> object:
    context = response.context
    inlines = [inline.formset.errors for inline in context["inline_admin_formsets"]]
    return context["adminform"].form.errors, inlines


def form_of(client: Client, url: str) -> dict[str, list[str]]:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    parser = _FormFields()
    parser.feed(response.content.decode())
    data = parser.data
    data.pop("csrfmiddlewaretoken", None)
    return data


@pytest.fixture
def administrator(make_user) -> User:
    user = make_user(roles.ADMINISTRATOR, username="admin")
    User.objects.filter(pk=user.pk).update(is_staff=True)
    user.refresh_from_db()
    return user


@pytest.fixture
def admin_client(client: Client, administrator: User) -> Client:
    client.force_login(administrator)
    return client


@pytest.fixture
def nurse(make_user) -> User:
    return make_user(roles.NURSE, username="nurse")


@pytest.fixture
def root(db: None) -> User:
    return User.objects.create_superuser("root", "root@example.com", DEMO_PASSWORD)


def every_permission() -> list[str]:
    return [str(pk) for pk in Permission.objects.values_list("pk", flat=True)]


def assert_not_escalated(user: User) -> None:
    user.refresh_from_db()
    assert not user.is_superuser
    assert not user.user_permissions.exists()
    assert not (set(user.groups.values_list("name", flat=True)) - set(roles.ALL_ROLES))


GRANTS = {
    "is_superuser": lambda: ["on"],
    "is_staff": lambda: ["on"],
    "groups": lambda: [str(Group.objects.get(name=roles.COMPLIANCE).pk)],
    "user_permissions": every_permission,
}


@pytest.mark.parametrize("field", GRANTS)
@pytest.mark.parametrize("whose", ["another user", "own account"])
def test_the_change_form_refuses_every_grant(
    admin_client: Client, administrator: User, nurse: User, field: str, whose: str
) -> None:
    target = nurse if whose == "another user" else administrator
    url = f"/admin/core/user/{target.pk}/change/"
    data = form_of(admin_client, url)
    # given the form as the browser has it: no such field on it
    assert field not in data
    # when the field is posted anyway
    data[field] = GRANTS[field]()
    response = admin_client.post(url, data)
    # then it is refused, and nothing changed
    assert response.status_code == 403
    assert_not_escalated(target)
    target.refresh_from_db()
    assert target.is_staff == (target == administrator)
    assert target.role_names == (
        [roles.ADMINISTRATOR] if target == administrator else [roles.NURSE]
    )


def test_the_form_offers_no_grant_fields(admin_client: Client, nurse: User) -> None:
    html = admin_client.get(f"/admin/core/user/{nurse.pk}/change/").content.decode()
    for field in GRANTS:
        assert f'name="{field}"' not in html
    assert 'name="roles"' in html
    assert 'name="clinics"' in html


def test_the_add_form_refuses_every_grant(admin_client: Client) -> None:
    data = {
        "username": "newbie",
        "usable_password": "true",
        "password1": "a-long-passphrase-2026",
        "password2": "a-long-passphrase-2026",
        **{field: make() for field, make in GRANTS.items()},
    }
    assert admin_client.post("/admin/core/user/add/", data).status_code == 403
    assert not User.objects.filter(username="newbie").exists()
    # Without them the account is created, with no access, and the trail says who added it.
    for field in GRANTS:
        data.pop(field)
    assert admin_client.post("/admin/core/user/add/", data).status_code == 302
    newbie = User.objects.get(username="newbie")
    assert not newbie.is_superuser
    assert not newbie.is_staff
    assert not newbie.groups.exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.CREATE, object_type="core.user")
    assert (event.actor_label, event.object_id) == ("admin", str(newbie.pk))


def test_own_roles_clinics_and_status_cannot_be_changed(
    admin_client: Client, administrator: User, clinic: Clinic, other_clinic: Clinic
) -> None:
    url = f"/admin/core/user/{administrator.pk}/change/"
    data = form_of(admin_client, url)
    assert not {"roles", "clinics", "is_active"} & set(data)
    data.update(
        roles=[roles.ADMINISTRATOR, roles.COMPLIANCE],
        clinics=[str(clinic.pk), str(other_clinic.pk)],
        first_name=["Ada"],
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302, errors_of(response)
    administrator.refresh_from_db()
    assert administrator.first_name == "Ada"  # the profile is theirs to edit
    assert administrator.role_names == [roles.ADMINISTRATOR]
    assert list(Clinic.objects.filter(staff__user=administrator)) == [clinic]


def test_a_superusers_account_is_out_of_reach(
    admin_client: Client, root: User, administrator: User
) -> None:
    # not listed, no change form, no password form
    assert b"root" not in admin_client.get("/admin/core/user/").content
    assert admin_client.get(f"/admin/core/user/{root.pk}/change/").status_code == 302
    response = admin_client.post(
        f"/admin/core/user/{root.pk}/password/",
        {"password1": "taken-over-2026!", "password2": "taken-over-2026!"},
    )
    assert response.status_code in {403, 404}
    root.refresh_from_db()
    assert root.check_password(DEMO_PASSWORD)
    # a bulk action on it does nothing either
    admin_client.post(
        "/admin/core/user/",
        {"action": "delete_selected", "_selected_action": [str(root.pk)], "post": "yes"},
    )
    assert User.objects.filter(pk=root.pk, is_superuser=True).exists()


def test_bulk_actions_cannot_touch_accounts(admin_client: Client, nurse: User) -> None:
    response = admin_client.post(
        "/admin/core/user/",
        {"action": "delete_selected", "_selected_action": [str(nurse.pk)], "post": "yes"},
    )
    assert response.status_code in {200, 302, 403}
    assert User.objects.filter(pk=nurse.pk).exists()


def test_roles_cannot_be_reshaped(admin_client: Client, administrator: User) -> None:
    group = Group.objects.get(name=roles.ADMINISTRATOR)
    before = set(group.permissions.values_list("pk", flat=True))
    assert admin_client.get("/admin/auth/group/").status_code == 403
    data = {"name": roles.ADMINISTRATOR, "permissions": every_permission()}
    assert admin_client.post(f"/admin/auth/group/{group.pk}/change/", data).status_code == 403
    assert admin_client.post("/admin/auth/group/add/", {**data, "name": "x"}).status_code == 403
    assert set(group.permissions.values_list("pk", flat=True)) == before
    assert not Group.objects.filter(name="x").exists()
    assert not administrator.has_perm("audit.view_auditevent")


def test_the_staff_admin_and_inline_do_not_assign_clinics(
    admin_client: Client, nurse: User, clinic: Clinic, other_clinic: Clinic
) -> None:
    staff = nurse.staff
    url = f"/admin/core/staff/{staff.pk}/change/"
    data = form_of(admin_client, url)
    data["clinics"] = [str(clinic.pk), str(other_clinic.pk)]
    data["title"] = ["RN"]
    assert admin_client.post(url, data).status_code == 302
    assert list(Staff.objects.get(pk=staff.pk).clinics.all()) == [clinic]
    # the inline on the account page
    url = f"/admin/core/user/{nurse.pk}/change/"
    data = form_of(admin_client, url)
    data["staff-0-clinics"] = [str(other_clinic.pk)]
    assert admin_client.post(url, data).status_code == 302
    assert list(Staff.objects.get(pk=staff.pk).clinics.all()) == [clinic]


def test_after_every_attempt_the_administrator_still_reads_no_patients_or_trail(
    admin_client: Client, administrator: User, other_clinic: Clinic
) -> None:
    assert admin_client.get("/compliance/audit/").status_code in {403, 404}
    assert admin_client.get("/patients/").status_code == 403
    assert_not_escalated(administrator)


def test_an_administrator_assigns_roles_and_clinics_with_an_audit_entry(
    admin_client: Client, administrator: User, nurse: User, clinic: Clinic
) -> None:
    second = Clinic.objects.create(name="Second Street Clinic")
    administrator.staff.clinics.add(second)
    url = f"/admin/core/user/{nurse.pk}/change/"
    data = form_of(admin_client, url)
    data["roles"] = [roles.NURSE, roles.ADMINISTRATOR]
    data["clinics"] = [str(clinic.pk), str(second.pk)]
    assert admin_client.post(url, data).status_code == 302
    nurse = User.objects.get(pk=nurse.pk)
    assert nurse.role_names == sorted([roles.NURSE, roles.ADMINISTRATOR])
    assert nurse.is_staff  # the Administrator role opens the admin site
    assert set(Clinic.objects.filter(staff__user=nurse)) == {clinic, second}
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPDATE, summary__startswith="Access")
    assert event.actor == administrator
    assert event.object_id == str(nurse.pk)
    assert event.changes["roles"] == [[roles.NURSE], sorted([roles.NURSE, roles.ADMINISTRATOR])]
    assert event.changes["clinics"] == [[clinic.pk], sorted([clinic.pk, second.pk])]
    assert event.changes["is_staff"] == [False, True]


def test_clinics_the_administrator_does_not_work_in_are_neither_granted_nor_removed(
    admin_client: Client, nurse: User, clinic: Clinic, other_clinic: Clinic
) -> None:
    url = f"/admin/core/user/{nurse.pk}/change/"
    data = form_of(admin_client, url)
    data["clinics"] = [str(clinic.pk), str(other_clinic.pk)]
    response = admin_client.post(url, data)
    assert response.status_code == 200  # the form says the choice is not valid
    assert list(Clinic.objects.filter(staff__user=nurse)) == [clinic]
    # a nurse who also works elsewhere keeps that clinic when the administrator edits her
    nurse.staff.clinics.add(other_clinic)
    data = form_of(admin_client, url)
    data["roles"] = [roles.NURSE, roles.PROVIDER]
    assert admin_client.post(url, data).status_code == 302
    assert set(Clinic.objects.filter(staff__user=nurse)) == {clinic, other_clinic}


def test_a_superuser_may_grant_superuser_and_it_is_audited(
    client: Client, root: User, nurse: User
) -> None:
    client.force_login(root)
    url = f"/admin/core/user/{nurse.pk}/change/"
    data = form_of(client, url)
    data["is_superuser"] = ["on"]
    assert client.post(url, data).status_code == 302
    nurse.refresh_from_db()
    assert nurse.is_superuser
    assert nurse.is_staff
    event = AuditEvent.objects.get(summary__startswith="Access")
    assert event.changes["is_superuser"] == [False, True]


def test_a_password_set_in_the_admin_is_in_the_audit_trail(
    admin_client: Client, administrator: User, nurse: User
) -> None:
    response = admin_client.post(
        f"/admin/core/user/{nurse.pk}/password/",
        {
            "usable_password": "true",
            "password1": "a-new-pass-2026!",
            "password2": "a-new-pass-2026!",
        },
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(summary="Account nurse changed in the admin")
    assert (event.actor, event.object_id) == (administrator, str(nurse.pk))
    assert "new-pass" not in str(event.changes)


def test_a_superuser_still_reshapes_roles(client: Client, root: User) -> None:
    client.force_login(root)
    group = Group.objects.get(name=roles.NURSE)
    assert client.get(f"/admin/auth/group/{group.pk}/change/").status_code == 200
