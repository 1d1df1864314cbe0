import { CreateStripeEvents1764230000000 } from './1764230000000-create-stripe-events';

/** In order. A new migration is added here and nowhere else. */
export const migrations = [CreateStripeEvents1764230000000];
