"""The KPI permissions join the roles (clinicops.core.roles.PERMISSIONS)."""

from django.db import migrations


def grant(apps, schema_editor):
    from clinicops.core.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("kpis", "0001_initial"),
        ("core", "0002_mrn_sequence_and_roles"),
        ("compliance", "0003_roles"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
