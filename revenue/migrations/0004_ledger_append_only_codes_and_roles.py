"""The ledger refuses UPDATE and DELETE (a reversal is new rows); existing claims start with
their charges as their balance; the CARC/RARC subset is loaded; the Revenue II permissions
join the roles."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION revenue_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the revenue ledger is append-only: % on % is refused (post a new row)',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER ledgerentry_no_update_delete
    BEFORE UPDATE OR DELETE ON revenue_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION revenue_ledger_append_only();

UPDATE revenue_claim SET balance = total_charge;
"""

BACKWARD = """
DROP TRIGGER ledgerentry_no_update_delete ON revenue_ledgerentry;
DROP FUNCTION revenue_ledger_append_only();
"""


def load_codes(apps, schema_editor):
    from revenue.adjustment_codes import load_codes as load

    load(apps.get_model("revenue", "AdjustmentCode"))


def grant(apps, schema_editor):
    from clinicops.core.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [("revenue", "0003_remittances_ledger_denials")]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.RunPython(load_codes, migrations.RunPython.noop),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
