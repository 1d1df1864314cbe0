import { z } from 'zod';
import type Stripe from 'stripe';
import { amount, currency, expandable, id, idOf, optionalBoolean, optionalText, optionalTimestamp, readFields, status } from './fields.js';

/** A payout as the payout handler reads it, whatever API version the event was rendered in. */
export interface PayoutView {
  id: string;
  amount: number;
  currency: string;
  status: string;
  created: number;
  arrivalDate: number;
  /** Absent on older versions' payouts, which were all automatic. */
  automatic: boolean;
  method: string | null;
  description: string | null;
  balanceTransactionId: string | null;
  failureBalanceTransactionId: string | null;
  failureCode: string | null;
  failureMessage: string | null;
  /** Absent before Stripe reported it: unknown. */
  reconciliationStatus: string | null;
}

const payoutSchema = z.object({
  id,
  amount,
  currency,
  status,
  // Payouts were transfers before API 2017-04-06: those carry `date` (when the money arrives)
  // instead of arrival_date, and no created. One of the two must be there.
  created: optionalTimestamp,
  arrival_date: optionalTimestamp,
  date: optionalTimestamp,
  automatic: optionalBoolean,
  method: optionalText,
  description: optionalText,
  balance_transaction: expandable,
  failure_balance_transaction: expandable,
  failure_code: optionalText,
  failure_message: optionalText,
  reconciliation_status: optionalText,
}).superRefine((payout, ctx) => {
  if (payout.arrival_date == null && payout.date == null) {
    ctx.addIssue({ code: 'custom', path: ['arrival_date'], message: 'expected a unix timestamp (an integer), or `date` on payouts shaped as transfers' });
  }
});

export function readPayout(event: Stripe.Event): PayoutView {
  const payout = readFields(event, 'payout', payoutSchema);
  return {
    id: payout.id,
    amount: payout.amount,
    currency: payout.currency.toLowerCase(),
    status: payout.status,
    created: payout.created ?? payout.date ?? payout.arrival_date!,
    arrivalDate: payout.arrival_date ?? payout.date!,
    automatic: payout.automatic !== false,
    method: payout.method?.slice(0, 32) ?? null,
    description: payout.description?.slice(0, 1024) ?? null,
    balanceTransactionId: idOf(payout.balance_transaction),
    failureBalanceTransactionId: idOf(payout.failure_balance_transaction),
    failureCode: payout.failure_code?.slice(0, 64) ?? null,
    failureMessage: payout.failure_message?.slice(0, 1024) ?? null,
    reconciliationStatus: payout.reconciliation_status?.slice(0, 32) ?? null,
  };
}
