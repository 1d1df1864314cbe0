import { z } from 'zod';

/**
 * The ops CLI's environment (the CLI is a client of a running service, so it
 * has its own two variables; flags override them).
 */
const cliEnvSchema = z.object({
  /** Where the service answers, e.g. https://billing.example.com. */
  BILLED_URL: z.string().default('http://127.0.0.1:3000'),
  /** A bearer token: ADMIN_TOKEN or one from POST /api/tokens (operator for events and replay, admin for tokens). */
  BILLED_TOKEN: z.string().optional(),
});

export type CliEnv = z.infer<typeof cliEnvSchema>;

export function loadCliEnv(env: Record<string, string | undefined> = process.env): CliEnv {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  return cliEnvSchema.parse({ BILLED_URL: present.BILLED_URL, BILLED_TOKEN: present.BILLED_TOKEN });
}
