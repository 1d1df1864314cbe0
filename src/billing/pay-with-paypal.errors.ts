import { z } from 'zod';
import { AppError, echo } from '../shared/errors.js';
import { PaypalAmountError } from '../paypal/amounts.js';
import { PaypalApiError } from '../paypal/paypal-client.js';

/** Pay with PayPal's input and answers in the payer's terms: each refusal with a stable code and what to do. */

/** PayPal's order ids: upper-case letters and digits (17 today; room for more). */
const captureSchema = z.object({ orderId: z.string().regex(/^[A-Z0-9]{1,36}$/) }).strict();

/** The body of POST /pay/:token/paypal/capture: `{orderId}`, as POST /pay/:token/paypal answered it. */
export function parsePaypalCapture(body: unknown): { orderId: string } {
  const result = captureSchema.safeParse(body ?? {});
  if (!result.success) throw new AppError(400, 'invalid_paypal_capture', 'The body is {orderId}: the PayPal order id POST /pay/:token/paypal answered (upper-case letters and digits).');
  return result.data;
}

export const notConnected = (number: string) =>
  new AppError(
    409,
    'paypal_not_connected',
    `The merchant of invoice ${number} has not connected PayPal, so it cannot be paid with PayPal: pay by card, or ask the merchant to connect PayPal (Settings > Payment Gateways > PayPal).`,
  );

export const orderNotFound = (orderId: string) =>
  new AppError(404, 'paypal_order_not_found', `No PayPal order "${echo(orderId)}" to capture for this invoice: start again with POST /pay/:token/paypal and capture the order it answers.`);

/** A failure of PayPal's API as the payer's answer; errors of ours pass through. */
export function paypalFailure(error: unknown): unknown {
  // An amount PayPal cannot take exactly (half a forint: PayPal takes HUF in whole units).
  if (error instanceof PaypalAmountError) return new AppError(409, 'paypal_amount_unsupported', `This invoice cannot be paid with PayPal: ${error.message}. Pay by card.`);
  if (!(error instanceof PaypalApiError)) return error;
  if (error.issue === 'CURRENCY_NOT_SUPPORTED') {
    return new AppError(409, 'paypal_currency_unsupported', 'PayPal does not take this invoice\'s currency (for this merchant): pay by card.');
  }
  if (error.unreachable) return new AppError(502, 'paypal_unreachable', 'PayPal could not be reached; nothing was paid. Try again in a minute.');
  if (error.status === 429) return new AppError(502, 'paypal_unreachable', 'PayPal is busy (it answered "too many requests"); nothing was paid. Try again in a minute.');
  if (error.status === 401) {
    return new AppError(409, 'paypal_credentials_refused', 'PayPal refused the merchant\'s connected app (its secret regenerated, or the app deleted): the merchant must connect PayPal again (Settings > Payment Gateways > PayPal).');
  }
  return new AppError(502, 'paypal_error', `PayPal refused: ${error.paypalName}${error.issue ? ` (${error.issue})` : ''}: ${error.message}`, { paypalError: error.issue ?? error.paypalName });
}

/** Why a capture was refused, for the payer: PayPal's refusals in the payer's terms. */
export function refusal(error: unknown): AppError {
  if (error instanceof PaypalApiError && error.issue === 'ORDER_NOT_APPROVED') {
    return new AppError(409, 'paypal_order_not_approved', 'The payer has not approved this PayPal order yet: approve it at PayPal (the approve link), then capture it.');
  }
  if (error instanceof PaypalApiError && error.issue === 'INSTRUMENT_DECLINED') {
    return new AppError(402, 'paypal_payment_declined', 'PayPal declined the funding source the payer chose: nothing was taken. Pick another one at PayPal (restart the approval), then capture again.');
  }
  const mapped = paypalFailure(error);
  if (mapped instanceof AppError) return mapped;
  throw mapped;
}
