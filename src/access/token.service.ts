import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import { AppError, echo } from '../shared/errors.js';
import { adminTokenVerifier, type Principal, type Role, type TokenVerifier } from '../http/auth.middleware.js';

export const ROLES: readonly Role[] = ['admin', 'accountant', 'operator'];

/** `bld_` makes a leaked token recognisable to secret scanners and to the log redactor. */
const TOKEN_PREFIX = 'bld_';
const newSecret = () => `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
const newTokenId = () => `tok_${randomBytes(12).toString('hex')}`;
const sha256 = (value: string) => createHash('sha256').update(value).digest();

interface TokenRow {
  id: string;
  name: string;
  role: Role;
  account_id: string | null;
  token_hash: Buffer;
  last_four: string;
  created_at: Date;
  created_by: string | null;
  revoked_at: Date | null;
  revoked_by: string | null;
}

const createSchema = z.object({
  name: z.string().trim().min(1).max(100),
  role: z.enum(ROLES as [Role, ...Role[]]),
  // null or absent: every account, as before scopes existed.
  accountId: z.string().min(1).max(64).nullish(),
});

export interface CreateTokenInput {
  name: string;
  role: Role;
  accountId: string | null;
}

const HOW_TO_FIND_ACCOUNTS = 'GET /api/accounts lists the merchant accounts and their ids (ma_…); POST /api/accounts creates one';

export function parseCreateToken(body: unknown): CreateTokenInput {
  const result = createSchema.safeParse(body);
  if (result.success) return { ...result.data, accountId: result.data.accountId ?? null };
  const field = String(result.error.issues[0]?.path[0] ?? 'body');
  if (field === 'role') {
    throw new AppError(400, 'invalid_role', `role must be one of ${ROLES.join(', ')}.`, { field });
  }
  if (field === 'accountId') {
    throw new AppError(
      400,
      'invalid_account_id',
      `accountId is the id of the one merchant account the token may see (${HOW_TO_FIND_ACCOUNTS}); leave it out, or null, for a token that sees every account.`,
      { field },
    );
  }
  throw new AppError(400, 'invalid_name', 'name is required: who or what uses the token (e.g. "alice (on-call)"), 1–100 characters.', { field: 'name' });
}

const accountNotFound = (accountId: string) =>
  new AppError(400, 'account_not_found', `No merchant account "${echo(accountId)}": ${HOW_TO_FIND_ACCOUNTS}. Leave accountId out for a token that sees every account.`, {
    field: 'accountId',
  });

const view = (row: TokenRow) => ({
  id: row.id,
  name: row.name,
  role: row.role,
  accountId: row.account_id,
  lastFour: row.last_four,
  createdAt: row.created_at.toISOString(),
  createdBy: row.created_by,
  revokedAt: row.revoked_at?.toISOString() ?? null,
  revokedBy: row.revoked_by,
});

/**
 * Bearer tokens in the database. Only SHA-256(secret) is stored: a database
 * leak yields no usable token. Lookup is by that hash through a unique index,
 * so timing reveals at most something about a hash, never about a secret; the
 * found hash is still compared in constant time before it is trusted.
 */
export function createTokenService(dataSource: DataSource) {
  async function create(input: CreateTokenInput, actor: Principal) {
    if (input.accountId && ((await dataSource.query('SELECT 1 FROM accounts WHERE id = ?', [input.accountId])) as unknown[]).length === 0) {
      throw accountNotFound(input.accountId);
    }
    const secret = newSecret();
    const id = newTokenId();
    await dataSource.query(
      'INSERT INTO access_tokens (id, name, role, account_id, token_hash, last_four, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [id, input.name, input.role, input.accountId, sha256(secret), secret.slice(-4), actor.name],
    );
    const [row] = (await dataSource.query('SELECT * FROM access_tokens WHERE id = ?', [id])) as TokenRow[];
    return { ...view(row!), token: secret };
  }

  /** Revoking twice is harmless; an unknown id is 404 so a typo is not mistaken for success. */
  async function revoke(id: string, actor: Principal) {
    const [row] = (await dataSource.query('SELECT * FROM access_tokens WHERE id = ?', [id])) as TokenRow[];
    if (!row) throw new AppError(404, 'token_not_found', `No token "${echo(id)}": ids look like tok_… and are listed by GET /api/tokens.`);
    if (!row.revoked_at) {
      await dataSource.query('UPDATE access_tokens SET revoked_at = NOW(3), revoked_by = ? WHERE id = ? AND revoked_at IS NULL', [actor.name, id]);
    }
    const [after] = (await dataSource.query('SELECT * FROM access_tokens WHERE id = ?', [id])) as TokenRow[];
    return { ...view(after!), alreadyRevoked: row.revoked_at !== null };
  }

  async function list() {
    const rows = (await dataSource.query('SELECT * FROM access_tokens ORDER BY created_at DESC, id DESC')) as TokenRow[];
    return { data: rows.map(view) };
  }

  /** No cache: a revoked token stops working on the very next request. */
  const verify: TokenVerifier = async (token) => {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return null;
    const hash = sha256(token);
    const [row] = (await dataSource.query(
      'SELECT id, name, role, account_id, token_hash FROM access_tokens WHERE token_hash = ? AND revoked_at IS NULL',
      [hash],
    )) as Pick<TokenRow, 'id' | 'name' | 'role' | 'account_id' | 'token_hash'>[];
    if (!row || !timingSafeEqual(Buffer.from(row.token_hash), hash)) return null;
    return { id: row.id, name: row.name, role: row.role, accountId: row.account_id };
  };

  return { create, revoke, list, verify };
}

export type TokenService = ReturnType<typeof createTokenService>;

/** ADMIN_TOKEN (the bootstrap admin, compared in constant time) first, then the tokens table. */
export function accessTokenVerifier(adminToken: string | undefined, tokens: Pick<TokenService, 'verify'>): TokenVerifier {
  const admin = adminTokenVerifier(adminToken);
  return async (token) => (await admin(token)) ?? tokens.verify(token);
}
