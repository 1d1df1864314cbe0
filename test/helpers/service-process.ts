import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait-for.js';
import { startArgs } from './start-command.js';

/** The repository root: children run `src/main.ts` (through tsx) from there. */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Every child still alive; killed if the test process exits without cleaning up (a crash, mocha's --exit). */
const alive = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of alive) child.kill('SIGKILL');
});

/** Keep the end of a child's output only: a burst logs a line per event. */
const OUTPUT_LIMIT = 256 * 1024;

/** Another way to run the service (the build test runs the compiled entry from a tree of its own). */
export interface SpawnCommand {
  /** Node's arguments; `startArgs()` (the source through tsx) by default. */
  args?: string[];
  /** The repository root by default. */
  cwd?: string;
  /** The environment `env` is laid over; this process's by default. */
  baseEnv?: NodeJS.ProcessEnv;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * The real service as a process of its own: `npm start`'s node flags on the
 * TypeScript source (`startArgs()`; test/build.test.ts runs the compiled entry), with ROLE and the rest of its
 * configuration in the environment. Kill it with SIGKILL (a crash), or SIGTERM
 * (an orchestrator stopping it), and read its JSON log lines.
 */
export class ServiceProcess {
  readonly child: ChildProcess;
  /** The API's port, parsed from its "api listening" log line (PORT=0 picks a free one). */
  port?: number;
  readonly exited: Promise<ExitStatus>;
  private output = '';
  /** How many log lines carried each `message`, over the whole life of the process. */
  private readonly messages = new Map<string, number>();

  private constructor(
    readonly label: string,
    readonly role: 'all' | 'api' | 'worker',
    env: Record<string, string>,
    command: SpawnCommand = {},
  ) {
    const child = spawn(process.execPath, command.args ?? startArgs(), {
      cwd: command.cwd ?? ROOT,
      env: { ...(command.baseEnv ?? process.env), ...env, ROLE: role },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    alive.add(child);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        alive.delete(child);
        resolve({ code, signal });
      });
    });
    // One partial line per stream: stdout and stderr interleave.
    const reader = () => {
      let partial = '';
      return (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        this.output += text;
        if (this.output.length > OUTPUT_LIMIT * 2) this.output = this.output.slice(-OUTPUT_LIMIT);
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          const message = /"message":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1];
          if (message === undefined) continue;
          this.messages.set(message, (this.messages.get(message) ?? 0) + 1);
          if (message === 'api listening') this.port = Number(/"port":(\d+)/.exec(line)?.[1]);
        }
      };
    };
    child.stdout!.on('data', reader());
    child.stderr!.on('data', reader());
  }

  /** Spawns the process and returns at once: for a test of how start-up fails (see exitWithin). */
  static spawn(label: string, role: 'all' | 'api' | 'worker', env: Record<string, string>): ServiceProcess {
    return new ServiceProcess(label, role, env);
  }

  /** Spawns the process and resolves once it serves (api, all) and its worker runs (worker, all). */
  static async start(label: string, role: 'all' | 'api' | 'worker', env: Record<string, string>, timeoutMs = 45_000, command?: SpawnCommand): Promise<ServiceProcess> {
    const service = new ServiceProcess(label, role, env, command);
    let started = false;
    try {
      await Promise.race([
        waitFor(
          `${label} (ROLE=${role}) to start`,
          // 'started' is main()'s last line: from then on a SIGTERM stops the process gracefully.
          () => started || ((role === 'worker' || service.port !== undefined) && (role === 'api' || service.count('worker started') > 0) && service.count('started') > 0),
          timeoutMs,
          50,
        ),
        service.exited.then(({ code, signal }) => {
          if (!started) throw new Error(`${label} (ROLE=${role}) exited during start-up (code ${code}, signal ${signal})`);
        }),
      ]);
      started = true;
    } catch (error) {
      started = true; // stops the other side of the race
      await service.kill();
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- output of ${label} ---\n${service.tail()}`, { cause: error });
    }
    return service;
  }

  get baseUrl(): string {
    if (this.port === undefined) throw new Error(`${this.label} runs no API`);
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last `chars` characters the process wrote (stdout and stderr together). */
  tail(chars = 4000): string {
    return this.output.slice(-chars);
  }

  /** How many log lines with this `message` the process wrote (e.g. "invoice updated" per applied payment event). */
  count(message: string): number {
    return this.messages.get(message) ?? 0;
  }

  /** Every complete JSON log line still in the kept output, parsed (others skipped). */
  logLines(): Record<string, unknown>[] {
    const lines: Record<string, unknown>[] = [];
    for (const line of this.output.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a line cut by the output limit
      }
    }
    return lines;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGKILL, resolved once the process is gone: a crash, or cleanup. */
  async kill(): Promise<ExitStatus> {
    if (this.running) {
      this.child.kill('SIGKILL');
    }
    return this.exited;
  }
}

/**
 * The children a test started: `killAll()` in an after/afterEach hook ends them
 * all, pass or fail, each by its own pid.
 */
export class ServiceProcesses {
  private readonly started: ServiceProcess[] = [];

  async start(label: string, role: 'all' | 'api' | 'worker', env: Record<string, string>): Promise<ServiceProcess> {
    const service = await ServiceProcess.start(label, role, env);
    this.started.push(service);
    return service;
  }

  async killAll(): Promise<void> {
    await Promise.all(this.started.map((service) => service.kill()));
    this.started.length = 0;
  }

  /** The tails of every child's output, for a failure message. */
  describe(chars = 1500): string {
    return this.started.map((s) => `--- ${s.label} (${s.running ? 'running' : 'exited'}) ---\n${s.tail(chars)}`).join('\n');
  }
}

/** Resolves with the exit status, or rejects after `ms` (the process is then still running). */
export async function exitWithin(service: ServiceProcess, ms: number): Promise<ExitStatus & { elapsedMs: number }> {
  const startedAt = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const status = await Promise.race([
      service.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${service.label} did not exit within ${ms} ms:\n${service.tail()}`)), ms);
      }),
    ]);
    return { ...status, elapsedMs: Date.now() - startedAt };
  } finally {
    clearTimeout(timer);
  }
}
