import type { DataSource } from 'typeorm';
import type { Config } from '../../config/env.schema.js';
import type { AccountService } from '../accounts/account.service.js';
import type { Logger } from '../shared/logger.js';
import type { SecretBox } from '../shared/secret-box.js';
import { createPaypalConnectionService } from './paypal-connection.service.js';
import { createPaypalSignatureVerifier } from './verify-signature.js';

/**
 * The PayPal gateway's parts that stand on their own, made once per process from the config:
 * the connection (Settings > Payment Gateways > PayPal) and the offline signature check of
 * deliveries. The webhook route, its handlers and Pay with PayPal plug into these (issue 17, phase 2).
 */
export function createPaypalServices(deps: { config: Config; dataSource: DataSource; accounts: AccountService; secretBox: SecretBox; logger: Logger; now?: () => Date }) {
  const { config } = deps;
  const api = { apiBase: config.PAYPAL_API_BASE };
  return {
    /** PAYPAL_API_BASE, for the calls made on a connected account's behalf (Pay with PayPal's orders). */
    api,
    connections: createPaypalConnectionService({ ...deps, api, publicBaseUrl: config.PUBLIC_BASE_URL }),
    signatures: signatureVerifierFor(config, deps.now),
  };
}

/** The offline check of PayPal's deliveries as configured: certificates also from PAYPAL_API_BASE, issued to PAYPAL_CERT_COMMON_NAMES. */
export const signatureVerifierFor = (config: Pick<Config, 'PAYPAL_API_BASE' | 'PAYPAL_CERT_COMMON_NAMES'>, now?: () => Date) =>
  createPaypalSignatureVerifier({ apiBase: config.PAYPAL_API_BASE, commonNames: config.PAYPAL_CERT_COMMON_NAMES, now });

export type PaypalServices = ReturnType<typeof createPaypalServices>;
