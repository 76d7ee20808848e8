"""Factories for scheduling. `AppointmentFactory` writes rows directly (test set-up only:
real bookings go through `services.booking.book_appointment`)."""

from __future__ import annotations

import datetime as dt

import factory
from factory.django import DjangoModelFactory

from clinicops.core.tests.factories import ClinicFactory, PatientFactory, StaffFactory
from scheduling.models import (
    Appointment,
    AppointmentType,
    ClinicClosure,
    ProviderTimeOff,
    ScheduleTemplate,
    TemplateBlock,
    WaitlistEntry,
)


class AppointmentTypeFactory(DjangoModelFactory[AppointmentType]):
    class Meta:
        model = AppointmentType
        django_get_or_create = ("clinic", "name")

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Sequence(lambda n: f"Visit type {n}")
    duration_minutes = 20
    kind = AppointmentType.Kind.FOLLOW_UP


class ScheduleTemplateFactory(DjangoModelFactory[ScheduleTemplate]):
    class Meta:
        model = ScheduleTemplate

    provider = factory.SubFactory(StaffFactory)
    clinic = factory.SubFactory(ClinicFactory)
    effective_from = dt.date(2027, 1, 1)


class TemplateBlockFactory(DjangoModelFactory[TemplateBlock]):
    class Meta:
        model = TemplateBlock
        skip_postgeneration_save = True

    template = factory.SubFactory(ScheduleTemplateFactory)
    weekday = 0
    start_time = dt.time(8, 0)
    end_time = dt.time(12, 0)
    slot_minutes = 20
    kind = TemplateBlock.Kind.REGULAR

    @factory.post_generation
    def types(
        self, create: bool, extracted: list[AppointmentType] | None, **kwargs: object
    ) -> None:
        if create and extracted:
            self.appointment_types.set(extracted)


class ClinicClosureFactory(DjangoModelFactory[ClinicClosure]):
    class Meta:
        model = ClinicClosure

    clinic = factory.SubFactory(ClinicFactory)
    day = dt.date(2027, 3, 1)
    reason = "Holiday"


class ProviderTimeOffFactory(DjangoModelFactory[ProviderTimeOff]):
    class Meta:
        model = ProviderTimeOff

    provider = factory.SubFactory(StaffFactory)
    start = dt.datetime(2027, 3, 1, 13, 0, tzinfo=dt.UTC)
    end = dt.datetime(2027, 3, 1, 17, 0, tzinfo=dt.UTC)


class AppointmentFactory(DjangoModelFactory[Appointment]):
    class Meta:
        model = Appointment

    clinic = factory.SubFactory(ClinicFactory)
    patient = factory.SubFactory(PatientFactory, clinic=factory.SelfAttribute("..clinic"))
    provider = factory.SubFactory(StaffFactory)
    appointment_type = factory.SubFactory(
        AppointmentTypeFactory, clinic=factory.SelfAttribute("..clinic")
    )
    start = dt.datetime(2027, 3, 1, 13, 0, tzinfo=dt.UTC)
    end = factory.LazyAttribute(
        lambda o: o.start + dt.timedelta(minutes=o.appointment_type.duration_minutes)
    )
    status = Appointment.Status.BOOKED


class WaitlistEntryFactory(DjangoModelFactory[WaitlistEntry]):
    class Meta:
        model = WaitlistEntry

    clinic = factory.SubFactory(ClinicFactory)
    patient = factory.SubFactory(PatientFactory, clinic=factory.SelfAttribute("..clinic"))
    appointment_type = factory.SubFactory(
        AppointmentTypeFactory, clinic=factory.SelfAttribute("..clinic")
    )
    earliest = dt.date(2027, 2, 1)
    latest = dt.date(2027, 4, 30)
