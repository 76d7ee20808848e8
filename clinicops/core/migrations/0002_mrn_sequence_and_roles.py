from django.db import migrations


def create_roles(apps, schema_editor):
    from clinicops.core.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        # MRNs are this sequence plus a Luhn check digit: 10000003, 10000011, ...
        migrations.RunSQL(
            "CREATE SEQUENCE core_patient_mrn_seq START WITH 1000000 MINVALUE 1000000;",
            "DROP SEQUENCE core_patient_mrn_seq;",
        ),
        migrations.RunPython(create_roles, migrations.RunPython.noop),
    ]
