"""Visit history and payments refuse UPDATE and DELETE; the patient-flow permissions join the roles."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION patientflow_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'visit history is append-only: % on % is refused (record a new event)',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER visitevent_no_update_delete
    BEFORE UPDATE OR DELETE ON patientflow_visitevent
    FOR EACH ROW EXECUTE FUNCTION patientflow_append_only();

CREATE TRIGGER visitpayment_no_update_delete
    BEFORE UPDATE OR DELETE ON patientflow_visitpayment
    FOR EACH ROW EXECUTE FUNCTION patientflow_append_only();
"""

BACKWARD = """
DROP TRIGGER visitpayment_no_update_delete ON patientflow_visitpayment;
DROP TRIGGER visitevent_no_update_delete ON patientflow_visitevent;
DROP FUNCTION patientflow_append_only();
"""


def grant(apps, schema_editor):
    from clinicops.core.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("patientflow", "0001_initial"),
        ("core", "0002_mrn_sequence_and_roles"),
    ]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
