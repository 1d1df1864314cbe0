import type { DataSource } from 'typeorm';
import { AppError, describeError, echo } from '../shared/errors.js';
import { SealedContextError, type SecretBox } from '../shared/secret-box.js';
import { findUnreadableSecrets, type UnreadableConnections } from '../shared/unreadable-secrets.js';
import type { Logger } from '../shared/logger.js';
import type { AccountService } from '../accounts/account.service.js';
import { PAYPAL_EVENT_TYPES } from './event-types.js';
import { PaypalApiError, requestAccessToken, type PaypalApiOptions, type PaypalCredentials, type PaypalMode } from './paypal-client.js';
import { checkCredentials, tokenFor, type CheckedCredentials } from './paypal-credentials.js';
import { paypalWebhooks, webhookUrlFor } from './paypal-webhooks.js';

/** After a roll to another app or mode, the previous webhook id keeps verifying this long (as a rolled Stripe secret). */
export const PREVIOUS_WEBHOOK_GRACE_MS = 24 * 3600 * 1000;

/** The client secret's sealed column is bound (AES-GCM additional data) to its account: copied to another row, it does not open. */
export const paypalSealContext = (accountId: string) => `billed:paypal_connections:client_secret:${accountId}`;

interface PaypalConnectionRow {
  account_id: string;
  mode: PaypalMode;
  client_id: string;
  client_secret_enc: string;
  secret_last4: string;
  webhook_id: string | null;
  webhook_url: string | null;
  previous_webhook_id: string | null;
  previous_webhook_expires_at: Date | null;
  warnings: string | null;
  connected_at: Date;
}

export interface PaypalConnectionDeps {
  dataSource: DataSource;
  accounts: AccountService;
  secretBox: SecretBox;
  logger: Logger;
  /** PAYPAL_API_BASE and the timeout of each call to PayPal. */
  api: PaypalApiOptions;
  /** Where PayPal reaches this service; without it no webhook is made (and deliveries cannot be verified). */
  publicBaseUrl?: string;
  now?: () => Date;
}

/**
 * Settings > Payment Gateways > PayPal: a merchant account's PayPal REST app (Client ID and
 * Secret, sandbox or live), checked with PayPal, its webhook made at PayPal for the handled event
 * types, and its secret and webhook ids handed to the parts that need them. The secret never
 * leaves in an answer (its last 4 only) and is stored sealed.
 */
