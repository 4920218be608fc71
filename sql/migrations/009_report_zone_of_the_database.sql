-- The report time zone belongs to the database, with its rollups: rollup_state records the zone the rollups hold
-- days of, and the database makes it every new session's marketpulse.report_timezone (ALTER DATABASE ... SET), so
-- sessions through a pooler, plain SQL clients included, report in it without setting anything. Read by every
-- view of report days (002, 004) and by the gateway's zone check (src/db/report-zone.ts); changed only by
-- mp_rezone_rollups below (`npm run rollups -- --timezone Zone`), never by a gateway.

-- A session without a report zone is an error, never a silent UTC. Called by mp_report_timezone only when the
-- setting is empty: STABLE, so the planner neither folds it at plan time nor stops inlining its caller.
CREATE FUNCTION mp_no_report_timezone() RETURNS text
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  AS $$
BEGIN
  RAISE EXCEPTION 'this session has no report time zone'
    USING ERRCODE = 'MP002',
          HINT = 'the database sets marketpulse.report_timezone for new sessions (npm run migrate sets it, npm run rollups -- --timezone Zone changes it); this session started before that, or the setting was lost (a restore with pg_dump: run npm run migrate again)';
END
$$;

CREATE OR REPLACE FUNCTION mp_report_timezone() RETURNS text
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT coalesce(nullif(current_setting('marketpulse.report_timezone', true), ''), mp_no_report_timezone()) $$;

CREATE OR REPLACE FUNCTION mp_check_rollup_timezone() RETURNS boolean
  LANGUAGE plpgsql STABLE
  AS $$
DECLARE
  kept text := (SELECT timezone FROM rollup_state);
BEGIN
  IF kept IS DISTINCT FROM mp_report_timezone() THEN
    RAISE EXCEPTION 'rollups hold report days of time zone %, but this session reports in %', kept, mp_report_timezone()
      USING ERRCODE = 'MP001',
            HINT = 'the database reports in the zone of its rollups; a session that started before they were re-zoned keeps the old one until it reconnects, and a gateway must run with REPORT_TIMEZONE set to the database''s zone';
  END IF;
  RETURN true;
END
$$;

-- Report days of single transactions depend on the zone as much as the rollups do: a series' edge buckets
-- (v_sales) must count the same days as its rollup buckets.
CREATE OR REPLACE VIEW v_transactions_local AS
SELECT t.id, t.customer_id, t.product_id, t.quantity, t.amount, t.status, t.transaction_date,
       mp_local_day(t.transaction_date) AS day,
       (t.status = 'completed') AS is_revenue
FROM transactions t
WHERE (SELECT mp_check_rollup_timezone());

-- Fills the rollup tables of schema `target` (empty, as made by mp_rezone_rollups or emptied by mp_rebuild_rollups)
-- from the base tables, for report days in `zone`: plain aggregates over the whole table, in key order.
CREATE FUNCTION mp_fill_rollups(zone text, target name) RETURNS void
  LANGUAGE plpgsql
  AS $$
