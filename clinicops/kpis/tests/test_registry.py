"""The catalogue: discovery of every app's kpis.py, registration rules, reading parts."""

from __future__ import annotations

import ast
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from clinicops.core.models import Clinic
from clinicops.kpis import registry
from clinicops.kpis.registry import AlreadyRegistered, Kind, Metric, Parts, Unit

TEST_APP = "clinicops.kpis.tests.kpiapp"


def zero(clinic: Clinic, day: date) -> tuple[int, int]:
    return 0, 0


def test_an_installed_apps_kpis_module_is_discovered() -> None:
    # given: an app the engine has never heard of, not yet installed
    sys.modules.pop(f"{TEST_APP}.kpis", None)
    with registry.swapped():
        assert not registry.is_registered("kpiapp_walk_in_share")
        # when: it is installed (Django runs every AppConfig.ready(), the engine's included)
        with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, TEST_APP]):
            # then: its metric is in the catalogue, with no change to the engine
            metric = registry.get("kpiapp_walk_in_share")
            assert metric.label == "Walk-in share"
            assert metric.kind == Kind.RATIO
    assert not registry.is_registered("kpiapp_walk_in_share")


def test_the_engine_imports_no_app_by_name() -> None:
    apps = {"scheduling", "patientflow", "supplies", "revenue", "workforce"}
    engine = Path(registry.__file__).parent
    for path in engine.rglob("*.py"):
        if "tests" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in apps, f"{path} imports {name}"


def test_registering_the_same_definition_twice_is_harmless_but_a_clash_is_refused() -> None:
    metric = Metric(key="walk_ins", label="Walk-ins", unit=Unit.COUNT, compute=zero)
    with registry.swapped():
        registry.register(metric)
        registry.register(metric)
        assert registry.all_metrics() == [metric]
        other = Metric(key="walk_ins", label="Walk-in visits", unit=Unit.COUNT, compute=zero)
        with pytest.raises(AlreadyRegistered, match="walk_ins"):
            registry.register(other)


def test_an_unknown_key_names_itself() -> None:
    with registry.swapped(), pytest.raises(KeyError, match="no_such_metric"):
        registry.get("no_such_metric")


@pytest.mark.parametrize("key", ["No-Show", "", "9lives", "x" * 65])
def test_a_malformed_key_is_refused(key: str) -> None:
    with pytest.raises(ImproperlyConfigured):
        Metric(key=key, label="x", unit=Unit.COUNT, compute=zero)


def test_an_upside_down_band_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="upside down"):
        Metric(key="u", label="u", unit=Unit.PERCENT, target_band=(90, 80), compute=zero)


def test_a_band_metric_judges_by_its_band() -> None:
    metric = Metric(key="u", label="u", unit=Unit.PERCENT, target_band=(80, 85), compute=zero)
    assert metric.direction == "band"
    assert metric.default_target == Decimal(80)
    assert metric.target_band == (Decimal(80), Decimal(85))


class TnaaValue(NamedTuple):
    provider_id: int
    appointment_type_id: int
    days: int


def test_compute_results_are_read_as_parts_for_each_kind() -> None:
    clinic = Clinic(name="x", time_zone="UTC")
    day = date(2026, 3, 2)

    def ratio(c: Clinic, d: date) -> tuple[Decimal, int]:
        return Decimal("12.50"), 3

    def median(c: Clinic, d: date) -> list[int]:
        return [5, 1, 3]

    def tnaa(c: Clinic, d: date) -> list[TnaaValue]:
        return [TnaaValue(7, 1, 4), TnaaValue(7, 2, 6), TnaaValue(9, 1, 10)]

    def empty_ratio(c: Clinic, d: date) -> tuple[None, None]:
        return None, None

    assert Metric(key="a", label="a", unit=Unit.CURRENCY, compute=ratio).parts(
        clinic, day
    ) == Parts(Decimal("12.50"), Decimal(3))
    assert Metric(key="b", label="b", unit=Unit.MINUTES, kind=Kind.MEDIAN, compute=median).parts(
        clinic, day
    ) == Parts(Decimal(9), Decimal(3), (5.0, 1.0, 3.0))
    grouped = Metric(
        key="c", label="c", unit=Unit.DAYS, kind=Kind.MEAN_OF_MEANS, compute=tnaa
    ).parts(clinic, day)
    assert grouped.values == (4.0, 6.0, 10.0)
    assert grouped.groups == (7, 7, 9)
    assert (
        Metric(key="d", label="d", unit=Unit.PERCENT, compute=empty_ratio).parts(clinic, day)
        == Parts()
    )


def test_values_must_be_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        Parts.of_values([1.0, float("nan")])


def test_day_bounds_follow_the_clinic_clock_across_dst() -> None:
    clinic = Clinic(name="x", time_zone="America/New_York")
    start, end = registry.day_bounds(clinic, date(2026, 3, 8))
    assert end - start == timedelta(hours=23)
    assert start == datetime.fromisoformat("2026-03-08T05:00:00+00:00")
    start, end = registry.day_bounds(clinic, date(2026, 11, 1))
    assert end - start == timedelta(hours=25)


@pytest.mark.parametrize(
    ("unit", "value", "shown"),
    [
        (Unit.PERCENT, Decimal("7.349"), "7.3 %"),
        (Unit.CURRENCY, Decimal("1234.5"), "$1,234.50"),
        (Unit.MINUTES, Decimal("18.4"), "18 min"),
        (Unit.DAYS, Decimal("6.54"), "6.5 days"),
        (Unit.PERCENT, None, "no data"),
    ],
)
def test_figures_are_formatted_by_unit(unit: Unit, value: Decimal | None, shown: str) -> None:
    assert Metric(key="m", label="m", unit=unit, compute=zero).format(value) == shown
