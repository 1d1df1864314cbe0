import { CreateStripeEvents1764230000000 } from './1764230000000-create-stripe-events.js';
import { CreateBilling1764230100000 } from './1764230100000-create-billing.js';
import { CreateAccounts1764230200000 } from './1764230200000-create-accounts.js';
import { CreatePayouts1764230300000 } from './1764230300000-create-payouts.js';
import { CreateAccess1764230400000 } from './1764230400000-create-access.js';
import { CreateEventHistory1764230410000 } from './1764230410000-create-event-history.js';
import { IndexInvoiceNumber1764230420000 } from './1764230420000-index-invoice-number.js';
import { ScopeFactsToAccounts1764230500000 } from './1764230500000-scope-facts-to-accounts.js';
import { ScopeInboxToAccounts1764230510000 } from './1764230510000-scope-inbox-to-accounts.js';
import { OneMerchantPerStripeAccount1764230520000 } from './1764230520000-one-merchant-per-stripe-account.js';
import { ChargeAmountReleased1764230530000 } from './1764230530000-charge-amount-released.js';
import { PayNowIntentsAndLinks1764230600000 } from './1764230600000-pay-now-intents-and-links.js';
import { IndexPayoutItemSources1764230700000 } from './1764230700000-index-payout-item-sources.js';
import { ScopeTokensToAccounts1764230818000 } from './1764230818000-scope-tokens-to-accounts.js';
import { CatchUpAndEndpointHealth1764231300000 } from './1764231300000-catch-up-and-endpoint-health.js';
import { IndexFactsByStripeCreated1764231346000 } from './1764231346000-index-facts-by-stripe-created.js';
import { CreatePaypalConnections1764231717000 } from './1764231717000-create-paypal-connections.js';
import { PaypalGateway1764232117000 } from './1764232117000-paypal-gateway.js';
import { PaypalFees1764232500000 } from './1764232500000-paypal-fees.js';
import { CatchUpPerGateway1764232600000 } from './1764232600000-catch-up-per-gateway.js';
import { QueueProcesses1764232900000 } from './1764232900000-queue-processes.js';
import { InvoicePaypalOrders1764233000000 } from './1764233000000-invoice-paypal-orders.js';
import { InboxQueueJob1764233100000 } from './1764233100000-inbox-queue-job.js';

/** In order. A new migration is added here and nowhere else. */
export const migrations = [
  CreateStripeEvents1764230000000,
  CreateBilling1764230100000,
  CreateAccounts1764230200000,
  CreatePayouts1764230300000,
  CreateAccess1764230400000,
  CreateEventHistory1764230410000,
  IndexInvoiceNumber1764230420000,
  ScopeFactsToAccounts1764230500000,
  ScopeInboxToAccounts1764230510000,
  OneMerchantPerStripeAccount1764230520000,
  ChargeAmountReleased1764230530000,
  PayNowIntentsAndLinks1764230600000,
  IndexPayoutItemSources1764230700000,
  ScopeTokensToAccounts1764230818000,
  CatchUpAndEndpointHealth1764231300000,
  IndexFactsByStripeCreated1764231346000,
  CreatePaypalConnections1764231717000,
  PaypalGateway1764232117000,
  PaypalFees1764232500000,
  CatchUpPerGateway1764232600000,
  QueueProcesses1764232900000,
  InvoicePaypalOrders1764233000000,
  InboxQueueJob1764233100000,
];
