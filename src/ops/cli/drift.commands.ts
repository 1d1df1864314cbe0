import type { Command } from 'commander';
import type { ApiClient } from './api-client.js';
import { table } from './table.js';
import type { DriftReport } from '../../drift/drift.service.js';
import type { Tally } from '../../drift/drift-check.js';

// The API's answer, as the service types it (type-only: nothing of the service is loaded).

interface RepairResult {
  before: { differences: number; apiCalls: number };
  catchUp: { since: string; until: string; types: string[]; listed: number; new: number; alreadyHad: number; apiCalls: number } | null;
  pending: number;
  after: DriftReport;
  stillDifferent: number;
  apiCalls: number;
  auditId: number;
}

export interface DriftCommandContext {
  context(command: Command): { api: ApiClient; json: boolean };
  print(json: boolean, value: unknown, text: () => string): void;
}

const LABEL: Record<string, string> = {
  paymentIntents: 'payment intents',
  charges: 'charges',
  refunds: 'refunds',
  disputes: 'disputes',
  payouts: 'payouts',
};

const KIND: Record<string, string> = {
  missing_in_service: 'missing in the service',
  missing_at_stripe: 'missing at Stripe',
  different: 'different',
  unreadable: 'unreadable at Stripe',
};

const show = (value: string | number | boolean | null) => (value === null ? '-' : String(value));

/** The differences as a table, then what was checked, what it cost, and what to do. */
export function driftText(report: DriftReport, repairHint = true): string {
  const all = Object.values(report.totals).reduce<Tally>(
    (sum, tally) => ({
      missing_in_service: sum.missing_in_service + tally.missing_in_service,
      missing_at_stripe: sum.missing_at_stripe + tally.missing_at_stripe,
      different: sum.different + tally.different,
      unreadable: sum.unreadable + tally.unreadable,
    }),
    { missing_in_service: 0, missing_at_stripe: 0, different: 0, unreadable: 0 },
  );
  const count = Object.values(all).reduce((a, b) => a + b, 0);
  const parts: string[] = [];
  if (report.differences.length) {
    parts.push(
      table(
        ['OBJECT', 'ID', 'DIFFERENCE', 'FIELD', 'SERVICE', 'STRIPE', 'CURRENCY', 'INVOICE'],
        report.differences.map((d) => [d.object, d.id, KIND[d.kind] ?? d.kind, d.field, show(d.service), show(d.stripe), d.currency, d.invoiceId]),
        80,
      ),
    );
  }
  const checked = Object.entries(report.checked).map(([key, n]) => `${n} ${LABEL[key] ?? key}`).join(', ');
  const kinds = Object.entries(all).filter(([, n]) => n > 0).map(([kind, n]) => `${n} ${KIND[kind] ?? kind}`).join(', ');
  parts.push(
    [
      `Account ${report.account}, objects Stripe created ${report.from} – ${report.to}.`,
      `Checked ${checked}.`,
      count === 0 ? 'No differences: the service holds what Stripe lists.' : `${count} difference(s): ${kinds}.`,
      report.truncated ? `The report lists the first ${report.differences.length}; the counts cover all of them.` : '',
      `${report.apiCalls} Stripe API call(s) in ${(report.durationMs / 1000).toFixed(1)} s.`,
      ...report.notes,
      repairHint && all.missing_in_service + all.different > 0 ? 'To recover the events behind them: billed-ops drift --repair with the same range.' : '',
    ]
      .filter(Boolean)
      .join('\n'),
  );
  return parts.join('\n\n');
}

/** `drift`: the service's books against Stripe's lists for one account and range; `--repair` catches up the kinds that differ (docs/operations.md). */
export function addDriftCommands(program: Command, cli: DriftCommandContext): void {
  program
    .command('drift')
    .description("compare an account's payments, charges, refunds, disputes and payouts with what Stripe lists for a range; --repair catches up the events behind the differences")
    .requiredOption('--from <when>', 'objects Stripe created at or after: ISO date/time or a duration ago (7d)')
    .option('--to <when>', 'and at or before (default now); at most 30 days after --from')
    .option('--account <accountId>', 'a merchant account (ma_...) or "default" (the default; a token confined to one account: that one)')
    .option('--repair', 'then catch up the events of the kinds that differ and check again (audited)')
    .action(async (options: { from: string; to?: string; account?: string; repair?: boolean }, command: Command) => {
      const { api, json } = cli.context(command);
      const range = { accountId: options.account, from: options.from, to: options.to };
      if (!options.repair) {
        const report = await api.get<DriftReport>('/api/ops/drift', range);
        cli.print(json, report, () => driftText(report));
        return;
      }
      const result = await api.post<RepairResult>('/api/ops/drift/repair', range);
      cli.print(json, result, () => {
        const head = [`Before: ${result.before.differences} difference(s).`];
        if (result.catchUp) {
          head.push(
            `Catch-up of ${result.catchUp.since} – ${result.catchUp.until} (${result.catchUp.types.length} event types): listed ${result.catchUp.listed}, new ${result.catchUp.new}, already had ${result.catchUp.alreadyHad}.`,
          );
        } else {
          head.push('Nothing to repair.');
        }
        head.push(`After: ${result.stillDifferent} still different. ${result.apiCalls} Stripe API call(s) in all. Audit #${result.auditId}.`);
        return `${head.join('\n')}\n\n${driftText(result.after, false)}`;
      });
    });
}
