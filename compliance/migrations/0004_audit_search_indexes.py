"""Indexes for the audit-log filters (who saw this patient; every export), built concurrently.

CONCURRENTLY, because a plain CREATE INDEX would block inserts into the audit table, and with
it every PHI read and write, for as long as the build takes on a large trail. The patient's
new (patient_id, occurred_at) index replaces the single-column one, dropped only afterwards.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("compliance", "0003_roles")]

    operations = [
        AddIndexConcurrently(
            model_name="auditevent",
            index=models.Index(fields=["patient_id", "-occurred_at"], name="audit_patient_time"),
        ),
        AddIndexConcurrently(
            model_name="auditevent",
            index=models.Index(fields=["action", "-occurred_at"], name="audit_action_time"),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="patient_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
    ]