BEGIN
  PERFORM set_config('work_mem', '256MB', true);
  CREATE TEMP TABLE mp_rebuild_sales ON COMMIT DROP AS
  SELECT customer_id, product_id, quantity, amount, transaction_date, (transaction_date AT TIME ZONE zone)::date AS day
  FROM transactions WHERE status = 'completed';

  EXECUTE format($sql$
    INSERT INTO %I.rollup_daily (day, revenue, completed_count, pending_count, cancelled_count, unique_customers)
    SELECT (transaction_date AT TIME ZONE $1)::date,
           coalesce(sum(amount) FILTER (WHERE status = 'completed'), 0),
           count(*) FILTER (WHERE status = 'completed'),
           count(*) FILTER (WHERE status = 'pending'),
           count(*) FILTER (WHERE status = 'cancelled'),
           count(DISTINCT customer_id) FILTER (WHERE status = 'completed')
    FROM transactions GROUP BY 1 ORDER BY 1$sql$, target) USING zone;

  EXECUTE format($sql$
    INSERT INTO %I.rollup_daily_product (day, product_id, revenue, units, tx_count)
    SELECT day, product_id, sum(amount), sum(quantity), count(*) FROM mp_rebuild_sales GROUP BY 1, 2 ORDER BY 1, 2$sql$, target);

  EXECUTE format($sql$
    INSERT INTO %1$I.rollup_customer_period (granularity, period, customer_id, tx_count)
    SELECT 'month', date_trunc('month', day::timestamp)::date, customer_id, count(*)
    FROM mp_rebuild_sales GROUP BY 2, 3 ORDER BY 2, 3;
    INSERT INTO %1$I.rollup_customer_period (granularity, period, customer_id, tx_count)
    SELECT 'week', date_trunc('week', day::timestamp)::date, customer_id, count(*)
    FROM mp_rebuild_sales GROUP BY 2, 3 ORDER BY 2, 3;
    INSERT INTO %1$I.rollup_period (granularity, period, unique_customers)
    SELECT granularity, period, count(*) FROM %1$I.rollup_customer_period GROUP BY 1, 2 ORDER BY 1, 2$sql$, target);

  EXECUTE format($sql$
    INSERT INTO %I.rollup_customer_product (customer_id, product_id, revenue, units, tx_count)
    SELECT customer_id, product_id, sum(amount), sum(quantity), count(*) FROM mp_rebuild_sales GROUP BY 1, 2 ORDER BY 1, 2$sql$, target);

  EXECUTE format($sql$
    INSERT INTO %I.rollup_customer (customer_id, lifetime_value, tx_count, first_purchase_at, last_purchase_at)
    SELECT c.id, coalesce(s.value, 0), coalesce(s.n, 0), s.first_at, s.last_at
    FROM customers c
    LEFT JOIN (SELECT customer_id, sum(amount) AS value, count(*) AS n, min(transaction_date) AS first_at, max(transaction_date) AS last_at
               FROM mp_rebuild_sales GROUP BY 1) s ON s.customer_id = c.id
    ORDER BY c.id$sql$, target);

  EXECUTE format($sql$
    INSERT INTO %I.rollup_product (product_id, revenue, units, tx_count)
    SELECT p.id, coalesce(s.revenue, 0), coalesce(s.units, 0), coalesce(s.n, 0)
    FROM products p
    LEFT JOIN (SELECT product_id, sum(amount) AS revenue, sum(quantity) AS units, count(*) AS n FROM mp_rebuild_sales GROUP BY 1) s
      ON s.product_id = p.id
    ORDER BY p.id$sql$, target);

  DROP TABLE mp_rebuild_sales;
END
$$;

-- The rollup tables, as they are named in every schema that holds a set of them.
CREATE FUNCTION mp_rollup_tables() RETURNS name[]
  LANGUAGE sql IMMUTABLE
  AS $$ SELECT ARRAY['rollup_daily', 'rollup_daily_product', 'rollup_customer_period', 'rollup_period',
                     'rollup_customer', 'rollup_product', 'rollup_customer_product']::name[] $$;

-- Rebuilds the rollups in place for report days in `zone` (bulk loads that deferred the triggers, TRUNCATE). It
-- empties them first, so readers wait for it: to change the zone under readers use mp_rezone_rollups.
CREATE OR REPLACE FUNCTION mp_rebuild_rollups(zone text) RETURNS void
  LANGUAGE plpgsql
  AS $$
DECLARE
  home name := (SELECT relnamespace::regnamespace::name FROM pg_class WHERE oid = 'rollup_daily'::regclass);
  rollups regclass[] := (SELECT array_agg(format('%I.%I', home, t)::regclass) FROM unnest(mp_rollup_tables()) t);
  definitions text[];
  definition text;
BEGIN
  PERFORM now() AT TIME ZONE zone;  -- an unknown zone fails here, before anything is changed
  PERFORM set_config('maintenance_work_mem', '256MB', true);
  INSERT INTO rollup_state (timezone) VALUES (zone)
  ON CONFLICT (singleton) DO UPDATE SET timezone = excluded.timezone, rebuilt_at = now();
  EXECUTE format('TRUNCATE %s', array_to_string(rollups, ', '));

  -- Loaded without their secondary indexes, which are built once at the end.
  SELECT coalesce(array_agg(pg_get_indexdef(indexrelid)), '{}') INTO definitions
  FROM pg_index WHERE indrelid = ANY (rollups) AND NOT indisprimary;
  FOR definition IN
    SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = ANY (rollups) AND NOT indisprimary
  LOOP
    EXECUTE format('DROP INDEX %s', definition);
  END LOOP;
  PERFORM mp_fill_rollups(zone, home);
  FOREACH definition IN ARRAY definitions LOOP
    EXECUTE definition;
  END LOOP;
  EXECUTE format('ANALYZE %s', array_to_string(rollups, ', '));
