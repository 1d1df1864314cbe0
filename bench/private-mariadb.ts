/**
 * A MariaDB server of the bench's own (COUNT_PRIVATE_MARIADB=1 in bench/per-event-counts.ts): a
 * fresh data directory in the OS's temp folder, a free port, no grant tables (root without a
 * password), default settings otherwise (durable commits: innodb_flush_log_at_trx_commit=1, as the
 * shared server). Its CPU is the bench's services' alone, which the shared server's, busy with
 * whatever else runs on the machine, is not. Killed and removed by stop().
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { freePort } from '../test/helpers/free-port.js';

export class PrivateMariaDb {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly port: number,
  ) {}

  get pid(): number {
    return this.child.pid!;
  }

  static async start(): Promise<PrivateMariaDb> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'billed-bench-mariadb-'));
    const datadir = path.join(dir, 'data');
    const install = spawnSync('mariadb-install-db', ['--no-defaults', `--datadir=${datadir}`, '--auth-root-authentication-method=normal', '--skip-test-db'], { encoding: 'utf8' });
    if (install.status !== 0) throw new Error(`mariadb-install-db failed (is MariaDB's server package installed?):\n${install.stderr}`);
    const port = await freePort();
    const child = spawn(
      'mariadbd',
      ['--no-defaults', `--datadir=${datadir}`, `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${path.join(dir, 'sock')}`, '--skip-grant-tables', `--user=${os.userInfo().username}`],
      { stdio: 'ignore' },
    );
    const server = new PrivateMariaDb(child, dir, port);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const connection = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root' });
        await connection.end();
        return server;
      } catch (error) {
        if (child.exitCode !== null || Date.now() > deadline) {
          await server.stop();
          throw new Error(`the private mariadbd did not start: ${String(error)}`, { cause: error });
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
