import { isCurrency, minorUnitDigits } from '../billing/currencies.js';

/**
 * PayPal writes money as `{currency_code: "USD", value: "10.99"}`: a decimal string in the
 * currency's major unit. The books keep an integer in the minor unit as Stripe counts it
 * (src/billing/currencies.ts: JPY has none, USD two, KWD three). Both ways are done on the
 * digits of the string, never through a float (0.1 + 0.2 is not 0.3; 1234567.89 * 100 is not
 * exact either).
 *
 * Where the two disagree: PayPal takes HUF and TWD in whole units only (as JPY), while Stripe
 * counts them with two decimals. So "1500" HUF from PayPal is 150000 in the books, and an amount
 * in the books that is not a whole forint cannot be sent to PayPal.
 */

/** Currencies PayPal takes without decimals (PayPal's currency codes page: "does not support decimals"). */
const PAYPAL_ZERO_DECIMAL = new Set(['huf', 'jpy', 'twd']);

/** Decimal places PayPal writes for a currency (lower-case code). */
export const paypalDecimals = (currency: string): number => (PAYPAL_ZERO_DECIMAL.has(currency) ? 0 : minorUnitDigits(currency));

/** A value PayPal would not write, or that the books cannot hold exactly: the message says which and why. */
export class PaypalAmountError extends Error {
  constructor(
    message: string,
    /** Which field of PayPal's money object is wrong, when one is. */
    readonly field?: 'currency_code' | 'value',
  ) {
    super(message);
    this.name = 'PaypalAmountError';
  }
}

/** PayPal's pattern for `value` (a sign, digits, at most one point), at most 32 characters as PayPal allows. */
const VALUE = /^(-?)(\d+)(?:\.(\d+))?$/;

/** A currency code as PayPal writes it (upper case), lower-cased as the books keep it; anything else is refused. */
export function paypalCurrency(code: unknown): string {
  const currency = typeof code === 'string' && /^[A-Za-z]{3}$/.test(code) ? code.toLowerCase() : '';
  if (!currency || !isCurrency(currency)) {
    throw new PaypalAmountError(`expected an ISO 4217 currency code such as "USD", got ${shown(code)}`, 'currency_code');
  }
  return currency;
}

/**
 * PayPal's decimal string → an integer in the books' minor unit of `currency`.
 * "10.99" USD → 1099; "1500" JPY → 1500; "1500" HUF → 150000; "10.5" USD → 1050.
 * Refused: anything not a plain decimal ("1e3", "1,00", " 10", "10."), more decimals than
 * PayPal writes for the currency (unless they are zeros: "10.990" is exact), a negative value
 * unless `allowNegative`, and a value too large for the books to hold exactly.
 */
export function toMinorUnits(value: unknown, currency: string, options: { allowNegative?: boolean } = {}): number {
  if (typeof value !== 'string' || value.length > 32) {
    throw new PaypalAmountError(`expected a decimal string such as "10.99" (at most 32 characters), got ${shown(value)}`);
  }
  const match = VALUE.exec(value);
  if (!match) throw new PaypalAmountError(`expected a decimal string such as "10.99", got ${shown(value)}`);
  const [, sign, whole, fraction = ''] = match as unknown as [string, string, string, string | undefined];
  if (sign && !options.allowNegative) throw new PaypalAmountError(`expected an amount of zero or more, got ${shown(value)}`);
  const allowed = paypalDecimals(currency);
  const significant = fraction.replace(/0+$/, '');
  if (significant.length > allowed) {
    throw new PaypalAmountError(
      allowed === 0
        ? `${currency.toUpperCase()} has no decimals at PayPal, got ${shown(value)}`
        : `${currency.toUpperCase()} has ${allowed} decimal places at PayPal, got ${shown(value)}`,
    );
  }
  // Scale to the books' unit: pad the fraction to the books' digits (HUF: PayPal 0, books 2).
  const digits = minorUnitDigits(currency);
  const minor = BigInt(whole + significant.padEnd(digits, '0'));
  if (minor > BigInt(Number.MAX_SAFE_INTEGER)) throw new PaypalAmountError(`the amount ${shown(value)} ${currency.toUpperCase()} is too large to hold exactly`);
  const amount = Number(minor);
  return sign && amount !== 0 ? -amount : amount;
}

/**
 * An integer in the books' minor unit → PayPal's decimal string, with as many decimals as PayPal
 * writes for the currency: 1099 USD → "10.99"; 1500 JPY → "1500"; 150000 HUF → "1500".
 * Refused: a non-integer, and an amount PayPal cannot take (150050 HUF: half a forint).
 */
export function toPaypalValue(amount: number, currency: string): string {
  if (!Number.isSafeInteger(amount)) throw new PaypalAmountError(`expected a whole amount in the minor unit, got ${shown(amount)}`);
  const digits = minorUnitDigits(currency);
  const decimals = paypalDecimals(currency);
  const sign = amount < 0 ? '-' : '';
  const abs = String(Math.abs(amount)).padStart(digits + 1, '0');
  const whole = abs.slice(0, abs.length - digits);
  const fraction = abs.slice(abs.length - digits);
  if (fraction.slice(decimals).replace(/0/g, '') !== '') {
    throw new PaypalAmountError(`${currency.toUpperCase()} has ${decimals === 0 ? 'no decimals' : `${decimals} decimal places`} at PayPal: ${amount} (in the minor unit) cannot be sent exactly`);
  }
  const kept = fraction.slice(0, decimals);
  return `${sign}${whole}${kept ? `.${kept}` : ''}`;
}

/** PayPal's money object → `{amount, currency}` in the books' terms; each fault named. */
export function readMoney(money: unknown, options: { allowNegative?: boolean } = {}): { amount: number; currency: string } {
  if (!money || typeof money !== 'object') throw new PaypalAmountError(`expected {currency_code, value}, got ${shown(money)}`);
  const { currency_code: code, value } = money as { currency_code?: unknown; value?: unknown };
  const currency = paypalCurrency(code);
  try {
    return { amount: toMinorUnits(value, currency, options), currency };
  } catch (error) {
    if (error instanceof PaypalAmountError) throw new PaypalAmountError(error.message, 'value');
    throw error;
  }
}

function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return JSON.stringify(value)?.slice(0, 40) ?? String(value);
}
