"""AuditEvent now belongs to `clinicops.audit` (its 0001): drop it from this app's state only.

The table `compliance_auditevent` and its triggers stay exactly as they are.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0004_audit_search_indexes"),
        ("audit", "0001_move_auditevent_from_compliance"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditEvent")],
            database_operations=[],
        ),
    ]
