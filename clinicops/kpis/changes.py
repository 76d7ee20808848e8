"""Late changes: which past clinic-days had their source data changed since they were rolled up.

Every registered metric names the tables it reads (`registry.Source`). For each such table the
engine installs Postgres statement triggers (after INSERT, UPDATE and DELETE, over the
statement's transition tables) that append a `ChangedDay` mark for each (clinic, local day)
the changed rows count towards, old and new values both, when that day is already in the past
at the clinic. Being in the database, a mark is left by every kind of write: a service, a
queryset `update()`, `bulk_create`, the admin, a data migration, psql. Writes about today or
the future leave none (today is rolled up tomorrow night anyway), so the daily work of the
clinic adds no rows here, and marks are plain inserts with no unique key, so two writers never
wait on each other.

The nightly run (`tasks.dispatch_nightly_rollups`) re-rolls the marked days whatever their age;
`services.rollup_clinic_days` deletes the marks it read before it computed (a mark written
while it computed is newer than what it saw, so it stays for the next night); the backfill
treats a marked day as stale. docs/decisions/0015-kpi-late-changes.md says why triggers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta

from django.apps import apps
from django.db import connection, models, transaction

from clinicops.core.models import Clinic

from . import registry
from .models import ChangedDay, MetricDay
from .registry import Source

PREFIX = "kpis_changed"


def _final_field(model: type[models.Model], path: str) -> models.Field:
    field = None
    for name in path.split("__"):
        field = model._meta.get_field(name)
        if field.is_relation and field.related_model is not None:
            model = field.related_model
    if field is None:
        raise ValueError(f"{path!r} names no field")
    return field  # type: ignore[return-value]


def _local_date(column: str, field: models.Field) -> str:
    if isinstance(field, models.DateTimeField):
        return f"({column} AT TIME ZONE k.time_zone)::date"
    return f"{column}::date"


def source_sql(source: Source, transition: str) -> str:
    """SELECT (clinic_id, first_day, last_day, onward, today) for the rows of `transition` (a
    trigger's transition table standing in for the source's table)."""
    model = apps.get_model(source.model)
    paths = [source.clinic, source.day] + ([source.until] if source.until else [])
    query = model._base_manager.order_by().values_list(*paths).query
    sql, params = query.sql_with_params()
    if params:
        raise ValueError(f"{source}: a source's paths must not need parameters")
    table = connection.ops.quote_name(model._meta.db_table)
    if f"FROM {table}" not in sql:
        raise ValueError(f"{source}: cannot find {table} in {sql}")
    sql = sql.replace(f"FROM {table}", f"FROM {transition} AS {table}", 1)
    columns = "c, a, b" if source.until else "c, a"
    first = _local_date("s.a", _final_field(model, source.day))
    if source.onward:
        last, onward = "NULL::date", "true"
    elif source.until:
        last = _local_date("s.b", _final_field(model, source.until))
        onward = "s.b IS NULL"
    else:
        last, onward = first, "false"
    # Built from the models' own table and column names; no values.
    select = f"SELECT s.c AS clinic_id, {first} AS first_day, {last} AS last_day, "
    return (
        select + f"{onward} AS onward, (now() AT TIME ZONE k.time_zone)::date AS today "
        f"FROM ({sql}) AS s({columns}) JOIN core_clinic k ON k.id = s.c"
    )


def _mark_sql(sources: Iterable[Source], transition: str) -> str:
    rows = " UNION ALL ".join(source_sql(s, transition) for s in sources)
    return f"""
        INSERT INTO kpis_changedday (clinic_id, day, onward, marked_at)
        SELECT DISTINCT r.clinic_id, g.day::date, r.onward, now()
        FROM ({rows}) AS r
        CROSS JOIN LATERAL generate_series(
            r.first_day,
            CASE WHEN r.onward THEN r.first_day ELSE LEAST(r.last_day, r.today - 1) END,
            interval '1 day'
        ) AS g(day)
        WHERE r.first_day < r.today
        ORDER BY 1, 2;"""  # noqa: S608 - built from the models' table and column names


def sources_by_table() -> dict[str, list[Source]]:
    """Every registered metric's sources, by the database table they watch."""
    tables: dict[str, list[Source]] = defaultdict(list)
    for metric in registry.all_metrics():
        for source in metric.sources:
            table = apps.get_model(source.model)._meta.db_table
            if source not in tables[table]:
                tables[table].append(source)
    return dict(tables)


