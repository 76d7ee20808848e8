"""`Visit.with_provider_at`: when the visit's effective timeline entered "with provider", kept
by the database from the append-only event log, so the KPI medians read one row per visit
instead of hashing the event table (docs/decisions: denormalised visit times).

- The column is filled for the visits that exist from their events (step events minus the
  undone ones), before the triggers exist.
- After each INSERT statement on the events (services, raw inserts, COPY alike; the log
  refuses UPDATE and DELETE, so inserts are its only changes) a statement trigger recomputes
  the column of every visit that gained a "with provider" step or an undo.
- A row trigger on the visit keeps the column out of every other writer's hands: an INSERT
  starts it empty (a new visit has no events), and an UPDATE that is not the events' trigger
  (a full `save()` of a stale instance, the admin, psql) keeps the stored value.
"""

from django.db import migrations, models

# A visit's first effective "with provider": the earliest advance to it that no undo names.
EFFECTIVE = """
    SELECT min(e.at) FROM patientflow_visitevent e
    WHERE e.visit_id = {visit} AND e.kind = 'advance' AND e.to_step = 'with_provider'
      AND NOT EXISTS (SELECT 1 FROM patientflow_visitevent u
                      WHERE u.undoes_id = e.id AND u.kind = 'undo')
"""

FILL = """
UPDATE patientflow_visit v SET with_provider_at = s.at
FROM (SELECT e.visit_id, min(e.at) AS at FROM patientflow_visitevent e
      WHERE e.kind = 'advance' AND e.to_step = 'with_provider'
        AND NOT EXISTS (SELECT 1 FROM patientflow_visitevent u
                        WHERE u.undoes_id = e.id AND u.kind = 'undo')
      GROUP BY e.visit_id) s
WHERE v.id = s.visit_id AND v.with_provider_at IS DISTINCT FROM s.at;
"""

TRIGGERS = f"""
CREATE FUNCTION patientflow_visit_times_from_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE patientflow_visit v SET with_provider_at = t.at
    FROM (SELECT c.visit_id, ({EFFECTIVE.format(visit="c.visit_id")}) AS at
          FROM (SELECT DISTINCT n.visit_id FROM new_events n
                WHERE n.kind = 'undo' OR (n.kind = 'advance' AND n.to_step = 'with_provider')) c
         ) t
    WHERE v.id = t.visit_id AND v.with_provider_at IS DISTINCT FROM t.at;
    RETURN NULL;
END;
$$;

CREATE TRIGGER visitevent_keeps_visit_times
    AFTER INSERT ON patientflow_visitevent
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION patientflow_visit_times_from_events();

CREATE FUNCTION patientflow_visit_times_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.with_provider_at := NULL;
    ELSIF pg_trigger_depth() < 2 THEN
        -- not from the events' trigger: the event log alone decides this column
        NEW.with_provider_at := OLD.with_provider_at;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER visit_times_from_events_only
    BEFORE INSERT OR UPDATE OF with_provider_at ON patientflow_visit
    FOR EACH ROW EXECUTE FUNCTION patientflow_visit_times_guard();
"""

DROP = """
DROP TRIGGER visit_times_from_events_only ON patientflow_visit;
DROP FUNCTION patientflow_visit_times_guard();
DROP TRIGGER visitevent_keeps_visit_times ON patientflow_visitevent;
DROP FUNCTION patientflow_visit_times_from_events();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("patientflow", "0002_history_append_only_and_roles"),
    ]

    operations = [
        migrations.AddField(
            model_name="visit",
            name="with_provider_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
        migrations.RunSQL(TRIGGERS, DROP),
    ]
