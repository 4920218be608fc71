-- A data version every gateway may trust on its own: mp_settled_data_version() returns the highest version below
-- which every writing transaction has ended, so that gateways reading it after LISTEN key their caches alike from
-- start-up on (src/cache/change-listener.ts). Versions are taken by mp_take_data_version(), which 003's trigger
-- and 009's re-zone now call instead of nextval.

-- Versions are taken at the end of a statement and announced at commit, so a transaction that took 7 may still be
-- open when one that took 8 has committed. Each writing transaction therefore shows what it holds in pg_locks,
-- with two transaction-level advisory locks in a key space of its own (the high 16 bits 0x4D50, "MP"):
--   * the shared lock 0x4D50 << 48, taken *before* its first version, so that a reader can see a writer that is
--     about to take one;
--   * the exclusive lock (0x4D50 << 48) + v on its first version v: every later version of the transaction is
--     higher, so the first one bounds them all.
-- Both end with the transaction (or with the savepoint that took them, should it roll back). No writer ever
-- waits for either: the shared lock is shared by all of them and the exclusive one is on a number nobody else
-- holds; readers only look at pg_locks and take no lock at all.

CREATE FUNCTION mp_data_version_lock(version bigint) RETURNS bigint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT (x'4D50'::bigint << 48) + version $$;

-- The next data version for this transaction's write, shown in pg_locks (above) until the transaction ends.
CREATE FUNCTION mp_take_data_version() RETURNS bigint
  LANGUAGE plpgsql
  AS $$
DECLARE
  version bigint;
BEGIN
  -- A setting local to the transaction (and to a savepoint that rolls back, like the locks) says whether its
  -- first version is already shown: one pair of locks per transaction, however many statements it runs.
  IF current_setting('marketpulse.data_version_held', true) = 'on' THEN
    RETURN nextval('data_version_seq');
  END IF;
  PERFORM pg_advisory_xact_lock_shared(mp_data_version_lock(0));
  version := nextval('data_version_seq');
  PERFORM pg_advisory_xact_lock(mp_data_version_lock(version));
  PERFORM set_config('marketpulse.data_version_held', 'on', true);
  RETURN version;
END
$$;

CREATE OR REPLACE FUNCTION mp_announce_change() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  PERFORM pg_notify('marketpulse_data_changed',
                    json_build_object('version', mp_take_data_version(), 'table', TG_TABLE_NAME)::text);
  RETURN NULL;
END
$$;

-- The re-zone (009) takes its version with nextval as well: defined again from its own text with that call
-- replaced, rather than copied here, so that the two cannot drift apart.
DO $$
DECLARE
  definition text := pg_get_functiondef('mp_rezone_rollups(text, interval)'::regprocedure);
BEGIN
  IF position('nextval(''data_version_seq'')' IN definition) = 0 THEN
    RAISE EXCEPTION 'mp_rezone_rollups does not take a data version with nextval any more';
  END IF;
  EXECUTE replace(definition, 'nextval(''data_version_seq'')', 'mp_take_data_version()');
END
$$;

-- `settled`: every transaction that took a version up to it has ended (committed, or rolled back and left a
-- gap); `latest`: the highest version taken so far, read before `settled` was worked out. A session that
-- LISTENs first and then reads these will hear every version above `latest`; versions between the two may have
-- committed unheard. The calling session's own transaction is left out: it sees its own writes.
CREATE FUNCTION mp_settled_data_version(OUT settled bigint, OUT latest bigint)
  LANGUAGE plpgsql VOLATILE
  AS $$
DECLARE
  writing constant bigint := mp_data_version_lock(0);
  unplaced boolean;
  lowest_held bigint;
BEGIN
  -- The sequence first: a writer whose version is at most `latest` took its shared lock before that version,
  -- so it is in pg_locks when they are read below.
  SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO latest FROM data_version_seq;
  LOOP
    SELECT bool_or(first_version IS NULL), min(first_version)
      INTO unplaced, lowest_held
    FROM (
      SELECT min(((held.classid::bigint << 32) | held.objid::bigint) - writing) AS first_version
      FROM pg_locks w
      LEFT JOIN pg_locks held
        ON held.virtualtransaction = w.virtualtransaction AND held.locktype = 'advisory' AND held.objsubid = 1
       AND held.database = w.database AND held.mode = 'ExclusiveLock' AND held.granted
       AND held.classid::bigint >> 16 = writing >> 48
      WHERE w.locktype = 'advisory' AND w.objsubid = 1 AND w.mode = 'ShareLock' AND w.granted
        AND w.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND w.classid::bigint = writing >> 32 AND w.objid::bigint = writing & x'FFFFFFFF'::bigint
        AND w.pid IS DISTINCT FROM pg_backend_pid()
      GROUP BY w.virtualtransaction
    ) writers;
    -- A writer between its shared lock and its version's lock is a few instructions from placing itself.
    EXIT WHEN NOT coalesce(unplaced, false);
    PERFORM pg_sleep(0.001);
  END LOOP;
  settled := least(latest, coalesce(lowest_held - 1, latest));
END
$$;
