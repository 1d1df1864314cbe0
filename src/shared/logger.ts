import winston from 'winston';
import { currentContext } from './context';
import { redactSecrets } from './redact';

const MESSAGE = Symbol.for('message');

/** Adds the request/job/event id of the current async context to every line. */
const withContext = winston.format((info) => {
  const context = currentContext();
  if (context) Object.assign(info, context);
  return info;
});

/** Runs last, on the serialized JSON line: nothing that looks like a secret gets out. */
const redacted = winston.format((info) => {
  const line = (info as unknown as Record<symbol, unknown>)[MESSAGE];
  if (typeof line === 'string') (info as unknown as Record<symbol, unknown>)[MESSAGE] = redactSecrets(line);
  return info;
});

export type Logger = winston.Logger;

export function createLogger(level = 'info', transports?: winston.transport[]): Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(
      withContext(),
      winston.format.timestamp(),
      winston.format.errors({ stack: false }),
      winston.format.json(),
      redacted(),
    ),
    transports: transports ?? [new winston.transports.Console()],
  });
}
