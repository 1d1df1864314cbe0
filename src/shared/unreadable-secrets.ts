import { AppError } from './errors.js';
import { isLegacySealed, SealedContextError, type SecretBox } from './secret-box.js';

/** What the start-up check found in one table: the stored connections whose sealed secret the configured ENCRYPTION_KEY cannot open. */
export interface UnreadableConnections {
  /** false: ENCRYPTION_KEY is not set at all. */
  keySet: boolean;
  /** The accounts whose stored secret cannot be opened. */
  accountIds: string[];
  /** Every stored connection of the table, readable or not. */
  stored: number;
}

/**
 * At start, for one table of sealed secrets (Stripe keys, PayPal secrets): those the configured
 * ENCRYPTION_KEY cannot open (another key, or none); null when every one opens. Started anyway,
 * each such account would fail later (webhooks, payments), so start-up stops on them. A secret
 * sealed for another account (a row copied onto this one) is no key problem: it opens under that
 * account's context, so `onCopied` is told (to log it, naming both) and that connection alone is
 * refused when used. `legacy`: values sealed before they were bound to an account (v1) count as
 * readable when the key opens them (start-up re-seals them).
 */
export function findUnreadableSecrets(
  secretBox: SecretBox,
  rows: readonly { accountId: string; sealed: string }[],
  options: { contextOf: (accountId: string) => string; legacy: boolean; onCopied: (accountId: string, sealedFor: string) => void },
): UnreadableConnections | null {
  const opens = (sealed: string, accountId: string) => {
    try {
      secretBox.open(sealed, options.contextOf(accountId));
      return true;
    } catch (error) {
      if (error instanceof SealedContextError) return false;
      throw error;
    }
  };
  let keySet = true;
  const accountIds = rows
    .filter((row) => {
      try {
        if (options.legacy && isLegacySealed(row.sealed)) {
          secretBox.openLegacy(row.sealed);
          return false;
        }
        if (opens(row.sealed, row.accountId)) return false;
        const sealedFor = rows.find((other) => other !== row && opens(row.sealed, other.accountId));
        if (!sealedFor) return true;
        options.onCopied(row.accountId, sealedFor.accountId);
        return false;
      } catch (error) {
        if (error instanceof AppError && error.code === 'encryption_not_configured') keySet = false;
        return true;
      }
    })
    .map((row) => row.accountId);
  return accountIds.length > 0 ? { keySet, accountIds, stored: rows.length } : null;
}
