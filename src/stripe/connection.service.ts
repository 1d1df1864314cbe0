import { PINNED_API_VERSION } from './api-version.js';
import type { DataSource } from 'typeorm';
import Stripe from 'stripe';
import { AppError, describeError, echo } from '../shared/errors.js';
import { isLegacySealed, SealedContextError, type SecretBox } from '../shared/secret-box.js';
import { findUnreadableSecrets, type UnreadableConnections } from '../shared/unreadable-secrets.js';
import type { Logger } from '../shared/logger.js';
import type { AccountService } from '../accounts/account.service.js';
import { checkSecretKey, checkWebhookSecret, RESTRICTED_KEY_PERMISSIONS, type CheckedKey } from './key-check.js';
import { createStripeClient, type StripeClientOptions } from './stripe-client.js';

/** While a connection is rolled, the previous signing secret keeps verifying this long. */
export const PREVIOUS_SECRET_GRACE_MS = 24 * 3600 * 1000;

interface StoredSecret {
  secret: string;
  /** ISO time after which it no longer verifies; null for the current secret. */
  expiresAt: string | null;
}

/**
 * What each sealed column is bound to (AES-GCM additional data): its purpose and its account. A value
 * copied to another account's row, or from one column to the other, does not open there.
 */
export type SealedPurpose = 'secret_key' | 'webhook_secrets';
export const sealContext = (purpose: SealedPurpose, accountId: string) => `billed:stripe_connections:${purpose}:${accountId}`;

interface ConnectionRow {
  account_id: string;
  mode: 'live' | 'test';
  key_last4: string;
  restricted: number;
  secret_key_enc: string;
  stripe_account_id: string | null;
  charges_enabled: number | null;
  webhook_endpoint_id: string | null;
  /** 1: this service created the endpoint (it may recreate it, and deletes it on disconnect); 0: an id the merchant gave. */
  webhook_endpoint_managed: number;
  webhook_secrets_enc: string | null;
  warnings: string | null;
  livemode_mismatches: number;
  last_mismatch_at: Date | null;
  connected_at: Date;
}

export interface ConnectionDeps {
  dataSource: DataSource;
  accounts: AccountService;
  secretBox: SecretBox;
  logger: Logger;
  stripe: StripeClientOptions;
  publicBaseUrl?: string;
  /** The event types the endpoint is created for. */
  subscribedEventTypes: readonly string[];
  /** The default account's key (STRIPE_SECRET_KEY): its Stripe account is taken too. */
  defaultKey?: string;
  now?: () => Date;
}

/**
 * Settings > Payment Gateways > Stripe: connect a merchant account's key, check it
 * with Stripe, create the webhook endpoint, and hand out its key and secrets
 * (decrypted) to the parts that need them. Keys and secrets never leave in an answer.
 */
