import type { Command } from 'commander';
import type { ApiClient } from './api-client.js';
import { CliError, EXIT } from './exit-codes.js';
import { table } from './table.js';

interface Progress {
  listed: number;
  new: number;
  alreadyHad: number;
  rateLimited: number;
}

interface EndpointHealth {
  status: string;
  endpointId: string | null;
  problems: { code: string; message: string }[];
  checkedAt: string | null;
}

interface JobView {
  jobId: string;
  accountId: string;
  gateway?: string;
  state: string;
  progress: (Progress & { since: string; until: string }) | null;
  catchUp: (Progress & { ran: true; durationMs: number; eventsPerSecond: number; since: string; until: string }) | { ran: false; reason: string } | null;
  webhookEndpoint: EndpointHealth | null;
  error: string | null;
}

interface AccountStatus {
  accountId: string;
  gateway?: string;
  lastRun: { trigger: string; outcome: string; startedAt: string; listed: number | null; new: number | null; error: string | null } | null;
  lastSuccessAt: string | null;
  recoveredTotal: number;
  webhookEndpoint: EndpointHealth | null;
}

export interface SyncCommandContext {
  context(command: Command): { api: ApiClient; json: boolean };
  print(json: boolean, value: unknown, text: () => string): void;
  err(text: string): void;
  /** How often a running catch-up is asked for its progress. */
  pollMs?: number;
}

const endpointCell = (health: EndpointHealth | null) =>
  !health
    ? 'not watched (default account)'
    : health.status === 'problems'
      ? `PROBLEMS: ${health.problems.map((p) => p.code).join(', ')}`
      : health.status;

const GATEWAYS = ['stripe', 'paypal'];

const progressLine = (job: JobView, p: Progress) => `${job.accountId}${job.gateway === 'paypal' ? ' (PayPal)' : ''}: listed ${p.listed}, new ${p.new}, already had ${p.alreadyHad}${p.rateLimited ? `, rate-limited ${p.rateLimited}×` : ''}`;

