import { sql, type Kysely, type RawBuilder } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { readDatabaseReportZone, rezoneRollups } from '../../src/db/rollups.js';
import { seedDatabase } from '../../src/seed/seed-database.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { has } from '../support/requirements.js';

// The rollups against the truth: every figure the reporting views take from them, recomputed here with plain
// SQL over the base tables, after every kind of write the triggers must follow.

const ZONE = 'Asia/Jerusalem';

/** Pairs of (what the rollup-backed view says, what the base tables say), each as ordered text rows. */
function checks(zone: string) {
  const day = sql.raw(`(transaction_date AT TIME ZONE '${zone}')::date`);
  return {
    daily: [
      sql`SELECT day::text AS day, revenue::text AS revenue, transaction_count::text AS completed, unique_customers::text AS customers,
                 pending_count::text AS pending, cancelled_count::text AS cancelled, all_count::text AS all_count
          FROM v_daily_revenue`,
      sql`SELECT ${day}::text AS day,
                 coalesce(sum(amount) FILTER (WHERE status = 'completed'), 0)::numeric(14,2)::text AS revenue,
                 (count(*) FILTER (WHERE status = 'completed'))::text AS completed,
                 (count(DISTINCT customer_id) FILTER (WHERE status = 'completed'))::text AS customers,
                 (count(*) FILTER (WHERE status = 'pending'))::text AS pending,
                 (count(*) FILTER (WHERE status = 'cancelled'))::text AS cancelled,
                 count(*)::text AS all_count
          FROM transactions GROUP BY 1`,
    ],
    dailyProduct: [
      sql`SELECT day::text AS day, product_id::text AS product, revenue::text AS revenue, units_sold::text AS units, transaction_count::text AS n
          FROM v_daily_product_sales`,
      sql`SELECT ${day}::text AS day, product_id::text AS product, sum(amount)::numeric(14,2)::text AS revenue,
                 sum(quantity)::text AS units, count(*)::text AS n
          FROM transactions WHERE status = 'completed' GROUP BY 1, 2`,
    ],
    periods: [
      sql`SELECT granularity, period::text AS period, unique_customers::text AS customers FROM v_period_customers`,
      sql`SELECT g AS granularity, date_trunc(g, ${day}::timestamp)::date::text AS period, count(DISTINCT customer_id)::text AS customers
          FROM transactions CROSS JOIN (VALUES ('month'), ('week')) AS gs(g)
          WHERE status = 'completed' GROUP BY 1, 2`,
    ],
    customers: [
      sql`SELECT customer_id::text AS customer, lifetime_value::text AS value, transaction_count::text AS n, avg_order_value::text AS average,
                 first_purchase_at::text AS first, last_purchase_at::text AS last
          FROM v_customer_analytics`,
      sql`SELECT c.id::text AS customer, coalesce(sum(t.amount), 0)::numeric(14,2)::text AS value, count(t.id)::text AS n,
                 (CASE WHEN count(t.id) = 0 THEN 0.00 ELSE round(sum(t.amount) / count(t.id), 2) END)::text AS average,
                 min(t.transaction_date)::text AS first, max(t.transaction_date)::text AS last
          FROM customers c LEFT JOIN transactions t ON t.customer_id = c.id AND t.status = 'completed'
          GROUP BY c.id`,
    ],
    products: [
      sql`SELECT product_id::text AS product, revenue::text AS revenue, units_sold::text AS units, transaction_count::text AS n,
                 round(revenue_share::numeric, 12)::text AS share
          FROM v_product_performance`,
      sql`SELECT p.id::text AS product, coalesce(sum(t.amount), 0)::numeric(14,2)::text AS revenue,
                 coalesce(sum(t.quantity), 0)::text AS units, count(t.id)::text AS n,
                 round((CASE WHEN total.revenue > 0 THEN (coalesce(sum(t.amount), 0) / total.revenue)::float8 ELSE 0 END)::numeric, 12)::text AS share
          FROM products p
          LEFT JOIN transactions t ON t.product_id = p.id AND t.status = 'completed'
          CROSS JOIN (SELECT sum(amount) AS revenue FROM transactions WHERE status = 'completed') total
          GROUP BY p.id, total.revenue`,
    ],
    customerProducts: [
      sql`SELECT customer_id::text AS customer, product_id::text AS product, revenue::text AS revenue, units_sold::text AS units,
                 transaction_count::text AS n
          FROM v_customer_product_revenue`,
      sql`SELECT customer_id::text AS customer, product_id::text AS product, sum(amount)::numeric(14,2)::text AS revenue,
                 sum(quantity)::text AS units, count(*)::text AS n
          FROM transactions WHERE status = 'completed' GROUP BY 1, 2`,
    ],
    favorites: [
      sql`SELECT customer_id::text AS customer, product_id::text AS product FROM v_customer_favorite_product`,
      sql`SELECT DISTINCT ON (customer_id) customer_id::text AS customer, product_id::text AS product
          FROM (SELECT customer_id, product_id, sum(amount) AS revenue FROM transactions WHERE status = 'completed' GROUP BY 1, 2) x
          ORDER BY customer_id, revenue DESC, product_id`,
    ],
  } satisfies Record<string, [RawBuilder<unknown>, RawBuilder<unknown>]>;
}

