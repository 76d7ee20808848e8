"""AuditEvent moves from `compliance` to this app: in Django's state only, not in the database.

The table keeps its name (`compliance_auditevent`), its rows, its chain, its indexes and the
append-only triggers of compliance migration 0002: nothing is created, copied or altered.
`compliance` 0005 removes the model from its own state. The content type is renamed in place,
so the permission `view_auditevent` keeps its id and every group that held it (the Compliance
officer role) still holds it, now as `audit.view_auditevent`; on a new database, core's
migration after this one grants it (this app imports no other, so it does not name the roles).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _rename_content_type(apps, source, target):
    ContentType = apps.get_model("contenttypes", "ContentType")
    old = ContentType.objects.filter(app_label=source, model="auditevent")
    if ContentType.objects.filter(app_label=target, model="auditevent").exists():
        old.delete()  # created meanwhile (not by migrate); the renamed one would clash
    else:
        old.update(app_label=target)
    ContentType.objects.clear_cache()


def move_content_type(apps, schema_editor):
    _rename_content_type(apps, "compliance", "audit")


def move_content_type_back(apps, schema_editor):
    _rename_content_type(apps, "audit", "compliance")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("contenttypes", "0002_remove_content_type_name"),
        ("compliance", "0004_audit_search_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("seq", models.BigIntegerField(editable=False, unique=True)),
                        ("occurred_at", models.DateTimeField(db_index=True)),
                        ("actor_label", models.CharField(help_text="Username at the time (or system).", max_length=150)),
                        ("action", models.CharField(choices=[("view", "Viewed"), ("search", "Searched"), ("create", "Created"), ("update", "Changed"), ("delete", "Deleted"), ("export", "Exported"), ("print", "Printed"), ("login", "Logged in"), ("login_failed", "Login failed"), ("logout", "Logged out")], max_length=20)),
                        ("object_type", models.CharField(blank=True, max_length=100)),
                        ("object_id", models.CharField(blank=True, max_length=64)),
                        ("patient_id", models.BigIntegerField(blank=True, null=True)),
                        ("clinic_id", models.BigIntegerField(blank=True, null=True)),
                        ("ip_address", models.GenericIPAddressField(blank=True, null=True)),
                        ("summary", models.CharField(blank=True, max_length=255)),
                        ("changes", models.JSONField(blank=True, default=dict)),
                        ("prev_hash", models.CharField(max_length=64)),
                        ("hash", models.CharField(max_length=64, unique=True)),
                        ("actor", models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name="+", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "compliance_auditevent",
                        "ordering": ["-seq"],
                        "default_permissions": ("view",),
                        "indexes": [
                            models.Index(fields=["actor", "-occurred_at"], name="audit_actor_time"),
                            models.Index(fields=["clinic_id", "-occurred_at"], name="audit_clinic_time"),
                            models.Index(fields=["object_type", "object_id"], name="audit_object"),
                            models.Index(fields=["patient_id", "-occurred_at"], name="audit_patient_time"),
                            models.Index(fields=["action", "-occurred_at"], name="audit_action_time"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
