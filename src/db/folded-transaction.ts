import type { DataSource, QueryRunner } from 'typeorm';

export interface Statement {
  sql: string;
  params: unknown[];
}

/** What a handler may do inside its transaction: run SQL, and queue writes whose results nobody reads. */
export interface Tx {
  query(sql: string, params?: unknown[]): Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- rows of whatever the SQL selects
  /** Several statements in one round trip; one result per statement, in order. */
  send(statements: Statement[]): Promise<unknown[]>;
  /**
   * A write whose result nobody reads: sent in the same round trip as the
   * transaction's next statement (or its COMMIT), ahead of it, so the next
   * statement sees it. An error in it fails that statement's call, which may be
   * another event's in a batch: never catch and carry on after a failed query,
   * let the transaction roll back.
   */
  defer(sql: string, params: unknown[]): void;
  /**
   * `defer` for the common case of setting columns of one row by its `id`: when the write
   * deferred just before it sets columns of the same row, the two become one UPDATE (a
   * payment linked to its invoice and given its new status is one statement, not two); and
   * consecutive updates of other rows of the table that set the same columns go as one
   * statement (a batch's payments). Column names come from code, never from input; values are bound.
   */
  deferUpdate(table: string, id: string, set: Record<string, unknown>): void;
  /**
   * A guarded write: deferred as `defer`, and `check` is given its result once its round trip
   * returns (throw to roll the transaction back). It never rides with the COMMIT: if nothing
   * follows it before then, it is sent in a round trip of its own first, so a failed check always
   * comes before the COMMIT is sent.
   */
  deferGuard(statement: Statement, check: (result: unknown) => void): void;
  /**
   * Work to do once, just before the COMMIT, after everything else in the transaction (every
   * event of a batch): e.g. re-deriving an invoice once however many events touched it.
   */
  beforeCommit(key: string, task: () => Promise<void>): void;
}

/**
 * A transaction whose BEGIN rides on its first statement, whose deferred
 * writes ride on the statement after them, and whose COMMIT rides on its last
 * (multipleStatements), instead of a round trip each: the worker makes
 * thousands of transactions a second, and each round trip is a pair of
 * syscalls on both sides. On any error the transaction is rolled back.
 *
 * `work` gets a Tx for its statements and returns the final statements, which
 * are sent together with the COMMIT; their results come back in order.
 */
export async function foldedTransaction<T>(
  dataSource: DataSource,
  work: (tx: Tx) => Promise<{ final: Statement[]; done: (results: unknown[]) => T }>,
): Promise<T> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  const tx = new FoldedTx(runner);
  try {
    const { final, done } = await work(tx);
    return done(await tx.commit(final));
  } catch (error) {
    if (tx.begun) await runner.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await runner.release();
  }
}

/** A deferred `UPDATE table SET … WHERE id = ?`, kept as columns until sent so the next one for the same row can merge in. */
interface RowUpdate {
  table: string;
  id: string;
  set: Record<string, unknown>;
}

/** A deferred write whose result is checked when it comes back (`deferGuard`). */
interface Guard {
  guarded: Statement;
  check: (result: unknown) => void;
}

type Deferred = Statement | RowUpdate | Guard;

const isRowUpdate = (write: Deferred): write is RowUpdate => 'set' in write;
const isGuard = (write: Deferred): write is Guard => 'guarded' in write;

/** Deferred writes as they are sent: a run of row updates that can go as one statement is one entry. */
type Outgoing = Statement | Guard | RowUpdate[];

const columnsOf = (update: RowUpdate) => Object.keys(update.set).sort().join(',');

/**
 * Consecutive updates of distinct rows of one table that set the same columns (a batch's payments,
 * each linked to its invoice and given its new status) become one statement: MariaDB parses,
 * opens and locks once instead of once a row. A row met again starts a new run, so writes to one
 * row keep their order.
 */
function foldRowUpdates(writes: Deferred[]): Outgoing[] {
  const out: Outgoing[] = [];
  let run: RowUpdate[] | undefined;
  // The run's columns, worked out once per run rather than again for each row compared with it.
  let runColumns = '';
  let ids = new Set<string>();
  for (const write of writes) {
    if (!isRowUpdate(write)) {
      out.push(write);
      run = undefined;
      continue;
    }
    const columns = columnsOf(write);
    if (run && run[0]!.table === write.table && runColumns === columns && !ids.has(write.id)) {
      run.push(write);
      ids.add(write.id);
    } else {
      run = [write];
      runColumns = columns;
      ids = new Set([write.id]);
      out.push(run);
    }
  }
  return out;
}

function toStatement(write: Outgoing): Statement {
  if (Array.isArray(write)) return rowUpdatesStatement(write);
  return isGuard(write) ? write.guarded : write;
}

