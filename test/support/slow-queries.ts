import { sql } from 'kysely';
import type { DatabaseHandle } from '../../src/db/database-handle.js';

// Makes the gateway's report queries slow on a test database, without a test-only path in the gateway: every
// reporting view calls mp_check_rollup_timezone() once per statement, and here it also sleeps for as long as
// test_query_delay says. Only the test file's own database is changed.

export async function installQueryDelay(database: DatabaseHandle): Promise<void> {
  await database.runScript(
    database.db,
    `CREATE TABLE IF NOT EXISTS test_query_delay (seconds double precision NOT NULL);
     INSERT INTO test_query_delay SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM test_query_delay);
     CREATE OR REPLACE FUNCTION mp_check_rollup_timezone() RETURNS boolean
       LANGUAGE plpgsql STABLE
       AS $$
     DECLARE
       kept text := (SELECT timezone FROM rollup_state);
       delay double precision := (SELECT seconds FROM test_query_delay);
     BEGIN
       IF delay > 0 THEN PERFORM pg_sleep(delay); END IF;
       IF kept IS DISTINCT FROM mp_report_timezone() THEN
         RAISE EXCEPTION 'rollups hold report days of time zone %, but this session reports in %', kept, mp_report_timezone()
           USING ERRCODE = 'MP001';
       END IF;
       RETURN true;
     END
     $$;`,
  );
}

/** Every report statement sleeps `seconds` from now on (0 turns it off). */
export async function setQueryDelay(database: DatabaseHandle, seconds: number): Promise<void> {
  await sql`UPDATE test_query_delay SET seconds = ${seconds}`.execute(database.db);
}

/** One customer, one product and one completed sale of 25.00 on 2025-03-10: the data the fault tests read. */
export async function insertOneSale(database: DatabaseHandle): Promise<void> {
  await sql`INSERT INTO customers (id, name, created_at) VALUES (1, 'לקוח', now())`.execute(database.db);
  await sql`INSERT INTO products (id, sku, name, category, unit_price) VALUES (1, 'SKU-1', 'מוצר', 'בדיקות', 25)`.execute(
    database.db,
  );
  await sql`INSERT INTO transactions VALUES (1, 1, 1, 1, 25.00, 'completed', '2025-03-10T12:00:00Z')`.execute(
    database.db,
  );
}
