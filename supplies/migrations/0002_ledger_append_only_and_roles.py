"""The stock ledger refuses UPDATE and DELETE in the database; supplies permissions join the roles."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION supplies_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the stock ledger is append-only: % on % is refused (post a compensating movement)',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER stockmovement_no_update_delete
    BEFORE UPDATE OR DELETE ON supplies_stockmovement
    FOR EACH ROW EXECUTE FUNCTION supplies_ledger_append_only();
"""

BACKWARD = """
DROP TRIGGER stockmovement_no_update_delete ON supplies_stockmovement;
DROP FUNCTION supplies_ledger_append_only();
"""


def grant(apps, schema_editor):
    from clinicops.core.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("supplies", "0001_initial"),
        ("core", "0002_mrn_sequence_and_roles"),
    ]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
