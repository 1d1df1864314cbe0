import { randomBytes } from 'node:crypto';
import type Stripe from 'stripe';

/**
 * Our own Stripe objects, in the shapes Stripe documents, for tests and the
 * bench. The defaults describe one coherent test-mode card payment: customer
 * Ada pays $20.00 through a PaymentIntent (or a Checkout Session), its charge
 * lands in a balance transaction, and a refund, a dispute and a payout refer
 * back to them by id. Overrides are merged over the defaults, shallowly.
 *
 * Each builder is typed against stripe-node's declaration of the object, so tsc
 * rejects a misspelt field or a wrong type; test/conformance checks the keys
 * and JSON types against Stripe's OpenAPI fixtures where those are at hand.
 */

/** The API version our webhook endpoints are pinned to: the version of every event payload. */
export const STRIPE_API_VERSION = '2025-10-29.clover';

export const uniqueId = (prefix: string) => `${prefix}_${randomBytes(10).toString('hex')}`;

/**
 * stripe-node 23 declares Stripe's latest API version, which has fields that
 * came after 2025-10-29.clover: a clover payload does not carry them, so ours
 * leave them out.
 */
export type PaymentIntentObject = Omit<Stripe.PaymentIntent, 'allowed_payment_method_types' | 'payment_record'>;
export type CheckoutSessionObject = Omit<Stripe.Checkout.Session, 'allowed_payment_method_types'>;
export type DisputeObject = Omit<Stripe.Dispute, 'intended_submission_method'>;
/** Any event type, not only those stripe-node lists: tests also send types we do not handle. */
export type EventObject = Omit<Stripe.EventBase, 'type'> & { type: string };

/** The ids that tie the default objects together. */
export const DEFAULT_IDS = {
  customer: 'cus_TbLdAda0Lovelace',
  paymentMethod: 'pm_1TbLdVisa0Card00000001',
  paymentIntent: 'pi_3TbLdPay0Default0000001',
  // A charge and the balance transaction it makes share their PaymentIntent's suffix, as Stripe's do.
  charge: 'ch_3TbLdPay0Default0000001',
  chargeTransaction: 'txn_3TbLdPay0Default0000001',
  refund: 're_3TbLdPay0Default0000001',
  dispute: 'du_1TbLdDispute0Default001',
  checkoutSession: 'cs_test_a1TbLdCheckout0Default0Session0000000001',
  payout: 'po_1TbLdPayout0Default00001',
  payoutTransaction: 'txn_1TbLdPayout0Default00001',
  bankAccount: 'ba_1TbLdBank0Account0000001',
} as const;

/** 2025-10-27 12:00 UTC, the day Ada's payment was made; other times are set relative to it. */
const CREATED = 1_761_566_400;
const DAY = 86_400;

const noAddress = (): Stripe.Address => ({ city: null, country: null, line1: null, line2: null, postal_code: null, state: null });

const adaAddress = (): Stripe.Address => ({
  city: 'London',
  country: 'GB',
  line1: '12 St James’s Square',
  line2: null,
  postal_code: 'SW1Y 4JH',
  state: null,
});

export function buildCustomer(overrides: Partial<Stripe.Customer> = {}): Stripe.Customer {
  return {
    id: DEFAULT_IDS.customer,
    object: 'customer',
    address: adaAddress(),
    balance: 0,
    created: CREATED - 30 * DAY,
    currency: 'usd',
    default_source: null,
    delinquent: false,
    description: 'Analytical Engines Ltd',
    discount: null,
    email: 'ada@example.com',
    invoice_prefix: 'BLD0ADA1',
    invoice_settings: {
      custom_fields: null,
      default_payment_method: DEFAULT_IDS.paymentMethod,
      footer: null,
      rendering_options: null,
    },
    livemode: false,
    metadata: {},
    name: 'Ada Lovelace',
    next_invoice_sequence: 4,
    phone: null,
    preferred_locales: ['en-GB'],
    shipping: null,
    tax_exempt: 'none',
    test_clock: null,
    ...overrides,
  };
}

