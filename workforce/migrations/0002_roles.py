"""The workforce permissions join the roles (managers build and publish; everyone reads their
own shifts)."""

from django.db import migrations


def grant(apps, schema_editor):
    from clinicops.core.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("workforce", "0001_rosters"),
        ("patientflow", "0002_history_append_only_and_roles"),
        ("supplies", "0003_found_stock_at_use"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
