"""The audit table refuses UPDATE, DELETE and TRUNCATE in the database itself."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION compliance_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_no_update_delete
    BEFORE UPDATE OR DELETE ON compliance_auditevent
    FOR EACH ROW EXECUTE FUNCTION compliance_audit_append_only();

CREATE TRIGGER audit_no_truncate
    BEFORE TRUNCATE ON compliance_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION compliance_audit_append_only();
"""

BACKWARD = """
DROP TRIGGER audit_no_truncate ON compliance_auditevent;
DROP TRIGGER audit_no_update_delete ON compliance_auditevent;
DROP FUNCTION compliance_audit_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