export function buildPaymentIntent(overrides: Partial<PaymentIntentObject> = {}): PaymentIntentObject {
  const id = overrides.id ?? DEFAULT_IDS.paymentIntent;
  return {
    id,
    object: 'payment_intent',
    amount: 2000,
    amount_capturable: 0,
    amount_details: { tip: {} },
    amount_received: 2000,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: { allow_redirects: 'always', enabled: true },
    canceled_at: null,
    cancellation_reason: null,
    capture_method: 'automatic_async',
    client_secret: `${id}_secret_TbLdClientSecret0000000001`,
    confirmation_method: 'automatic',
    created: CREATED,
    currency: 'usd',
    customer: DEFAULT_IDS.customer,
    customer_account: null,
    description: 'Invoice BLD0ADA1-0003',
    excluded_payment_method_types: null,
    last_payment_error: null,
    latest_charge: DEFAULT_IDS.charge,
    livemode: false,
    managed_payments: null,
    metadata: {},
    next_action: null,
    on_behalf_of: null,
    payment_method: DEFAULT_IDS.paymentMethod,
    payment_method_configuration_details: null,
    payment_method_options: {
      card: { installments: null, mandate_options: null, network: null, request_three_d_secure: 'automatic' },
    },
    payment_method_types: ['card'],
    processing: null,
    receipt_email: 'ada@example.com',
    review: null,
    setup_future_usage: null,
    shipping: null,
    source: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status: 'succeeded',
    transfer_data: null,
    transfer_group: null,
    ...overrides,
  };
}

export function buildCharge(overrides: Partial<Stripe.Charge> = {}): Stripe.Charge {
  const id = overrides.id ?? DEFAULT_IDS.charge;
  return {
    id,
    object: 'charge',
    amount: 2000,
    amount_captured: 2000,
    amount_refunded: 0,
    application: null,
    application_fee: null,
    application_fee_amount: null,
    balance_transaction: DEFAULT_IDS.chargeTransaction,
    billing_details: { address: { ...noAddress(), country: 'GB', postal_code: 'SW1Y 4JH' }, email: 'ada@example.com', name: 'Ada Lovelace', phone: null, tax_id: null },
    calculated_statement_descriptor: 'BILLED* ANALYTICAL',
    captured: true,
    created: CREATED,
    currency: 'usd',
    customer: DEFAULT_IDS.customer,
    description: 'Invoice BLD0ADA1-0003',
    disputed: false,
    failure_balance_transaction: null,
    failure_code: null,
    failure_message: null,
    fraud_details: {},
    livemode: false,
    metadata: {},
    on_behalf_of: null,
    outcome: {
      advice_code: null,
      network_advice_code: null,
      network_decline_code: null,
      network_status: 'approved_by_network',
      reason: null,
      risk_level: 'normal',
      risk_score: 21,
      seller_message: 'Payment complete.',
      type: 'authorized',
    },
    paid: true,
    payment_intent: DEFAULT_IDS.paymentIntent,
    payment_method: DEFAULT_IDS.paymentMethod,
    payment_method_details: {
      card: {
        amount_authorized: 2000,
        authorization_code: '071938',
        brand: 'visa',
        checks: { address_line1_check: null, address_postal_code_check: 'pass', cvc_check: 'pass' },
        country: 'GB',
        electronic_commerce_indicator: null,
        exp_month: 11,
        exp_year: 2029,
        extended_authorization: { status: 'disabled' },
        fingerprint: 'TbLd0Visa0Finger',
        funding: 'credit',
        incremental_authorization: { status: 'unavailable' },
        installments: null,
        last4: '4242',
        mandate: null,
        multicapture: { status: 'unavailable' },
        network: 'visa',
        network_token: { used: false },
        network_transaction_id: '485160214939273',
        overcapture: { maximum_amount_capturable: 2000, status: 'unavailable' },
        regulated_status: 'unregulated',
        three_d_secure: null,
        transaction_link_id: null,
        wallet: null,
      },
      type: 'card',
    },
    receipt_email: 'ada@example.com',
    receipt_number: null,
    receipt_url: `https://pay.stripe.com/receipts/payment/TbLdReceipt0${id}`,
    refunded: false,
    refunds: { object: 'list', data: [], has_more: false, url: `/v1/charges/${id}/refunds` },
    review: null,
    shipping: null,
    source: null,
    source_transfer: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status: 'succeeded',
    transfer_data: null,
    transfer_group: null,
    ...overrides,
  };
}

