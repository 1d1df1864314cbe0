/**
 * An open-loop load at a steady rate: request i is due at start + i / rate,
 * whatever happened to the ones before it, and its latency is measured from
 * when it was due (not from when it was sent), so a server or a sender that
 * falls behind shows as latency instead of silently lowering the rate.
 *
 * Why not autocannon's `overallRate`: it lets each connection send its quota
 * for the second back to back and then wait for the next second, so "500/s
 * over 50 connections" is a burst of 500 requests at full concurrency once a
 * second; and its coordinated-omission correction assumes a 1 ms interval.
 */
import http from 'node:http';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

export interface SteadyOptions {
  port: number;
  rate: number;
  connections: number;
  requests: SteadyRequest[];
}

/**
 * `steadyLoad` on a thread of its own: its heap holds only its requests, so the bench's own
 * garbage (the burst's bodies, autocannon's state) is not collected in pauses that would delay
 * requests and count as the service's latency. The thread runs this same module (through
 * steady-load.thread.mjs, which gives it the tsx loader).
 */
export function steadyLoadOnOwnThread(options: SteadyOptions): Promise<SteadyResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./steady-load.thread.mjs', import.meta.url), { workerData: { steadyLoad: options } });
    worker.once('message', (result: SteadyResult) => resolve(result));
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`steady-load thread exited with ${code}`))));
  });
}

if (!isMainThread && (workerData as { steadyLoad?: SteadyOptions } | null)?.steadyLoad) {
  void steadyLoad((workerData as { steadyLoad: SteadyOptions }).steadyLoad).then((result) => parentPort!.postMessage(result));
}

export interface SteadyResult {
  sent: number;
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  /** Requests answered per second, over the whole run. */
  rate: number;
}

export interface SteadyRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
}

export async function steadyLoad(options: SteadyOptions): Promise<SteadyResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const intervalMs = 1000 / options.rate;
  const start = performance.now();
  const inFlight: Promise<void>[] = [];

  const send = (request: SteadyRequest, dueAt: number) =>
    new Promise<void>((resolve) => {
      const req = http.request(
        { host: '127.0.0.1', port: options.port, method: 'POST', path: request.path, agent, headers: { ...request.headers, 'content-length': Buffer.byteLength(request.body) } },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode! >= 200 && res.statusCode! < 300) latencies.push(performance.now() - dueAt);
            else non2xx += 1;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors += 1;
        resolve();
      });
      req.end(request.body);
    });

  let next = 0;
  while (next < options.requests.length) {
    const now = performance.now();
    // Everything due by now goes out, so a late timer does not lower the rate.
    while (next < options.requests.length && start + next * intervalMs <= now) {
      inFlight.push(send(options.requests[next]!, start + next * intervalMs));
      next += 1;
    }
    const wait = start + next * intervalMs - performance.now();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.floor(wait))));
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();

  latencies.sort((a, b) => a - b);
  const at = (q: number) => (latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!) : NaN);
  return { sent: options.requests.length, p50: at(0.5), p99: at(0.99), max: Math.round(latencies.at(-1) ?? NaN), non2xx, errors, rate: Math.round(latencies.length / seconds) };
}
