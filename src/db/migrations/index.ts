import { CreateStripeEvents1764230000000 } from './1764230000000-create-stripe-events';
import { CreateBilling1764230100000 } from './1764230100000-create-billing';
import { CreateAccounts1764230200000 } from './1764230200000-create-accounts';

/** In order. A new migration is added here and nowhere else. */
export const migrations = [CreateStripeEvents1764230000000, CreateBilling1764230100000, CreateAccounts1764230200000];