export function buildRefund(overrides: Partial<Stripe.Refund> = {}): Stripe.Refund {
  return {
    id: DEFAULT_IDS.refund,
    object: 'refund',
    amount: 500,
    balance_transaction: 'txn_3TbLdRefund0Default00001',
    charge: DEFAULT_IDS.charge,
    created: CREATED + 2 * DAY,
    currency: 'usd',
    customer: DEFAULT_IDS.customer,
    customer_account: null,
    destination_details: {
      card: { reference: '74583092013', reference_status: 'available', reference_type: 'acquirer_reference_number', type: 'refund' },
      type: 'card',
    },
    metadata: {},
    payment_intent: DEFAULT_IDS.paymentIntent,
    payment_method: DEFAULT_IDS.paymentMethod,
    reason: 'requested_by_customer',
    receipt_number: null,
    source_transfer_reversal: null,
    status: 'succeeded',
    transfer_reversal: null,
    ...overrides,
  };
}

export function buildDispute(overrides: Partial<DisputeObject> = {}): DisputeObject {
  return {
    id: DEFAULT_IDS.dispute,
    object: 'dispute',
    amount: 2000,
    // Stripe lists the withdrawal here once the funds are taken; the default is the moment before.
    balance_transactions: [],
    charge: DEFAULT_IDS.charge,
    created: CREATED + 9 * DAY,
    currency: 'usd',
    enhanced_eligibility_types: [],
    evidence: {
      access_activity_log: null,
      billing_address: null,
      cancellation_policy: null,
      cancellation_policy_disclosure: null,
      cancellation_rebuttal: null,
      customer_communication: null,
      customer_email_address: 'ada@example.com',
      customer_name: 'Ada Lovelace',
      customer_purchase_ip: null,
      customer_signature: null,
      duplicate_charge_documentation: null,
      duplicate_charge_explanation: null,
      duplicate_charge_id: null,
      enhanced_evidence: {},
      product_description: null,
      receipt: null,
      refund_policy: null,
      refund_policy_disclosure: null,
      refund_refusal_explanation: null,
      service_date: null,
      service_documentation: null,
      shipping_address: null,
      shipping_carrier: null,
      shipping_date: null,
      shipping_documentation: null,
      shipping_tracking_number: null,
      uncategorized_file: null,
      uncategorized_text: null,
    },
    evidence_details: { due_by: CREATED + 30 * DAY, enhanced_eligibility: {}, has_evidence: false, past_due: false, submission_count: 0, submission_method: 'not_submitted' },
    is_charge_refundable: false,
    livemode: false,
    metadata: {},
    network_reason_code: '10.4',
    payment_intent: DEFAULT_IDS.paymentIntent,
    payment_method_details: { card: { brand: 'visa', case_type: 'chargeback', network: 'visa', network_reason_code: '10.4' }, type: 'card' },
    reason: 'fraudulent',
    status: 'needs_response',
    ...overrides,
  };
}

export function buildCheckoutSession(overrides: Partial<CheckoutSessionObject> = {}): CheckoutSessionObject {
  const id = overrides.id ?? DEFAULT_IDS.checkoutSession;
  return {
    id,
    object: 'checkout.session',
    adaptive_pricing: { enabled: false },
    after_expiration: null,
    allow_promotion_codes: null,
    amount_subtotal: 2000,
    amount_total: 2000,
    automatic_tax: { enabled: false, liability: null, provider: null, status: null },
    billing_address_collection: null,
    cancel_url: 'https://billed.example/invoices/pay/cancelled',
    client_reference_id: null,
    client_secret: null,
    collected_information: null,
    consent: null,
    consent_collection: null,
    created: CREATED - 600,
    currency: 'usd',
    currency_conversion: null,
    custom_fields: [],
    custom_text: { after_submit: null, shipping_address: null, submit: null, terms_of_service_acceptance: null },
    customer: DEFAULT_IDS.customer,
    customer_account: null,
    customer_creation: null,
    customer_details: {
      address: { ...noAddress(), country: 'GB', postal_code: 'SW1Y 4JH' },
      business_name: null,
      email: 'ada@example.com',
      individual_name: null,
      name: 'Ada Lovelace',
      phone: null,
      tax_exempt: 'none',
      tax_ids: [],
    },
    customer_email: null,
    discounts: [],
    expires_at: CREATED - 600 + DAY,
    integration_identifier: null,
    invoice: null,
    invoice_creation: null,
    livemode: false,
    locale: null,
    managed_payments: null,
    metadata: {},
    mode: 'payment',
    origin_context: null,
    payment_intent: DEFAULT_IDS.paymentIntent,
    payment_link: null,
    payment_method_collection: 'if_required',
    payment_method_configuration_details: null,
    payment_method_options: { card: { request_three_d_secure: 'automatic' } },
    payment_method_types: ['card'],
    payment_status: 'paid',
    permissions: null,
    phone_number_collection: { enabled: false },
    recovered_from: null,
    saved_payment_method_options: null,
    setup_intent: null,
    shipping_address_collection: null,
    shipping_cost: null,
    shipping_options: [],
    status: 'complete',
    submit_type: 'pay',
    subscription: null,
    success_url: 'https://billed.example/invoices/pay/done?session_id={CHECKOUT_SESSION_ID}',
    total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    ui_mode: 'hosted',
    // A completed session's page is gone.
    url: null,
    wallet_options: null,
    ...overrides,
  };
}

