import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import { AppError, echo } from '../shared/errors.js';

interface AccountRow {
  id: string;
  name: string;
  created_at: Date;
}

const createSchema = z.object({ name: z.string().trim().min(1).max(255) });

const view = (row: AccountRow) => ({ id: row.id, name: row.name, createdAt: row.created_at.toISOString() });

/** Merchant accounts: the businesses that connect their own Stripe account. */
export function createAccountService(dataSource: DataSource) {
  return {
    async create(body: unknown) {
      const parsed = createSchema.safeParse(body);
      if (!parsed.success) throw new AppError(400, 'invalid_name', 'name is required: the business name, up to 255 characters.', { field: 'name' });
      // Ids are safe in a URL path and a BullMQ job id; "ma_" keeps them apart from Stripe's acct_ ids.
      const id = `ma_${randomBytes(10).toString('hex')}`;
      await dataSource.query('INSERT INTO accounts (id, name) VALUES (?, ?)', [id, parsed.data.name]);
      return this.get(id);
    },

    /** `onlyAccount` (a token confined to one account): any other id is not found, exactly as a missing one. */
    async get(id: string, onlyAccount?: string) {
      const [row] = (await dataSource.query('SELECT * FROM accounts WHERE id = ? AND (? IS NULL OR id = ?)', [id, onlyAccount ?? null, onlyAccount ?? null])) as AccountRow[];
      if (!row) throw new AppError(404, 'account_not_found', `No merchant account "${echo(id)}": GET /api/accounts lists them; POST /api/accounts creates one.`);
      return view(row);
    },

    /** Every merchant account, oldest first (a scoped caller: its own only). */
    async list(onlyAccount?: string) {
      const rows = (await dataSource.query('SELECT * FROM accounts WHERE (? IS NULL OR id = ?) ORDER BY created_at, id', [onlyAccount ?? null, onlyAccount ?? null])) as AccountRow[];
      return { data: rows.map(view) };
    },

    async exists(id: string): Promise<boolean> {
      const rows = (await dataSource.query('SELECT 1 FROM accounts WHERE id = ?', [id])) as unknown[];
      return rows.length > 0;
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
