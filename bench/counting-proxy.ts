/**
 * TCP proxies that count what a service sends to MariaDB and to Redis, for
 * bench/per-event-counts.ts: unlike the servers' global counters, they see one
 * process's traffic only, however many other clients share the servers.
 *
 * - MySQL protocol: a client packet with sequence id 0 starts a command, i.e. one
 *   round trip (COM_QUERY, COM_PING, ...); a COM_QUERY's text is split into its
 *   statements (multipleStatements: the folded transactions send several at once)
 *   and each is counted by its first keyword; a prepared statement's execution
 *   (COM_STMT_EXECUTE) counts as its statement.
 * - Redis (RESP): every command the client sends, by name; a script call
 *   (EVALSHA/EVAL) by the script's name when `scriptNames` knows its SHA1.
 *   Client writes are counted as round trips (on loopback one write arrives as one
 *   chunk unless it is larger than a socket buffer; a pipeline is one write).
 * - Bytes both ways, for both.
 */
import net, { type AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';

export interface Counts {
  roundTrips: number;
  /** Statements (MySQL) or commands (Redis) by kind. */
  byKind: Record<string, number>;
  bytesIn: number;
  bytesOut: number;
  connections: number;
}

export const emptyCounts = (): Counts => ({ roundTrips: 0, byKind: {}, bytesIn: 0, bytesOut: 0, connections: 0 });

export function diffCounts(after: Counts, before: Counts): Counts {
  const byKind: Record<string, number> = {};
  for (const [kind, n] of Object.entries(after.byKind)) {
    const d = n - (before.byKind[kind] ?? 0);
    if (d !== 0) byKind[kind] = d;
  }
  return {
    roundTrips: after.roundTrips - before.roundTrips,
    byKind,
    bytesIn: after.bytesIn - before.bytesIn,
    bytesOut: after.bytesOut - before.bytesOut,
    connections: after.connections - before.connections,
  };
}

export const totalOf = (counts: Counts) => Object.values(counts.byKind).reduce((a, b) => a + b, 0);

/** Reads what the client sends; `fromServer`, if there, what the server answers. */
type Parser = ((chunk: Buffer) => void) & { fromServer?: (chunk: Buffer) => void };

export class CountingProxy {
  readonly counts = emptyCounts();
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }, makeParser: (counts: Counts) => Parser): Promise<CountingProxy> {
    const holder: { proxy?: CountingProxy } = {};
    const server = net.createServer((client) => {
      const proxy = holder.proxy!;
      const counts = proxy.counts;
      counts.connections += 1;
      const upstream = net.connect(target.port, target.host);
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      proxy.sockets.add(client).add(upstream);
      const parse = makeParser(counts);
      client.on('data', (chunk: Buffer) => {
        counts.bytesOut += chunk.length;
        parse(chunk);
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        counts.bytesIn += chunk.length;
        parse.fromServer?.(chunk);
        client.write(chunk);
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
        proxy.sockets.delete(client);
        proxy.sockets.delete(upstream);
      };
      client.on('close', end).on('error', end);
      upstream.on('close', end).on('error', end);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    holder.proxy = new CountingProxy(server, (server.address() as AddressInfo).port);
    return holder.proxy;
  }

  snapshot(): Counts {
    return { ...this.counts, byKind: { ...this.counts.byKind } };
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const bump = (counts: Counts, kind: string, n = 1) => (counts.byKind[kind] = (counts.byKind[kind] ?? 0) + n);

const COM_QUERY = 0x03;
const COM_STMT_PREPARE = 0x16;
const COM_STMT_EXECUTE = 0x17;
const COM_STMT_CLOSE = 0x19;

/**
 * Client → MariaDB: packets (3-byte length, sequence id); a command is a packet with sequence id 0.
 * A prepared statement's executions count as its statement (the inbox INSERT), found by the id the
 * server's answer to its preparation gave it; the preparation, once per connection, as `(prepare) …`.
 */
export function mysqlParser(counts: Counts): Parser {
  let buffered: Buffer = Buffer.alloc(0);
  /** This connection's prepared statements' kinds, by the id the server gave each. */
  const prepared = new Map<number, string>();
  /** The kind of a statement being prepared, until the server's answer gives its id. */
  let preparing: string | undefined;
  let answer: Buffer = Buffer.alloc(0);
  const parse: Parser = (chunk) => {
    buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
    while (buffered.length >= 4) {
      const length = buffered.readUIntLE(0, 3);
      if (buffered.length < 4 + length) break;
      const sequence = buffered[3]!;
      const payload = buffered.subarray(4, 4 + length);
      buffered = buffered.subarray(4 + length);
      // The handshake response and any auth exchange carry sequence ids > 0; the first command after them is 0.
      if (sequence !== 0) continue;
      const command = payload[0];
      // COM_STMT_CLOSE gets no answer: not a round trip.
      if (command === COM_STMT_CLOSE) continue;
      counts.roundTrips += 1;
      if (command === COM_QUERY) for (const kind of statementKinds(payload.subarray(1).toString('utf8'))) bump(counts, kind);
      else if (command === COM_STMT_PREPARE) {
        preparing = statementKinds(payload.subarray(1).toString('utf8'))[0] ?? '?';
        // The client waits for each answer before its next command (mysql2 does not pipeline), so the
        // server's next packet is this one's answer.
        answer = Buffer.alloc(0);
        bump(counts, `(prepare) ${preparing}`);
      } else if (command === COM_STMT_EXECUTE) {
        bump(counts, prepared.get(payload.readUInt32LE(1)) ?? '(execute of an unknown statement)');
      } else bump(counts, `(command 0x${command?.toString(16) ?? '?'})`);
    }
  };
  // COM_STMT_PREPARE's answer starts with a packet: 0x00, the statement id (4 bytes), … (12 bytes); an error with 0xff.
  parse.fromServer = (chunk) => {
    if (preparing === undefined) return;
    answer = answer.length ? Buffer.concat([answer, chunk]) : chunk;
    if (answer.length < 4 || answer.length < 4 + answer.readUIntLE(0, 3)) return;
    const payload = answer.subarray(4, 4 + answer.readUIntLE(0, 3));
    if (payload[0] === 0x00 && payload.length >= 5) prepared.set(payload.readUInt32LE(1), preparing);
    preparing = undefined;
    answer = Buffer.alloc(0);
  };
  return parse;
}

/** The statements of a query text, by first keyword(s); `;` inside quotes and comments does not split. */
export function statementKinds(sql: string): string[] {
  const kinds: string[] = [];
  let start = 0;
  let i = 0;
  const flush = (end: number) => {
    const text = sql.slice(start, end).replace(/^(\s|\/\*[\s\S]*?\*\/|--[^\n]*\n)+/, '');
    if (text.trim()) kinds.push(kindOf(text));
  };
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === '`') {
      i++;
      while (i < sql.length && sql[i] !== c) i += sql[i] === '\\' && c !== '`' ? 2 : 1;
      i++;
    } else if (c === '-' && sql[i + 1] === '-') {
      while (i < sql.length && sql[i] !== '\n') i++;
    } else if (c === '/' && sql[i + 1] === '*') {
      const close = sql.indexOf('*/', i + 2);
      i = close < 0 ? sql.length : close + 2;
    } else if (c === ';') {
      flush(i);
      start = ++i;
    } else i++;
  }
  flush(sql.length);
  return kinds;
}

function kindOf(statement: string): string {
  const raw = statement.trim().split(/\s+/, 4);
  const words = raw.map((w) => w.toUpperCase());
  const [first, second] = words;
  if (first === 'SELECT') return /\bFOR UPDATE\b/i.test(statement) ? 'SELECT … FOR UPDATE' : 'SELECT';
  if (first === 'INSERT') {
    const table = (second === 'IGNORE' ? raw[3] : raw[2])?.replace(/[`(]/g, '');
    return `INSERT${second === 'IGNORE' ? ' IGNORE' : ''} ${table ?? ''}`.trim() + (/ON DUPLICATE KEY UPDATE/i.test(statement) ? ' … ON DUPLICATE KEY' : '');
  }
  if (first === 'UPDATE') return `UPDATE ${raw[1]?.replace(/`/g, '') ?? ''}`;
  if (first === 'DELETE') return 'DELETE';
  if (first === 'START' || first === 'BEGIN') return 'START TRANSACTION';
  return first ?? '?';
}

/** Client → Redis: RESP arrays of bulk strings (what ioredis sends). */
export function redisParser(scriptNames: Map<string, string>): (counts: Counts) => Parser {
  return (counts) => {
    let buffered: Buffer = Buffer.alloc(0);
    return (chunk) => {
      counts.roundTrips += 1;
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      for (;;) {
        const parsed = parseCommand(buffered);
        if (!parsed) break;
        buffered = buffered.subarray(parsed.consumed);
        const [name, arg] = parsed.args;
        const upper = name?.toUpperCase() ?? '?';
        if (upper === 'EVALSHA' && arg) bump(counts, `script ${scriptNames.get(arg) ?? arg.slice(0, 8)}`);
        else if (upper === 'EVAL' && arg) bump(counts, `script ${scriptNames.get(sha1(arg)) ?? 'eval'}`);
        else bump(counts, upper);
      }
    };
  };
}

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

/** One command off the front of `buffer`; undefined until it is all there. Only the first two arguments are decoded. */
function parseCommand(buffer: Buffer): { args: string[]; consumed: number } | undefined {
  if (buffer.length === 0) return undefined;
  if (buffer[0] !== 0x2a /* '*' */) {
    // An inline command (redis-cli style): one line.
    const eol = buffer.indexOf('\r\n');
    if (eol < 0) return undefined;
    return { args: buffer.subarray(0, eol).toString('utf8').split(' '), consumed: eol + 2 };
  }
  let eol = buffer.indexOf('\r\n');
  if (eol < 0) return undefined;
  const count = Number(buffer.subarray(1, eol).toString('latin1'));
  let at = eol + 2;
  const args: string[] = [];
  for (let n = 0; n < count; n++) {
    eol = buffer.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const length = Number(buffer.subarray(at + 1, eol).toString('latin1'));
    const start = eol + 2;
    if (buffer.length < start + length + 2) return undefined;
    if (n < 2) args.push(buffer.subarray(start, start + length).toString('utf8'));
    at = start + length + 2;
  }
  return { args, consumed: at };
}

/** BullMQ's scripts by the SHA1 ioredis sends them under (EVALSHA), from a checkout's own bullmq. */
export async function bullmqScriptNames(checkout: string): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  try {
    const scripts = (await import(`${checkout}/node_modules/bullmq/dist/esm/scripts/index.js`)) as Record<string, { name: string; content: string }>;
    for (const script of Object.values(scripts)) if (script?.content) names.set(sha1(script.content), script.name);
  } catch {
    // Unknown layout: scripts are shown by SHA1 prefix.
  }
  return names;
}
