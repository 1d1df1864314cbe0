import assert from 'node:assert/strict';
import type { TestService } from './test-service.js';
import { auth } from './billing-client.js';

export type Role = 'admin' | 'accountant' | 'operator';

/** Creates an access token through the API as the bootstrap admin; returns the secret and its id. */
export async function createToken(t: TestService, role: Role, name = `${role}-${Date.now()}`): Promise<{ id: string; token: string }> {
  const res = await t.http.post('/api/tokens').set(auth).send({ name, role });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { id: res.body.id, token: res.body.token };
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
