import { AppError, echo } from '../shared/errors.js';

/**
 * Which account's copy of an event on-call means. The inbox is keyed by (event id, account
 * scope): an event delivered to two endpoints (the default one and a merchant's, or two
 * merchants') is stored once for each. A merchant account id, null for the default endpoint,
 * or undefined when on-call did not say (then the id must be stored for one account only).
 */
export type AccountChoice = string | null | undefined;

/** The shape of the ids POST /api/accounts hands out. */
const ACCOUNT_ID = /^ma_[0-9a-f]{20}$/;

/** `?accountId=`: a merchant account id (ma_…), or `default` for the default endpoint; absent: not said. */
export function parseAccountChoice(value: unknown): AccountChoice {
  if (value === undefined) return undefined;
  if (value === 'default') return null;
  if (typeof value === 'string' && ACCOUNT_ID.test(value)) return value;
  throw new AppError(400, 'invalid_account_id', 'accountId must be a merchant account id (ma_ followed by 20 hex digits), or "default" for the default endpoint.', {
    field: 'accountId',
  });
}

/** How on-call names an account scope: the merchant account id, or `default`. */
export const accountLabel = (accountId: string | null) => accountId ?? 'default';

/**
 * The one copy of `eventId` that `account` means, among the copies stored for it: 404 event_not_found
 * when there is none, 409 event_ambiguous (naming the accounts) when on-call must choose.
 */
export function chooseCopy<T>(eventId: string, account: AccountChoice, copies: T[], accountOf: (copy: T) => string | null, hint: string): T {
  const matching = account === undefined ? copies : copies.filter((copy) => accountOf(copy) === account);
  if (matching.length === 1) return matching[0]!;
  if (matching.length === 0) {
    const where = account === undefined ? '' : ` for ${account === null ? 'the default account' : `account ${account}`}`;
    const elsewhere = copies.length ? ` It is stored for ${copies.map((copy) => accountLabel(accountOf(copy))).join(', ')}: pass that as accountId.` : '';
    throw new AppError(404, 'event_not_found', `No stored event "${echo(eventId)}"${where}.${elsewhere} ${hint}`.trim());
  }
  const accounts = matching.map((copy) => accountLabel(accountOf(copy)));
  throw new AppError(
    409,
    'event_ambiguous',
    `Event ${eventId} came in on ${accounts.length} endpoints and is stored once for each: ${accounts.join(', ')}. Say which with ?accountId=<one of them> (the CLI: --account <one of them>).`,
    { accounts },
  );
}

/**
 * The account an on-call request means and its token may see. A token confined to one account
 * means that one when it names none; any other account, the default one included, answers exactly
 * as a missing one does, naming nothing. Unscoped: the named account (checked to exist), or the
 * default one (null) when none is named.
 */
export async function accountInScope(choice: AccountChoice, onlyAccount: string | undefined, accounts: { get(id: string): Promise<unknown> }): Promise<string | null> {
  if (onlyAccount) {
    if (choice === undefined || choice === onlyAccount) return onlyAccount;
    throw new AppError(404, 'account_not_found', 'No such merchant account: GET /api/accounts lists the one this token sees (leave accountId out to mean it).');
  }
  if (choice === undefined || choice === null) return null;
  await accounts.get(choice);
  return choice;
}