async function expectRollupsMatchBaseTables(db: Kysely<Database>, zone = ZONE) {
  for (const [name, [fromView, fromBase]] of Object.entries(checks(zone))) {
    const [view, base] = await Promise.all([fromView.execute(db), fromBase.execute(db)]);
    // Compared as sorted sets of rows: the two sides may order text forms of ids differently.
    const rows = (result: { rows: unknown[] }) =>
      result.rows.map((row) => JSON.stringify(Object.values(row as object))).sort();
    expect(rows(view), name).toEqual(rows(base));
  }
}

describe('rollups', () => {
  let database: TestDatabase;
  let db: Kysely<Database>;

  beforeAll(async () => {
    database = await createTestDatabase({ reportTimezone: ZONE });
    db = database.handle.db;
    await seedDatabase(db, {
      transactions: 3_000,
      seed: 11,
      until: '2025-11-15',
      days: 400,
      customers: 120,
      products: 12,
    });
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('match the base tables after a seed', async () => {
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM rollup_daily`.execute(db);
    expect(rows[0]!.n).toBeGreaterThan(300);
    await expectRollupsMatchBaseTables(db);
  });

  it('follow inserts of single rows and of batches, across midnight and a DST change', async () => {
    await sql`INSERT INTO transactions VALUES
      (900001, 1, 1, 2, 100.00, 'completed', '2025-03-27T21:59:59Z'),
      (900002, 1, 2, 1, 50.50, 'completed', '2025-03-27T22:00:00Z'),
      (900003, 2, 1, 3, 30.00, 'pending', '2025-10-25T20:59:59Z'),
      (900004, 3, 3, 1, 19.99, 'completed', '2025-10-25T21:00:00Z')`.execute(db);
    await sql`INSERT INTO transactions VALUES (900005, 4, 4, 1, 5.00, 'cancelled', '2025-11-15T12:00:00Z')`.execute(db);
    await expectRollupsMatchBaseTables(db);
  });

  it('follow status changes: pending to completed and completed to cancelled', async () => {
    await sql`UPDATE transactions SET status = 'completed' WHERE id = 900003`.execute(db);
    await sql`UPDATE transactions SET status = 'cancelled' WHERE id IN (900001, 900004)`.execute(db);
    await sql`UPDATE transactions SET status = 'completed' WHERE id IN (SELECT id FROM transactions WHERE status = 'pending' ORDER BY id LIMIT 50)`.execute(
      db,
    );
    await expectRollupsMatchBaseTables(db);
  });

  it('follow updates of amount, quantity, customer, product and time', async () => {
    await sql`UPDATE transactions SET amount = amount + 0.01, quantity = quantity + 1 WHERE id % 97 = 0`.execute(db);
    await sql`UPDATE transactions SET customer_id = 5, product_id = 6 WHERE id = 900002`.execute(db);
    await sql`UPDATE transactions SET transaction_date = transaction_date - interval '40 days' WHERE id % 113 = 0`.execute(
      db,
    );
    await expectRollupsMatchBaseTables(db);
  });

  it('follow deletes, including the first and the last purchase of a customer', async () => {
    const { rows } = await sql<{ first: string; last: string }>`
      SELECT (SELECT id FROM transactions WHERE customer_id = 7 AND status = 'completed' ORDER BY transaction_date LIMIT 1)::text AS first,
             (SELECT id FROM transactions WHERE customer_id = 7 AND status = 'completed' ORDER BY transaction_date DESC LIMIT 1)::text AS last`.execute(
      db,
    );
    await sql`DELETE FROM transactions WHERE id IN (${rows[0]!.first}, ${rows[0]!.last})`.execute(db);
    await sql`DELETE FROM transactions WHERE id % 89 = 0`.execute(db);
    await sql`DELETE FROM transactions WHERE customer_id = 8`.execute(db);
    await expectRollupsMatchBaseTables(db);
  });

  it('give new customers and products a row before their first sale', async () => {
    await sql`INSERT INTO customers VALUES (100001, 'לקוח חדש', null, null, now())`.execute(db);
    await sql`INSERT INTO products VALUES (100001, 'NEW-1', 'מוצר חדש', 'אביזרים', 12.00)`.execute(db);
    await expectRollupsMatchBaseTables(db);
    await sql`INSERT INTO transactions VALUES (900010, 100001, 100001, 3, 36.00, 'completed', '2025-11-14T10:00:00Z')`.execute(
      db,
    );
    await expectRollupsMatchBaseTables(db);
  });

  it('stay as they were when the writing transaction rolls back', async () => {
    await expect(
      db.transaction().execute(async (trx) => {
        await sql`INSERT INTO transactions VALUES (900020, 1, 1, 1, 999.00, 'completed', '2025-06-01T10:00:00Z')`.execute(
          trx,
        );
        await sql`UPDATE transactions SET status = 'cancelled' WHERE status = 'completed'`.execute(trx);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    await expectRollupsMatchBaseTables(db);
  });

  it('refuse a session that reports in another zone, in every view of report days', async () => {
    await database.inReportZone('UTC', async (utc) => {
      for (const view of [
        'v_daily_revenue',
        'v_daily_product_sales',
        'v_period_customers',
        'v_transactions_local',
        'v_sales',
      ]) {
        await expect(sql`SELECT * FROM ${sql.table(view)} LIMIT 1`.execute(utc), view).rejects.toMatchObject({
          code: 'MP001',
          message: 'rollups hold report days of time zone Asia/Jerusalem, but this session reports in UTC',
        });
      }
    });
  });

  it('refuse a session without a report zone rather than count its days in UTC', async () => {
    const attempt = db.transaction().execute(async (trx) => {
      await sql`SELECT set_config('marketpulse.report_timezone', '', true)`.execute(trx);
      return sql`SELECT mp_local_day('2025-03-27T22:30:00Z')`.execute(trx);
    });
    await expect(attempt).rejects.toMatchObject({ code: 'MP002', message: 'this session has no report time zone' });
  });

  it.runIf(has('postgres-server', 'comparing sessions opened before and after a re-zone'))(
    'are re-zoned beside the old ones: new sessions report in the new zone, sessions opened before are refused',
    async () => {
      // Sessions that state no zone of their own, as through a pooler or from psql: they take the database's.
      const before = await database.reopen({ reportTimezone: undefined, poolMax: 1 });
      await expectRollupsMatchBaseTables(before.db);

      // The session that re-zones reports in the new zone from then on, whatever it stated before.
      const rezoning = await database.reopen({ poolMax: 1 });
      expect((await rezoneRollups(rezoning.db, 'UTC')).previous).toBe(ZONE);
      const after = await database.reopen({ reportTimezone: undefined, poolMax: 1 });
      expect(await readDatabaseReportZone(after.db)).toEqual({ rollups: 'UTC', sessions: 'UTC' });
      await expectRollupsMatchBaseTables(after.db, 'UTC');
      await expect(sql`SELECT * FROM v_daily_revenue`.execute(before.db)).rejects.toMatchObject({ code: 'MP001' });

      expect((await rezoneRollups(after.db, ZONE)).previous).toBe('UTC');
      await expectRollupsMatchBaseTables(db);
      await expect(sql`SELECT * FROM v_sales LIMIT 1`.execute(after.db)).resolves.toBeDefined();
    },
  );

  it.runIf(has('postgres-server', 're-zoning on a session of its own'))(
    'keep their indexes, keys and the views over them through a re-zone',
    async () => {
      const shape = sql<{ what: string }>`
      SELECT format('%s %s', c.relname, pg_get_indexdef(i.indexrelid)) AS what
      FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
      WHERE c.relname LIKE 'rollup\_%' AND c.relnamespace = 'public'::regnamespace
      UNION ALL
      SELECT format('%s %s', c.relname, pg_get_viewdef(c.oid)) FROM pg_class c WHERE c.relkind = 'v' AND c.relnamespace = 'public'::regnamespace
      ORDER BY 1`;
      const before = (await shape.execute(db)).rows;
      await rezoneRollups((await database.reopen({ poolMax: 1 })).db, ZONE);
      expect((await shape.execute(db)).rows).toEqual(before);
      expect(before.length).toBeGreaterThan(20);
    },
  );

  it('are rebuilt empty by TRUNCATE and follow the rows loaded after it', async () => {
    await sql`TRUNCATE transactions`.execute(db);
    await expectRollupsMatchBaseTables(db);
    await sql`INSERT INTO transactions VALUES (1, 1, 1, 1, 10.00, 'completed', '2025-01-01T00:00:00Z')`.execute(db);
    await expectRollupsMatchBaseTables(db);
  });
});