END
$$;

-- Makes `zone` the report zone of the database: builds a new set of rollups for it beside the old one, then swaps
-- them in within the same transaction, so readers of the reporting views wait only for the swap (renames and view
-- definitions), not for the build. Writers of the base tables wait for the whole build (their triggers would
-- otherwise reach only the old rollups). Every new session then reports in `zone`; sessions that started before
-- keep the old zone and get MP001 until they reconnect. Run it as the owner of the database and the rollups (the
-- role that migrates). Returns the zone the rollups held before, and how long readers could have waited for the swap.
CREATE FUNCTION mp_rezone_rollups(zone text, swap_lock_timeout interval DEFAULT '200ms',
                                  OUT previous text, OUT exclusive_ms double precision)
  LANGUAGE plpgsql
  AS $$
DECLARE
  home name := (SELECT relnamespace::regnamespace::name FROM pg_class WHERE oid = 'rollup_daily'::regclass);
  staging name := 'mp_rollups_next';
  retired name := 'mp_rollups_retired';
  old_tables regclass[];
  dependents record;
  views text[] := '{}';
  view_names text[] := '{}';
  rollup name;
  index_oid oid;
  constraint_oid oid;
  grant_row record;
  lock_timeout_before text := current_setting('lock_timeout');
  locked_at timestamptz;
BEGIN
  PERFORM now() AT TIME ZONE zone;  -- an unknown zone fails here, before anything is changed
  previous := (SELECT timezone FROM rollup_state);
  PERFORM set_config('maintenance_work_mem', '256MB', true);
  LOCK TABLE transactions, customers, products IN SHARE MODE;

  EXECUTE format('CREATE SCHEMA %I', staging);
  FOREACH rollup IN ARRAY mp_rollup_tables() LOOP
    EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)',
                   staging, rollup, home, rollup);
  END LOOP;
  PERFORM mp_fill_rollups(zone, staging);

  -- The same keys and indexes, under the same names (names are per schema, so they do not clash until the swap
  -- moves the old ones out), built once the rows are in.
  SELECT array_agg(format('%I.%I', home, t)::regclass) INTO old_tables FROM unnest(mp_rollup_tables()) t;
  FOR constraint_oid IN SELECT oid FROM pg_constraint WHERE conrelid = ANY (old_tables) AND contype IN ('p', 'u') LOOP
    EXECUTE (SELECT format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', staging, c.relname, k.conname, pg_get_constraintdef(k.oid))
             FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid WHERE k.oid = constraint_oid);
  END LOOP;
  FOR index_oid IN
    SELECT i.indexrelid FROM pg_index i
    WHERE i.indrelid = ANY (old_tables) AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
  LOOP
    EXECUTE (SELECT replace(pg_get_indexdef(index_oid), format(' ON %I.%I ', home, c.relname), format(' ON %I.%I ', staging, c.relname))
             FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE i.indexrelid = index_oid);
  END LOOP;
  FOREACH rollup IN ARRAY mp_rollup_tables() LOOP
    EXECUTE format('ANALYZE %I.%I', staging, rollup);
    -- Readers go through the views, which keep their own grants; grants on the tables themselves move too.
    FOR grant_row IN
      SELECT a.privilege_type, a.grantee FROM pg_class c, aclexplode(c.relacl) a
      WHERE c.oid = format('%I.%I', home, rollup)::regclass AND a.grantee <> c.relowner
    LOOP
      EXECUTE format('GRANT %s ON %I.%I TO %s', grant_row.privilege_type, staging, rollup,
                     CASE WHEN grant_row.grantee = 0 THEN 'PUBLIC' ELSE grant_row.grantee::regrole::text END);
    END LOOP;
  END LOOP;

  -- Views are bound to tables, not names: every view over the old tables is defined again over the new ones, from
  -- its own definition read before the old tables move away.
  FOR dependents IN
    SELECT DISTINCT v.oid::regclass AS view_name, pg_get_viewdef(v.oid) AS definition
    FROM pg_depend d
    JOIN pg_rewrite r ON r.oid = d.objid
    JOIN pg_class v ON v.oid = r.ev_class
    WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
      AND d.refobjid = ANY (old_tables) AND v.oid <> ALL (old_tables)
  LOOP
    views := views || format('CREATE OR REPLACE VIEW %s AS %s', dependents.view_name, dependents.definition);
    view_names := view_names || dependents.view_name::text;
  END LOOP;

  -- The swap. Readers lock a view, then its tables; the views are locked first here too (which locks the tables
  -- they read), so that neither waits for the other in a cycle. A reader holding one keeps the request waiting,
  -- and readers arriving after it queue behind the request: so it waits at most swap_lock_timeout at a time
  -- (less than deadlock_timeout, so that a waiting reader never gets a deadlock error), letting the queue drain
  -- between attempts.
  LOOP
    BEGIN
      PERFORM set_config('lock_timeout', (extract(epoch FROM swap_lock_timeout) * 1000)::bigint::text, true);
      EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', array_to_string(view_names || old_tables::text[], ', '));
      PERFORM set_config('lock_timeout', lock_timeout_before, true);
      locked_at := clock_timestamp();
      EXIT;
    EXCEPTION WHEN lock_not_available THEN
      PERFORM pg_sleep(0.05);
    END;
  END LOOP;

  EXECUTE format('CREATE SCHEMA %I', retired);
  FOREACH rollup IN ARRAY mp_rollup_tables() LOOP
    EXECUTE format('ALTER TABLE %I.%I SET SCHEMA %I', home, rollup, retired);
    EXECUTE format('ALTER TABLE %I.%I SET SCHEMA %I', staging, rollup, home);
  END LOOP;
  FOR i IN 1 .. coalesce(array_length(views, 1), 0) LOOP
    EXECUTE views[i];
  END LOOP;
  -- Without CASCADE: anything still depending on an old table stops the re-zone instead of being dropped with it.
  FOREACH rollup IN ARRAY mp_rollup_tables() LOOP
    EXECUTE format('DROP TABLE %I.%I', retired, rollup);
  END LOOP;
  EXECUTE format('DROP SCHEMA %I', retired);
  EXECUTE format('DROP SCHEMA %I', staging);

  INSERT INTO rollup_state (timezone) VALUES (zone)
  ON CONFLICT (singleton) DO UPDATE SET timezone = excluded.timezone, rebuilt_at = now();
  EXECUTE format('ALTER DATABASE %I SET marketpulse.report_timezone = %L', current_database(), zone);
  PERFORM set_config('marketpulse.report_timezone', zone, false);
  -- Every cached answer was computed in the old zone; gateways also learn the new zone from this announcement.
  PERFORM pg_notify('marketpulse_data_changed',
                    json_build_object('version', nextval('data_version_seq'), 'table', 'rollup_state', 'zone', zone)::text);
  exclusive_ms := extract(epoch FROM clock_timestamp() - locked_at) * 1000;