/** `UPDATE … WHERE id = ?` for one row; for several, each column set by a CASE on the id, over the rows' ids. */
function rowUpdatesStatement(rows: RowUpdate[]): Statement {
  const [first] = rows as [RowUpdate];
  if (rows.length === 1) {
    const columns = Object.keys(first.set);
    return { sql: `UPDATE ${first.table} SET ${columns.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`, params: [...Object.values(first.set), first.id] };
  }
  const columns = Object.keys(first.set).sort();
  const whens = `${'WHEN ? THEN ? '.repeat(rows.length - 1)}WHEN ? THEN ?`;
  // Loops, not flatMap, every or map: V8's flatMap takes ~80 µs for a batch of 32 rows of 7 columns, these
  // ~4; and each array shape a chained builtin meets makes V8 compile the function again.
  const params: unknown[] = [];
  const sets: string[] = [];
  for (const c of columns) {
    const value = first.set[c];
    // A column every row sets to the same value (a batch's payments: their currency, status, no unmatched
    // reason) is set once: every row the UPDATE reaches is in the CASE, so the CASE would give them all that
    // value. Fewer values for the client to escape and MariaDB to parse.
    let alike = true;
    for (const row of rows) {
      if (row.set[c] !== value) {
        alike = false;
        break;
      }
    }
    if (alike) {
      sets.push(`${c} = ?`);
      params.push(value);
      continue;
    }
    sets.push(`${c} = CASE id ${whens} ELSE ${c} END`);
    for (const row of rows) params.push(row.id, row.set[c]);
  }
  const ids: string[] = [];
  for (const row of rows) ids.push(row.id);
  params.push(ids);
  return { sql: `UPDATE ${first.table} SET ${sets.join(', ')} WHERE id IN (?)`, params };
}

class FoldedTx implements Tx {
  begun = false;
  private deferred: Deferred[] = [];
  private readonly tasks = new Map<string, () => Promise<void>>();

  constructor(private readonly runner: QueryRunner) {}

  defer(sql: string, params: unknown[]): void {
    this.deferred.push({ sql, params });
  }

  deferUpdate(table: string, id: string, set: Record<string, unknown>): void {
    const last = this.deferred.at(-1);
    if (last && isRowUpdate(last) && last.table === table && last.id === id) Object.assign(last.set, set);
    // A copy by Object.assign, not by spread: in Node 20's V8 an object copied by `{ ...set }` takes
    // the columns merged into it above at ~1 µs each (a new hidden class per property, every time),
    // which was 4 µs per payment event (the link, then the status); this way, ~0.1 µs.
    else this.deferred.push({ table, id, set: Object.assign({}, set) });
  }

  deferGuard(statement: Statement, check: (result: unknown) => void): void {
    this.deferred.push({ guarded: statement, check });
  }

  beforeCommit(key: string, task: () => Promise<void>): void {
    if (!this.tasks.has(key)) this.tasks.set(key, task);
  }

  /** In the order they were asked for; a task may ask for another. */
  private async runBeforeCommit(): Promise<void> {
    for (const [key, task] of this.tasks) {
      this.tasks.delete(key);
      await task();
    }
  }

  /** The tasks before the COMMIT, then `final` with the COMMIT; a guard still deferred goes (and is checked) first. */
  async commit(final: Statement[]): Promise<unknown[]> {
    await this.runBeforeCommit();
    if (this.deferred.some(isGuard)) await this.send([]);
    return this.send([...final, { sql: 'COMMIT', params: [] }]);
  }

  /** One statement (its SQL may hold several): its own result, or its results as an array when it holds several. */
  async query(sql: string, params: unknown[] = []): Promise<unknown> {
    const prefix = this.takePrefix();
    if (prefix.length === 0) return this.runner.query(sql, params);
    const own = await this.sendAfter(prefix, [{ sql, params }]);
    return own.length === 1 ? own[0] : own;
  }

  /** Several statements in one round trip (after the BEGIN and deferred writes); one result per statement, in order. */
  async send(statements: Statement[]): Promise<unknown[]> {
    return this.sendAfter(this.takePrefix(), statements);
  }

  /** The BEGIN (first time only) and the writes deferred so far; taken, so they are sent once. */
  private takePrefix(): Outgoing[] {
    const prefix: Outgoing[] = this.begun ? [] : [{ sql: 'START TRANSACTION', params: [] }];
    this.begun = true;
    prefix.push(...foldRowUpdates(this.deferred));
    this.deferred = [];
    return prefix;
  }

  /** `prefix` and `statements` in one round trip; the guards in `prefix` checked; the results of `statements`. */
  private async sendAfter(prefix: Outgoing[], statements: Statement[]): Promise<unknown[]> {
    const results = await this.sendRaw([...prefix.map(toStatement), ...statements]);
    prefix.forEach((write, i) => {
      if (!Array.isArray(write) && isGuard(write)) write.check(results[i]);
    });
    return results.slice(prefix.length);
  }

  private async sendRaw(statements: Statement[]): Promise<unknown[]> {
    const sql = statements.map((s) => s.sql).join(';\n');
    // concat, not flatMap (the same one level): a batch's ~500 values took flatMap ~35 µs, concat under 1.
    const params = ([] as unknown[]).concat(...statements.map((s) => s.params));
    const results = (await this.runner.query(sql, params)) as unknown;
    // A single statement (the COMMIT alone) comes back as its own result, not a list.
    return statements.length === 1 ? [results] : (results as unknown[]);
  }
}
