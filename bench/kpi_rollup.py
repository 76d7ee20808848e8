"""The KPI rollup of one clinic-year against hand-written SQL over the same rows.

    .venv/bin/python bench/kpi_rollup.py [--year 2025] [--visits 60000] [--movements 300000]
        [--runs 3] [--skip-per-day] [--database NAME]

It uses the clinic-year of `bench/generate_clinic_year.py` (made on the first run, reused
after) in its own database, and registers, the way the apps' kpis.py will, the metrics that
exist today: scheduling's no-show rate, template utilization and TNAA, and supplies' supply
cost per visit and stockout rate. It then times, best of --runs:

1. hand-written SQL: one GROUP BY local day per metric over the year (no-show rate, supply cost
   per visit, stockout rate: the metrics that are plain aggregates);
2. the engine rolling up the year (`rollup_clinic_days` in 31-day chunks, in 92-day chunks,
   and in one call as `backfill_kpis` does by default) with *range* versions of those three metrics
   (`Metric.compute_range`, one GROUP BY per chunk: supplies' own from supplies/kpis.py,
   the no-show rate's written below with the engine's `by_local_day`), target at most 2x
   (1). 1 and 2 alternate run by run, so that load from elsewhere on the machine falls on
   both alike;
3. the engine rolling up the year with the three metrics exactly as the apps register them
   today, and with per-day functions only (one run; --skip-per-day leaves it out), and
   template utilization and TNAA per clinic-day;
4. one night's increment: yesterday plus the 7-day trailing window, every metric registered,
   in one task as the dispatcher sends it (target under 2 s), and as 8 one-day tasks;
5. reading 12 weeks of every metric (one query), and a median over 12 weeks two ways: SQL
   percentile_cont over unnested values, and pandas over the fetched arrays.

Every day's parts from every path are checked equal to the hand-written SQL's. It exits
non-zero when a check fails or a target is missed.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generate_clinic_year import add_arguments, all_days, ensure_clinic_year, setup_django

CHUNK_DAYS = 366  # backfill_kpis --chunk-days default
TRAILING_DAYS = 7
RATIO_TARGET = 2.0
NIGHT_TARGET_S = 2.0
MIN_METRIC_S = 0.3
Parts = dict[str, dict[date, tuple[Decimal, Decimal]]]

# The stockout rate has no separate floor: the metric is already one set-based statement over the
# ledger (supplies.kpis.STOCKOUT_SQL), which `floor_rows` runs bare, so its ratio measures only
# the rollup's own overhead around that statement.

# The SQL floor of the metrics that are not plain aggregates: template utilization (booked
# minutes by day; bookable minutes of the template in effect, net of closures and time off,
# time off assumed not to overlap itself) and the two patient-flow medians (their raw values
# by day, from the visits' effective step events).
# Overtime's rule in force per day and work week, and each workday's bounds: the first
# CTEs of both overtime floors below.
_OVERTIME_WORKDAYS_CTES = """
        WITH days AS (
            SELECT d::date AS day, d::date - ((extract(isodow FROM d)::int - 1
                   - coalesce(r.week_start_day, 6) + 7) %% 7) AS week
            FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') d
            LEFT JOIN LATERAL (
                SELECT week_start_day FROM workforce_overtimerule o
                WHERE o.clinic_id = %(clinic)s AND o.effective_from <= d::date
                ORDER BY o.effective_from DESC LIMIT 1) r ON true),
        weeks AS (
            SELECT w.week, coalesce(r.week_start_hour, 0) AS hour,
                   coalesce(r.weekly_minutes, 2400) * 60 AS weekly,
                   coalesce(r.daily_minutes * 60, 1000000000000) AS daily,
                   coalesce(r.double_minutes * 60, 1000000000000) AS dbl
            FROM (SELECT DISTINCT week FROM days) w
            LEFT JOIN LATERAL (
                SELECT * FROM workforce_overtimerule o
                WHERE o.clinic_id = %(clinic)s AND o.effective_from <= w.week
                ORDER BY o.effective_from DESC LIMIT 1) r ON true),
        workdays AS (
            SELECT weeks.*, i,
                   (weeks.week + i + make_interval(hours => hour)) AT TIME ZONE %(tz)s AS ws,
                   (weeks.week + i + 1 + make_interval(hours => hour)) AT TIME ZONE %(tz)s AS we
            FROM weeks CROSS JOIN generate_series(0, 6) i),
        """


FLOOR_SQL = {
    "template_utilization": """
        WITH days AS (
            SELECT d::date AS day FROM generate_series(%(first)s::date, %(last)s::date,
                                                       interval '1 day') d
            WHERE NOT EXISTS (SELECT 1 FROM scheduling_clinicclosure c
                              WHERE c.clinic_id = %(clinic)s AND c.day = d::date)),
        effective AS (
            SELECT DISTINCT ON (t.provider_id, days.day) days.day, t.id, t.provider_id
            FROM days JOIN scheduling_scheduletemplate t ON t.clinic_id = %(clinic)s
             AND t.effective_from <= days.day
             AND (t.effective_to IS NULL OR t.effective_to >= days.day)
            ORDER BY t.provider_id, days.day, t.effective_from DESC),
        blocks AS (
            SELECT e.day, e.provider_id,
                   (e.day + b.start_time) AT TIME ZONE %(tz)s AS s,
                   (e.day + b.end_time) AT TIME ZONE %(tz)s AS f
            FROM effective e JOIN scheduling_templateblock b ON b.template_id = e.id
             AND b.weekday = extract(isodow FROM e.day) - 1 AND b.kind <> 'admin'),
        bookable AS (
            SELECT day, sum(floor(extract(epoch FROM f - s) / 60) - coalesce((
                SELECT sum(floor(extract(epoch FROM least(o."end", f) - greatest(o.start, s))
                                 / 60))
                FROM scheduling_providertimeoff o
                WHERE o.provider_id = blocks.provider_id AND o.start < f AND o."end" > s), 0))
                AS minutes
            FROM blocks GROUP BY day),
        booked AS (
            SELECT (a.start AT TIME ZONE %(tz)s)::date AS day,
                   sum(floor(extract(epoch FROM a."end" - a.start) / 60)) AS minutes
            FROM scheduling_appointment a
            WHERE a.clinic_id = %(clinic)s AND a.status <> 'cancelled'
              AND a.start >= %(start)s AND a.start < %(end)s GROUP BY 1)
        SELECT day, coalesce(booked.minutes, 0), coalesce(bookable.minutes, 0)
        FROM booked FULL JOIN bookable USING (day)""",
    "door_to_provider_min": """
        WITH steps AS (
            SELECT v.id, v.checked_in_at,
                   min(e.at) FILTER (WHERE e.to_step = 'with_provider') AS seen
            FROM patientflow_visit v
            JOIN patientflow_visitevent e ON e.visit_id = v.id AND e.kind = 'advance'
            WHERE v.clinic_id = %(clinic)s
              AND v.checked_in_at >= %(start)s AND v.checked_in_at < %(end)s
              AND NOT EXISTS (SELECT 1 FROM patientflow_visitevent u WHERE u.undoes_id = e.id)
            GROUP BY v.id)
        SELECT (checked_in_at AT TIME ZONE %(tz)s)::date,
               array_agg(round(extract(epoch FROM seen - checked_in_at) / 60, 2)), count(*)
        FROM steps WHERE seen IS NOT NULL GROUP BY 1""",
    "cycle_time_min": """
        WITH steps AS (
            SELECT v.id, v.checked_in_at, v.is_walk_in, a.start,
                   min(e.at) FILTER (WHERE e.to_step = 'checked_out') AS out
            FROM patientflow_visit v
            JOIN scheduling_appointment a ON a.id = v.appointment_id
            JOIN patientflow_visitevent e ON e.visit_id = v.id AND e.kind = 'advance'
            WHERE v.clinic_id = %(clinic)s
              AND v.checked_in_at >= %(start)s AND v.checked_in_at < %(end)s
              AND NOT EXISTS (SELECT 1 FROM patientflow_visitevent u WHERE u.undoes_id = e.id)
            GROUP BY v.id, a.start)
        SELECT (checked_in_at AT TIME ZONE %(tz)s)::date,
               array_agg(greatest(0, round(extract(epoch FROM out - CASE WHEN NOT is_walk_in
                   AND start > checked_in_at THEN start ELSE checked_in_at END) / 60, 2))),
               count(*)
        FROM steps WHERE out IS NOT NULL GROUP BY 1""",
}

# The SQL floors of the metrics registered since (issue 11's open part): workforce, revenue and
# compliance, each one statement over the rows bench/generate_clinic_year.py adds.
FLOOR_SQL |= {
    "clean_claim_rate": """
        SELECT (first_scrubbed_at AT TIME ZONE %(tz)s)::date,
               count(*) FILTER (WHERE first_pass_clean), count(*)
        FROM revenue_claim
        WHERE clinic_id = %(clinic)s
          AND first_scrubbed_at >= %(start)s AND first_scrubbed_at < %(end)s
        GROUP BY 1""",
    "initial_denial_rate": """
        SELECT (first_remitted_at AT TIME ZONE %(tz)s)::date,
               count(*) FILTER (WHERE first_remit_denied), count(*)
        FROM revenue_claim
        WHERE clinic_id = %(clinic)s
          AND first_remitted_at >= %(start)s AND first_remitted_at < %(end)s
        GROUP BY 1""",
    "incident_closure_days": """
        SELECT (closed_at AT TIME ZONE %(tz)s)::date,
               array_agg((closed_at AT TIME ZONE %(tz)s)::date
                         - (reported_at AT TIME ZONE %(tz)s)::date),
               count(*)
        FROM compliance_incident
        WHERE clinic_id = %(clinic)s AND status = 'closed'
          AND closed_at >= %(start)s AND closed_at < %(end)s
        GROUP BY 1""",
    # the cohort of each date of service: its payments and contractual adjustments, whenever
    "net_collection_rate": """
        WITH cohort AS (
            SELECT id, service_date, total_charge FROM revenue_claim
            WHERE clinic_id = %(clinic)s AND submitted_at IS NOT NULL
              AND service_date BETWEEN %(first)s AND %(last)s),
        charges AS (SELECT service_date, sum(total_charge) AS charge FROM cohort GROUP BY 1),
        money AS (
            SELECT c.service_date,
                   sum(e.amount) FILTER (WHERE e.kind IN ('payment', 'patient_payment')) AS paid,
                   sum(e.amount) FILTER (WHERE e.kind = 'contractual') AS contractual
            FROM cohort c JOIN revenue_ledgerentry e ON e.claim_id = c.id GROUP BY 1)
        SELECT service_date, coalesce(paid, 0), charge - coalesce(contractual, 0)
        FROM charges LEFT JOIN money USING (service_date)""",
    # each amount's change to A/R and to the 90-day net charges, by the day it takes effect,
    # summed day by day (days before the range collapse into the day before it)
    "days_in_ar": """
        WITH c AS (
            SELECT id, total_charge, service_date, (submitted_at AT TIME ZONE %(tz)s)::date AS sub
            FROM revenue_claim WHERE clinic_id = %(clinic)s AND submitted_at < %(end)s),
        e AS (
            SELECT c.service_date, e.kind, e.amount,
                   greatest((e.posted_at AT TIME ZONE %(tz)s)::date, c.sub) AS since
            FROM revenue_ledgerentry e JOIN c ON c.id = e.claim_id
            WHERE e.posted_at < %(end)s
              AND e.kind IN ('payment', 'contractual', 'other', 'write_off', 'patient_payment')),
        deltas (day, ar, net) AS (
            SELECT sub, total_charge, 0 FROM c
            UNION ALL SELECT since, -amount, 0 FROM e
            UNION ALL SELECT greatest(sub, service_date), 0, total_charge
                      FROM c WHERE sub < service_date + 90
            UNION ALL SELECT service_date + 90, 0, -total_charge
                      FROM c WHERE sub < service_date + 90
            UNION ALL SELECT greatest(since, service_date), 0, -amount
                      FROM e WHERE kind = 'contractual' AND since < service_date + 90
            UNION ALL SELECT service_date + 90, 0, amount
                      FROM e WHERE kind = 'contractual' AND since < service_date + 90),
        daily AS (
            SELECT greatest(day, %(first)s::date - 1) AS day, sum(ar) AS ar, sum(net) AS net
            FROM deltas WHERE day <= %(last)s GROUP BY 1),
        running AS (
            SELECT g::date AS day, sum(coalesce(daily.ar, 0)) OVER w AS ar,
                   sum(coalesce(daily.net, 0)) OVER w AS net
            FROM generate_series(%(first)s::date - 1, %(last)s::date, interval '1 day') g
            LEFT JOIN daily ON daily.day = g::date
            WINDOW w AS (ORDER BY g))
        SELECT day, 90 * ar, net FROM running WHERE day >= %(first)s""",
    # required pairs: active contracts here x active types one of the person's roles needs
    "credential_currency": """
        WITH pairs AS (
            SELECT sc.staff_id, t.id AS type_id
            FROM workforce_staffcontract sc
            JOIN core_staff_clinics m ON m.staff_id = sc.staff_id AND m.clinic_id = %(clinic)s
            JOIN workforce_credentialtype t ON t.is_active AND cardinality(t.required_for) > 0
             AND t.required_for && (sc.also_covers || sc.role)
            WHERE sc.is_active)
        SELECT d::date,
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM workforce_credential c
                   WHERE c.staff_id = p.staff_id AND c.type_id = p.type_id
                     AND c.issued_on <= d::date
                     AND (c.expires_on IS NULL OR c.expires_on >= d::date))),
               count(*)
        FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') d
        CROSS JOIN pairs p GROUP BY 1""",
    # required people per role and local hour (max of the fixed minimums and the sum of the
    # ratios: providers in session, patients booked to start in the hour), against the
    # qualified people on a shift of the published week through the whole hour. (Time off is
    # assumed not to overlap itself: an hour is off when one time off covers its session part.)
    "shift_fill_rate": """
        WITH days AS (
            SELECT d::date AS day
            FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') d),
        bands AS (
            SELECT day, b AS s, b + interval '1 hour' AS f, b AT TIME ZONE %(tz)s AS local
            FROM days CROSS JOIN LATERAL generate_series(
                day::timestamp AT TIME ZONE %(tz)s,
                (day + 1)::timestamp AT TIME ZONE %(tz)s - interval '1 hour',
                interval '1 hour') b),
        effective AS (
            SELECT DISTINCT ON (t.provider_id, days.day) days.day, t.id, t.provider_id
            FROM days JOIN scheduling_scheduletemplate t ON t.clinic_id = %(clinic)s
             AND t.effective_from <= days.day
             AND (t.effective_to IS NULL OR t.effective_to >= days.day)
            ORDER BY t.provider_id, days.day, t.effective_from DESC),
        sessions AS (
            SELECT e.day, e.provider_id,
                   (e.day + b.start_time) AT TIME ZONE %(tz)s AS s,
                   (e.day + b.end_time) AT TIME ZONE %(tz)s AS f
            FROM effective e JOIN scheduling_templateblock b ON b.template_id = e.id
             AND b.weekday = extract(isodow FROM e.day) - 1
             AND b.kind IN ('regular', 'same_day_hold')),
        providers AS (
            SELECT bands.s, count(DISTINCT x.provider_id) AS n
            FROM bands JOIN sessions x ON x.day = bands.day AND x.s < bands.f AND x.f > bands.s
            WHERE NOT EXISTS (
                SELECT 1 FROM scheduling_providertimeoff o
                WHERE o.provider_id = x.provider_id
                  AND o.start <= greatest(x.s, bands.s) AND o."end" >= least(x.f, bands.f))
            GROUP BY 1),
        booked AS (
            SELECT date_trunc('hour', a.start AT TIME ZONE %(tz)s) AS hour, count(*) AS n
            FROM scheduling_appointment a
            WHERE a.clinic_id = %(clinic)s
              AND a.status IN ('booked', 'confirmed', 'arrived', 'completed')
              AND a.start >= %(start)s AND a.start < %(end)s
            GROUP BY 1),
        need AS (
            SELECT bands.day, bands.s, bands.f, r.role, greatest(
                coalesce(max(r.count) FILTER (WHERE r.kind = 'fixed'), 0),
                coalesce(sum(CASE
                    WHEN r.kind = 'per_provider' THEN r.count * coalesce(p.n, 0)
                    WHEN r.kind = 'per_patients' AND r.patients_per_person > 0
                    THEN ceil(coalesce(booked.n, 0)::numeric / r.patients_per_person)
                    END), 0)) AS n
            FROM bands
            JOIN workforce_coveragerule r ON r.clinic_id = %(clinic)s AND r.is_active
             AND (extract(isodow FROM bands.day) - 1)::int = ANY (r.weekdays)
             AND bands.local::time >= r.start_time AND bands.local::time < r.end_time
            LEFT JOIN providers p ON p.s = bands.s
            LEFT JOIN booked ON booked.hour = bands.local
            GROUP BY 1, 2, 3, 4),
        qualified AS (
            SELECT sc.staff_id, unnest(sc.also_covers || sc.role) AS role
            FROM workforce_staffcontract sc
            JOIN core_staff_clinics m ON m.staff_id = sc.staff_id AND m.clinic_id = %(clinic)s
            WHERE sc.is_active),
        have AS (
            SELECT n.s, n.role, count(*) AS n
            FROM need n
            JOIN workforce_rosterweek w ON w.clinic_id = %(clinic)s AND w.version > 0
             AND w.week_start = n.day - (extract(isodow FROM n.day)::int - 1)
            JOIN workforce_assignment a ON a.week_id = w.id AND a.day = n.day
             AND a.role = n.role AND a.start <= n.s AND a."end" >= n.f
            WHERE n.n > 0
              AND EXISTS (SELECT 1 FROM qualified q
                          WHERE q.staff_id = a.staff_id AND q.role = a.role)
            GROUP BY 1, 2)
        SELECT n.day, sum(least(n.n, coalesce(h.n, 0))), sum(n.n)
        FROM need n LEFT JOIN have h USING (s, role)
        WHERE n.n > 0 GROUP BY 1""",
    # the time clock as the metric runs it, per work week's punches (a day either side; a
    # correction in them removes what it replaces): being on shift depends only on the last
    # clock-in or clock-out (a clock-in is taken only when out, a clock-out only when on
    # shift), a break punch is taken only on shift and by the last break punch of that shift;
    # worked time runs from each clock-in or break end taken to the next punch taken (a shift
    # still open up to now while under 16 h). Then cut at the rule's workdays; per workday the
    # time past the daily and double thresholds, the rest chronologically against the weekly
    # one, for the people with a punch at the clinic from a day before the workday to a day
    # after it. Overtime + double = worked - regular.
    "overtime_pct": _OVERTIME_WORKDAYS_CTES  # noqa: S608 (constants only)
    + """windows AS (
            SELECT week, min(ws) - interval '1 day' AS lo, max(we) + interval '1 day' AS hi
            FROM workdays GROUP BY week),
        staff AS (
            SELECT DISTINCT q.staff_id FROM workforce_punch q
            WHERE q.clinic_id = %(clinic)s AND q.at >= (SELECT min(lo) FROM windows)
              AND q.at < (SELECT max(hi) FROM windows)),
        eff AS (
            SELECT w.week, p.id, p.staff_id, p.clinic_id, p.kind, p.at
            FROM windows w JOIN workforce_punch p ON p.at >= w.lo AND p.at < w.hi
            JOIN staff USING (staff_id)
            WHERE p.kind <> 'void'
              AND NOT EXISTS (SELECT 1 FROM workforce_punch r WHERE r.replaces_id = p.id
                              AND r.at >= w.lo AND r.at < w.hi)),
        io AS (
            SELECT *, lag(kind) OVER (PARTITION BY week, staff_id, kind IN ('in', 'out')
                                      ORDER BY at, id) AS prev_io
            FROM eff),
        shifts AS (
            SELECT *, sum((kind = 'in' AND prev_io IS DISTINCT FROM 'in')::int) OVER w AS shift_no,
                   sum((kind = 'out' AND prev_io = 'in')::int) OVER w AS outs,
                   row_number() OVER w AS rn
            FROM io WINDOW w AS (PARTITION BY week, staff_id ORDER BY at, id
                                 ROWS UNBOUNDED PRECEDING)),
        states AS (
            SELECT *, max(CASE WHEN kind IN ('break_start', 'break_end') AND shift_no > outs
                               THEN rn * 2 + (kind = 'break_start')::int END)
                          OVER (PARTITION BY week, staff_id, shift_no ORDER BY at, id
                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS last_break,
                   first_value(clinic_id) OVER s AS shift_clinic,
                   first_value(at) OVER s AS shift_at
            FROM shifts WINDOW s AS (PARTITION BY week, staff_id, shift_no ORDER BY at, id)),
        taken AS (
            SELECT *, lead(at) OVER (PARTITION BY week, staff_id ORDER BY at, id) AS next_at
            FROM states
            WHERE CASE kind WHEN 'in' THEN prev_io IS DISTINCT FROM 'in'
                            WHEN 'out' THEN prev_io = 'in'
                            WHEN 'break_start' THEN shift_no > outs
                                                    AND coalesce(last_break %% 2, 0) = 0
                            ELSE shift_no > outs AND last_break %% 2 = 1 END),
        segments AS (
            SELECT week, id, staff_id, shift_clinic AS clinic_id, at AS s,
                   coalesce(next_at, CASE WHEN now() - shift_at < interval '16 hours'
                                          THEN now() END) AS f
            FROM taken WHERE kind IN ('in', 'break_end')),
        pieces AS (
            SELECT g.id, g.staff_id, g.clinic_id, w.week, w.i, w.daily, w.dbl, w.weekly,
                   greatest(g.s, w.ws) AS ps,
                   floor(extract(epoch FROM least(g.f, w.we) - greatest(g.s, w.ws)))::bigint
                       AS len
            FROM segments g JOIN workdays w ON w.week = g.week AND g.s < w.we AND g.f > w.ws),
        daily AS (
            SELECT *, sum(len) OVER (PARTITION BY staff_id, week, i ORDER BY ps, id
                                     ROWS UNBOUNDED PRECEDING) - len AS d0
            FROM pieces),
        split AS (
            SELECT *, greatest(0, least(d0 + len, least(daily, dbl)) - d0) AS under
            FROM daily),
        weekly AS (
            SELECT *, sum(under) OVER (PARTITION BY staff_id, week ORDER BY ps, id
                                       ROWS UNBOUNDED PRECEDING) - under AS wr0
            FROM split),
        person_days AS (
            SELECT week, i, staff_id, sum(len) AS worked,
                   sum(len - greatest(0, least(wr0 + under, weekly) - wr0)) AS over
            FROM weekly WHERE clinic_id = %(clinic)s GROUP BY 1, 2, 3)
        SELECT days.day, sum(pd.over), sum(pd.worked)
        FROM person_days pd
        JOIN days ON days.week = pd.week AND days.day = pd.week + pd.i
        JOIN workdays w ON w.week = pd.week AND w.i = pd.i
        WHERE EXISTS (SELECT 1 FROM workforce_punch q
                      WHERE q.staff_id = pd.staff_id AND q.clinic_id = %(clinic)s
                        AND q.at >= w.ws - interval '1 day' AND q.at < w.we + interval '1 day')
        GROUP BY 1""",
}

# The two medians again, as a DBA would write them now that the visit keeps its own times
# (`with_provider_at`, kept by the database from the event log; `checked_out_at`): the floor
# the range functions could at best reach. Printed beside the table, no target.
VISIT_TIMES_FLOOR_SQL = {
    "door_to_provider_min": """
        SELECT (checked_in_at AT TIME ZONE %(tz)s)::date,
               array_agg(round(extract(epoch FROM with_provider_at - checked_in_at) / 60, 2))
        FROM patientflow_visit
        WHERE clinic_id = %(clinic)s AND checked_in_at >= %(start)s AND checked_in_at < %(end)s
          AND with_provider_at IS NOT NULL
        GROUP BY 1""",
    "cycle_time_min": """
        SELECT (v.checked_in_at AT TIME ZONE %(tz)s)::date,
               array_agg(greatest(0, round(extract(epoch FROM v.checked_out_at - CASE
                   WHEN NOT v.is_walk_in AND a.start > v.checked_in_at THEN a.start
                   ELSE v.checked_in_at END) / 60, 2)))
        FROM patientflow_visit v JOIN scheduling_appointment a ON a.id = v.appointment_id
        WHERE v.clinic_id = %(clinic)s
          AND v.checked_in_at >= %(start)s AND v.checked_in_at < %(end)s
          AND v.checked_out_at IS NOT NULL
        GROUP BY 1""",
}

# Overtime's earlier floor: effective punches paired in order (a clock-in or break end to the
# next break start or clock-out), right only when no punch was refused and no shift is open
# (the bench's punches are so); printed beside the table, no target.
WELL_FORMED_FLOOR_SQL = {
    "overtime_pct": _OVERTIME_WORKDAYS_CTES  # noqa: S608 (constants only)
    + """span AS (SELECT min(ws) - interval '2 days' AS lo, max(we) + interval '2 days' AS hi
                 FROM workdays),
        staff AS (
            SELECT DISTINCT q.staff_id FROM workforce_punch q, span
            WHERE q.clinic_id = %(clinic)s AND q.at >= span.lo AND q.at < span.hi),
        eff AS (
            SELECT p.id, p.staff_id, p.clinic_id, p.kind, p.at
            FROM workforce_punch p JOIN staff USING (staff_id), span
            WHERE p.at >= span.lo AND p.at < span.hi AND p.kind <> 'void'
              AND NOT EXISTS (SELECT 1 FROM workforce_punch r WHERE r.replaces_id = p.id)),
        seq AS (
            SELECT *, lead(kind) OVER w AS next_kind, lead(at) OVER w AS next_at
            FROM eff WINDOW w AS (PARTITION BY staff_id ORDER BY at, id)),
        segments AS (
            SELECT id, staff_id, clinic_id, at AS s, next_at AS f FROM seq
            WHERE kind IN ('in', 'break_end') AND next_kind IN ('break_start', 'out')),
        pieces AS (
            SELECT g.id, g.staff_id, g.clinic_id, w.week, w.i, w.daily, w.dbl, w.weekly,
                   greatest(g.s, w.ws) AS ps,
                   floor(extract(epoch FROM least(g.f, w.we) - greatest(g.s, w.ws)))::bigint
                       AS len
            FROM segments g
            CROSS JOIN LATERAL generate_series((g.s AT TIME ZONE %(tz)s)::date - 1,
                                               (g.f AT TIME ZONE %(tz)s)::date,
                                               interval '1 day') c
            JOIN workdays w ON w.week + w.i = c::date AND g.s < w.we AND g.f > w.ws),
        daily AS (
            SELECT *, sum(len) OVER (PARTITION BY staff_id, week, i ORDER BY ps, id
                                     ROWS UNBOUNDED PRECEDING) - len AS d0
            FROM pieces),
        split AS (
            SELECT *, greatest(0, least(d0 + len, least(daily, dbl)) - d0) AS under
            FROM daily),
        weekly AS (
            SELECT *, sum(under) OVER (PARTITION BY staff_id, week ORDER BY ps, id
                                       ROWS UNBOUNDED PRECEDING) - under AS wr0
            FROM split)
        SELECT days.day, sum(len - greatest(0, least(wr0 + under, weekly) - wr0)), sum(len)
        FROM weekly JOIN days ON days.week = weekly.week AND days.day = weekly.week + weekly.i
        WHERE weekly.clinic_id = %(clinic)s
        GROUP BY 1""",
}

HAND_SQL = {
    "no_show_rate": """
        SELECT (a.start AT TIME ZONE %(tz)s)::date AS day,
               count(*) FILTER (WHERE a.status = 'no_show'),
               count(*) FILTER (WHERE a.status <> 'cancelled'
                                OR (a.late_cancel AND a.cancel_reason <> 'rescheduled'))
        FROM scheduling_appointment a
        WHERE a.clinic_id = %(clinic)s AND a.start >= %(start)s AND a.start < %(end)s
        GROUP BY 1""",
    "supply_cost_per_visit": """
        WITH cost AS (
            SELECT (m.occurred_at AT TIME ZONE %(tz)s)::date AS day,
                   sum(-m.quantity * m.unit_cost) AS cost
            FROM supplies_stockmovement m
            JOIN supplies_locationitem li ON li.id = m.location_item_id
            JOIN supplies_stocklocation l ON l.id = li.location_id
            WHERE l.clinic_id = %(clinic)s AND m.kind IN ('use', 'return')
              AND m.occurred_at >= %(start)s AND m.occurred_at < %(end)s
            GROUP BY 1),
        visits AS (
            SELECT (a.start AT TIME ZONE %(tz)s)::date AS day, count(*) AS visits
            FROM scheduling_appointment a
            WHERE a.clinic_id = %(clinic)s AND a.status = 'completed'
              AND a.start >= %(start)s AND a.start < %(end)s
            GROUP BY 1)
        SELECT day, round(coalesce(cost, 0), 4), coalesce(visits, 0)
        FROM cost FULL JOIN visits USING (day)""",
}


def hand_sql(clinic: Any, first: date, last: date) -> Parts:
    """{metric: {day: (numerator, denominator)}} straight from SQL, as a DBA would write it."""
    from django.db import connection

    from clinicops.kpis.registry import day_bounds

    params = {
        "tz": clinic.time_zone,
        "clinic": clinic.pk,
        "start": day_bounds(clinic, first)[0],
        "end": day_bounds(clinic, last)[1],
        "first": first,
        "last": last,
    }
    result: Parts = {}
    with connection.cursor() as cursor:
        for key, sql in HAND_SQL.items():
            cursor.execute(sql, params)
            result[key] = {day: (Decimal(n), Decimal(d)) for day, n, d in cursor.fetchall()}
        # the stockout rate: its floor is the metric's own statement (see above)
        from supplies.kpis import STOCKOUT_SQL

        cursor.execute(STOCKOUT_SQL, params)
        result["stockout_rate"] = {day: (Decimal(n), Decimal(d)) for day, n, d in cursor.fetchall()}
    return result


# The range version of scheduling's no-show rate: the same definition as scheduling/kpis.py,
# one GROUP BY per range. Supplies ships its range functions in supplies/kpis.py (registered
# with `compute_range=`); scheduling does not yet, so this one belongs in scheduling/kpis.py.


def no_show_rate_range(clinic: Any, first: date, last: date) -> dict[date, tuple[int, int]]:
    from django.db.models import Count, Q

    from clinicops.kpis.registry import by_local_day
    from scheduling.models import Appointment

    status = Appointment.Status
    counted = ~Q(status=status.CANCELLED) | (
        Q(status=status.CANCELLED, late_cancel=True)
        & ~Q(cancel_reason=Appointment.CancelReason.RESCHEDULED)
    )
    rows = by_local_day(
        Appointment.objects.filter(clinic=clinic),
        "start",
        clinic=clinic,
        first=first,
        last=last,
        n=Count("pk", filter=Q(status=status.NO_SHOW)),
        d=Count("pk", filter=counted),
    )
    return {day: (row["n"], row["d"]) for day, row in rows.items()}


def _params(clinic: Any, first: date, last: date) -> dict[str, Any]:
    from clinicops.kpis.registry import day_bounds

    return {
        "tz": clinic.time_zone,
        "clinic": clinic.pk,
        "start": day_bounds(clinic, first)[0],
        "end": day_bounds(clinic, last)[1],
        "first": first,
        "last": last,
    }


# TNAA as of each morning, as a DBA would write it: every regular slot of the horizon into an
# indexed temporary table, what held a slot (with when it started and stopped holding it) into
# another, then per measurement day, provider and type the third open slot by an index scan
# that stops at it. (Rooms are left out: the bench's types need none.)
TNAA_SQL = [
    """
    CREATE TEMPORARY TABLE floor_held ON COMMIT DROP AS
    WITH ev AS (
        SELECT e.appointment_id, min(e.at) AS first_at,
               min(e.at) FILTER (WHERE e.to_status IN ('cancelled', 'no_show')) AS freed_at
        FROM scheduling_appointmentevent e
        JOIN scheduling_appointment a ON a.id = e.appointment_id
        WHERE a.clinic_id = %(clinic)s GROUP BY 1)
    SELECT a.provider_id, a.start, a."end", LEAST(a.created_at, ev.first_at) AS held_from,
           CASE WHEN ev.freed_at IS NOT NULL THEN ev.freed_at
                WHEN a.status = 'cancelled' THEN coalesce(a.cancelled_at, a.created_at)
                WHEN a.status = 'no_show' THEN a."end"
                ELSE 'infinity' END AS held_until
    FROM scheduling_appointment a LEFT JOIN ev ON ev.appointment_id = a.id
    WHERE a.provider_id IN (SELECT provider_id FROM scheduling_scheduletemplate
                            WHERE clinic_id = %(clinic)s)
      AND a."end" > %(start)s AND a.start < %(horizon_end)s
    """,
    "CREATE INDEX ON floor_held (provider_id, start)",
    """
    CREATE TEMPORARY TABLE floor_slots ON COMMIT DROP AS
    SELECT t.id AS template_id, t.provider_id, t.created_at, t.effective_from,
           ty.id AS type_id, d::date AS day, s AS slot_start,
           s + ty.duration_minutes * interval '1 minute' AS slot_end
    FROM generate_series(%(first)s::date, %(horizon_last)s::date, interval '1 day') d
    JOIN scheduling_scheduletemplate t ON t.clinic_id = %(clinic)s
     AND t.effective_from <= d::date AND (t.effective_to IS NULL OR t.effective_to >= d::date)
    JOIN scheduling_templateblock b ON b.template_id = t.id AND b.kind = 'regular'
     AND b.weekday = extract(isodow FROM d) - 1
    JOIN scheduling_appointmenttype ty ON ty.clinic_id = %(clinic)s AND ty.is_active
     AND (NOT EXISTS (SELECT 1 FROM scheduling_templateblock_appointment_types bt
                      WHERE bt.templateblock_id = b.id)
          OR EXISTS (SELECT 1 FROM scheduling_templateblock_appointment_types bt
                     WHERE bt.templateblock_id = b.id AND bt.appointmenttype_id = ty.id))
    CROSS JOIN LATERAL generate_series(
        (d::date + b.start_time) AT TIME ZONE %(tz)s,
        (d::date + b.end_time) AT TIME ZONE %(tz)s - ty.duration_minutes * interval '1 minute',
        b.slot_minutes * interval '1 minute') s
    WHERE NOT EXISTS (SELECT 1 FROM scheduling_clinicclosure c
                      WHERE c.clinic_id = %(clinic)s AND c.day = d::date)
    """,
    "CREATE INDEX ON floor_slots (provider_id, type_id, slot_start)",
    "ANALYZE floor_slots",
    "ANALYZE floor_held",
    """
    WITH measured AS (
        SELECT m::date AS day, (m::date + %(measure_time)s::time) AT TIME ZONE %(tz)s AS at
        FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') m),
    pairs AS (  -- who is measured: the template in effect that day, as it stood, and its types
        SELECT DISTINCT m.day, m.at, t.provider_id, ty.id AS type_id
        FROM measured m
        JOIN scheduling_scheduletemplate t ON t.clinic_id = %(clinic)s AND t.created_at <= m.at
         AND t.effective_from <= m.day AND (t.effective_to IS NULL OR t.effective_to >= m.day)
         AND NOT EXISTS (SELECT 1 FROM scheduling_scheduletemplate n
                         WHERE n.clinic_id = t.clinic_id AND n.provider_id = t.provider_id
                           AND n.created_at <= m.at AND n.effective_from > t.effective_from
                           AND n.effective_from <= m.day
                           AND (n.effective_to IS NULL OR n.effective_to >= m.day))
        JOIN scheduling_templateblock b ON b.template_id = t.id AND b.kind = 'regular'
        JOIN scheduling_appointmenttype ty ON ty.clinic_id = %(clinic)s AND ty.is_active
         AND (NOT EXISTS (SELECT 1 FROM scheduling_templateblock_appointment_types bt
                          WHERE bt.templateblock_id = b.id)
              OR EXISTS (SELECT 1 FROM scheduling_templateblock_appointment_types bt
                         WHERE bt.templateblock_id = b.id AND bt.appointmenttype_id = ty.id)))
    SELECT p.day, p.provider_id, coalesce(third.day - p.day, %(horizon)s)
    FROM pairs p
    LEFT JOIN LATERAL (
        SELECT s.day FROM floor_slots s
        WHERE s.provider_id = p.provider_id AND s.type_id = p.type_id
          AND s.slot_start >= p.at AND s.day < p.day + %(horizon)s
          AND s.created_at <= p.at
          AND NOT EXISTS (SELECT 1 FROM scheduling_scheduletemplate n
                          WHERE n.clinic_id = %(clinic)s AND n.provider_id = s.provider_id
                            AND n.created_at <= p.at AND n.effective_from > s.effective_from
                            AND n.effective_from <= s.day
                            AND (n.effective_to IS NULL OR n.effective_to >= s.day))
          AND NOT EXISTS (SELECT 1 FROM floor_held h
                          WHERE h.provider_id = s.provider_id AND h.start < s.slot_end
                            AND h.start >= s.slot_start - interval '12 hours'
                            AND h."end" > s.slot_start
                            AND h.held_from <= p.at AND h.held_until > p.at)
          AND NOT EXISTS (SELECT 1 FROM scheduling_providertimeoff o
                          WHERE o.provider_id = s.provider_id AND o.created_at <= p.at
                            AND o.start < s.slot_end AND o."end" > s.slot_start)
        ORDER BY s.slot_start OFFSET 2 LIMIT 1) third ON true
    """,
]


def _tnaa_params(clinic: Any, first: date, last: date) -> dict[str, Any]:
    from clinicops.kpis.models import KpiSettings
    from clinicops.kpis.registry import day_bounds
    from scheduling.availability import DEFAULT_HORIZON_DAYS

    horizon_last = last + timedelta(days=DEFAULT_HORIZON_DAYS)
    return _params(clinic, first, last) | {
        "horizon": DEFAULT_HORIZON_DAYS,
        "horizon_last": horizon_last,
        "horizon_end": day_bounds(clinic, horizon_last)[1],
        "measure_time": KpiSettings.measure_time_of(clinic),
    }


def tnaa_floor(clinic: Any, first: date, last: date) -> list[tuple[Any, ...]]:
    """(day, provider, days) for each provider and type measured each day, by TNAA_SQL."""
    from django.db import connection, transaction

    params = _tnaa_params(clinic, first, last)
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in TNAA_SQL:
            cursor.execute(statement, params)
        return cursor.fetchall()


def visit_times_floor(key: str, clinic: Any, first: date, last: date) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            (VISIT_TIMES_FLOOR_SQL | WELL_FORMED_FLOOR_SQL)[key], _params(clinic, first, last)
        )
        return cursor.fetchall()


def _floor_sql(key: str) -> str | None:
    """The metric's one-statement floor (TNAA's is `TNAA_SQL`; None: no floor written)."""
    from supplies.kpis import STOCKOUT_SQL

    return STOCKOUT_SQL if key == "stockout_rate" else HAND_SQL.get(key) or FLOOR_SQL.get(key)


def floor_rows(key: str, clinic: Any, first: date, last: date) -> list[tuple[Any, ...]] | None:
    """The metric's per-day parts from its hand-written SQL (None: it has no SQL floor)."""
    from django.db import connection

    if key == "tnaa_days":
        return tnaa_floor(clinic, first, last)
    sql = _floor_sql(key)
    if sql is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute(sql, _params(clinic, first, last))
        return cursor.fetchall()


# The floor that also stores: the hand-written SQL's rows written the way a DBA's nightly job
# would, in one INSERT ... SELECT of every day of the range (a row for a day with no data too,
# as the engine writes) into a copy of the rollup table (same columns, indexes and
# constraints), upserted and committed. The compute-only floor above measures a query; this one
# measures a rollup, which is what the engine is: it pays for writing 365 rows and the commit's
# flush as the engine does. `floor_rows`'s statement is wrapped as the subquery `f`.
FLOOR_TABLE = "bench_floor_metricday"
_FLOOR_STORE = """
    INSERT INTO bench_floor_metricday
        (clinic_id, key, day, numerator, denominator, "values", groups, computed_at)
    SELECT %(clinic)s, %(key)s, g.day::date, {numerator}, {denominator}, {values}, {groups}, now()
    FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') g(day)
    LEFT JOIN ({rows}) f(day, a, b) ON f.day = g.day::date
    ON CONFLICT (clinic_id, key, day) DO UPDATE SET
        numerator = EXCLUDED.numerator, denominator = EXCLUDED.denominator,
        "values" = EXCLUDED."values", groups = EXCLUDED.groups,
        computed_at = EXCLUDED.computed_at
"""
_STORE_SHAPES = {
    # (day, numerator, denominator)
    "ratio": {
        "numerator": "coalesce(f.a, 0)",
        "denominator": "coalesce(f.b, 0)",
        "values": "'{}'::float8[]",
        "groups": "'{}'::bigint[]",
    },
    # (day, values[], count): the sum of the values and their count, as the engine's parts
    "median": {
        "numerator": "coalesce((SELECT sum(x) FROM unnest(f.a) x), 0)",
        "denominator": "coalesce(f.b, 0)",
        "values": "coalesce(f.a::float8[], '{}')",
        "groups": "'{}'::bigint[]",
    },
    # TNAA's (day, provider, days) rows gathered per day: values by group
    "grouped": {
        "numerator": "coalesce((SELECT sum(x) FROM unnest(f.a) x), 0)",
        "denominator": "coalesce(cardinality(f.a), 0)",
        "values": "coalesce(f.a::float8[], '{}')",
        "groups": "coalesce(f.b::bigint[], '{}')",
    },
}

# TNAA's floor rows, (day, provider, days), as each day's values by group
_TNAA_BY_DAY = """
    SELECT day, array_agg(days ORDER BY provider), array_agg(provider ORDER BY provider)
    FROM ({}) t(day, provider, days) GROUP BY day
"""


def ensure_floor_table() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT to_regclass('{FLOOR_TABLE}')")
        if cursor.fetchone()[0] is None:  # the constraint too: the engine's commit checks it
            cursor.execute(f"CREATE TABLE {FLOOR_TABLE} (LIKE kpis_metricday INCLUDING ALL)")
            cursor.execute(
                f"ALTER TABLE {FLOOR_TABLE} ADD FOREIGN KEY (clinic_id) REFERENCES core_clinic (id)"
                " DEFERRABLE INITIALLY DEFERRED"
            )


def clear_floor_table(clinic: Any) -> None:
    """As `clear_rollup`, for the floor's copy of the table."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {FLOOR_TABLE} WHERE clinic_id = %s", [clinic.pk])  # noqa: S608
        cursor.execute(f"VACUUM {FLOOR_TABLE}")


def floor_store(key: str, clinic: Any, first: date, last: date) -> int | None:
    """The metric's year by its hand-written SQL, stored: rows written (None: no SQL floor)."""
    from django.db import connection, transaction

    from clinicops.kpis import registry
    from clinicops.kpis.registry import Kind

    params = _params(clinic, first, last) | {"key": key}
    before: list[str] = []
    if key == "tnaa_days":
        params = _tnaa_params(clinic, first, last) | {"key": key}
        *before, last_statement = TNAA_SQL
        rows = _TNAA_BY_DAY.format(last_statement)
        shape = "grouped"
    else:
        found = _floor_sql(key)
        if found is None:
            return None
        rows = found
        shape = "median" if registry.get(key).kind == Kind.MEDIAN else "ratio"
    statement = _FLOOR_STORE.format(rows=rows, **_STORE_SHAPES[shape])
    # One statement commits on its own; TNAA's temporary tables need a transaction around it.
    with transaction.atomic() if before else nullcontext(), connection.cursor() as cursor:
        for sql in before:
            cursor.execute(sql, params)
        cursor.execute(statement, params)
        return cursor.rowcount


def per_metric(clinic: Any, days: list[date], runs: int) -> tuple[list[tuple[Any, ...]], list[str]]:
    """Each registered metric alone: its year's rollup (the engine, in chunks as
    `backfill_kpis` runs it) against its SQL floor, interleaved run by run; and whether the
    stored parts equal the floor's."""
    from clinicops.kpis import registry
    from clinicops.kpis.models import MetricDay

    first, last = days[0], days[-1]
    table, failures = [], []
    for metric in registry.all_metrics():
        rollup_s, floor_s, store_s, times_s = [], [], [], []
        with registry.swapped([metric]):
            # A metric that rolls up its year in milliseconds is timed more often (up to
            # MIN_METRIC_S of rollups, at most 25 runs): its best of 3 on a busy machine was
            # one scheduler delay more or less, on either side of the ratio.
            clear_rollup(clinic)
            once = best_of(1, lambda: roll_year(clinic, days))
            repeat = min(25, max(runs, math.ceil(MIN_METRIC_S / max(once, 1e-6))))
            for _ in range(repeat):
                if floor_rows(metric.key, clinic, first, last) is not None:
                    floor_s.append(
                        best_of(1, lambda m=metric: floor_rows(m.key, clinic, first, last))
                    )
                    clear_floor_table(clinic)
                    store_s.append(
                        best_of(1, lambda m=metric: floor_store(m.key, clinic, first, last))
                    )
                if metric.key in VISIT_TIMES_FLOOR_SQL or metric.key in WELL_FORMED_FLOOR_SQL:
                    times_s.append(
                        best_of(1, lambda m=metric: visit_times_floor(m.key, clinic, first, last))
                    )
                clear_rollup(clinic)
                rollup_s.append(best_of(1, lambda: roll_year(clinic, days)))
        rows = floor_rows(metric.key, clinic, first, last)
        if rows is not None:
            stored = {
                day: (n, d, sorted(v))
                for day, n, d, v in MetricDay.objects.filter(
                    clinic=clinic, key=metric.key, denominator__gt=0
                ).values_list("day", "numerator", "denominator", "values")
            }
            if metric.key == "tnaa_days":  # (day, provider, days) rows: values and groups
                by_day: dict[date, list[tuple[int, float]]] = {}
                for day, provider, days_to in rows:
                    by_day.setdefault(day, []).append((provider, float(days_to)))
                found = {day: sorted(pairs) for day, pairs in by_day.items()}
                agree = found == {
                    day: sorted(zip(g, v, strict=True))
                    for day, g, v in MetricDay.objects.filter(
                        clinic=clinic, key=metric.key, denominator__gt=0
                    ).values_list("day", "groups", "values")
                }
            elif isinstance(rows[0][1] if rows else 0, list):  # a median: the raw values
                found = {day: sorted(float(x) for x in v) for day, v, _ in rows}
                agree = found == {day: v for day, (_, _, v) in stored.items()}
            else:
                found = {day: (Decimal(n), Decimal(d)) for day, n, d in rows if d}
                agree = found == {day: (n, d) for day, (n, d, _) in stored.items()}
            if not agree:
                failures.append(f"{metric.key}: the rollup's parts differ from its SQL floor's")
        if store_s:
            written = floor_store(metric.key, clinic, first, last)
            if (
                written != len(days)
                or written != MetricDay.objects.filter(clinic=clinic, key=metric.key).count()
            ):
                failures.append(f"{metric.key}: the storing floor wrote {written} rows")
        best_rollup = min(rollup_s)
        best_floor = min(floor_s) if floor_s else None
        best_store = min(store_s) if store_s else None
        ratio = best_rollup / best_store if best_store else None
        table.append(
            (
                metric.key,
                best_rollup,
                best_floor,
                best_store,
                ratio,
                min(times_s) if times_s else None,
            )
        )
        if ratio is not None and ratio > RATIO_TARGET:
            failures.append(f"{metric.key}: {ratio:.2f}x its SQL floor that stores")
    clear_rollup(clinic)
    clear_floor_table(clinic)
    return table, failures


def app_metrics(*, ranged: bool, extra: bool) -> list[Any]:
    """The metrics as the apps would register them; `ranged` adds the range versions,
    `extra` adds template utilization and TNAA (per-day only)."""
    from clinicops.kpis.registry import Kind, Metric, Unit
    from scheduling import kpis as scheduling_kpis
    from supplies import kpis as supplies_kpis

    def rng(fn: Callable[..., Any]) -> Callable[..., Any] | None:
        return fn if ranged else None

    metrics = [
        Metric(
            key="no_show_rate",
            label="No-show rate",
            unit=Unit.PERCENT,
            default_target=7,
            compute=scheduling_kpis.no_show_rate_parts,
            compute_range=rng(no_show_rate_range),
        ),
        Metric(
            key="supply_cost_per_visit",
            label="Supply cost per visit",
            unit=Unit.CURRENCY,
            compute=supplies_kpis.supply_cost_per_visit_parts,
            compute_range=rng(supplies_kpis.supply_cost_per_visit_range),
        ),
        Metric(
            key="stockout_rate",
            label="Stockout rate",
            unit=Unit.PERCENT,
            default_target=2,
            compute=supplies_kpis.stockout_rate_parts,
            compute_range=rng(supplies_kpis.stockout_rate_range),
        ),
    ]
    if extra:
        metrics += [
            Metric(
                key="template_utilization",
                label="Template utilization",
                unit=Unit.PERCENT,
                target_band=(80, 85),
                compute=scheduling_kpis.template_utilization_parts,
            ),
            Metric(
                key="tnaa_days",
                label="Third next available appointment",
                unit=Unit.DAYS,
                kind=Kind.MEAN_OF_MEANS,
                default_target=7,
                point_in_time=True,
                compute=scheduling_kpis.tnaa_days_values,
            ),
        ]
    return metrics


def clear_rollup(clinic: Any) -> None:
    """Delete the clinic's rows and vacuum the table: every timed rollup starts from the same
    state. Without the vacuum each run inserted past the dead versions of every earlier run's
    rows (a year's 365 inserts read 30,000 index buffers after a few dozen runs), so the runs
    timed later in a session paid for the benchmark's own garbage."""
    from django.db import connection

    from clinicops.kpis.models import MetricDay

    MetricDay.objects.filter(clinic=clinic).delete()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM kpis_metricday")


def roll_year(clinic: Any, days: list[date], chunk: int = CHUNK_DAYS) -> None:
    from clinicops.kpis import services

    for start in range(0, len(days), chunk):
        services.rollup_clinic_days(clinic=clinic, days=days[start : start + chunk])


def stored_parts(clinic: Any, keys: list[str]) -> Parts:
    from clinicops.kpis.models import MetricDay

    result: Parts = {key: {} for key in keys}
    for key, day, n, d in MetricDay.objects.filter(clinic=clinic, key__in=keys).values_list(
        "key", "day", "numerator", "denominator"
    ):
        if d or n:  # a no-data day is stored as 0/0; SQL simply has no group for it
            result[key][day] = (n, d)
    return result


def mismatches(expected: Parts, found: Parts) -> list[str]:
    problems = []
    for key, days in expected.items():
        want = {day: parts for day, parts in days.items() if any(parts)}
        got = found.get(key, {})
        for day in sorted(want.keys() | got.keys()):
            if want.get(day) != got.get(day):
                problems.append(f"{key} {day}: SQL {want.get(day)} engine {got.get(day)}")
    return problems


def best_of(runs: int, work: Callable[[], Any], before: Callable[[], Any] | None = None) -> float:
    timings = []
    for _ in range(runs):
        if before:
            before()
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def median_two_ways(clinic: Any, last_day: date, runs: int) -> tuple[float, float, bool]:
    """A synthetic median metric over 12 weeks: SQL percentile_cont vs pandas; and agreement."""
    import random

    import pandas as pd
    from django.utils import timezone

    from clinicops.kpis import registry, selectors
    from clinicops.kpis.models import MetricDay
    from clinicops.kpis.registry import Kind, Metric, Unit

    metric = Metric(
        key="bench_wait_min",
        label="Bench wait",
        unit=Unit.MINUTES,
        kind=Kind.MEDIAN,
        compute=lambda c, d: [],
    )
    rng = random.Random(7)
    first = selectors.week_start(last_day) - timedelta(weeks=11)
    days = [first + timedelta(days=i) for i in range(84)]
    MetricDay.objects.filter(clinic=clinic, key=metric.key).delete()
    MetricDay.objects.bulk_create(
        MetricDay(
            clinic=clinic,
            key=metric.key,
            day=day,
            values=[round(rng.lognormvariate(3, 0.5), 1) for _ in range(230)],
            denominator=230,
            computed_at=timezone.now(),
        )
        for day in days
    )

    def in_sql() -> dict[date, Decimal | None]:
        series = selectors.weekly_series(clinic=clinic, keys=[metric.key], week_of=last_day)
        return {w.week_start: w.value for w in series[metric.key]}

    def in_pandas() -> dict[date, float]:
        rows = MetricDay.objects.filter(
            clinic=clinic, key=metric.key, day__gte=first, day__lte=days[-1]
        ).values_list("day", "values")
        frame = pd.DataFrame(list(rows), columns=["day", "values"]).explode("values")
        frame["values"] = frame["values"].astype(float)
        frame["week"] = frame["day"].map(selectors.week_start)
        return frame.groupby("week")["values"].median().to_dict()

    with registry.swapped([metric]):
        sql_s = best_of(runs, in_sql)
        pandas_s = best_of(runs, in_pandas)
        from_sql, from_pandas = in_sql(), in_pandas()
    agree = len(from_pandas) == 12 and all(
        from_sql.get(week) is not None and abs(float(from_sql[week]) - value) < 1e-9
        for week, value in from_pandas.items()
    )
    if not agree:
        print("medians: SQL", from_sql, "pandas", from_pandas)
    MetricDay.objects.filter(clinic=clinic, key=metric.key).delete()
    return sql_s, pandas_s, agree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--skip-per-day", action="store_true", help="skip the slow per-day year")
    parser.add_argument(
        "--per-metric-only", action="store_true", help="only the per-metric ratios table"
    )
    parser.add_argument("--night-only", action="store_true", help="only one night's increment")
    args = parser.parse_args()
    setup_django(args.database)

    from django.db import connection

    from clinicops.core.models import Clinic
    from clinicops.kpis import registry, selectors

    made = ensure_clinic_year(
        year=args.year, visits=args.visits, movements=args.movements, fresh=args.fresh
    )
    clinic = Clinic.objects.get(pk=made.clinic_id)
    days = all_days(args.year)
    first, last = days[0], days[-1]
    aggregate_keys = [*HAND_SQL, "stockout_rate"]
    failures: list[str] = []
    rows: list[tuple[str, str, str]] = []

    if args.night_only:
        failures = night_rows(clinic, last, args.runs, rows)
        for what, took, compared in rows:
            print(f"| {what} | {took} | {compared} |")
        for failure in failures:
            print(f"FAILED: {failure}")
        return 1 if failures else 0

    # 0. every registered metric, alone: its year's rollup against its SQL floor
    ensure_floor_table()
    metric_table, metric_failures = per_metric(clinic, days, max(1, min(args.runs, 3)))
    failures += metric_failures
    if args.per_metric_only:
        print_per_metric(metric_table)
        for failure in failures:
            print(f"FAILED: {failure}")
        return 1 if failures else 0

    # 1 and 2, interleaved run by run so that load from elsewhere on the machine hits both
    hand_sql(clinic, first, last)  # warm the cache
    expected = hand_sql(clinic, first, last)
    chunks = (31, 92, CHUNK_DAYS)
    timings: dict[str, list[float]] = {"sql": [], **{str(c): [] for c in chunks}}
    engine_cpu: list[float] = []
    with registry.swapped(app_metrics(ranged=True, extra=False)):
        for _ in range(args.runs):
            timings["sql"].append(best_of(1, lambda: hand_sql(clinic, first, last)))
            for chunk in chunks:
                clear_rollup(clinic)
                cpu = time.process_time()
                timings[str(chunk)].append(best_of(1, lambda c=chunk: roll_year(clinic, days, c)))
                if chunk == CHUNK_DAYS:
                    engine_cpu.append(time.process_time() - cpu)
        problems = mismatches(expected, stored_parts(clinic, aggregate_keys))
    sql_s = min(timings["sql"])
    ratio = min(timings[str(CHUNK_DAYS)]) / sql_s
    rows.append(
        (
            "hand-written SQL, 3 aggregates, one statement each",
            f"{sql_s:.3f} s",
            f"median of runs {statistics.median(timings['sql']):.3f} s",
        )
    )
    for chunk in chunks:
        took = min(timings[str(chunk)])
        how = "the year in one transaction" if chunk > 365 else f"{chunk}-day chunks"
        target = (
            f" (target <= {RATIO_TARGET:.0f}x; backfill_kpis default; Python CPU "
            f"{min(engine_cpu):.2f} s)"
            if chunk == CHUNK_DAYS
            else ""
        )
        median = statistics.median(timings[str(chunk)]) / statistics.median(timings["sql"])
        rows.append(
            (
                f"engine, same 3 metrics with range functions, {how}",
                f"{took:.3f} s",
                f"{took / sql_s:.2f}x SQL best to best, {median:.2f}x median to median{target}",
            )
        )
    if problems:
        failures.append(f"range functions disagree with SQL ({len(problems)}): {problems[:3]}")
    if ratio > RATIO_TARGET:
        failures.append(f"the engine took {ratio:.2f}x the hand-written SQL")

    # 3a. the engine with the metrics exactly as the apps register them today
    shipped = [registry.get(key) for key in aggregate_keys if registry.is_registered(key)]
    with registry.swapped(shipped):
        shipped_s = []
        for _ in range(max(1, min(args.runs, 3))):
            clear_rollup(clinic)
            shipped_s.append(best_of(1, lambda: roll_year(clinic, days)))
        problems = mismatches(
            {k: v for k, v in expected.items() if registry.is_registered(k)},
            stored_parts(clinic, [m.key for m in shipped]),
        )
    ranged_keys = [m.key for m in shipped if m.compute_range is not None]
    rows.append(
        (
            f"engine, the {len(shipped)} metrics as registered today (range functions: "
            f"{', '.join(ranged_keys) or 'none'})",
            f"{min(shipped_s):.3f} s",
            f"{min(shipped_s) / sql_s:.2f}x SQL best to best",
        )
    )
    if problems:
        failures.append(f"registered metrics disagree with SQL: {problems[:3]}")

    # 3b. the engine with the apps' per-day functions only
    if not args.skip_per_day:
        with registry.swapped(app_metrics(ranged=False, extra=False)):
            clear_rollup(clinic)
            started = time.perf_counter()
            roll_year(clinic, days)
            per_day_s = time.perf_counter() - started
            problems = mismatches(expected, stored_parts(clinic, aggregate_keys))
        rows.append(
            (
                "engine, same 3 metrics with per-day functions only",
                f"{per_day_s:.3f} s",
                f"{per_day_s / sql_s:.1f}x SQL; {per_day_s / len(days) * 1000:.1f} ms/day",
            )
        )
        if problems:
            failures.append(f"per-day functions disagree with SQL: {problems[:3]}")
    for metric in app_metrics(ranged=False, extra=True)[3:]:
        sample = days[100:103]
        started = time.perf_counter()
        for day in sample:
            metric.parts(clinic, day)
        each = (time.perf_counter() - started) / len(sample)
        rows.append(
            (
                f"{metric.label}, per-day function (no SQL aggregate to compare)",
                f"{each * 1000:.0f} ms/clinic-day",
                f"{each * len(days):.1f} s for the year",
            )
        )

    # 4. one night's increment
    failures += night_rows(clinic, last, args.runs, rows)

    # 5. reads
    with registry.swapped(app_metrics(ranged=True, extra=False)):
        roll_year(clinic, days)
        keys = aggregate_keys

        def twelve_weeks() -> None:
            selectors.weekly_series(clinic=clinic, keys=keys, week_of=last)

        read_s = best_of(max(args.runs, 5), twelve_weeks)
        series = selectors.weekly_series(clinic=clinic, keys=keys, week_of=last)
    for key in keys:
        for point in series[key]:
            n = sum(expected[key].get(d, (0, 0))[0] for d in _week(point.week_start))
            d = sum(expected[key].get(d, (0, 0))[1] for d in _week(point.week_start))
            scale = 100 if key != "supply_cost_per_visit" else 1
            want = None if not d else Decimal(n) / Decimal(d) * scale
            if point.value != want:
                failures.append(f"{key} week of {point.week_start}: {point.value} != {want}")
    rows.append(
        ("12 weeks x 3 metrics from the rollup (one query)", f"{read_s * 1000:.1f} ms", "-")
    )
    sql_median_s, pandas_median_s, agree = median_two_ways(clinic, last, max(args.runs, 5))
    rows.append(
        (
            "12 weekly medians of 230 values/day: SQL percentile_cont",
            f"{sql_median_s * 1000:.1f} ms",
            f"pandas over fetched arrays: {pandas_median_s * 1000:.1f} ms; agree: {agree}",
        )
    )
    if not agree:
        failures.append("SQL and pandas medians disagree")

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(" on ")[0]
    print()
    print(
        f"KPI rollup, one clinic-year ({args.year}): {made.appointments:,} appointments, "
        f"{made.movements:,} stock movements; "
        f"{version}; best of {args.runs}"
    )
    print()
    print("| what | time | compared |")
    print("|---|--:|---|")
    for what, took, compared in rows:
        print(f"| {what} | {took} | {compared} |")
    print_per_metric(metric_table)
    if failures:
        print("FAILED:")
        for failure in failures:
            print(f"- {failure}")
        return 1
    print("Every day's parts and every week's figure match the hand-written SQL.")
    return 0


def night_rows(clinic: Any, last: date, runs: int, rows: list[tuple[str, str, str]]) -> list[str]:
    """One night's increment; appends its rows to `rows`, returns the failures."""
    from clinicops.kpis import registry, services

    failures: list[str] = []
    # yesterday and the 7-day trailing window, every registered
    # metric, as the dispatcher sends it (one task for the 8 days) and, for comparison, as
    # it did before (8 one-day tasks, one after the other; no target)
    yesterday = last
    night = [yesterday - timedelta(days=i) for i in range(TRAILING_DAYS + 1)]
    registered = registry.all_metrics()

    def one_task() -> None:
        services.rollup_clinic_days(clinic=clinic, days=night)

    def eight_tasks() -> None:
        for day in night:
            services.rollup_clinic_day(clinic_id=clinic.pk, day=day)

    def nights_before() -> None:
        # the nights before measured TNAA for their own days; tonight measures yesterday
        clear_rollup(clinic)
        services.rollup_clinic_days(clinic=clinic, days=night[1:])

    for label, work, target in (
        ("in one task, as dispatched", one_task, True),
        ("as 8 one-day tasks (before)", eight_tasks, False),
    ):
        night_s = best_of(max(1, min(runs, 3)), work, before=nights_before)
        rows.append(
            (
                f"one night: yesterday + {TRAILING_DAYS} trailing days, all "
                f"{len(registered)} registered metrics, {label}",
                f"{night_s:.3f} s",
                f"target < {NIGHT_TARGET_S:.0f} s" if target else "-",
            )
        )
        if target and night_s >= NIGHT_TARGET_S:
            failures.append(f"one night's increment ({label}) took {night_s:.2f} s")
    clear_rollup(clinic)

    return failures


def print_per_metric(table: list[tuple[Any, ...]]) -> None:
    print()
    print(
        f"Every registered metric, one clinic-year, rollup ({CHUNK_DAYS}-day chunks) "
        "vs its SQL floor:"
    )
    print()
    print(
        "| metric | rollup s | SQL floor s (compute) | x compute | SQL floor s (compute + store) "
        f"| x compute + store (target <= {RATIO_TARGET:.0f}) |"
    )
    print("|---|--:|--:|--:|--:|--:|")
    for key, rollup_s, floor_s, store_s, ratio, _ in table:
        floor = f"{floor_s:.4f}" if floor_s is not None else "none written"
        compute = f"{rollup_s / floor_s:.2f}x" if floor_s else "-"
        store = f"{store_s:.4f}" if store_s is not None else "-"
        shown = f"{ratio:.2f}x" if ratio is not None else "-"
        print(f"| {key} | {rollup_s:.4f} | {floor} | {compute} | {store} | {shown} |")
    print()
    for key, rollup_s, _, _, _, times_s in table:
        if times_s:
            what = (
                "the earlier floor for well-formed punches only"
                if key in WELL_FORMED_FLOOR_SQL
                else "a floor over the visit's own times"
            )
            print(f"{key}: against {what} (no target): {times_s:.3f} s, {rollup_s / times_s:.2f}x")
    print()


def _week(monday: date) -> list[date]:
    return [monday + timedelta(days=i) for i in range(7)]


if __name__ == "__main__":
    sys.exit(main())
