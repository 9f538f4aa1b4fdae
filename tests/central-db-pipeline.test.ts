import { openPostgres } from '@kantine/central';
import test, { type ExecutionContext } from 'ava';
import { freshDatabase } from './helpers/postgres.ts';

// central's Postgres connections are pipelined: a transaction's BEGIN goes out with its first
// statement, and `queryAndCommit` writes COMMIT behind its last (central/src/db/db.ts).

async function database(t: ExecutionContext) {
  const db = await openPostgres(await freshDatabase(t, 'pipeline'));
  t.teardown(() => db.close());
  await db.query('CREATE TABLE things (id integer PRIMARY KEY, n integer NOT NULL CHECK (n >= 0))');
  return db;
}

test('a transaction whose last statement is sent with its COMMIT commits everything and returns its rows', async (t) => {
  const db = await database(t);
  const rows = await db.transaction(async (sql) => {
    await sql.query('INSERT INTO things VALUES (1, 1)');
    return sql.queryAndCommit<{ id: number }>('INSERT INTO things VALUES ($1, $2) RETURNING id', [2, 2]);
  });
  t.deepEqual(rows, [{ id: 2 }]);
  t.deepEqual(await db.query('SELECT id FROM things ORDER BY id'), [{ id: 1 }, { id: 2 }]);
});

test('a last statement that fails commits nothing, not even the statements before it', async (t) => {
  const db = await database(t);
  const err = await t.throwsAsync(
    db.transaction(async (sql) => {
      await sql.query('INSERT INTO things VALUES (1, 1)');
      await sql.queryAndCommit('INSERT INTO things VALUES ($1, $2)', [2, -1]); // breaks the CHECK
    }),
  );
  t.is((err as { code?: string }).code, '23514');
  t.deepEqual(await db.query('SELECT id FROM things'), []);
  // The connection is fine afterwards.
  await db.transaction((sql) => sql.queryAndCommit('INSERT INTO things VALUES (3, 3)'));
  t.deepEqual(await db.query('SELECT id FROM things'), [{ id: 3 }]);
});

test('the first statement fails with its own error, and the transaction commits nothing', async (t) => {
  const db = await database(t);
  await t.throwsAsync(
    db.transaction((sql) => sql.query('SELECT * FROM no_such_table')),
    {
      message: /no_such_table/,
    },
  );
  await t.throwsAsync(
    db.transaction(async (sql) => {
      await sql.query('INSERT INTO things VALUES (1, 1)');
      throw new Error('changed my mind');
    }),
    { message: 'changed my mind' },
  );
  t.deepEqual(await db.query('SELECT id FROM things'), []);
});

test('nothing runs in a transaction after its last statement', async (t) => {
  const db = await database(t);
  await t.throwsAsync(
    db.transaction(async (sql) => {
      await sql.queryAndCommit('INSERT INTO things VALUES (1, 1)');
      await sql.query('INSERT INTO things VALUES (2, 2)');
    }),
    { message: /after the transaction ended/ },
  );
  // What was committed stays (the callback failed after the commit): it is not retried either.
  t.deepEqual(await db.query('SELECT id FROM things'), [{ id: 1 }]);
});

test('a deadlock in a pipelined transaction is retried, and each side commits once', async (t) => {
  const db = await database(t);
  await db.query('INSERT INTO things VALUES (1, 0), (2, 0)');
  let tries = 0;
  const bump = (first: number, second: number) =>
    db.transaction(async (sql) => {
      tries++;
      await sql.query('UPDATE things SET n = n + 1 WHERE id = $1', [first]);
      await sql.query('SELECT pg_sleep(0.2)');
      return sql.queryAndCommit('UPDATE things SET n = n + 1 WHERE id = $1', [second]);
    });
  await Promise.all([bump(1, 2), bump(2, 1)]);
  t.true(tries >= 3, 'one side deadlocked and was retried');
  t.deepEqual(await db.query('SELECT id, n FROM things ORDER BY id'), [
    { id: 1, n: 2 },
    { id: 2, n: 2 },
  ]);
});
