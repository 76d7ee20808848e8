"""Grant the roles the audit trail's permission under its new app label (`audit.view_auditevent`).

On an existing database the permission kept its id when the audit trail's migration renamed its
content type, so the groups still hold it and this changes nothing. On a new database, the
grant made by compliance 0003 looked for `audit.view_auditevent` before it existed; this makes it.
"""

from django.db import migrations


def grant(apps, schema_editor):
    from clinicops.core.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_mrn_sequence_and_roles"),
        ("audit", "0001_move_auditevent_from_compliance"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
