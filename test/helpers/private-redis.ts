import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './free-port.js';

/** Every private redis-server still alive; killed if the test process exits without cleaning up. */
const alive = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of alive) child.kill('SIGKILL');
});

/**
 * A redis-server of the test's own, on its own port, with no persistence: a
 * test may kill it and start it again empty. The shared Redis on 6379 is never
 * touched. The child runs in the foreground (not daemonized), so it dies by its pid.
 */
export class PrivateRedis {
  private child?: ChildProcess;

  private constructor(readonly port: number) {}

  /** Picks a free port; nothing runs until start(). */
  static async onFreePort(): Promise<PrivateRedis> {
    return new PrivateRedis(await freePort());
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts redis-server and resolves once it accepts connections. */
  async start(timeoutMs = 5000): Promise<void> {
    if (this.child) return;
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', '--loglevel', 'notice'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    alive.add(child);
    child.once('exit', () => {
      alive.delete(child);
      if (this.child === child) this.child = undefined;
    });

    let output = '';
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error) => {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.off('exit', onExit);
        child.off('error', onError);
        if (error) reject(error);
        else resolve();
      };
      const onData = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (output.includes('Ready to accept connections')) done();
      };
      const onExit = (code: number | null, signal: string | null) =>
        done(new Error(`redis-server on port ${this.port} exited (code ${code}, signal ${signal}) before it was ready:\n${output}`));
      const onError = (error: Error) => done(error);
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        done(new Error(`redis-server on port ${this.port} was not ready after ${timeoutMs} ms:\n${output}`));
      }, timeoutMs);
      child.stdout?.on('data', onData);
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      child.once('exit', onExit);
      child.once('error', onError);
    });
    // Keep draining its output so a chatty server never blocks on a full pipe.
    child.stdout?.resume();
    child.stderr?.resume();
  }

  /** SIGKILL (no shutdown, no save: an outage), resolving once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    this.child = undefined;
  }
}
