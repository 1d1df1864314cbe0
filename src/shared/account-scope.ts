/**
 * The account scope a row belongs to: the merchant account id, or '' for the
 * default account (the endpoint verified with STRIPE_WEBHOOK_SECRET, whose
 * `account_id` is null). Keys and guards compare scopes, which are never null,
 * so `=` means what it says in SQL.
 */
export const accountScope = (accountId: string | null): string => accountId ?? '';
