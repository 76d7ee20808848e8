"""The credential permissions join the roles (managers keep credentials; everyone reads their
own)."""

from django.db import migrations


def grant(apps, schema_editor):
    from clinicops.core.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [("workforce", "0005_credentials")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
