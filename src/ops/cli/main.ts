import { Command, CommanderError, Option } from 'commander';
import { loadCliEnv } from '../../../config/ops-cli.env.js';
import { createApiClient } from './api-client.js';
import { CliError, EXIT } from './exit-codes.js';
import { fields, table } from './table.js';
import { addSyncCommands } from './sync.commands.js';
import { addDriftCommands } from './drift.commands.js';
import { isEntryPoint } from '../../shared/entry-point.js';

const STATUSES = ['received', 'processed', 'ignored', 'failed'];
const ROLES = ['admin', 'accountant', 'operator'];

interface GlobalOptions {
  url: string;
  token?: string;
  json?: boolean;
}

interface EventSummary {
  id: string;
  accountId: string | null;
  type: string;
  status: string;
  reason: string | null;
  attempts: number;
  lastError: string | null;
  objectId: string | null;
  apiVersion: string | null;
  source?: string;
  receivedAt: string;
  processedAt: string | null;
}

interface EventDetail extends EventSummary {
  livemode: boolean;
  queueJob: string;
  payload: unknown;
  tries: { attempt: number; startedAt: string; durationMs: number; outcome: string; reason: string | null; error: string | null; stackLine: string | null }[];
  history: { at: string; what: string; via?: string; outcome?: string; reason?: string; by?: string; auditId?: number }[];
}

interface TokenView {
  id: string;
  name: string;
  role: string;
  /** The one merchant account the token sees; null: every account. */
  accountId: string | null;
  lastFour: string;
  createdAt: string;
  createdBy: string | null;
  revokedAt: string | null;
}

const HELP_AFTER = `
Environment: BILLED_URL (default http://127.0.0.1:3000) and BILLED_TOKEN; --url and --token override them.
Exit codes: 0 ok, 1 API error (5xx), 2 usage error (bad arguments, or the API said 400, or 409: say which account),
            3 not found (404), 4 no token / unknown or revoked token (401) / wrong role (403),
            5 service unreachable.`;

/** Tokens shorter than this are not masked: masking a few characters would garble ordinary output. */
const MIN_MASKED_TOKEN = 8;

/**
 * Builds the command tree; `out`/`err` are where it writes, so tests could capture them.
 * `secrets` collects the tokens in use (BILLED_TOKEN, --token) for `run` to mask in all output.
 */
