import assert from 'node:assert/strict';
import { emptyCounts, mysqlParser } from '../bench/counting-proxy.js';

/** A client packet: 3-byte length, sequence id, payload. */
const packet = (sequence: number, payload: Buffer) => {
  const header = Buffer.alloc(4);
  header.writeUIntLE(payload.length, 0, 3);
  header[3] = sequence;
  return Buffer.concat([header, payload]);
};
const command = (code: number, rest: Buffer | string) => packet(0, Buffer.concat([Buffer.from([code]), Buffer.isBuffer(rest) ? rest : Buffer.from(rest)]));
const execute = (statementId: number) => {
  const rest = Buffer.alloc(9);
  rest.writeUInt32LE(statementId, 0);
  return command(0x17, rest);
};

const preparedOk = (statementId: number) => {
  const payload = Buffer.alloc(12);
  payload.writeUInt32LE(statementId, 1);
  return packet(1, payload);
};

/** The figures in docs/performance.md come from bench/per-event-counts.ts, which counts through this parser. */
describe('bench: the MySQL counting proxy', () => {
  it("counts a prepared statement's executions as that statement, its preparation apart, and a close as no round trip", () => {
    const counts = emptyCounts();
    const parse = mysqlParser(counts);
    // The server's answers to the preparations: 0x00, the statement id, … (ids are the server's, not 1, 2, …).
    parse(command(0x16, 'INSERT IGNORE INTO stripe_events (id) VALUES (?), (?)'));
    parse.fromServer!(preparedOk(57));
    parse(command(0x16, 'SELECT 1'));
    parse.fromServer!(preparedOk(901));
    parse(Buffer.concat([execute(57), execute(57), execute(901)]));
    parse(command(0x03, 'START TRANSACTION; SELECT 2; COMMIT'));
    parse(command(0x19, Buffer.from([1, 0, 0, 0])));
    assert.equal(counts.roundTrips, 6);
    assert.deepEqual(counts.byKind, {
      '(prepare) INSERT IGNORE stripe_events': 1,
      '(prepare) SELECT': 1,
      'INSERT IGNORE stripe_events': 2,
      SELECT: 2,
      'START TRANSACTION': 1,
      COMMIT: 1,
    });
  });
});
