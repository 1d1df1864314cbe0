import { refundCounts } from '../billing/status-order.js';
import { formatMinor } from '../billing/currencies.js';
import type { DiscrepancyReason } from './invoice-reconciliation.js';

/**
 * Where a PayPal payment's money is settled: the merchant's PayPal balance, at once, less PayPal's
 * fee. No payout lists it (unlike Stripe's, whose money is reconciled against the payout that took
 * it to the bank), so there is nothing to wait for but PayPal's own figures: the fee and the net of
 * each capture (its seller_receivable_breakdown) and of each refund (seller_payable_breakdown).
 * Moving money out of the PayPal balance to a bank is the merchant's transfer, not an invoice's.
 */
export const IN_PAYPAL_BALANCE = 'in_paypal_balance';

export interface PaypalPaymentFacts {
  id: string;
  currency: string | null;
  amountReceived: number;
  fee: number | null;
  net: number | null;
}
export interface PaypalRefundFacts {
  id: string;
  paymentId?: string;
  currency: string;
  amount: number;
  status: string;
  fee?: number | null;
  net?: number | null;
}
export interface PaypalDisputeFacts {
  id: string;
  paymentId?: string;
  currency: string;
  amount: number;
  status: string;
}

/** The PayPal part of an invoice's money, in the currency PayPal settled it in (the capture's). */
export interface PaypalFigures {
  settlement: typeof IN_PAYPAL_BALANCE;
  currency: string;
  /** Captured − refunded (refunds count as soon as known, as Stripe's do). */
  gross: number;
  /** The captures' fees less the fees PayPal gave back on refunds, as far as PayPal's breakdowns are known. */
  fees: number;
  /** gross − fees: what the invoice left in the PayPal balance. */
  net: number;
}

export type PaypalBalanceState =
  | { state: 'none' }
  | { state: 'awaiting'; why: string }
  | { state: 'accounted' }
  | { state: 'discrepancy'; reason: DiscrepancyReason; message: string };

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const money = (amount: number, currency: string) => `${formatMinor(amount, currency)} ${currency.toUpperCase()}`;
/** PayPal's open disputes hold the money; lost ones take it back through a reversal (a refund fact). */
const OPEN_DISPUTE = new Set(['needs_response', 'under_review']);

/**
 * Whether the PayPal money of an invoice is accounted for in the PayPal balance. Each completed
 * capture needs its fee and net, each refund to be completed with its own; a breakdown that does
 * not add up (gross − fee ≠ net) or money in another currency than the invoice's is a
 * discrepancy; an open dispute (PayPal holds the funds) or a lost one whose reversal has not
 * arrived is awaited. The first discrepancy wins over anything awaited.
 */
export function paypalBalance(
  invoiceCurrency: string,
  payments: PaypalPaymentFacts[],
  refunds: PaypalRefundFacts[],
  disputes: PaypalDisputeFacts[],
): { result: PaypalBalanceState; figures: PaypalFigures | null } {
  const captured = payments.filter((p) => p.amountReceived > 0);
  if (captured.length === 0) return { result: { state: 'none' }, figures: null };
  const currency = captured[0]!.currency ?? invoiceCurrency;
  const counted = refunds.filter((r) => refundCounts(r.status));
  const inCurrency = <T extends { currency: string | null }>(list: T[]) => list.filter((x) => x.currency === currency);
  const gross = sum(inCurrency(captured).map((p) => p.amountReceived)) - sum(inCurrency(counted).map((r) => r.amount));
  const fees = sum(inCurrency(captured).map((p) => p.fee ?? 0)) - sum(inCurrency(counted).map((r) => r.fee ?? 0));
  const figures: PaypalFigures = { settlement: IN_PAYPAL_BALANCE, currency, gross, fees, net: gross - fees };

  const discrepancy = (reason: DiscrepancyReason, message: string) => ({ result: { state: 'discrepancy', reason, message } as const, figures });
  let awaiting: string | null = null;
  for (const payment of captured) {
    if (payment.currency !== invoiceCurrency) {
      return discrepancy('currency_mismatch', `PayPal capture ${payment.id} is in ${payment.currency}, the invoice in ${invoiceCurrency}`);
    }
    if (payment.fee === null || payment.net === null) awaiting ??= `PayPal capture ${payment.id}: its fee and net (seller_receivable_breakdown) are not known yet`;
    else if (payment.amountReceived - payment.fee !== payment.net) {
      return discrepancy(
        'amount_mismatch',
        `PayPal capture ${payment.id}: ${money(payment.amountReceived, invoiceCurrency)} less its fee ${money(payment.fee, invoiceCurrency)} is not its net ${money(payment.net, invoiceCurrency)}`,
      );
    }
    for (const refund of counted.filter((r) => r.paymentId === payment.id)) {
      if (refund.currency !== payment.currency) {
        return discrepancy('currency_mismatch', `PayPal refund ${refund.id} is in ${refund.currency}, its capture ${payment.id} in ${payment.currency}`);
      }
      if (refund.status !== 'succeeded') awaiting ??= `PayPal refund ${refund.id} is ${refund.status}, not completed yet`;
      else if (refund.fee === null || refund.fee === undefined || refund.net === null || refund.net === undefined) {
        awaiting ??= `PayPal refund ${refund.id}: its fee and net (seller_payable_breakdown) are not known yet`;
      } else if (refund.amount - refund.fee !== refund.net) {
        return discrepancy(
          'amount_mismatch',
          `PayPal refund ${refund.id}: ${money(refund.amount, invoiceCurrency)} less the fee given back ${money(refund.fee, invoiceCurrency)} is not its net ${money(refund.net, invoiceCurrency)}`,
        );
      }
    }
    for (const dispute of disputes.filter((d) => d.paymentId === payment.id)) {
      if (OPEN_DISPUTE.has(dispute.status)) awaiting ??= `PayPal dispute ${dispute.id} is open: PayPal holds the money`;
      const reversed = sum(counted.filter((r) => r.paymentId === payment.id).map((r) => r.amount));
      if (dispute.status === 'lost' && reversed < dispute.amount) awaiting ??= `PayPal dispute ${dispute.id} was lost: its reversal is not known yet`;
    }
  }
  return { result: awaiting ? { state: 'awaiting', why: awaiting } : { state: 'accounted' }, figures };
}
