import { Writable } from 'node:stream';
import winston from 'winston';
import { createLogger, type Logger } from '../../src/shared/logger.js';

/** The real logger (formats, redaction), writing its JSON lines to memory so tests can read them. */
export function createMemoryLogger(level = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8').trimEnd());
      callback();
    },
  });
  const logger = createLogger(level, [new winston.transports.Stream({ stream })]);
  return { logger, lines };
}
