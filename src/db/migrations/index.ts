import { CreateStripeEvents1764230000000 } from './1764230000000-create-stripe-events';
import { CreateBilling1764230100000 } from './1764230100000-create-billing';

/** In order. A new migration is added here and nowhere else. */
export const migrations = [CreateStripeEvents1764230000000, CreateBilling1764230100000];
