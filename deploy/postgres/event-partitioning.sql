-- Monthly range partitioning of the dashboard's `event` table (PostgreSQL 12+; tested on 15).
--
-- Converts the table the Alembic migrations created into `event PARTITION BY RANGE (started_at)` with one
-- partition per calendar month (UTC), keeping every row, index, default and reference. Run it once, in a
-- maintenance window (it copies the table), with the ingest workers stopped:
--     psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -1 -f deploy/postgres/event-partitioning.sql
-- As an Alembic revision it is `op.execute(SQL)` guarded by `if op.get_bind().dialect.name == "postgresql"`
-- (SQLite installs stay unpartitioned). Checked by tests/scaleout/test_partitioning.py on a real server.
--
-- What partitioning changes for the application (docs/scale-out.md):
--   * PostgreSQL enforces uniqueness per partition only, so every unique key includes the partition key:
--     the primary key becomes (id, started_at) and the idempotency key (event_id, started_at). started_at
--     is part of every message of an event and never changes, so ingest upserts on (event_id, started_at).
--   * alert_ack, event_attribution and review reference an event by (event_pk, event_started_at).

-- 1. Tables that reference an event carry its partition key.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['alert_ack', 'event_attribution', 'review'] LOOP
        EXECUTE format('ALTER TABLE %I ADD COLUMN event_started_at timestamptz', t);
        EXECUTE format('UPDATE %I r SET event_started_at = e.started_at FROM event e WHERE e.id = r.event_pk', t);
        EXECUTE format('ALTER TABLE %I ALTER COLUMN event_started_at SET NOT NULL', t);
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT fk_%s_event_pk_event', t, t);
    END LOOP;
END $$;

-- 2. The partitioned table, same columns and defaults (the id sequence included).
ALTER TABLE event RENAME TO event_unpartitioned;
ALTER TABLE event_unpartitioned RENAME CONSTRAINT pk_event TO pk_event_unpartitioned;
ALTER TABLE event_unpartitioned RENAME CONSTRAINT uq_event_event_id TO uq_event_unpartitioned_event_id;
ALTER INDEX ix_event_window_started RENAME TO ix_event_unpartitioned_window_started;
ALTER INDEX ix_event_rule_started RENAME TO ix_event_unpartitioned_rule_started;
ALTER INDEX ix_event_started RENAME TO ix_event_unpartitioned_started;

CREATE TABLE event (LIKE event_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (started_at);
ALTER TABLE event ADD CONSTRAINT pk_event PRIMARY KEY (id, started_at);
ALTER TABLE event ADD CONSTRAINT uq_event_event_id UNIQUE (event_id, started_at);
ALTER TABLE event ADD CONSTRAINT fk_event_site_id_site FOREIGN KEY (site_id) REFERENCES site (id);
ALTER TABLE event ADD CONSTRAINT fk_event_device_id_device FOREIGN KEY (device_id) REFERENCES device (id);
ALTER TABLE event ADD CONSTRAINT fk_event_camera_id_camera FOREIGN KEY (camera_id) REFERENCES camera (id);
ALTER TABLE event ADD CONSTRAINT fk_event_window_id_window FOREIGN KEY (window_id) REFERENCES "window" (id);
CREATE INDEX ix_event_window_started ON event (window_id, started_at);
CREATE INDEX ix_event_rule_started ON event (rule, started_at);
CREATE INDEX ix_event_started ON event (started_at);

-- 3. Monthly partitions. Kept in the database: a daily job (pg_cron, or the dashboard's scheduler) calls
--    cw_ensure_event_partitions(now(), 3) so next months' partitions exist before their first event.
CREATE FUNCTION cw_ensure_event_partitions(around timestamptz, months_ahead int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    first_month date := date_trunc('month', around AT TIME ZONE 'UTC')::date;
    m date;
    made int := 0;
BEGIN
    FOR i IN 0..months_ahead LOOP
        m := (first_month + make_interval(months => i))::date;
        IF to_regclass(format('event_%s', to_char(m, 'YYYY_MM'))) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF event FOR VALUES FROM (%L) TO (%L)',
                format('event_%s', to_char(m, 'YYYY_MM')),
                (m::timestamp AT TIME ZONE 'UTC'),
                ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
            made := made + 1;
        END IF;
    END LOOP;
    RETURN made;
END $$;

-- A partition for every month that already has events, and the next three.
SELECT cw_ensure_event_partitions(month, 0)
FROM (SELECT DISTINCT date_trunc('month', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month
      FROM event_unpartitioned) AS months;
SELECT cw_ensure_event_partitions(now(), 3);
-- Catches a row whose month has no partition yet (an edge clock years off): never lose an event.
CREATE TABLE event_default PARTITION OF event DEFAULT;

INSERT INTO event SELECT * FROM event_unpartitioned;
-- The id sequence now belongs to the new table (dropping the old one would drop it otherwise).
DO $$
DECLARE
    seq text := pg_get_serial_sequence('event_unpartitioned', 'id');
BEGIN
    IF seq IS NOT NULL THEN
        EXECUTE format('ALTER SEQUENCE %s OWNED BY event.id', seq);
    END IF;
END $$;
DROP TABLE event_unpartitioned;

-- 4. References back, now on the composite key.
ALTER TABLE alert_ack ADD CONSTRAINT fk_alert_ack_event FOREIGN KEY (event_pk, event_started_at)
    REFERENCES event (id, started_at) ON DELETE CASCADE;
ALTER TABLE event_attribution ADD CONSTRAINT fk_event_attribution_event FOREIGN KEY (event_pk, event_started_at)
    REFERENCES event (id, started_at) ON DELETE CASCADE;
ALTER TABLE review ADD CONSTRAINT fk_review_event FOREIGN KEY (event_pk, event_started_at)
    REFERENCES event (id, started_at) ON DELETE CASCADE;