export function buildProgram(io: { out: (text: string) => void; err: (text: string) => void }, secrets = new Set<string>()): Command {
  const env = loadCliEnv();
  const keepSecret = (token: string | undefined) => {
    if (token && token.length >= MIN_MASKED_TOKEN) secrets.add(token);
  };
  keepSecret(env.BILLED_TOKEN);
  const program = new Command('billed-ops')
    .description('On-call operations for the Billed payments service: find events, replay them, catch up from Stripe, check the books against Stripe (drift), repair webhook endpoints, manage access tokens.')
    .option('--url <url>', 'service base URL (env BILLED_URL)', env.BILLED_URL)
    // No commander default: help would print it, and a default is the whole token.
    .option('--token <token>', `bearer token (default: env BILLED_TOKEN, ${env.BILLED_TOKEN ? 'set' : 'not set'})`)
    .option('--json', 'print the API answer as JSON instead of tables')
    .addHelpText('after', HELP_AFTER)
    // Each subcommand's help lists --url and --token too, with where they come from.
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError('(run with --help for usage)');

  const context = (command: Command) => {
    const options = command.optsWithGlobals<GlobalOptions>();
    const token = options.token ?? env.BILLED_TOKEN;
    keepSecret(token);
    return { api: createApiClient({ url: options.url, token }), json: Boolean(options.json) };
  };
  const print = (json: boolean, value: unknown, text: () => string) => io.out(json ? JSON.stringify(value, null, 2) : text());
  /** The same event id can be stored for several accounts (one copy per endpoint it came in on). */
  const ACCOUNT_HELP = 'which copy, when the id came in on several endpoints: a merchant account id (ma_...) or "default"';
  const accountQuery = (account: string | undefined) => (account === undefined ? '' : `?accountId=${encodeURIComponent(account)}`);
  const accountLabel = (accountId: string | null) => accountId ?? 'default';

  const events = program.command('events').description('find stored Stripe events and read their processing history');

  events
    .command('list')
    .description('list events, newest first')
    .addOption(new Option('--status <status>', 'only events in this status').choices(STATUSES))
    .option('--type <type>', 'an event type (charge.refunded) or a family (charge.*)')
    .option('--since <when>', 'received at or after: ISO date/time or a duration ago (30m, 2h, 7d)')
    .option('--until <when>', 'received before: ISO date/time or a duration ago')
    .option('-q, --query <id>', 'any id the events carry (event, invoice, payment intent, charge, refund, payout), or an invoice number (INV-2026-0042)')
    .option('--limit <n>', 'events per page (1-200)', '50')
    .option('--cursor <cursor>', 'the next page, as printed under the previous one')
    .option('--account <accountId>', 'only events that came in on this merchant account\'s endpoint (ma_...), or "default"')
    .action(async (options: { status?: string; type?: string; since?: string; until?: string; query?: string; limit: string; cursor?: string; account?: string }, command: Command) => {
      const { api, json } = context(command);
      const page = await api.get<{ data: EventSummary[]; nextCursor: string | null; payloadSearched: boolean }>('/api/ops/events', {
        status: options.status,
        type: options.type,
        since: options.since,
        until: options.until,
        q: options.query,
        limit: options.limit,
        cursor: options.cursor,
        accountId: options.account,
      });
      print(json, page, () => {
        if (page.data.length === 0) return 'No events match.';
        const rows = page.data.map((e) => [e.receivedAt, e.id, accountLabel(e.accountId), e.type, e.status, e.attempts, e.lastError ?? e.reason]);
        let text = table(['RECEIVED', 'EVENT', 'ACCOUNT', 'TYPE', 'STATUS', 'TRIES', 'ERROR / REASON'], rows);
        if (page.nextCursor) text += `\n\nMore: add --cursor ${page.nextCursor}`;
        return text;
      });
      if (options.query && !page.payloadSearched && !json) {
        io.err('note: ids were matched through indexes only; add --status failed or --since <when> to also search inside payloads.');
      }
    });

  events
    .command('show')
    .description("one event: its record, every try with its error and where it was thrown, the history, the raw payload")
    .argument('<eventId>', 'the Stripe event id (evt_...)')
    .option('--account <accountId>', ACCOUNT_HELP)
    .option('--no-payload', 'leave out the raw payload')
    .action(async (eventId: string, options: { payload: boolean; account?: string }, command: Command) => {
      const { api, json } = context(command);
      const event = await api.get<EventDetail>(`/api/ops/events/${encodeURIComponent(eventId)}${accountQuery(options.account)}`);
      print(json, event, () => {
        const parts = [
          fields([
            ['event', event.id],
            ['type', event.type],
            ['status', event.reason ? `${event.status} (${event.reason})` : event.status],
            ['object', event.objectId],
            ['api version', event.apiVersion],
            ['account', accountLabel(event.accountId)],
            ['livemode', String(event.livemode)],
            ['tries', event.attempts],
            ['queued in', event.queueJob],
            ['received', event.source === 'catch_up' ? `${event.receivedAt} (fetched by catch-up: no delivery brought it)` : event.receivedAt],
            ['processed', event.processedAt],
            ['last error', event.lastError],
          ]),
        ];
        if (event.tries.length) {
          parts.push(
            table(
              ['TRY', 'STARTED', 'MS', 'OUTCOME', 'ERROR', 'THROWN AT'],
              event.tries.map((t) => [t.attempt, t.startedAt, t.durationMs, t.reason ? `${t.outcome} (${t.reason})` : t.outcome, t.error, t.stackLine]),
              80,
            ),
          );
        }
        parts.push(
          ['History:', ...event.history.map((h) => `  ${h.at}  ${h.what === 'replayed' ? `replayed by ${h.by} (audit #${h.auditId})` : h.what === 'attempt' ? `try: ${h.outcome}${h.reason ? ` (${h.reason})` : ''}` : h.via === 'catch_up' ? 'received (fetched by catch-up)' : h.what}`)].join('\n'),
        );
        if (options.payload) parts.push(`Payload:\n${JSON.stringify(event.payload, null, 2)}`);
        return parts.join('\n\n');
      });
    });

  program
    .command('replay')
    .description('run stored events through their handlers again: one by id, or every event matching a filter')
    .argument('[eventId]', 'replay this one event')
    .option('--account <accountId>', `with an event id: ${ACCOUNT_HELP}; with a filter: only that account's events`)
    .option('--failed', 'every failed event (same as --status failed)')
    .addOption(new Option('--status <status>', 'every event in this status').choices(STATUSES))
    .option('--type <type>', 'only this type (charge.refunded) or family (charge.*)')
    .option('--since <when>', 'received at or after: ISO date/time or a duration ago (2h)')
    .option('--until <when>', 'received before')
    .option('--dry-run', 'count what would be replayed; enqueue nothing')
    .action(
      async (
        eventId: string | undefined,
        options: { failed?: boolean; status?: string; type?: string; since?: string; until?: string; dryRun?: boolean; account?: string },
        command: Command,
      ) => {
        const { api, json } = context(command);
        const filtering = options.failed || options.status || options.type || options.since || options.until || options.dryRun;
        // With an event id, --account says which copy; it is no filter then.
        if (eventId && filtering) throw new CliError(EXIT.usage, 'Give either an event id or filter options (--failed/--status, --type, --since, --until, --dry-run), not both.');
        if (eventId) {
          const result = await api.post<{ eventId: string; accountId: string | null; previousStatus: string; queued: boolean; auditId: number }>(
            `/api/ops/events/${encodeURIComponent(eventId)}/replay${accountQuery(options.account)}`,
          );
          const whose = result.accountId ? ` of account ${result.accountId}` : '';
          print(json, result, () =>
            `Replayed ${result.eventId}${whose} (was ${result.previousStatus}); ${result.queued ? 'queued' : 'the relay queues it once Redis is back'}. Audit #${result.auditId}.`,
          );
          return;
        }
        if (options.failed && options.status && options.status !== 'failed') throw new CliError(EXIT.usage, '--failed and --status disagree: give one of them.');
        const status = options.status ?? (options.failed ? 'failed' : undefined);
        if (!status) throw new CliError(EXIT.usage, 'Say what to replay: an event id, or --failed / --status <status> with optional --type, --since, --until, --account.');
        const result = await api.post<{ matched: number; enqueued: number; dryRun: boolean; auditId: number | null }>('/api/ops/replay', {
          status,
          type: options.type,
          since: options.since,
          until: options.until,
          accountId: options.account,
          dryRun: Boolean(options.dryRun),
        });
        print(json, result, () =>
          result.dryRun
            ? `Dry run: ${result.matched} event(s) match; nothing was replayed.`
            : `Replayed: ${result.matched} matched, ${result.enqueued} enqueued${result.auditId ? ` (audit #${result.auditId})` : ''}.`,
        );
      },
    );

  const tokens = program.command('tokens').description('access tokens (admin)');
  const tokenRows = (list: TokenView[]) =>
    table(
      ['ID', 'NAME', 'ROLE', 'SEES', 'ENDS WITH', 'CREATED', 'BY', 'REVOKED'],
      // A token's scope: one merchant account, or every account (not the default account: that is an event's).
      list.map((t) => [t.id, t.name, t.role, t.accountId ?? 'all accounts', `…${t.lastFour}`, t.createdAt, t.createdBy, t.revokedAt]),
    );

  tokens
    .command('list')
    .description('every token, revoked ones too (never their secrets)')
    .action(async (_options: unknown, command: Command) => {
      const { api, json } = context(command);
      const result = await api.get<{ data: TokenView[] }>('/api/tokens');
      print(json, result, () => (result.data.length ? tokenRows(result.data) : 'No tokens yet (ADMIN_TOKEN is not listed).'));
    });

  tokens
    .command('create')
    .description('create a token; its secret is printed this once')
    .requiredOption('--name <name>', 'who or what uses it, e.g. "alice (on-call)"')
    .addOption(new Option('--role <role>', 'what it may do').choices(ROLES).makeOptionMandatory())
    .option('--account <accountId>', 'confine it to one merchant account (ma_...): it sees and touches that account only; without it, every account')
    .action(async (options: { name: string; role: string; account?: string }, command: Command) => {
      const { api, json } = context(command);
      const created = await api.post<TokenView & { token: string }>('/api/tokens', { name: options.name, role: options.role, accountId: options.account });
      print(json, created, () => `${tokenRows([created])}\n\nToken (shown only now; store it in your secret manager):\n${created.token}`);
    });

  tokens
    .command('revoke')
    .description('revoke a token: it stops working at once')
    .argument('<tokenId>', 'the token id (tok_...)')
    .action(async (tokenId: string, _options: unknown, command: Command) => {
      const { api, json } = context(command);
      await api.delete(`/api/tokens/${encodeURIComponent(tokenId)}`);
      print(json, { id: tokenId, revoked: true }, () => `Revoked ${tokenId}.`);
    });

  program
    .command('audit')
    .description('the audit log: who did what, when, to how many')
    .option('--action <action>', 'e.g. event.replay, events.replay, token.create, token.revoke, events.purge')
    .option('--actor <name>', 'a token name or id')
    .option('--since <when>', 'ISO date/time or a duration ago')
    .option('--limit <n>', 'entries (1-500)', '50')
    .action(async (options: { action?: string; actor?: string; since?: string; limit: string }, command: Command) => {
      const { api, json } = context(command);
      const result = await api.get<{ data: { id: number; at: string; actor: { name: string; role: string }; action: string; target: string | null; count: number | null }[] }>(
        '/api/ops/audit',
        { action: options.action, actor: options.actor, since: options.since, limit: options.limit },
      );
      print(json, result, () =>
        result.data.length
          ? table(['#', 'AT', 'WHO', 'ROLE', 'ACTION', 'TARGET', 'COUNT'], result.data.map((e) => [e.id, e.at, e.actor.name, e.actor.role, e.action, e.target, e.count]))
          : 'No audit entries match.',
      );
    });

  addSyncCommands(program, { context, print, err: io.err });
  addDriftCommands(program, { context, print });

  return program;
}

/**
 * Runs one command line; resolves to the exit code. Everything it prints goes through `mask`:
 * a token in use is replaced wherever it appears, even inside an answer the service echoed back.
 */
export async function run(argv: string[], rawIo = { out: (text: string) => console.log(text), err: (text: string) => console.error(text) }): Promise<number> {
  const secrets = new Set<string>();
  const mask = (text: string) => [...secrets].reduce((masked, secret) => masked.split(secret).join('[token]'), text.replace(/\n$/, ''));
  const io = { out: (text: string) => rawIo.out(mask(text)), err: (text: string) => rawIo.err(mask(text)) };
  const program = buildProgram(io, secrets);
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version are answers, not errors; everything else commander rejects is a usage error.
      if (['commander.helpDisplayed', 'commander.version'].includes(error.code) || error.exitCode === 0) return EXIT.ok;
      return EXIT.usage;
    }
    if (error instanceof CliError) {
      io.err(`error: ${error.message}`);
      return error.exitCode;
    }
    io.err(`error: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.apiError;
  }
}

if (isEntryPoint(import.meta.url)) {
  process.exitCode = await run(process.argv);
}