END
$$;

-- The database's report zone: that of its rollups, and the one its new sessions get; both null before any is set.
CREATE FUNCTION mp_database_report_zone(OUT rollups text, OUT sessions text)
  LANGUAGE sql STABLE
  AS $$
SELECT (SELECT timezone FROM rollup_state),
       (SELECT substr(setting, length('marketpulse.report_timezone=') + 1)
        FROM pg_db_role_setting s, unnest(s.setconfig) AS setting
        WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) AND s.setrole = 0
          AND setting LIKE 'marketpulse.report\_timezone=%')
$$;

-- Where the database's sessions lost the setting (a restore from a dump of its tables), gives it back from the
-- rollups; changes nothing otherwise. `npm run migrate` calls it on every run. Returns the database's zone.
CREATE FUNCTION mp_restore_session_report_zone(OUT rollups text, OUT sessions text)
  LANGUAGE plpgsql
  AS $$
BEGIN
  SELECT z.rollups, z.sessions INTO rollups, sessions FROM mp_database_report_zone() z;
  IF sessions IS NULL AND rollups IS NOT NULL THEN
    EXECUTE format('ALTER DATABASE %I SET marketpulse.report_timezone = %L', current_database(), rollups);
    sessions := rollups;
  END IF;
  -- This session reports in it too, so that what runs after it (later migrations) may read report days.
  IF sessions IS NOT NULL THEN
    PERFORM set_config('marketpulse.report_timezone', sessions, false);
  END IF;
END
$$;

-- A database migrated before this file kept the zone in its rollups and in each gateway's sessions: the rollups'
-- zone becomes the database's, so nothing is rebuilt.
SELECT mp_restore_session_report_zone();