export function buildPayout(overrides: Partial<Stripe.Payout> = {}): Stripe.Payout {
  return {
    id: DEFAULT_IDS.payout,
    object: 'payout',
    amount: 142_350,
    application_fee: null,
    application_fee_amount: null,
    arrival_date: CREATED + 3 * DAY,
    automatic: true,
    balance_transaction: DEFAULT_IDS.payoutTransaction,
    created: CREATED + DAY,
    currency: 'usd',
    description: 'STRIPE PAYOUT',
    destination: DEFAULT_IDS.bankAccount,
    failure_balance_transaction: null,
    failure_code: null,
    failure_message: null,
    livemode: false,
    metadata: {},
    method: 'standard',
    original_payout: null,
    payout_method: null,
    reconciliation_status: 'in_progress',
    reversed_by: null,
    source_type: 'card',
    statement_descriptor: null,
    status: 'in_transit',
    trace_id: { status: 'pending', value: null },
    type: 'bank_account',
    ...overrides,
  };
}

/** The charge's credit to the balance, with Stripe's card fee taken out. */
export function buildBalanceTransaction(overrides: Partial<Stripe.BalanceTransaction> = {}): Stripe.BalanceTransaction {
  return {
    id: DEFAULT_IDS.chargeTransaction,
    object: 'balance_transaction',
    amount: 2000,
    available_on: CREATED + 2 * DAY,
    balance_type: 'payments',
    created: CREATED,
    currency: 'usd',
    description: 'Invoice BLD0ADA1-0003',
    exchange_rate: null,
    fee: 88,
    fee_details: [{ amount: 88, application: null, currency: 'usd', description: 'Stripe processing fees', type: 'stripe_fee' }],
    net: 1912,
    reporting_category: 'charge',
    source: DEFAULT_IDS.charge,
    status: 'available',
    type: 'charge',
    ...overrides,
  };
}

/** An event as Stripe delivers it to a webhook endpoint: by default, customer.created for Ada. */
export function buildEvent(overrides: Partial<EventObject> = {}): EventObject {
  return {
    id: uniqueId('evt'),
    object: 'event',
    api_version: STRIPE_API_VERSION,
    created: CREATED,
    data: { object: buildCustomer() as unknown as Stripe.Event.Data['object'] },
    livemode: false,
    // Events that Stripe raises itself (a payment settling, a payout paid) come from no API request.
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: 'customer.created',
    ...overrides,
  };
}

/** One builder per Stripe object type, by the object's `object` value. */
export const stripeObjectBuilders = {
  event: buildEvent,
  customer: buildCustomer,
  payment_intent: buildPaymentIntent,
  charge: buildCharge,
  refund: buildRefund,
  dispute: buildDispute,
  'checkout.session': buildCheckoutSession,
  payout: buildPayout,
  balance_transaction: buildBalanceTransaction,
} as const;

export type StripeObjectType = keyof typeof stripeObjectBuilders;

/** A fresh object of `type`, `overrides` merged over it, as plain JSON-shaped data. */
export function stripeObject(type: StripeObjectType, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...(stripeObjectBuilders[type]() as unknown as Record<string, unknown>), ...overrides };
}
