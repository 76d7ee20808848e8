"""Appointment history refuses UPDATE and DELETE; the scheduling permissions join the roles."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION scheduling_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'appointment history is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER appointmentevent_no_update_delete
    BEFORE UPDATE OR DELETE ON scheduling_appointmentevent
    FOR EACH ROW EXECUTE FUNCTION scheduling_event_append_only();
"""

BACKWARD = """
DROP TRIGGER appointmentevent_no_update_delete ON scheduling_appointmentevent;
DROP FUNCTION scheduling_event_append_only();
"""


def grant(apps, schema_editor):
    from clinicops.core.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0001_initial"),
        ("core", "0002_mrn_sequence_and_roles"),
        ("compliance", "0003_roles"),
    ]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
