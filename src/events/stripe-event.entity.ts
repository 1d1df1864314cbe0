import { EntitySchema } from 'typeorm';

export type EventStatus = 'received' | 'processed' | 'ignored' | 'failed';

/** A row of the inbox (`stripe_events`): the raw event and its processing record, keyed by (id, accountScope). */
export interface StripeEventRecord {
  id: string;
  /** `stripe` (ids `evt_…`) or `paypal` (ids `WH-…`): generated from the id by the database. */
  gateway: 'stripe' | 'paypal';
  accountId: string | null;
  /** `accountId`, or '' for the default account. */
  accountScope: string;
  type: string;
  livemode: boolean;
  stripeCreated: number;
  apiVersion: string | null;
  objectId: string | null;
  payload: string;
  /** `webhook` (a signed delivery) or `catch_up` (listed from Stripe with the account's key). */
  source: string;
  status: EventStatus;
  reason: string | null;
  attempts: number;
  lastError: string | null;
  ingestBatch: string;
  /** The batch job the event was queued in (src/events/event-queue.ts); null: a job of its own. */
  queueJob: string | null;
  receivedAt: Date;
  processedAt: Date | null;
  updatedAt: Date;
}

export const StripeEventEntity = new EntitySchema<StripeEventRecord>({
  name: 'StripeEvent',
  tableName: 'stripe_events',
  columns: {
    id: { type: 'varchar', length: 255, primary: true },
    // A STORED generated column (migration 1764232117000): read only.
    gateway: { type: 'varchar', length: 8, insert: false, update: false },
    accountId: { name: 'account_id', type: 'varchar', length: 64, nullable: true },
    accountScope: { name: 'account_scope', type: 'varchar', length: 64, primary: true },
    type: { type: 'varchar', length: 255 },
    livemode: { type: 'boolean' },
    stripeCreated: { name: 'stripe_created', type: 'bigint', transformer: { to: (v: number) => v, from: (v: string) => Number(v) } },
    apiVersion: { name: 'api_version', type: 'varchar', length: 32, nullable: true },
    objectId: { name: 'object_id', type: 'varchar', length: 255, nullable: true },
    payload: { type: 'longtext' },
    source: { type: 'varchar', length: 16 },
    status: { type: 'varchar', length: 16 },
    reason: { type: 'varchar', length: 64, nullable: true },
    attempts: { type: 'int' },
    lastError: { name: 'last_error', type: 'text', nullable: true },
    ingestBatch: { name: 'ingest_batch', type: 'char', length: 16 },
    queueJob: { name: 'queue_job', type: 'varchar', length: 64, nullable: true },
    receivedAt: { name: 'received_at', type: 'datetime', precision: 3 },
    processedAt: { name: 'processed_at', type: 'datetime', precision: 3, nullable: true },
    updatedAt: { name: 'updated_at', type: 'datetime', precision: 3 },
  },
});
