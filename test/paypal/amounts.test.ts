import assert from 'node:assert/strict';
import { PaypalAmountError, paypalDecimals, readMoney, toMinorUnits, toPaypalValue } from '../../src/paypal/amounts.js';

describe('PayPal amounts: decimal strings to minor units, exactly', () => {
  it('reads two-decimal currencies digit by digit, where floating point would be off by a cent', () => {
    assert.equal(toMinorUnits('10.99', 'usd'), 1099);
    assert.equal(toMinorUnits('0.29', 'usd'), 29); // 0.29 * 100 = 28.999999999999996
    assert.equal(toMinorUnits('1.15', 'eur'), 115); // 1.15 * 100 = 114.99999999999999
    assert.equal(toMinorUnits('4.35', 'gbp'), 435); // 4.35 * 100 = 434.99999999999994
    assert.equal(toMinorUnits('90071992547409.91', 'usd'), 9007199254740991);
    // Even rounded, a float is off by a cent here: Math.round(45035996273704.95 * 100) is 4503599627370496.
    assert.equal(toMinorUnits('45035996273704.95', 'usd'), 4503599627370495);
    assert.equal(toMinorUnits('90071992547408.99', 'usd'), 9007199254740899);
    assert.equal(toMinorUnits('10.5', 'usd'), 1050);
    assert.equal(toMinorUnits('10', 'usd'), 1000);
    assert.equal(toMinorUnits('0.00', 'usd'), 0);
  });

  it('reads JPY in whole yen, and HUF and TWD in whole units that the books keep with two decimals, as Stripe counts them', () => {
    assert.equal(toMinorUnits('1500', 'jpy'), 1500);
    assert.equal(toMinorUnits('1500', 'huf'), 150000);
    assert.equal(toMinorUnits('300', 'twd'), 30000);
    assert.deepEqual([paypalDecimals('jpy'), paypalDecimals('huf'), paypalDecimals('twd'), paypalDecimals('usd')], [0, 0, 0, 2]);
  });

  it('refuses decimals a currency has not at PayPal, unless they are zeros', () => {
    assert.throws(() => toMinorUnits('1500.5', 'jpy'), { name: 'PaypalAmountError', message: 'JPY has no decimals at PayPal, got "1500.5"' });
    assert.throws(() => toMinorUnits('10.50', 'huf'), /HUF has no decimals at PayPal/);
    assert.throws(() => toMinorUnits('10.999', 'usd'), { message: 'USD has 2 decimal places at PayPal, got "10.999"' });
    assert.equal(toMinorUnits('10.990', 'usd'), 1099);
    assert.equal(toMinorUnits('1500.00', 'jpy'), 1500);
  });

  it('refuses what is not a plain decimal string', () => {
    for (const value of ['1e3', '1,00', ' 10', '10.', '.5', '', '+10', '0x10', 'NaN', '10.0.0', '١٠']) {
      assert.throws(() => toMinorUnits(value, 'usd'), PaypalAmountError, JSON.stringify(value));
    }
    for (const value of [10.99, null, undefined, {}, ['10']]) assert.throws(() => toMinorUnits(value, 'usd'), /expected a decimal string such as "10\.99"/);
    assert.throws(() => toMinorUnits('1'.repeat(33), 'usd'), /at most 32 characters/);
  });

  it('refuses a negative amount unless the field may be one, and an amount too large to hold exactly', () => {
    assert.throws(() => toMinorUnits('-1.00', 'usd'), /expected an amount of zero or more, got "-1.00"/);
    assert.equal(toMinorUnits('-1.25', 'usd', { allowNegative: true }), -125);
    assert.throws(() => toMinorUnits('90071992547409.92', 'usd'), /too large to hold exactly/);
  });

  it('writes the books\' minor units back as PayPal\'s strings, and refuses what PayPal cannot take', () => {
    assert.equal(toPaypalValue(1099, 'usd'), '10.99');
    assert.equal(toPaypalValue(5, 'usd'), '0.05');
    assert.equal(toPaypalValue(1500, 'jpy'), '1500');
    assert.equal(toPaypalValue(150000, 'huf'), '1500');
    assert.equal(toPaypalValue(-125, 'usd'), '-1.25');
    assert.throws(() => toPaypalValue(150050, 'huf'), /HUF has no decimals at PayPal: 150050 \(in the minor unit\) cannot be sent exactly/);
    assert.throws(() => toPaypalValue(10.5, 'usd'), /expected a whole amount in the minor unit/);
    for (const [amount, currency] of [[1, 'usd'], [123456789, 'eur'], [42, 'jpy'], [700, 'twd'], [1234, 'kwd']] as const) {
      assert.equal(toMinorUnits(toPaypalValue(amount, currency), currency), amount, `${amount} ${currency} round trip`);
    }
  });

  it('reads PayPal\'s money object, lower-casing the currency and refusing one that is not a currency', () => {
    assert.deepEqual(readMoney({ currency_code: 'USD', value: '2.51' }), { amount: 251, currency: 'usd' });
    assert.throws(() => readMoney({ currency_code: 'XYZ1', value: '1.00' }), /expected an ISO 4217 currency code such as "USD", got "XYZ1"/);
    assert.throws(() => readMoney({ currency_code: 'QQQ', value: '1.00' }), /ISO 4217/);
    assert.throws(() => readMoney('10 USD'), /expected \{currency_code, value\}/);
  });
});