export function createConnectionService(deps: ConnectionDeps) {
  const { dataSource, secretBox } = deps;
  const now = deps.now ?? (() => new Date());

  const load = async (accountId: string) =>
    ((await dataSource.query('SELECT * FROM stripe_connections WHERE account_id = ?', [accountId])) as ConnectionRow[])[0];

  const unusable = (accountId: string, purpose: SealedPurpose) => {
    deps.logger.error('stored Stripe secret refused: it was not sealed for this account (moved from another row, or altered)', { accountId, purpose });
    return new AppError(
      409,
      'stripe_connection_unusable',
      `The Stripe ${purpose === 'secret_key' ? 'key' : 'signing secrets'} stored for account ${accountId} ${purpose === 'secret_key' ? 'was' : 'were'} not sealed for this account (copied from another account's row, or altered), so ${purpose === 'secret_key' ? 'it is' : 'they are'} refused. Connect Stripe again for this account: PUT /api/accounts/${accountId}/stripe with its secret key.`,
      { accountId },
    );
  };

  /** Opens a sealed column of an account's row; a value sealed for another account or purpose is refused, never decrypted. */
  const openFor = (purpose: SealedPurpose, accountId: string, sealed: string): string => {
    try {
      return secretBox.open(sealed, sealContext(purpose, accountId));
    } catch (error) {
      if (error instanceof SealedContextError) throw unusable(accountId, purpose);
      throw error;
    }
  };

  /** The signing secrets that verify now: the current one, and previous ones within their 24 h. */
  const liveSecretsOf = (accountId: string, sealed: string | null): StoredSecret[] =>
    sealed
      ? (JSON.parse(openFor('webhook_secrets', accountId, sealed)) as StoredSecret[]).filter((s) => s.expiresAt === null || Date.parse(s.expiresAt) > now().getTime())
      : [];

  /** On a new connect, a previous row whose secrets are refused counts as having none: connecting again is the fix. */
  const previousSecretsOf = (row: ConnectionRow): StoredSecret[] => {
    try {
      return liveSecretsOf(row.account_id, row.webhook_secrets_enc);
    } catch (error) {
      if (error instanceof AppError && error.code === 'stripe_connection_unusable') return [];
      throw error;
    }
  };

  const view = (row: ConnectionRow) => {
    const live = liveSecretsOf(row.account_id, row.webhook_secrets_enc);
    return {
      mode: row.mode,
      keyLast4: row.key_last4,
      restricted: Boolean(row.restricted),
      stripeAccountId: row.stripe_account_id,
      chargesEnabled: row.charges_enabled === null ? null : Boolean(row.charges_enabled),
      webhookEndpointId: row.webhook_endpoint_id,
      webhookEndpointManaged: row.webhook_endpoint_id === null ? null : Boolean(row.webhook_endpoint_managed),
      webhookSecretConfigured: live.some((s) => s.expiresAt === null),
      previousSecretExpiresAt: live.find((s) => s.expiresAt !== null)?.expiresAt ?? null,
      connectedAt: row.connected_at.toISOString(),
      warnings: row.warnings ? (JSON.parse(row.warnings) as string[]) : [],
      // The help page's "payments not appearing: you are using a test key" case, counted.
      livemodeMismatches: row.livemode_mismatches,
      lastMismatchAt: row.last_mismatch_at?.toISOString() ?? null,
    };
  };

  /** GET /v1/account with the pasted key: 401 → invalid_api_key, no answer → stripe_unreachable. */
  async function askStripe(checked: CheckedKey, warnings: string[]): Promise<{ id: string | null; chargesEnabled: boolean | null }> {
    const stripe = createStripeClient(checked.key, { ...deps.stripe, maxNetworkRetries: 1 });
    try {
      const account = await stripe.accounts.retrieveCurrent();
      if (account.charges_enabled === false) {
        warnings.push('Stripe reports this account cannot take charges yet: finish activating it in the Stripe Dashboard (Settings > Account details) before sending invoices.');
      }
      return { id: account.id, chargesEnabled: account.charges_enabled ?? null };
    } catch (error) {
      if (error instanceof Stripe.errors.StripeAuthenticationError) {
        throw new AppError(400, 'invalid_api_key', 'Stripe rejected this key (revoked, rolled or mistyped). Copy the current secret key from Developers > API keys and paste it again.');
      }
      if (error instanceof Stripe.errors.StripePermissionError && checked.restricted) {
        warnings.push(`This restricted key cannot read the account, so it could not be fully checked. Give it: ${RESTRICTED_KEY_PERMISSIONS}.`);
        return { id: null, chargesEnabled: null };
      }
      if (error instanceof Stripe.errors.StripeConnectionError) {
        throw new AppError(502, 'stripe_unreachable', 'Stripe could not be reached to check the key; nothing was saved. Try again in a minute.');
      }
      if (error instanceof Stripe.errors.StripeError) {
        throw new AppError(502, 'stripe_error', `Stripe could not check the key (${error.message}); nothing was saved. Try again, or contact Stripe support if it persists.`);
      }
      throw error;
    }
  }

  /**
   * One Stripe account serves one merchant account: connected to two, each would receive the other's
   * events and could sign events about the other's payments. Checked before anything is created at
   * Stripe; the unique key on stripe_account_id settles two connects racing each other.
   */
  const inUse = (stripeAccountId: string, holder: string, nameHolder: boolean) => {
    // A caller confined to one merchant account learns nothing of the others, not even their ids.
    if (!nameHolder) {
      return new AppError(
        409,
        'stripe_account_in_use',
        `Stripe account ${stripeAccountId} is already connected to another account of this service. A Stripe account can serve one account: paste the key of another Stripe account, or ask an admin whose token sees every account to disconnect it there.`,
        { stripeAccountId },
      );
    }
    return new AppError(
      409,
      'stripe_account_in_use',
      holder === 'default'
        ? `Stripe account ${stripeAccountId} is the default account's (STRIPE_SECRET_KEY): its events already reach POST /webhooks/stripe. A Stripe account can serve one account: invoice from the default account, or paste the key of another Stripe account.`
        : `Stripe account ${stripeAccountId} is already connected to merchant account ${holder}. A Stripe account can serve one merchant account: disconnect it there first (DELETE /api/accounts/${holder}/stripe), or paste the key of another Stripe account.`,
      { stripeAccountId, connectedTo: holder },
    );
  };

  /**
   * The default account's Stripe account (STRIPE_SECRET_KEY), asked once. Its events already reach
   * /webhooks/stripe: connected to a merchant account too, every event would come twice and the
   * payments could belong to one of the two only. Unknown (no key, or Stripe did not say) is no holder.
   */
  let defaultStripeAccount: Promise<string | null> | undefined;
  const defaultAccountId = () =>
    (defaultStripeAccount ??= deps.defaultKey
      ? createStripeClient(deps.defaultKey, deps.stripe)
          .accounts.retrieveCurrent()
          .then(
            (account) => account.id,
            (error: unknown) => {
              defaultStripeAccount = undefined; // ask again next time
              deps.logger.warn('could not read the default account (STRIPE_SECRET_KEY) from Stripe', { error: describeError(error) });
              return null;
            },
          )
      : Promise.resolve(null));

  async function holderOf(stripeAccountId: string, accountId: string): Promise<string | undefined> {
    if (stripeAccountId === (await defaultAccountId())) return 'default';
    const [row] = (await dataSource.query('SELECT account_id FROM stripe_connections WHERE stripe_account_id = ? AND account_id <> ?', [stripeAccountId, accountId])) as {
      account_id: string;
    }[];
    return row?.account_id;
  }

  const isStripeAccountTaken = (error: unknown) => {
    const driverError = (error as { driverError?: { code?: string; sqlMessage?: string } }).driverError;
    return driverError?.code === 'ER_DUP_ENTRY' && (driverError.sqlMessage ?? '').includes('uq_stripe_connections_stripe_account');
  };

  const endpointUrl = (accountId: string) => `${deps.publicBaseUrl!.replace(/\/$/, '')}/webhooks/stripe/${accountId}`;

  /**
   * A key rolled within the same Stripe account and mode keeps the endpoint created before, if Stripe
   * still has it enabled at this URL: a new endpoint each roll would leave the old one behind,
   * failing its deliveries once its secret expires, until Stripe's limit of endpoints is reached.
   */
  async function reusableEndpoint(checked: CheckedKey, accountId: string, previous: ConnectionRow | undefined) {
    // An endpoint the merchant gave is theirs to keep: this service makes its own.
    if (!previous?.webhook_endpoint_id || !previous.webhook_endpoint_managed) return false;
    try {
      const endpoint = await createStripeClient(checked.key, deps.stripe).webhookEndpoints.retrieve(previous.webhook_endpoint_id);
      return endpoint.status === 'enabled' && endpoint.url === endpointUrl(accountId);
    } catch (error) {
      // Deleted in the Dashboard (404), or a restricted key that may not read endpoints: make a new one.
      if ((error instanceof Stripe.errors.StripeInvalidRequestError && error.statusCode === 404) || error instanceof Stripe.errors.StripePermissionError) return false;
      throw endpointError(error);
    }
  }

  function endpointError(error: unknown): unknown {
    if (error instanceof Stripe.errors.StripeConnectionError) {
      return new AppError(502, 'stripe_unreachable', 'Stripe could not be reached to create the webhook endpoint; nothing was saved. Try again in a minute.');
    }
    if (error instanceof Stripe.errors.StripePermissionError) {
      return new AppError(400, 'key_missing_permissions', `This key may not create webhook endpoints. Give it: ${RESTRICTED_KEY_PERMISSIONS}; or pass webhookSecret for an endpoint you created yourself.`);
    }
    if (error instanceof Stripe.errors.StripeError) {
      // E.g. the account's limit of webhook endpoints, or a URL Stripe will not call (live mode wants https).
      return new AppError(502, 'stripe_error', `Stripe did not create the webhook endpoint (${error.message}); nothing was saved. Fix what it names (PUBLIC_BASE_URL, or endpoints in the Stripe Dashboard), or pass webhookSecret for an endpoint you created yourself.`);
    }
    return error;
  }

  /** Best effort: the endpoint is ours; if Stripe cannot be reached, the merchant can delete it in the Dashboard. */
  async function deleteEndpoint(key: string, endpointId: string, accountId: string): Promise<void> {
    try {
      await createStripeClient(key, deps.stripe).webhookEndpoints.del(endpointId);
    } catch (error) {
      deps.logger.warn('could not delete the webhook endpoint', { accountId, endpointId, error: describeError(error) });
    }
  }

  async function createEndpoint(key: string, accountId: string): Promise<{ id: string; secret: string }> {
    const stripe = createStripeClient(key, deps.stripe);
    try {
      const endpoint = await stripe.webhookEndpoints.create({
        url: endpointUrl(accountId),
        enabled_events: [...deps.subscribedEventTypes] as Stripe.WebhookEndpointCreateParams.EnabledEvent[],
        description: 'Billed payments backend',
        // Events come rendered in this version, the one the handlers and this client read (api-version.ts).
        api_version: PINNED_API_VERSION as Stripe.WebhookEndpointCreateParams.ApiVersion,
      });
      if (!endpoint.secret) throw new Error('Stripe returned no signing secret');
      return { id: endpoint.id, secret: endpoint.secret };
    } catch (error) {
      throw endpointError(error);
    }
  }

  return {
    /** `options.nameHolder: false` (a caller confined to this account): a 409 stripe_account_in_use does not say which account holds the Stripe account. */
    async connect(accountId: string, body: { secretKey?: unknown; webhookSecret?: unknown; webhookEndpointId?: unknown }, options: { nameHolder?: boolean } = {}) {
      const nameHolder = options.nameHolder ?? true;
      await deps.accounts.get(accountId);
      const checked = checkSecretKey(body.secretKey);
      const givenSecret = checkWebhookSecret(body.webhookSecret);
      const givenEndpointId = checkWebhookEndpointId(body.webhookEndpointId, givenSecret);
      secretBox.seal('', 'check'); // fail now, before calling Stripe, if ENCRYPTION_KEY is missing
      const warnings: string[] = [];
      if (checked.restricted) warnings.push(`Restricted key: it needs ${RESTRICTED_KEY_PERMISSIONS}.`);
      const account = await askStripe(checked, warnings);
      const holder = account.id === null ? undefined : await holderOf(account.id, accountId);
      if (holder) throw inUse(account.id!, holder, nameHolder);

      const previous = await load(accountId);
      let endpointId: string | null = null;
      let created = false;
      let managed = false;
      let secret = givenSecret;
      // The same Stripe account in the same mode: the endpoint, and so its signing secret, can stay.
      const sameScope = previous !== undefined && account.id !== null && previous.stripe_account_id === account.id && previous.mode === checked.mode;
      const hasCurrentSecret = sameScope && previousSecretsOf(previous).some((s) => s.expiresAt === null);
      if (!secret && deps.publicBaseUrl && hasCurrentSecret && (await reusableEndpoint(checked, accountId, previous))) {
        endpointId = previous!.webhook_endpoint_id;
        managed = true;
      } else if (!secret && deps.publicBaseUrl) {
        const endpoint = await createEndpoint(checked.key, accountId);
        endpointId = endpoint.id;
        created = true;
        managed = true;
        secret = endpoint.secret;
      } else if (!secret && !hasCurrentSecret) {
        warnings.push('No webhook signing secret: set PUBLIC_BASE_URL so the endpoint is created for you, or pass webhookSecret. Until then this account\'s events cannot be verified.');
      }

      // Rolling: a new signing secret becomes current and the previous current one keeps verifying for
      // 24 h, so deliveries in flight still land; so does a switch to another Stripe account or mode,
      // whose endpoint is another one. Only the key changed (same account and mode, no new secret): the
      // secrets stay as they are, the endpoint still signs with its current one.
      const kept = !previous
        ? []
        : secret || !sameScope
          ? previousSecretsOf(previous)
              .filter((s) => s.secret !== secret)
              .map((s) => ({ secret: s.secret, expiresAt: s.expiresAt ?? new Date(now().getTime() + PREVIOUS_SECRET_GRACE_MS).toISOString() }))
          : previousSecretsOf(previous);
      const secrets: StoredSecret[] = [...(secret ? [{ secret, expiresAt: null }] : []), ...kept];
      // Which endpoint is watched (endpoint health): the one made or kept here, the one the merchant
      // names, or, when only the key changed, the one watched before.
      if (!endpointId && givenEndpointId) endpointId = givenEndpointId;
      else if (!endpointId && !givenSecret && previous?.webhook_endpoint_id) {
        endpointId = previous.webhook_endpoint_id;
        managed = Boolean(previous.webhook_endpoint_managed);
      }

      try {
        // Not REPLACE: it would delete whichever row holds the same Stripe account (any unique key) instead
        // of failing. The account row's lock makes one merchant's own connects (a double click) run one
        // after the other, the last one winning, as REPLACE did; another merchant's row fails the unique
        // key, and the transaction leaves this merchant's previous connection as it was.
        await dataSource.transaction(async (tx) => {
          await tx.query('SELECT id FROM accounts WHERE id = ? FOR UPDATE', [accountId]);
          await tx.query('DELETE FROM stripe_connections WHERE account_id = ?', [accountId]);
          await tx.query(
            `INSERT INTO stripe_connections
               (account_id, mode, key_last4, restricted, secret_key_enc, stripe_account_id, charges_enabled, webhook_endpoint_id,
                webhook_endpoint_managed, webhook_secrets_enc, warnings, livemode_mismatches, last_mismatch_at, connected_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, ?)`,
            [
              accountId,
              checked.mode,
              checked.last4,
              checked.restricted,
              secretBox.seal(checked.key, sealContext('secret_key', accountId)),
              account.id,
              account.chargesEnabled,
              endpointId,
              managed,
              secrets.length ? secretBox.seal(JSON.stringify(secrets), sealContext('webhook_secrets', accountId)) : null,
              JSON.stringify(warnings),
              now(),
            ],
          );
        });
      } catch (error) {
        if (!isStripeAccountTaken(error)) throw error;
        // Another merchant account connected the same Stripe account meanwhile: nothing is saved here,
        // so the endpoint made for this attempt would only fail its deliveries at Stripe.
        if (created && endpointId) await deleteEndpoint(checked.key, endpointId, accountId);
        throw inUse(account.id!, (await holderOf(account.id!, accountId)) ?? 'another merchant account', nameHolder);
      }
      deps.logger.info('stripe connected', { accountId, mode: checked.mode, keyLast4: checked.last4, restricted: checked.restricted });
      return view((await load(accountId))!);
    },

    async get(accountId: string) {
      await deps.accounts.get(accountId);
      const row = await load(accountId);
      if (!row) throw new AppError(404, 'stripe_not_connected', `Account ${echo(accountId)} has not connected Stripe: PUT /api/accounts/:id/stripe with its secret key.`);
      return view(row);
    },

    async disconnect(accountId: string): Promise<void> {
      await deps.accounts.get(accountId);
      const row = await load(accountId);
      if (!row) throw new AppError(404, 'stripe_not_connected', `Account ${echo(accountId)} has no Stripe connection to remove.`);
      // Only an endpoint this service created is deleted: one the merchant named is theirs.
      if (row.webhook_endpoint_id && row.webhook_endpoint_managed) {
        let key: string | undefined;
        try {
          key = openFor('secret_key', accountId, row.secret_key_enc);
        } catch (error) {
          if (!(error instanceof AppError && error.code === 'stripe_connection_unusable')) throw error;
          deps.logger.warn('the webhook endpoint was not deleted: the stored key is refused; delete it in the Stripe Dashboard', { accountId, endpointId: row.webhook_endpoint_id });
        }
        if (key) await deleteEndpoint(key, row.webhook_endpoint_id, accountId);
      }
      await dataSource.query('DELETE FROM stripe_connections WHERE account_id = ?', [accountId]);
    },

    /**
     * The signing secrets that verify this account's deliveries now (expired ones dropped):
     * null when the account does not exist, [] when it has none. One query: it is on the webhook path.
     */
    async webhookSecrets(accountId: string): Promise<string[] | null> {
      const [row] = (await dataSource.query(
        'SELECT a.id, c.webhook_secrets_enc FROM accounts a LEFT JOIN stripe_connections c ON c.account_id = a.id WHERE a.id = ?',
        [accountId],
      )) as { id: string; webhook_secrets_enc: string | null }[];
      if (!row) return null;
      return liveSecretsOf(accountId, row.webhook_secrets_enc).map((s) => s.secret);
    },

    async secretKey(accountId: string): Promise<string | null> {
      const row = await load(accountId);
      return row ? openFor('secret_key', accountId, row.secret_key_enc) : null;
    },

    /**
     * At start: the stored connections whose sealed Stripe key the configured ENCRYPTION_KEY cannot
     * open (another key, or none). Started anyway, every such account would fail later (webhooks,
     * Pay Now), so start-up stops on them; null when every stored key opens. A key sealed for another
     * account (a row copied onto this one) is no key problem: it opens under that account's context,
     * so it is logged, naming the account, and that connection alone is refused when used.
     */
    async unreadableConnections(): Promise<UnreadableConnections | null> {
      const rows = (await dataSource.query('SELECT account_id, secret_key_enc FROM stripe_connections ORDER BY account_id')) as { account_id: string; secret_key_enc: string }[];
      return findUnreadableSecrets(
        secretBox,
        rows.map((row) => ({ accountId: row.account_id, sealed: row.secret_key_enc })),
        {
          contextOf: (accountId) => sealContext('secret_key', accountId),
          legacy: true,
          onCopied: (accountId, sealedFor) =>
            deps.logger.error('stored Stripe key refused: it was sealed for another account (its row was copied); connect Stripe again for this account', { accountId, sealedFor }),
        },
      );
    },

    /**
     * At start, after the key check: values sealed before they were bound to their account (v1, no
     * additional data) are re-sealed bound to the row they are in. Idempotent (only v1 values are
     * touched) and in one transaction holding the rows, so two processes starting together re-seal once.
     */
    async resealLegacy(): Promise<number> {
      return dataSource.transaction(async (tx) => {
        const rows = (await tx.query(
          "SELECT account_id, secret_key_enc, webhook_secrets_enc FROM stripe_connections WHERE secret_key_enc LIKE 'v1.%' OR webhook_secrets_enc LIKE 'v1.%' ORDER BY account_id FOR UPDATE",
        )) as { account_id: string; secret_key_enc: string; webhook_secrets_enc: string | null }[];
        let resealed = 0;
        for (const row of rows) {
          const reseal = (purpose: SealedPurpose, sealed: string | null) =>
            sealed !== null && isLegacySealed(sealed) ? secretBox.seal(secretBox.openLegacy(sealed), sealContext(purpose, row.account_id)) : sealed;
          const key = reseal('secret_key', row.secret_key_enc);
          const secrets = reseal('webhook_secrets', row.webhook_secrets_enc);
          if (key === row.secret_key_enc && secrets === row.webhook_secrets_enc) continue;
          await tx.query('UPDATE stripe_connections SET secret_key_enc = ?, webhook_secrets_enc = ? WHERE account_id = ?', [key, secrets, row.account_id]);
          resealed += 1;
        }
        return resealed;
      });
    },

    /** The endpoint endpoint health watches for the account, and the key to ask Stripe with; null when not connected. */
    async watchedEndpoint(accountId: string): Promise<{ endpointId: string | null; managed: boolean; key: string } | null> {
      const row = await load(accountId);
      if (!row) return null;
      return { endpointId: row.webhook_endpoint_id, managed: Boolean(row.webhook_endpoint_managed), key: openFor('secret_key', accountId, row.secret_key_enc) };
    },

    /** Where the account's endpoint must send events; undefined without PUBLIC_BASE_URL. */
    endpointUrl: (accountId: string): string | undefined => (deps.publicBaseUrl ? endpointUrl(accountId) : undefined),

    /**
     * Repair of an endpoint that is gone (deleted in the Dashboard, or never made): a new one, made as
     * connect makes it, whose signing secret becomes the current one, sealed; the previous current
     * secret verifies 24 h more, as on a roll, for deliveries already in flight.
     */
    async recreateEndpoint(accountId: string): Promise<{ endpointId: string; previousEndpointId: string | null }> {
      if (!deps.publicBaseUrl) {
        throw new AppError(409, 'public_base_url_not_set', 'The endpoint cannot be recreated without PUBLIC_BASE_URL (where Stripe reaches this service): set it, or create the endpoint in the Stripe Dashboard and PUT /api/accounts/:id/stripe with its webhookSecret and webhookEndpointId.');
      }
      const row = await load(accountId);
      if (!row) throw new AppError(404, 'stripe_not_connected', `Account ${accountId} has not connected Stripe: PUT /api/accounts/${accountId}/stripe with its secret key.`);
      const endpoint = await createEndpoint(openFor('secret_key', accountId, row.secret_key_enc), accountId);
      await dataSource.transaction(async (tx) => {
        const [current] = (await tx.query('SELECT webhook_secrets_enc FROM stripe_connections WHERE account_id = ? FOR UPDATE', [accountId])) as {
          webhook_secrets_enc: string | null;
        }[];
        if (!current) throw new AppError(404, 'stripe_not_connected', `Account ${accountId} was disconnected meanwhile: connect it again.`);
        const graceUntil = new Date(now().getTime() + PREVIOUS_SECRET_GRACE_MS).toISOString();
        const kept = previousSecretsOf({ ...row, webhook_secrets_enc: current.webhook_secrets_enc }).map((s) => ({ secret: s.secret, expiresAt: s.expiresAt ?? graceUntil }));
        const secrets: StoredSecret[] = [{ secret: endpoint.secret, expiresAt: null }, ...kept];
        await tx.query('UPDATE stripe_connections SET webhook_endpoint_id = ?, webhook_endpoint_managed = 1, webhook_secrets_enc = ? WHERE account_id = ?', [
          endpoint.id,
          secretBox.seal(JSON.stringify(secrets), sealContext('webhook_secrets', accountId)),
          accountId,
        ]);
      });
      deps.logger.info('webhook endpoint recreated', { accountId, endpointId: endpoint.id, previousEndpointId: row.webhook_endpoint_id });
      return { endpointId: endpoint.id, previousEndpointId: row.webhook_endpoint_id };
    },

    async recordLivemodeMismatch(accountId: string): Promise<void> {
      await dataSource.query(
        'UPDATE stripe_connections SET livemode_mismatches = livemode_mismatches + 1, last_mismatch_at = NOW(3) WHERE account_id = ?',
        [accountId],
      );
    },

    /** true/false when the account's key fixes a mode; null when nothing is connected. */
    async livemode(accountId: string): Promise<boolean | null> {
      const [row] = (await dataSource.query('SELECT mode FROM stripe_connections WHERE account_id = ?', [accountId])) as { mode: string }[];
      return row ? row.mode === 'live' : null;
    },
  };
}

/**
 * The id of an endpoint the merchant created themselves (`we_…`), for endpoint health to watch.
 * It comes with that endpoint's signing secret: without one, the service makes (or keeps) its own.
 */
function checkWebhookEndpointId(input: unknown, givenSecret: string | undefined): string | undefined {
  if (input === undefined || input === null || input === '') return undefined;
  const id = typeof input === 'string' ? input.trim() : '';
  if (!/^we_[0-9A-Za-z]{8,250}$/.test(id)) {
    throw new AppError(400, 'invalid_webhook_endpoint_id', 'webhookEndpointId must be the id of your endpoint (Developers > Webhooks > the endpoint, starts with we_), or left out.');
  }
  if (!givenSecret) {
    throw new AppError(400, 'webhook_endpoint_id_without_secret', 'webhookEndpointId names an endpoint you created: send its signing secret with it in webhookSecret (Developers > Webhooks > the endpoint > Signing secret).');
  }
  return id;
}

export type ConnectionService = ReturnType<typeof createConnectionService>;
