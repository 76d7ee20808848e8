"""Fixtures shared by every test: clinics and a user per role."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.core.roles import sync_roles
from clinicops.core.tests.factories import ClinicFactory, StaffFactory


@pytest.fixture
def clinic(db: None) -> Clinic:
    return ClinicFactory(name="Riverside Family Clinic")


@pytest.fixture
def other_clinic(db: None) -> Clinic:
    return ClinicFactory(name="Hillcrest Clinic")


@pytest.fixture
def make_user(db: None, clinic: Clinic) -> Callable[..., User]:
    """make_user(roles.FRONT_DESK) -> a user with that role in `clinic` (or `clinics=[...]`)."""

    def make(*role_names: str, clinics: list[Clinic] | None = None, **user_fields: object) -> User:
        staff = StaffFactory(
            roles=list(role_names),
            clinics=clinics if clinics is not None else [clinic],
            **{f"user__{k}": v for k, v in user_fields.items()},
        )
        return staff.user

    return make


@pytest.fixture
def front_desk(make_user: Callable[..., User]) -> User:
    return make_user(roles.FRONT_DESK, username="frontdesk")


@pytest.fixture
def compliance_officer(make_user: Callable[..., User]) -> User:
    return make_user(roles.COMPLIANCE, username="compliance")


@pytest.fixture(scope="session", autouse=True)
def _allow_flushing_the_audit_table() -> None:
    """Let transactional tests' teardown flush the audit table, then restore the role groups.

    In production the trigger refuses TRUNCATE. Between tests, Django must empty every table,
    so the flush alone runs with the table's user triggers disabled, and re-enables them.
    """
    from django.db import connections
    from django.test import TransactionTestCase

    original = TransactionTestCase._fixture_teardown

    def teardown(self: TransactionTestCase) -> None:
        for alias in self._databases_names(include_mirrors=False):
            with connections[alias].cursor() as cursor:
                cursor.execute("ALTER TABLE compliance_auditevent DISABLE TRIGGER USER")
        try:
            original(self)
        finally:
            for alias in self._databases_names(include_mirrors=False):
                with connections[alias].cursor() as cursor:
                    cursor.execute("ALTER TABLE compliance_auditevent ENABLE TRIGGER USER")
        # The flush emptied auth_group too; the role groups come from data migrations, so
        # put them back for the tests that follow.
        sync_roles()
        # So does the CARC/RARC table revenue's migration 0004 loads.
        from revenue.adjustment_codes import ensure_codes

        ensure_codes()

    TransactionTestCase._fixture_teardown = teardown  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    """Each xdist worker its own cache keys in the shared Redis database.

    The reference cache (clinicops.core.refcache) keeps one version key that any save replaces,
    as it must across a deployment's processes; between test workers that would let one
    worker's saves empty the other's cache in the middle of a test that counts queries.
    """
    import os

    from django.conf import settings

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        for alias in settings.CACHES.values():
            alias["KEY_PREFIX"] = f"{alias.get('KEY_PREFIX', '')}-{worker}"
    # A test database is thrown away: its commits (migrations, transactional and browser tests,
    # the flush after each) need not wait for the disk. Commits stay atomic and visible to the
    # other connections at once; only a crash of Postgres could lose the last of them.
    options = settings.DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c synchronous_commit=off".strip()


# The tests that take minutes, longest first. Run first, they are dealt out in turn to the
# xdist workers (its first quarter of the items goes round-robin), so neither worker is left
# with a long one at the end while the other idles. The correctness module stays in one piece
# on each worker, so each builds its world once per seed (test_correctness.built_world).
SLOW_FIRST = (
    "scheduling/tests/test_seed_scheduling.py::test_seed_demo_brings_the_whole_demo_to_life_once",
    "tests/test_hostile_inputs.py::test_every_parameter_of_every_view_survives_hostile_values",
    "clinicops/kpis/tests/test_correctness.py::",
    "clinicops/audit/tests/test_moved_from_compliance.py::",
    "patientflow/tests/test_seed_flow.py::",
    "clinicops/kpis/tests/test_dispatch_dst.py::",
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        for index, prefix in enumerate(SLOW_FIRST):
            if item.nodeid.startswith(prefix):
                return index
        return len(SLOW_FIRST)

    items.sort(key=rank)  # stable: the order within each rank is pytest's
