import { startTestService, type TestService } from './test-service.js';
import { startFakePaypal, type FakePaypal } from './fake-paypal.js';
import { startFakeStripe } from './fake-stripe.js';
import { connectMerchant, type Merchant } from './merchants.js';
import { connectPaypal, type PaypalMerchant } from './paypal-merchant.js';

export const PUBLIC_BASE_URL = 'https://billing.example.test';

/** A service with a fake Stripe and a fake PayPal, and one merchant account with both connected. */
export interface TwoGateways {
  paypal: FakePaypal;
  stripe: Awaited<ReturnType<typeof startFakeStripe>>;
  t: TestService;
  /** The account's Stripe side (test mode): its invoices, signed Stripe deliveries. */
  card: Merchant;
  /** The same account's PayPal side (sandbox): signed PayPal deliveries. */
  pp: PaypalMerchant;
  stop(): Promise<void>;
}

/** Starts both fakes and the service pointed at them (PUBLIC_BASE_URL set, so PayPal's webhook is made), then connects one account to both. */
export async function startTwoGateways(accountName: string, env: Record<string, string> = {}): Promise<TwoGateways> {
  const paypal = await startFakePaypal();
  const stripe = await startFakeStripe();
  const t = await startTestService({ PAYPAL_API_BASE: paypal.url, PUBLIC_BASE_URL, STRIPE_API_BASE: stripe.url, ...env });
  const card = await connectMerchant(t, stripe, accountName);
  const pp = await connectPaypal(t, paypal, card.accountId);
  return {
    paypal,
    stripe,
    t,
    card,
    pp,
    async stop() {
      await t.stop();
      await paypal.stop();
      await stripe.stop();
    },
  };
}