def install_triggers(using: str = "default") -> list[str]:
    """(Re)create the change triggers of every registered metric's source tables, and drop
    those of tables no metric reads any more; returns the tables watched. Idempotent; runs
    after every `migrate` (post_migrate)."""
    from django.db import connections

    conn = connections[using]
    tables = sources_by_table()
    with transaction.atomic(using=using), conn.cursor() as cursor:
        existing = set(conn.introspection.table_names(cursor))
        if "kpis_changedday" not in existing:
            return []  # migrating only part of the way: the next full migrate installs them
        tables = {t: s for t, s in tables.items() if t in existing}
        cursor.execute(
            "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname LIKE %s AND NOT t.tgisinternal",
            [f"{PREFIX}_%"],
        )
        for (table,) in cursor.fetchall():
            if table not in tables:
                _drop(cursor, table)
        for table, sources in sorted(tables.items()):
            function = f"{PREFIX}_{table}"[:63]
            cursor.execute(
                f"""
                CREATE OR REPLACE FUNCTION {function}() RETURNS trigger
                LANGUAGE plpgsql
                -- as the owner that migrated (the app's role needs no right on the marks),
                -- with the search path it migrated with
                SECURITY DEFINER SET search_path FROM CURRENT
                AS $body$
                BEGIN
                    IF TG_OP IN ('INSERT', 'UPDATE') THEN {_mark_sql(sources, "new_rows")}
                    END IF;
                    IF TG_OP IN ('UPDATE', 'DELETE') THEN {_mark_sql(sources, "old_rows")}
                    END IF;
                    RETURN NULL;
                END
                $body$;
                """
            )
            _drop(cursor, table)
            quoted = conn.ops.quote_name(table)
            for event, referencing in (
                ("INSERT", "NEW TABLE AS new_rows"),
                ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
                ("DELETE", "OLD TABLE AS old_rows"),
            ):
                cursor.execute(
                    f"CREATE TRIGGER {PREFIX}_{event.lower()} AFTER {event} ON {quoted} "
                    f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
                )
    return sorted(tables)


def _drop(cursor: object, table: str) -> None:
    quoted = connection.ops.quote_name(table)
    for event in ("insert", "update", "delete"):
        cursor.execute(f"DROP TRIGGER IF EXISTS {PREFIX}_{event} ON {quoted}")  # type: ignore[attr-defined]


def watched_tables() -> set[str]:
    """The tables that carry the change triggers now (for checks and tests)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname LIKE %s AND NOT t.tgisinternal",
            [f"{PREFIX}_%"],
        )
        return {table for (table,) in cursor.fetchall()}


# --- reading and clearing marks -----------------------------------------------------------


def spread_onward_marks(*, clinic: Clinic, through: date) -> int:
    """Replace each "this day and onward" mark of `clinic` by one mark per day up to `through`
    (atomically), so that every mark names one day the rollup of which clears it."""
    with transaction.atomic():
        onward = list(
            ChangedDay.objects.select_for_update(skip_locked=True)
            .filter(clinic=clinic, onward=True, day__lte=through)
            .values_list("pk", "day")
        )
        if not onward:
            return 0
        first = min(day for _, day in onward)
        ChangedDay.objects.bulk_create(
            ChangedDay(clinic=clinic, day=first + timedelta(days=i))
            for i in range((through - first).days + 1)
        )
        ChangedDay.objects.filter(pk__in=[pk for pk, _ in onward]).delete()
        return len(onward)


def changed_days(*, clinic: Clinic, through: date) -> list[date]:
    """The clinic's days up to `through` whose data changed after they were rolled up."""
    spread_onward_marks(clinic=clinic, through=through)
    return sorted(
        set(
            ChangedDay.objects.filter(clinic=clinic, day__lte=through).values_list("day", flat=True)
        )
    )


# The rollup's own read, once per rollup: a constant statement (no query to build) on the
# partial index of single-day marks.
_MARKS_SQL = """
    SELECT id, day FROM kpis_changedday
    WHERE clinic_id = %s AND NOT onward AND day BETWEEN %s AND %s
"""


def marks_for(*, clinic: Clinic, days: Iterable[date]) -> list[int]:
    """The ids of the single-day marks on `days`, read before a rollup computes them.

    Read between the first and last day and kept in Python: a rollup's days are mostly one
    run, and a year's days as an IN list cost more to send than the whole rollup's compute.
    """
    wanted = set(days)
    if not wanted:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_MARKS_SQL, [clinic.pk, min(wanted), max(wanted)])
        return [pk for pk, day in cursor.fetchall() if day in wanted]


def marked(*, clinic: Clinic, start: date, end: date) -> set[date]:
    """Days in [start, end] with a mark (an onward mark covers its day and every later one)."""
    days: set[date] = set()
    for day, onward in ChangedDay.objects.filter(clinic=clinic, day__lte=end).values_list(
        "day", "onward"
    ):
        if onward:
            first = max(day, start)
            days.update(first + timedelta(days=i) for i in range((end - first).days + 1))
        elif day >= start:
            days.add(day)
    return days


# --- completeness ---------------------------------------------------------------------------


def missing_days(*, clinic: Clinic, first: date, last: date) -> list[date]:
    """Days in [first, last], from the clinic's first rolled-up day on, that lack a row of some
    registered metric: a rollup lost (a killed worker) or never run. Days before the clinic's
    first row are a backfill's to fill, not the nightly run's."""
    keys = [m.key for m in registry.all_metrics()]
    if not keys or last < first:
        return []
    rows = MetricDay.objects.filter(clinic=clinic)
    earliest = rows.order_by("day").values_list("day", flat=True).first()
    if earliest is None:
        return []
    first = max(first, earliest)
    complete = set(
        rows.filter(day__gte=first, day__lte=last, key__in=keys)
        .order_by()
        .values("day")
        .annotate(n=models.Count("key", distinct=True))
        .filter(n=len(keys))
        .values_list("day", flat=True)
    )
    return [
        first + timedelta(days=i)
        for i in range((last - first).days + 1)
        if first + timedelta(days=i) not in complete
    ]
