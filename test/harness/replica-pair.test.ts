import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWhereAvailable } from '../support/availability.js';
import { HarnessUnavailableError, isRunning, skipReason } from '../support/child-processes.js';
import { replicaPairUnavailable, startReplicaPair, type ReplicaPair } from '../support/replica-pair.js';

const DATABASE = 'mp_test_pair';

async function rowsOf<R extends object>(url: string, text: string, values?: unknown[]): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as R[];
  } finally {
    await client.end();
  }
}

describeWhereAvailable(replicaPairUnavailable())('a throwaway PostgreSQL primary with a streaming replica', () => {
  let pair: ReplicaPair;
  const primary = () => pair.primaryUrl(DATABASE);
  const replica = () => pair.replicaUrl(DATABASE);
  const countOnReplica = async () =>
    Number((await rowsOf<{ n: string }>(replica(), 'SELECT count(*) AS n FROM notes'))[0]!.n);

  beforeAll(async () => {
    pair = await startReplicaPair();
    await pair.createDatabase(DATABASE);
    await rowsOf(primary(), 'CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)');
  });

  afterAll(async () => {
    await pair?.stop();
  });

  it('has the database createDatabase made on the replica as soon as the call returns', async () => {
    await pair.createDatabase('mp_test_pair_second');
    expect(await rowsOf(pair.replicaUrl('mp_test_pair_second'), 'SELECT pg_is_in_recovery() AS standby')).toEqual([
      { standby: true },
    ]);
  });

  it('streams a write on the primary to the replica, which refuses writes of its own', async () => {
    await rowsOf(primary(), `INSERT INTO notes (body) VALUES ('streamed')`);
    const lsn = await pair.primaryLsn();
    await pair.waitForReplay(lsn);
    expect(await rowsOf(replica(), `SELECT body FROM notes WHERE body = 'streamed'`)).toEqual([{ body: 'streamed' }]);
    expect(await rowsOf(pair.primaryUrl(), `SELECT state, application_name FROM pg_stat_replication`)).toEqual([
      { state: 'streaming', application_name: 'mp_replica' },
    ]);
    await expect(rowsOf(replica(), `INSERT INTO notes (body) VALUES ('on the replica')`)).rejects.toMatchObject({
      code: '25006',
    });
  });

  it('holds a write back from the replica while replay is paused, and applies it once resumed', async () => {
    const before = await countOnReplica();
    await pair.pauseReplay();
    await rowsOf(primary(), `INSERT INTO notes (body) VALUES ('held back')`);
    const lsn = await pair.primaryLsn();
    await expect(pair.waitForReplay(lsn, 1_000)).rejects.toThrow(/replay is paused/);
    expect(await countOnReplica()).toBe(before);
    const replayed = (
      await rowsOf<{ behind: boolean }>(pair.replicaUrl(), 'SELECT pg_last_wal_replay_lsn() < $1::pg_lsn AS behind', [
        lsn,
      ])
    )[0]!;
    expect(replayed.behind).toBe(true);

    await pair.resumeReplay();
    await pair.waitForReplay(lsn);
    expect(await countOnReplica()).toBe(before + 1);
    expect(await pair.replayLsn()).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
  });

  it('stops the replica and starts it again, caught up with what was written meanwhile', async () => {
    await pair.stopReplica();
    await expect(rowsOf(replica(), 'SELECT 1')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await rowsOf(primary(), `INSERT INTO notes (body) VALUES ('while the replica was down')`);
    const lsn = await pair.primaryLsn();
    await pair.startReplica();
    await pair.waitForReplay(lsn);
    expect(await rowsOf(replica(), `SELECT body FROM notes WHERE body = 'while the replica was down'`)).toHaveLength(1);
  });

  it('stops both servers and removes every file', async () => {
    const pids = await Promise.all(
      ['primary', 'replica'].map(async (node) =>
        Number((await readFile(path.join(pair.directory, node, 'postmaster.pid'), 'utf8')).split('\n')[0]),
      ),
    );
    expect(pids.every(isRunning)).toBe(true);
    await pair.stop();
    // An immediate shutdown ends the postmaster a moment after pg_ctl returns.
    for (let i = 0; i < 50 && pids.some(isRunning); i++) await sleep(20);
    expect(pids.filter(isRunning)).toEqual([]);
    expect(existsSync(pair.directory)).toBe(false);
  });
});

describe('when the replica pair cannot run', () => {
  it('says why, and start fails with that reason', async () => {
    const missing = { binDir: '/nonexistent/postgresql/bin' };
    expect(replicaPairUnavailable(missing)).toMatch(/^no PostgreSQL server binaries in \/nonexistent\/postgresql\/bin/);
    const failed = startReplicaPair(missing);
    await expect(failed).rejects.toBeInstanceOf(HarnessUnavailableError);
    await expect(failed).rejects.toThrow(/^unavailable: no PostgreSQL server binaries/);
  });

  it('skips with the reason, except under CI=true', () => {
    expect(skipReason('no binaries', { CI: 'false' })).toBe('no binaries');
    expect(skipReason('no binaries', {})).toBe('no binaries');
    expect(skipReason('no binaries', { CI: 'true' })).toBeUndefined();
  });
});
