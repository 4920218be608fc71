-- Keeps every transaction_date from 1900-01-01 (included) to 9000-01-01 (excluded) in UTC: instants the API can
-- report as a Date and a DateTime in any report zone and a year earlier, which the reporting views and the
-- gateway's scalars rely on. The feed (src/ingest/transaction-row.ts) refuses other dates row by row with the
-- same bounds; this holds every other writer (plain SQL, other tools) to them.
--
-- A database that already holds such dates is not changed: the migration stops and names them, since only an
-- operator can say what their true date is (a year 10000 was never meant, and re-sending the id cannot fix it).
DO $$
DECLARE
  outside bigint;
  first_ten text;
BEGIN
  SELECT count(*) INTO outside FROM transactions
  WHERE transaction_date < '1900-01-01T00:00:00Z' OR transaction_date >= '9000-01-01T00:00:00Z';
  IF outside > 0 THEN
    SELECT string_agg(id::text || ' (' || transaction_date::text || ')', ', ' ORDER BY id) INTO first_ten
    FROM (SELECT id, transaction_date FROM transactions
          WHERE transaction_date < '1900-01-01T00:00:00Z' OR transaction_date >= '9000-01-01T00:00:00Z'
          ORDER BY id LIMIT 10) AS listed;
    RAISE EXCEPTION '% transaction(s) have a transaction_date outside 1900-01-01T00:00:00Z..9000-01-01T00:00:00Z, which reports cannot show; the first by id: %',
      outside, first_ten
      USING ERRCODE = 'check_violation',
            HINT = 'correct their transaction_date (UPDATE transactions SET transaction_date = ... WHERE id = ...) or delete them, then migrate again';
  END IF;
END
$$;

ALTER TABLE transactions ADD CONSTRAINT transactions_date_in_range
  CHECK (transaction_date >= '1900-01-01T00:00:00Z' AND transaction_date < '9000-01-01T00:00:00Z');
