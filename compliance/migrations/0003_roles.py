from django.db import migrations


def grant(apps, schema_editor):
    from clinicops.core.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0002_audit_append_only"), ("core", "0002_mrn_sequence_and_roles")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