/** `catch-up`, `status` and `endpoint repair`: the catch-up from Stripe and PayPal, and Stripe webhook endpoint health (docs/operations.md). */
export function addSyncCommands(program: Command, cli: SyncCommandContext): void {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  program
    .command('catch-up')
    .description("list the gateway's events of an account (or every account) and store those no delivery brought; shows progress, then a summary")
    .option('--account <accountId>', 'a merchant account (ma_...) or "default"; every account with a key (PayPal: a connection) when left out')
    .option('--gateway <gateway>', 'whose events: stripe or paypal', 'stripe')
    .option('--since <when>', 'created at or after: ISO date/time or a duration ago (3d); default: from the account\'s last catch-up (3 days on the first), at most 30 days')
    .option('--until <when>', 'created before: default two minutes ago (newer events are left to their delivery)')
    .option('--no-wait', 'start the runs and print their job ids; do not follow them')
    .action(async (options: { account?: string; gateway: string; since?: string; until?: string; wait: boolean }, command: Command) => {
      const { api, json } = cli.context(command);
      if (!GATEWAYS.includes(options.gateway)) throw new CliError(EXIT.usage, `--gateway must be stripe or paypal, not "${options.gateway}".`);
      const started = await api.post<{ jobs: { accountId: string; jobId: string }[]; auditId: number }>('/api/ops/catch-up', {
        accountId: options.account,
        gateway: options.gateway,
        since: options.since,
        until: options.until,
      });
      if (!options.wait) {
        cli.print(json, started, () => `${table(['ACCOUNT', 'JOB'], started.jobs.map((j) => [j.accountId, j.jobId]))}\n\nFollow with GET /api/ops/catch-up/jobs/<job>. Audit #${started.auditId}.`);
        return;
      }
      const last = new Map<string, string>();
      const done: JobView[] = [];
      let pending = started.jobs.map((j) => j.jobId);
      while (pending.length > 0) {
        const views = await Promise.all(pending.map((jobId) => api.get<JobView>(`/api/ops/catch-up/jobs/${encodeURIComponent(jobId)}`)));
        for (const view of views) {
          const line = view.progress ? progressLine(view, view.progress) : `${view.accountId}: ${view.state}`;
          // Progress goes to stderr, so --json output stays one document.
          if (last.get(view.jobId) !== line) cli.err(line);
          last.set(view.jobId, line);
          if (view.state === 'completed' || view.state === 'failed') done.push(view);
        }
        pending = views.filter((v) => v.state !== 'completed' && v.state !== 'failed').map((v) => v.jobId);
        if (pending.length > 0) await sleep(cli.pollMs ?? 500);
      }
      cli.print(json, { jobs: done }, () =>
        table(
          ['ACCOUNT', 'OUTCOME', 'LISTED', 'NEW', 'ALREADY HAD', 'RATE-LIMITED', 'SECONDS', 'EVENTS/S', 'ENDPOINT'],
          done.map((job) => {
            const run = job.catchUp;
            if (job.state === 'failed' || !run) return [job.accountId, `failed: ${job.error ?? ''}`, job.progress?.listed, job.progress?.new, job.progress?.alreadyHad, job.progress?.rateLimited, '', '', ''];
            if (!run.ran) return [job.accountId, run.reason === 'not_connected' ? 'skipped: not connected' : 'skipped', '', '', '', '', '', '', endpointCell(job.webhookEndpoint)];
            return [job.accountId, 'done', run.listed, run.new, run.alreadyHad, run.rateLimited, (run.durationMs / 1000).toFixed(1), run.eventsPerSecond, endpointCell(job.webhookEndpoint)];
          }),
          80,
        ),
      );
      const failed = done.filter((job) => job.state === 'failed');
      if (failed.length > 0) throw new CliError(EXIT.apiError, `the catch-up of ${failed.map((j) => j.accountId).join(', ')} failed (see the table; the next run lists the same window again).`);
    });

  program
    .command('status')
    .description("each account's last catch-up per gateway, the events catch-up recovered, and its Stripe webhook endpoint's health")
    .action(async (_options: unknown, command: Command) => {
      const { api, json } = cli.context(command);
      const status = await api.get<{ intervalMs: number; data: AccountStatus[] }>('/api/ops/catch-up');
      cli.print(json, status, () => {
        if (status.data.length === 0) return 'No account has a Stripe key (STRIPE_SECRET_KEY, or a connected account) or a PayPal connection: nothing to catch up.';
        const rows = status.data.map((a) => [
          a.accountId,
          a.gateway ?? 'stripe',
          a.lastRun?.startedAt,
          a.lastRun ? (a.lastRun.error ? `${a.lastRun.outcome}: ${a.lastRun.error}` : `${a.lastRun.outcome} (${a.lastRun.trigger})`) : 'never run',
          a.lastRun?.listed,
          a.lastRun?.new,
          a.recoveredTotal,
          endpointCell(a.webhookEndpoint),
        ]);
        const text = table(['ACCOUNT', 'GATEWAY', 'LAST CATCH-UP', 'OUTCOME', 'LISTED', 'NEW', 'RECOVERED', 'ENDPOINT'], rows, 70);
        const problemsOf = (gateway: string) =>
          status.data
            .filter((a) => (a.gateway ?? 'stripe') === gateway)
            .flatMap((a) => (a.webhookEndpoint?.problems ?? []).map((p) => `  ${a.accountId} (${a.webhookEndpoint!.endpointId}): ${p.message}`));
        const [problems, paypalProblems] = [problemsOf('stripe'), problemsOf('paypal')];
        const every = status.intervalMs > 0 ? `Automatic catch-up every ${Math.round(status.intervalMs / 60_000)} min.` : 'Automatic catch-up is off (CATCH_UP_INTERVAL_MS=0).';
        return [
          text,
          problems.length ? `Endpoint problems (fix with: billed-ops endpoint repair <account>):\n${problems.join('\n')}` : '',
          paypalProblems.length ? `PayPal webhook problems (fix: connect PayPal again, PUT /api/accounts/<account>/paypal):\n${paypalProblems.join('\n')}` : '',
          every,
        ]
          .filter(Boolean)
          .join('\n\n');
      });
    });

  const endpoint = program.command('endpoint').description("a merchant account's Stripe webhook endpoint");
  endpoint
    .command('repair')
    .description('re-enable the endpoint and set its URL and event types right, or recreate it when Stripe no longer has it')
    .argument('<accountId>', 'the merchant account (ma_...)')
    .action(async (accountId: string, _options: unknown, command: Command) => {
      const { api, json } = cli.context(command);
      const result = await api.post<{ action: string; previousEndpointId: string | null; webhookEndpoint: EndpointHealth; auditId: number }>(
        `/api/accounts/${encodeURIComponent(accountId)}/stripe/endpoint/repair`,
      );
      const what = {
        none: 'Nothing to repair on',
        reenabled: 'Re-enabled',
        updated: 'Updated (enabled, URL and event types)',
        recreated: `Recreated (was ${result.previousEndpointId}) as`,
      }[result.action] ?? result.action;
      cli.print(json, result, () => `${what} endpoint ${result.webhookEndpoint.endpointId} of ${accountId}: now ${endpointCell(result.webhookEndpoint)}. Audit #${result.auditId}.`);
    });
}
