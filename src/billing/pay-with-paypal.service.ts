import { randomBytes, randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { AppError } from '../shared/errors.js';
import type { StripeClients } from '../stripe/stripe-clients.js';
import type { PaypalConnectionService } from '../paypal/paypal-connection.service.js';
import { PaypalApiError, type PaypalApiOptions } from '../paypal/paypal-client.js';
import { paypalOrders, type PaypalOrders, type PaypalOrderView } from '../paypal/paypal-orders.js';
import { payableInvoice, paymentProcessing, underPayLock, type PayableInvoice } from './pay-lock.js';
import { settleStripeIntents } from './stripe-intents.js';
import { notConnected, orderNotFound, paypalFailure, refusal } from './pay-with-paypal.errors.js';

/** PayPal order statuses in which the payer can still approve it, or it awaits our capture. */
const OPEN = new Set(['created', 'saved', 'approved', 'payer_action_required']);
/** A capture PayPal answered with, whose money is moving until its events say otherwise. */
const CAPTURE_MOVING = new Set(['completed', 'pending']);
/** A payment row's status (written by the capture events) that ends a PayPal capture without money. */
const CAPTURE_FAILED = new Set(['declined', 'denied', 'failed']);

interface OrderRow {
  id: string;
  invoice_id: string;
  amount: string;
  currency: string;
  status: string;
  capture_id: string | null;
  capture_status: string | null;
}

export interface PaypalOrderResult {
  orderId: string;
  status: string;
  approveUrl: string | null;
  amount: number;
  currency: string;
}

export interface PaypalCaptureResult {
  status: string;
  captureId: string;
  amount: number;
  currency: string;
}

/**
 * Pay with PayPal through a pay link: one open PayPal order per invoice and amount due, captured
 * by this service when the payer has approved it (PayPal's JS SDK onApprove).
 *
 * The money moves only at our capture call, so that is where safety is decided: under the same
 * per-invoice lock as Pay Now (pay-lock.ts), an order is captured only if it is this invoice's,
 * not superseded, for exactly the amount still due, while no other payment of the invoice is
 * moving; and every card PaymentIntent still payable is canceled first, so the card cannot pay the
 * same amount after. Every order made is kept (invoice_paypal_orders): a second click reuses the
 * open one for the amount due; one for another amount is superseded and never captured. A capture
 * not yet recorded by its events (PAYMENT.CAPTURE.COMPLETED) holds every other payment back (409
 * payment_processing), Pay Now's included. The invoice's state comes from the events only.
 */
export function createPayWithPaypalService(deps: { dataSource: DataSource; stripeClients: StripeClients; paypalConnections: PaypalConnectionService; api: PaypalApiOptions }) {
  const { dataSource } = deps;

  async function clientFor(invoice: PayableInvoice): Promise<{ orders: PaypalOrders; live: boolean }> {
    const credentials = invoice.account_id === null ? null : await deps.paypalConnections.credentials(invoice.account_id);
    if (!credentials) throw notConnected(invoice.number);
    return { orders: paypalOrders(credentials, deps.api), live: credentials.mode === 'live' };
  }

  const stripeOf = (invoice: PayableInvoice) => () => deps.stripeClients.forAccount(invoice.account_id);
  const setStatus = (tx: EntityManager, id: string, status: string) => tx.query('UPDATE invoice_paypal_orders SET status = ? WHERE id = ?', [status, id]);

  /**
   * Keeps what PayPal says of one of our orders. A capture is claimed as the invoice's account's
   * payment (gateway paypal) before anyone else can name it: a merchant signing events about
   * another's capture for its own webhook could otherwise hold it. Its events link it to the invoice.
   */
  async function remember(tx: EntityManager, invoice: PayableInvoice, order: PaypalOrderView, live: boolean): Promise<void> {
    if (!order.capture) return void (await setStatus(tx, order.id, order.status));
    await tx.query('UPDATE invoice_paypal_orders SET status = ?, capture_id = ?, capture_status = ? WHERE id = ?', [order.status, order.capture.id, order.capture.status, order.id]);
    await tx.query(`INSERT INTO payments (id, gateway, account_id, livemode) VALUES (?, 'paypal', ?, ?) ON DUPLICATE KEY UPDATE id = id`, [order.capture.id, invoice.account_id, live]);
  }

  /**
   * 409 payment_processing while a PayPal payment of the invoice moves: a capture made and not yet
   * recorded by its events, or one whose answer was lost (`capturing`: PayPal is asked, and while it
   * cannot be, the capture counts as made). `except`: the order being captured now.
   */
  async function refuseWhileCapturing(tx: EntityManager, invoice: PayableInvoice, except?: string): Promise<void> {
    const rows = (await tx.query(
      `SELECT o.id, o.status, o.capture_id, o.capture_status, p.amount_received, p.status AS payment_status
         FROM invoice_paypal_orders o LEFT JOIN payments p ON p.id = o.capture_id
        WHERE o.invoice_id = ? AND o.id <> ? AND (o.status = 'capturing' OR o.capture_id IS NOT NULL)`,
      [invoice.id, except ?? ''],
    )) as (OrderRow & { amount_received: string | null; payment_status: string | null })[];
    for (const row of rows) {
      if (row.status === 'capturing') {
        let order: PaypalOrderView;
        try {
          const { orders, live } = await clientFor(invoice);
          order = await orders.get(row.id);
          await remember(tx, invoice, order, live);
        } catch (error) {
          if (error instanceof PaypalApiError && error.status === 404) {
            await setStatus(tx, row.id, 'expired');
            continue;
          }
          throw paymentProcessing(invoice.number);
        }
        if (order.capture && CAPTURE_MOVING.has(order.capture.status)) throw paymentProcessing(invoice.number);
        continue;
      }
      const moving = CAPTURE_MOVING.has(row.capture_status ?? '') && !CAPTURE_FAILED.has(row.payment_status ?? '');
      if (moving && !(Number(row.amount_received ?? 0) > 0)) throw paymentProcessing(invoice.number);
    }
  }

  /** POST /pay/:token/paypal: the invoice's open order for the amount due, reused or made. */
  async function createOrder(invoiceId: string): Promise<PaypalOrderResult> {
    return underPayLock(dataSource, invoiceId, async (tx) => {
      const invoice = await payableInvoice(tx, invoiceId, undefined);
      const { orders, live } = await clientFor(invoice);
      try {
        await refuseWhileCapturing(tx, invoice);
        // A card payment moving refuses too; card PaymentIntents still payable stay so (the payer may still pick the card).
        await settleStripeIntents(tx, invoice, stripeOf(invoice), () => true);
        const open = (await tx.query(
          `SELECT id, status FROM invoice_paypal_orders WHERE invoice_id = ? AND status IN ('created', 'saved', 'approved', 'payer_action_required') ORDER BY created_at DESC, id`,
          [invoice.id],
        )) as OrderRow[];
        let reusable: PaypalOrderView | undefined;
        for (const row of open) {
          let order: PaypalOrderView;
          try {
            order = await orders.get(row.id);
          } catch (error) {
            // PayPal forgets orders nobody approved or captured in time.
            if (error instanceof PaypalApiError && error.status === 404) await setStatus(tx, row.id, 'expired');
            else throw error;
            continue;
          }
          if (OPEN.has(order.status) && !reusable && order.amount === invoice.due && order.currency === invoice.currency) {
            reusable = order;
            await setStatus(tx, row.id, order.status);
          } else if (OPEN.has(order.status)) {
            // For another amount (a payment was recorded since), or a newer one is handed out: never captured.
            await setStatus(tx, row.id, 'superseded');
          } else {
            await remember(tx, invoice, order, live);
            if (order.capture && CAPTURE_MOVING.has(order.capture.status)) throw paymentProcessing(invoice.number);
          }
        }
        if (reusable) return orderView(reusable);

        const requestId = randomUUID();
        // PayPal refuses a second paid order with an invoice_id it has seen (DUPLICATE_INVOICE_ID, on most
        // accounts), and an invoice may be paid in parts: so the number with a suffix, unique per order.
        // The invoice itself travels in custom_id, which the capture's readers take first.
        const paypalInvoiceId = `${invoice.number.slice(0, 100)}-${randomBytes(4).toString('hex')}`;
        const order = await orders.create({
          amount: invoice.due,
          currency: invoice.currency,
          customId: invoice.id,
          paypalInvoiceId,
          description: `Invoice ${invoice.number}`,
          requestId,
        });
        await tx.query(
          'INSERT INTO invoice_paypal_orders (id, invoice_id, account_id, amount, currency, paypal_invoice_id, status, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          [order.id, invoice.id, invoice.account_id, order.amount, order.currency, paypalInvoiceId, order.status, requestId],
        );
        return orderView(order);
      } catch (error) {
        throw paypalFailure(error);
      }
    });
  }

  /** POST /pay/:token/paypal/capture: the approved order captured, once, if it still pays exactly what is due. */
  async function captureOrder(invoiceId: string, orderId: string): Promise<PaypalCaptureResult> {
    // Refusals that record something (an order superseded, a capture left in doubt) are answered after the commit.
    const outcome = await underPayLock(dataSource, invoiceId, async (tx): Promise<PaypalCaptureResult | AppError> => {
      const [row] = (await tx.query('SELECT id, invoice_id, amount, currency, status, capture_id, capture_status FROM invoice_paypal_orders WHERE id = ? AND invoice_id = ?', [
        orderId,
        invoiceId,
      ])) as OrderRow[];
      if (!row || row.status === 'superseded' || row.status === 'expired') throw orderNotFound(orderId);
      // Captured already (a retry, a double click): the same capture, whatever the invoice says now.
      if (row.capture_id) return { status: row.capture_status!, captureId: row.capture_id, amount: Number(row.amount), currency: row.currency };
      const invoice = await payableInvoice(tx, invoiceId, undefined);
      if (Number(row.amount) !== invoice.due || row.currency !== invoice.currency) {
        await setStatus(tx, row.id, 'superseded');
        return new AppError(
          409,
          'paypal_amount_changed',
          `This PayPal order is for ${row.amount} ${row.currency} but ${invoice.due} ${invoice.currency} is due now (a payment was recorded meanwhile): nothing was taken. Start again with POST /pay/:token/paypal.`,
        );
      }
      const { orders, live } = await clientFor(invoice);
      let order: PaypalOrderView;
      let asked = false;
      try {
        await refuseWhileCapturing(tx, invoice, row.id);
        // Before PayPal's money moves, no card PaymentIntent of the invoice may stay payable.
        await settleStripeIntents(tx, invoice, stripeOf(invoice), () => false);
        // Committed at once, outside this transaction: if PayPal's answer is lost (or this process dies), the
        // order stays "capturing" and counts as captured until PayPal is asked.
        if (row.status !== 'capturing') await dataSource.query(`UPDATE invoice_paypal_orders SET status = 'capturing' WHERE id = ?`, [row.id]);
        asked = true;
        order = await captureOnce(orders, row.id);
      } catch (error) {
        // A capture asked for now, or in an earlier call whose answer was lost, is in doubt: only PayPal's own
        // record of the order clears it. A 4xx of the capture call does not (a 429, a request still in
        // progress, an expired token say nothing of what an earlier try took), nor a failure before PayPal was asked.
        if (asked || row.status === 'capturing') return settleDoubt(tx, invoice, row.id, orders, live, error);
        const forgotten = error instanceof PaypalApiError && error.status === 404;
        await setStatus(tx, row.id, forgotten ? 'expired' : error instanceof PaypalApiError && error.issue === 'ORDER_NOT_APPROVED' ? 'created' : row.status);
        if (forgotten) return orderNotFound(orderId);
        return refusal(error);
      }
      if (!order.capture) return new AppError(502, 'paypal_error', `PayPal answered the capture of order ${order.id} without a capture (status ${order.status}): try again.`);
      await remember(tx, invoice, order, live);
      return { status: order.capture.status, captureId: order.capture.id, amount: order.capture.amount, currency: order.capture.currency };
    });
    if (outcome instanceof AppError) throw outcome;
    return outcome;
  }

  /**
   * A capture whose outcome is not known (the capture call failed, or an earlier one's answer was
   * lost): PayPal's record of the order decides. Captured: that capture is the answer. Not captured:
   * the order is open again and the call's refusal is answered. PayPal forgot it: not found. PayPal
   * cannot be asked: the order stays `capturing`, holding every other payment of the invoice back.
   */
  async function settleDoubt(tx: EntityManager, invoice: PayableInvoice, orderId: string, orders: PaypalOrders, live: boolean, error: unknown): Promise<PaypalCaptureResult | AppError> {
    if (!(error instanceof PaypalApiError) && !(error instanceof AppError)) throw error; // a defect: rolled back, the order stays capturing
    let order: PaypalOrderView;
    try {
      order = await orders.get(orderId);
    } catch (lookup) {
      if (lookup instanceof PaypalApiError && lookup.status === 404) {
        await setStatus(tx, orderId, 'expired');
        return orderNotFound(orderId);
      }
      return new AppError(
        502,
        'paypal_unreachable',
        'PayPal could not be reached (or its answer could not be read), so whether it took the payment is not known yet: try again in a minute (the retry cannot take it twice).',
      );
    }
    await remember(tx, invoice, order, live);
    if (order.capture) return { status: order.capture.status, captureId: order.capture.id, amount: order.capture.amount, currency: order.capture.currency };
    return error instanceof PaypalApiError ? refusal(error) : error;
  }

  /** One PayPal-Request-Id per order: a retried capture is answered, not made again; one PayPal made already is read. */
  async function captureOnce(orders: PaypalOrders, orderId: string): Promise<PaypalOrderView> {
    try {
      return await orders.capture(orderId, `capture-${orderId}`);
    } catch (error) {
      if (error instanceof PaypalApiError && error.issue === 'ORDER_ALREADY_CAPTURED') return orders.get(orderId);
      throw error;
    }
  }

  const orderView = (order: PaypalOrderView): PaypalOrderResult => ({
    orderId: order.id,
    status: order.status,
    approveUrl: order.approveUrl,
    amount: order.amount,
    currency: order.currency,
  });

  return {
    createOrder,
    captureOrder,
    /** For Pay Now: 409 payment_processing while a PayPal capture of the invoice is not recorded yet. */
    refuseWhileCapturing: (tx: EntityManager, invoice: PayableInvoice) => refuseWhileCapturing(tx, invoice),
  };
}

export type PayWithPaypalService = ReturnType<typeof createPayWithPaypalService>;
