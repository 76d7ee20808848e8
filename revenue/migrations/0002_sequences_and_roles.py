"""The sequences behind claim control numbers (CLM01) and X12 envelope control numbers
(ISA13/GS06/ST02), and the revenue permissions joining the roles."""

from django.db import migrations

FORWARD = """
CREATE SEQUENCE revenue_claim_control_seq START 1 MAXVALUE 999999999 NO CYCLE;
CREATE SEQUENCE revenue_x12_control_seq START 1 MAXVALUE 999999999 NO CYCLE;
"""
BACKWARD = """
DROP SEQUENCE revenue_claim_control_seq;
DROP SEQUENCE revenue_x12_control_seq;
"""


def grant(apps, schema_editor):
    from clinicops.core.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("revenue", "0001_initial"),
        ("core", "0004_coverage_subscriber_details"),
    ]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
