import winston from 'winston';
import { currentContext } from './context.js';
import { redactSecrets } from './redact.js';

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
  // winston formats every line before its transports drop the ones below their level, so a
  // debug line in a hot path (one per event) would cost a JSON serialisation each at level info.
  // This gate drops them first; it asks the logger, so transports' own levels still count.
  const belowLevel = winston.format((info) => (logger.isLevelEnabled(info.level) ? info : false));
  const logger = winston.createLogger({
    level,
    format: winston.format.combine(
      belowLevel(),
      withContext(),
      winston.format.timestamp(),
      winston.format.errors({ stack: false }),
      winston.format.json(),
      redacted(),
    ),
    transports: transports ?? [new winston.transports.Console()],
  });
  return logger;
}
