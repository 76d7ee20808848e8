"""Punches refuse UPDATE and DELETE (a correction is a new row); the time clock and timesheet
permissions join the roles."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION workforce_punch_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'punches are append-only: % on % is refused (add a correction)',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER punch_no_update_delete
    BEFORE UPDATE OR DELETE ON workforce_punch
    FOR EACH ROW EXECUTE FUNCTION workforce_punch_append_only();
"""

BACKWARD = """
DROP TRIGGER punch_no_update_delete ON workforce_punch;
DROP FUNCTION workforce_punch_append_only();
"""


def grant(apps, schema_editor):
    from clinicops.core.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [("workforce", "0003_timeclock_overtime")]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
