"""A clinic's dashboard metrics: three to five, each with a target, alert threshold and owner."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, Staff, User
from clinicops.core.tests.factories import StaffFactory
from clinicops.kpis import registry, selectors
from clinicops.kpis.models import ClinicMetricChoice
from clinicops.kpis.registry import Metric
from clinicops.kpis.services import MetricChoiceInput, choose_metrics

from .conftest import Source, catalogue

pytestmark = pytest.mark.django_db

KEYS = ["no_show_rate", "clean_claim_rate", "template_utilization", "door_to_provider_min"]


@pytest.fixture
def manager(make_user: Callable[..., User]) -> User:
    return make_user(roles.MANAGER, username="manager")


def picks(owner: Staff, keys: list[str]) -> list[MetricChoiceInput]:
    return [MetricChoiceInput(key=key, owner=owner) for key in keys]


def messages(error: pytest.ExceptionInfo[ValidationError]) -> str:
    return " | ".join(error.value.messages)


@pytest.mark.parametrize("count", [3, 4, 5])
def test_three_to_five_metrics_are_accepted_in_order(
    clinic: Clinic, manager: User, metrics: list[Metric], count: int
) -> None:
    keys = [*KEYS, "tnaa_days"][:count]

    chosen = choose_metrics(actor=manager, clinic=clinic, choices=picks(manager.staff, keys))

    assert [c.key for c in chosen] == keys
    assert [c.key for c in selectors.chosen_metrics(clinic)] == keys
    assert [c.position for c in selectors.chosen_metrics(clinic)] == list(range(1, count + 1))


@pytest.mark.parametrize(
    ("count", "message"),
    [
        (0, "Choose at least 3 metrics (you chose 0)."),
        (2, "Choose at least 3 metrics (you chose 2)."),
        (6, "Choose at most 5 metrics (you chose 6)."),
    ],
)
def test_fewer_than_three_or_more_than_five_are_refused_and_change_nothing(
    clinic: Clinic, manager: User, metrics: list[Metric], count: int, message: str
) -> None:
    choose_metrics(actor=manager, clinic=clinic, choices=picks(manager.staff, KEYS[:3]))
    keys = [m.key for m in metrics if m.key != "supply_cost_per_visit"][:count]

    with pytest.raises(ValidationError) as error:
        choose_metrics(actor=manager, clinic=clinic, choices=picks(manager.staff, keys))

    assert message in messages(error)
    assert list(ClinicMetricChoice.objects.values_list("key", flat=True)) == KEYS[:3]


def test_defaults_come_from_the_catalogue(
    clinic: Clinic, manager: User, metrics: list[Metric]
) -> None:
    choose_metrics(actor=manager, clinic=clinic, choices=picks(manager.staff, KEYS[:3]))

    by_key = {c.key: c for c in ClinicMetricChoice.objects.all()}
    assert (by_key["no_show_rate"].target, by_key["no_show_rate"].alert_threshold) == (7, 10)
    assert by_key["clean_claim_rate"].target == 95
    assert by_key["clean_claim_rate"].alert_threshold < 95
    band = by_key["template_utilization"]
    assert (band.target, band.target_high, band.alert_threshold) == (80, 85, 5)


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        (
            MetricChoiceInput(key="no_show_rate", target="7", alert_threshold="5"),
            "No-show rate: lower is better, so the alert threshold (5) must be at or above "
            "the target (7).",
        ),
        (
            MetricChoiceInput(key="clean_claim_rate", target="95", alert_threshold="97"),
            "Clean claim rate: higher is better, so the alert threshold (97) must be at or "
            "below the target (95).",
        ),
        (
            MetricChoiceInput(key="no_show_rate", target="seven"),
            "No-show rate: the target “seven” is not a number.",
        ),
        (
            MetricChoiceInput(key="no_show_rate", target="NaN"),
            "No-show rate: the target “NaN” is not a usable number.",
        ),
        (
            MetricChoiceInput(key="no_show_rate", target="120", alert_threshold="130"),
            "No-show rate: the target is a percentage, at most 100.",
        ),
        (
            MetricChoiceInput(key="no_show_rate", target="-1"),
            "No-show rate: the target cannot be negative.",
        ),
        (
            MetricChoiceInput(key="template_utilization", target="85", target_high="80"),
            "Template utilization: the upper target (80) is below the target (85).",
        ),
        (
            MetricChoiceInput(key="supply_cost_per_visit"),
            "Supply cost per visit: set a target (this metric has no default; use your baseline).",
        ),
        (MetricChoiceInput(key="made_up"), "“made_up” is not a metric in the catalogue."),
    ],
)
def test_a_bad_choice_is_refused_with_a_message_naming_the_metric_and_field(
    clinic: Clinic,
    manager: User,
    metrics: list[Metric],
    choice: MetricChoiceInput,
    message: str,
) -> None:
    choice = MetricChoiceInput(
        key=choice.key,
        target=choice.target,
        alert_threshold=choice.alert_threshold,
        target_high=choice.target_high,
        owner=manager.staff,
    )
    others = [c for c in picks(manager.staff, KEYS) if c.key != choice.key][:2]

    with pytest.raises(ValidationError) as error:
        choose_metrics(actor=manager, clinic=clinic, choices=[choice, *others])

    assert message in messages(error)
    assert not ClinicMetricChoice.objects.exists()


def test_a_metric_may_be_chosen_once(clinic: Clinic, manager: User, metrics: list[Metric]) -> None:
    with pytest.raises(ValidationError) as error:
        choose_metrics(
            actor=manager,
            clinic=clinic,
            choices=picks(manager.staff, ["no_show_rate", "no_show_rate", "tnaa_days"]),
        )
    assert "no_show_rate appears twice" in messages(error)


def test_each_metric_needs_an_owner_who_works_at_the_clinic(
    clinic: Clinic, other_clinic: Clinic, manager: User, metrics: list[Metric]
) -> None:
    stranger = StaffFactory(clinics=[other_clinic])
    choices = [
        MetricChoiceInput(key="no_show_rate", owner=None),
        MetricChoiceInput(key="clean_claim_rate", owner=stranger),
        MetricChoiceInput(key="tnaa_days", owner=manager.staff),
    ]

    with pytest.raises(ValidationError) as error:
        choose_metrics(actor=manager, clinic=clinic, choices=choices)

    assert "No-show rate: choose an owner." in messages(error)
    assert f"Clean claim rate: the owner {stranger} does not work at {clinic}." in messages(error)


def test_a_new_choice_replaces_the_old_one_whole_and_is_audited(
    clinic: Clinic, manager: User, metrics: list[Metric]
) -> None:
    choose_metrics(actor=manager, clinic=clinic, choices=picks(manager.staff, KEYS[:3]))
    new = [
        MetricChoiceInput(key="tnaa_days", target="10", owner=manager.staff),
        *picks(manager.staff, ["door_to_provider_min", "no_show_rate"]),
    ]

    choose_metrics(actor=manager, clinic=clinic, choices=new)

    chosen = selectors.chosen_metrics(clinic)
    assert [c.key for c in chosen] == ["tnaa_days", "door_to_provider_min", "no_show_rate"]
    assert chosen[0].target == Decimal(10)
    event = AuditEvent.objects.filter(object_type="kpis.clinicmetricchoice").first()
    assert event is not None
    assert event.actor_id == manager.pk
    assert event.clinic_id == clinic.pk
    assert event.action == AuditEvent.Action.UPDATE
    before, after = event.changes["metrics"]
    assert [m["key"] for m in before] == KEYS[:3]
    assert [m["key"] for m in after] == ["tnaa_days", "door_to_provider_min", "no_show_rate"]


def test_a_choice_whose_metric_left_the_catalogue_is_not_shown(
    clinic: Clinic, manager: User, metrics: list[Metric]
) -> None:
    choose_metrics(actor=manager, clinic=clinic, choices=picks(manager.staff, KEYS[:3]))
    registry.unregister("clean_claim_rate")

    assert [c.key for c in selectors.chosen_metrics(clinic)] == [
        "no_show_rate",
        "template_utilization",
    ]


@pytest.mark.django_db(transaction=True)
def test_two_managers_saving_at_once_leave_one_whole_set(
    clinic: Clinic, make_user: Callable[..., User], source: Source
) -> None:
    managers = [make_user(roles.MANAGER, username=f"manager{i}") for i in range(2)]
    sets = [KEYS[:3], ["tnaa_days", "door_to_provider_min", "clean_claim_rate", "no_show_rate"]]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def save(user: User, keys: list[str]) -> None:
        try:
            barrier.wait()
            choose_metrics(actor=user, clinic=clinic, choices=picks(user.staff, keys))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    with registry.swapped(catalogue(source)):
        threads = [
            threading.Thread(target=save, args=(m, keys))
            for m, keys in zip(managers, sets, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    assert list(ClinicMetricChoice.objects.order_by("position").values_list("key", flat=True)) in (
        sets
    )
