import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { AppError } from './errors.js';

/**
 * AES-256-GCM for secrets at rest (Stripe keys, webhook signing secrets).
 *
 * `v2.<iv>.<tag>.<ciphertext>` (base64url parts) is sealed for one context, e.g. "the secret key
 * of account ma_1", given as additional authenticated data: it opens only with the same context,
 * so a database writer who copies one merchant's sealed key onto another merchant's row gets a
 * value that refuses to open there. `v1.` values (no context) come from before; start-up re-seals
 * them as v2 (see ConnectionService.resealLegacy), and open() refuses them.
 */
export interface SecretBox {
  seal(plaintext: string, context: string): string;
  /** Throws SealedContextError when the value was not sealed for this context (or was tampered with). */
  open(sealed: string, context: string): string;
  /** Only for re-sealing: the plaintext of a v1 value, which carries no context. */
  openLegacy(sealed: string): string;
}

export const isLegacySealed = (sealed: string) => sealed.startsWith('v1.');

/** A sealed value that does not open with its context: moved from another row, another purpose, or altered. */
export class SealedContextError extends Error {
  constructor(readonly version: string) {
    super(version === 'v2' ? 'the sealed value was not sealed for this context, or was altered' : `unknown sealed secret format (${version})`);
    this.name = 'SealedContextError';
  }
}

export function createSecretBox(key: Buffer | undefined): SecretBox {
  const requireKey = (): Buffer => {
    if (!key) {
      throw new AppError(503, 'encryption_not_configured', 'Set ENCRYPTION_KEY once, in .env (`echo "ENCRYPTION_KEY=$(openssl rand -hex 32)" >> .env`), and keep it: Stripe keys are stored encrypted with it. Then restart.');
    }
    return key;
  };
  const decrypt = (sealed: string, version: 'v1' | 'v2', context?: string) => {
    const [found, iv, tag, ciphertext] = sealed.split('.');
    if (found !== version || !iv || !tag || ciphertext === undefined) throw new SealedContextError(found ?? '');
    const decipher = createDecipheriv('aes-256-gcm', requireKey(), Buffer.from(iv, 'base64url'));
    if (context !== undefined) decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  };
  return {
    seal(plaintext, context) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', requireKey(), iv);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return ['v2', iv, cipher.getAuthTag(), ciphertext].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
    },
    open(sealed, context) {
      requireKey();
      try {
        return decrypt(sealed, 'v2', context);
      } catch (error) {
        if (error instanceof SealedContextError) throw error;
        // GCM's "unable to authenticate data": wrong context, wrong key, or altered bytes.
        throw new SealedContextError('v2');
      }
    },
    openLegacy(sealed) {
      return decrypt(sealed, 'v1');
    },
  };
}
