import { CheckoutPaymentIntent, OrdersController, type ApiResponse } from '@paypal/paypal-server-sdk';
import { EventRejectedError } from '../shared/errors.js';
import { paypalCurrency, toPaypalValue } from './amounts.js';
import { createPaypalSdkClient, PaypalApiError, sdkError, type PaypalApiOptions, type PaypalCredentials, type PaypalMode } from './paypal-client.js';
import { readCapture, readOrder } from './objects/paypal-objects.js';

/**
 * PayPal's Orders v2 for Pay with PayPal (create, get, capture), through PayPal's server SDK, read
 * into the books' terms by the same readers as the webhooks' resources: amounts in the minor unit,
 * currencies in lower case. PayPal's wire format stops here; every failure is a PaypalApiError
 * (with PayPal's `issue`, e.g. ORDER_NOT_APPROVED), an answer PayPal should not have given included.
 */

export interface PaypalOrderView {
  id: string;
  /** PayPal's, in lower case: created, payer_action_required, approved, saved, voided, completed. */
  status: string;
  amount: number;
  currency: string;
  /** Where the payer approves it (rel "approve", or "payer-action"); null once approved. */
  approveUrl: string | null;
  /** The capture, once the order is captured. */
  capture: { id: string; status: string; amount: number; currency: string } | null;
}

export interface NewOrder {
  amount: number;
  currency: string;
  /** The invoice id: what the capture's readers match (custom_id first). */
  customId: string;
  /** The order's invoice_id at PayPal: shown to the payer, unique per order. */
  paypalInvoiceId: string;
  description: string;
  /** PayPal-Request-Id: a retried create makes no second order. */
  requestId: string;
}

/** An order or capture answer PayPal should not have given: not retried as if PayPal were down. */
const invalidAnswer = (error: EventRejectedError) => new PaypalApiError(200, 'invalid_response', `PayPal's answer could not be read: ${error.message}`);

function view(response: ApiResponse<unknown>): PaypalOrderView {
  const context = { eventId: 'orders API', eventType: 'order' };
  try {
    const resource = JSON.parse(response.body as string) as { links?: { rel?: unknown; href?: unknown }[]; purchase_units?: { payments?: { captures?: unknown[] } }[] };
    const order = readOrder(resource, context);
    const approve = (resource.links ?? []).find((link) => link.rel === 'approve' || link.rel === 'payer-action');
    const captured = resource.purchase_units?.[0]?.payments?.captures?.[0];
    const capture = captured === undefined ? null : readCapture(captured, context);
    return {
      id: order.id,
      status: order.status.toLowerCase(),
      amount: order.amount,
      currency: order.currency,
      approveUrl: typeof approve?.href === 'string' ? approve.href : null,
      capture: capture && { id: capture.id, status: capture.status.toLowerCase(), amount: capture.amount, currency: capture.currency },
    };
  } catch (error) {
    if (error instanceof EventRejectedError) throw invalidAnswer(error);
    if (error instanceof SyntaxError) throw new PaypalApiError(200, 'invalid_response', 'PayPal answered with a body that is not JSON');
    throw error;
  }
}

/** The orders of one merchant's PayPal app, in its mode. */
export function paypalOrders(credentials: PaypalCredentials & { mode: PaypalMode }, options: PaypalApiOptions = {}) {
  const orders = new OrdersController(createPaypalSdkClient(credentials, credentials.mode, options));
  const call = async (request: () => Promise<ApiResponse<unknown>>) => {
    let response: ApiResponse<unknown>;
    try {
      response = await request();
    } catch (error) {
      throw sdkError(error);
    }
    return view(response);
  };
  return {
    create: (order: NewOrder) => {
      // Refused here (PaypalAmountError) when PayPal cannot take the amount exactly: nothing is sent.
      const value = toPaypalValue(order.amount, paypalCurrency(order.currency.toUpperCase()));
      return call(() =>
        orders.createOrder({
          paypalRequestId: order.requestId,
          // The whole order in the answer: its status, amount and approve link are read from it.
          prefer: 'return=representation',
          body: {
            intent: CheckoutPaymentIntent.Capture,
            purchaseUnits: [
              {
                amount: { currencyCode: order.currency.toUpperCase(), value },
                customId: order.customId,
                invoiceId: order.paypalInvoiceId,
                description: order.description.slice(0, 127),
              },
            ],
          },
        }),
      );
    },
    get: (id: string) => call(() => orders.getOrder({ id })),
    capture: (id: string, requestId: string) => call(() => orders.captureOrder({ id, paypalRequestId: requestId, prefer: 'return=representation' })),
  };
}

export type PaypalOrders = ReturnType<typeof paypalOrders>;