export function createPaypalConnectionService(deps: PaypalConnectionDeps) {
  const { dataSource, secretBox } = deps;
  const now = deps.now ?? (() => new Date());
  const webhooks = paypalWebhooks(deps.api);

  const load = async (accountId: string) =>
    ((await dataSource.query('SELECT * FROM paypal_connections WHERE account_id = ?', [accountId])) as PaypalConnectionRow[])[0];

  const notConnected = (accountId: string) =>
    new AppError(404, 'paypal_not_connected', `Account ${echo(accountId)} has not connected PayPal: PUT /api/accounts/${echo(accountId)}/paypal with its app's clientId, clientSecret and mode.`);

  /** The stored secret; one sealed for another account (a copied row) or altered is refused, never opened. */
  function secretOf(row: PaypalConnectionRow): string {
    try {
      return secretBox.open(row.client_secret_enc, paypalSealContext(row.account_id));
    } catch (error) {
      if (!(error instanceof SealedContextError)) throw error;
      deps.logger.error('stored PayPal secret refused: it was not sealed for this account (moved from another row, or altered)', { accountId: row.account_id });
      throw new AppError(
        409,
        'paypal_connection_unusable',
        `The PayPal secret stored for account ${row.account_id} was not sealed for this account (copied from another account's row, or altered, or ENCRYPTION_KEY changed), so it is refused. Connect PayPal again: PUT /api/accounts/${row.account_id}/paypal.`,
        { accountId: row.account_id },
      );
    }
  }

  const liveWebhookIds = (row: Pick<PaypalConnectionRow, 'webhook_id' | 'previous_webhook_id' | 'previous_webhook_expires_at'>) => [
    ...(row.webhook_id ? [row.webhook_id] : []),
    ...(row.previous_webhook_id && row.previous_webhook_expires_at && row.previous_webhook_expires_at.getTime() > now().getTime() ? [row.previous_webhook_id] : []),
  ];

  const view = (row: PaypalConnectionRow) => {
    const previous = liveWebhookIds(row).includes(row.previous_webhook_id ?? '') ? row.previous_webhook_id : null;
    return {
      mode: row.mode,
      clientId: row.client_id,
      secretLast4: row.secret_last4,
      webhookId: row.webhook_id,
      webhookUrl: row.webhook_url,
      eventTypes: row.webhook_id ? [...PAYPAL_EVENT_TYPES] : [],
      previousWebhookId: previous,
      previousWebhookExpiresAt: previous ? row.previous_webhook_expires_at!.toISOString() : null,
      connectedAt: row.connected_at.toISOString(),
      warnings: row.warnings ? (JSON.parse(row.warnings) as string[]) : [],
    };
  };

  /** One PayPal app serves one merchant account: connected to two, each would get the other's payments. */
  const appInUse = (clientId: string, holder: string, nameHolder: boolean) =>
    new AppError(
      409,
      'paypal_app_in_use',
      nameHolder
        ? `This PayPal app (${clientId}) is already connected to merchant account ${holder}: an app serves one merchant account. Disconnect it there first (DELETE /api/accounts/${holder}/paypal), or create another app for this account.`
        : `This PayPal app (${clientId}) is already connected to another account of this service: an app serves one merchant account. Create another app for this account, or ask an admin whose token sees every account.`,
      nameHolder ? { clientId, connectedTo: holder } : { clientId },
    );

  async function holderOf(clientId: string, accountId: string): Promise<string | undefined> {
    const [row] = (await dataSource.query('SELECT account_id FROM paypal_connections WHERE client_id = ? AND account_id <> ?', [clientId, accountId])) as { account_id: string }[];
    return row?.account_id;
  }

  const isAppTaken = (error: unknown) => {
    const driverError = (error as { driverError?: { code?: string; sqlMessage?: string } }).driverError;
    return driverError?.code === 'ER_DUP_ENTRY' && (driverError.sqlMessage ?? '').includes('uq_paypal_connections_client');
  };

  /** Best effort: a webhook of ours left at PayPal only fails its deliveries; logged so on-call can delete it in the app. */
  async function removeWebhook(credentials: PaypalCredentials, mode: PaypalMode, webhookId: string, accountId: string): Promise<void> {
    try {
      const token = await requestAccessToken(credentials, mode, deps.api);
      await webhooks.remove(mode, token.accessToken, webhookId);
    } catch (error) {
      deps.logger.warn('could not delete the PayPal webhook; delete it in the app (developer.paypal.com > Apps & Credentials > the app > Webhooks)', {
        accountId,
        webhookId,
        mode,
        error: error instanceof PaypalApiError ? `${error.status ?? 'no answer'} ${error.paypalName}` : describeError(error),
      });
    }
  }

  /** The previous connection's credentials, when they still open (a refused row has none to delete with). */
  function previousCredentials(row: PaypalConnectionRow): PaypalCredentials | undefined {
    try {
      return { clientId: row.client_id, clientSecret: secretOf(row) };
    } catch (error) {
      if (error instanceof AppError && error.code === 'paypal_connection_unusable') return undefined;
      throw error;
    }
  }

  async function save(accountId: string, checked: CheckedCredentials, webhook: { id: string | null; url: string | null }, previousWebhook: { id: string; expiresAt: Date } | null, warnings: string[]) {
    // The account row's lock makes one account's connects (a double click) run one after the other;
    // another account holding the app fails the unique key and this account's row stays as it was.
    await dataSource.transaction(async (tx) => {
      await tx.query('SELECT id FROM accounts WHERE id = ? FOR UPDATE', [accountId]);
      await tx.query('DELETE FROM paypal_connections WHERE account_id = ?', [accountId]);
      await tx.query(
        `INSERT INTO paypal_connections
           (account_id, mode, client_id, client_secret_enc, secret_last4, webhook_id, webhook_url, previous_webhook_id, previous_webhook_expires_at, warnings, connected_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          accountId,
          checked.mode,
          checked.clientId,
          secretBox.seal(checked.clientSecret, paypalSealContext(accountId)),
          checked.clientSecret.slice(-4),
          webhook.id,
          webhook.url,
          previousWebhook?.id ?? null,
          previousWebhook?.expiresAt ?? null,
          JSON.stringify(warnings),
          now(),
        ],
      );
    });
  }

  /**
   * What the webhook route needs, in one query (it is on the webhook path): the webhook ids as
   * `webhookIds` gives them, and whether the connection is live (PayPal's events do not say;
   * the webhook that signed them is the connection's app's, in its mode). null: no such account.
   */
  async function delivery(accountId: string): Promise<{ webhookIds: string[]; live: boolean } | null> {
    const [row] = (await dataSource.query(
      'SELECT a.id, c.mode, c.webhook_id, c.previous_webhook_id, c.previous_webhook_expires_at FROM accounts a LEFT JOIN paypal_connections c ON c.account_id = a.id WHERE a.id = ?',
      [accountId],
    )) as (Pick<PaypalConnectionRow, 'webhook_id' | 'previous_webhook_id' | 'previous_webhook_expires_at'> & { id: string; mode: PaypalMode | null })[];
    return row ? { webhookIds: liveWebhookIds(row), live: row.mode === 'live' } : null;
  }

  return {
    /**
     * PUT /api/accounts/:id/paypal. Checked with PayPal (a token), the webhook made (or the one at
     * this account's URL kept), then saved. A roll to another app or mode deletes the webhook made
     * in the previous one and lets its id verify deliveries already sent for 24 h; the same app
     * keeps its webhook and id. `nameHolder: false` (a caller confined to this account): a 409
     * paypal_app_in_use does not say which account holds the app.
     */
    async connect(accountId: string, body: { clientId?: unknown; clientSecret?: unknown; mode?: unknown }, options: { nameHolder?: boolean } = {}) {
      await deps.accounts.get(accountId);
      const checked = checkCredentials(body);
      secretBox.seal('', 'check'); // fail now, before calling PayPal, if ENCRYPTION_KEY is missing
      const token = await tokenFor(checked, deps.api);
      const holder = await holderOf(checked.clientId, accountId);
      if (holder) throw appInUse(checked.clientId, holder, options.nameHolder ?? true);

      const previous = await load(accountId);
      const sameApp = previous !== undefined && previous.client_id === checked.clientId && previous.mode === checked.mode;
      const warnings: string[] = [];
      let webhook: { id: string | null; url: string | null; created: boolean } = { id: null, url: null, created: false };
      if (deps.publicBaseUrl) {
        const url = webhookUrlFor(deps.publicBaseUrl, accountId);
        webhook = { ...(await webhooks.ensure(checked.mode, token.accessToken, url)), url };
      } else if (sameApp && previous.webhook_id) {
        webhook = { id: previous.webhook_id, url: previous.webhook_url, created: false };
      } else {
        warnings.push('No webhook: PUBLIC_BASE_URL is not set, so PayPal was not told where to send this account\'s events, and none could be verified. Set PUBLIC_BASE_URL and connect again.');
      }

      // The webhook of the previous connection, if another: deleted once this one is saved, its id kept verifying 24 h.
      const replaced = previous?.webhook_id && previous.webhook_id !== webhook.id ? previous : undefined;
      const kept =
        replaced !== undefined
          ? { id: replaced.webhook_id!, expiresAt: new Date(now().getTime() + PREVIOUS_WEBHOOK_GRACE_MS) }
          : previous?.previous_webhook_id && previous.previous_webhook_expires_at && previous.previous_webhook_expires_at > now()
            ? { id: previous.previous_webhook_id, expiresAt: previous.previous_webhook_expires_at }
            : null;
      try {
        await save(accountId, checked, webhook, kept, warnings);
      } catch (error) {
        // Nothing saved: a webhook made for this attempt would only fail its deliveries.
        if (webhook.created && webhook.id) await removeWebhook(checked, checked.mode, webhook.id, accountId);
        if (isAppTaken(error)) throw appInUse(checked.clientId, (await holderOf(checked.clientId, accountId)) ?? 'another merchant account', options.nameHolder ?? true);
        throw error;
      }
      if (replaced) {
        const credentials = previousCredentials(replaced);
        if (credentials) await removeWebhook(credentials, replaced.mode, replaced.webhook_id!, accountId);
      }
      deps.logger.info('paypal connected', { accountId, mode: checked.mode, clientId: checked.clientId, webhookId: webhook.id, rolledFrom: replaced?.webhook_id });
      return view((await load(accountId))!);
    },

    async get(accountId: string) {
      await deps.accounts.get(accountId);
      const row = await load(accountId);
      if (!row) throw notConnected(accountId);
      return view(row);
    },

    /** DELETE: the connection, and the webhook this service made at PayPal (best effort: PayPal may be down, the secret revoked). */
    async disconnect(accountId: string): Promise<void> {
      await deps.accounts.get(accountId);
      const row = await load(accountId);
      if (!row) throw notConnected(accountId);
      if (row.webhook_id) {
        const credentials = previousCredentials(row);
        if (credentials) await removeWebhook(credentials, row.mode, row.webhook_id, accountId);
        else deps.logger.warn('the PayPal webhook was not deleted: the stored secret is refused; delete it in the app', { accountId, webhookId: row.webhook_id });
      }
      await dataSource.query('DELETE FROM paypal_connections WHERE account_id = ?', [accountId]);
      deps.logger.info('paypal disconnected', { accountId, webhookId: row.webhook_id });
    },

    /**
     * The webhook ids that verify this account's deliveries now: the current one, and the previous
     * one within its 24 h. null when the account does not exist, [] when it has none.
     */
    async webhookIds(accountId: string): Promise<string[] | null> {
      return (await delivery(accountId))?.webhookIds ?? null;
    },

    delivery,

    /**
     * At start, beside Stripe's check: the stored PayPal secrets the configured ENCRYPTION_KEY cannot
     * open (another key, or none); null when every one opens. As for Stripe, a secret sealed for
     * another account (a copied row) is no key problem: it opens under that account's context, so it
     * is logged and that connection alone is refused when used.
     */
    async unreadableConnections(): Promise<UnreadableConnections | null> {
      const rows = (await dataSource.query('SELECT account_id, client_secret_enc FROM paypal_connections ORDER BY account_id')) as Pick<PaypalConnectionRow, 'account_id' | 'client_secret_enc'>[];
      return findUnreadableSecrets(
        secretBox,
        rows.map((row) => ({ accountId: row.account_id, sealed: row.client_secret_enc })),
        {
          contextOf: paypalSealContext,
          legacy: false,
          onCopied: (accountId, sealedFor) =>
            deps.logger.error('stored PayPal secret refused: it was sealed for another account (its row was copied); connect PayPal again for this account', { accountId, sealedFor }),
        },
      );
    },

    /** What PayPal's JS SDK on the pay page needs (the client id is public, as PayPal's button carries it); null when not connected. */
    async checkoutApp(accountId: string): Promise<{ clientId: string; mode: PaypalMode } | null> {
      const row = await load(accountId);
      return row ? { clientId: row.client_id, mode: row.mode } : null;
    },

    /** The app's credentials and mode, for calls to PayPal on the account's behalf (orders, captures); null when not connected. */
    async credentials(accountId: string): Promise<(PaypalCredentials & { mode: PaypalMode }) | null> {
      const row = await load(accountId);
      return row ? { clientId: row.client_id, clientSecret: secretOf(row), mode: row.mode } : null;
    },
  };
}

export type PaypalConnectionService = ReturnType<typeof createPaypalConnectionService>;
