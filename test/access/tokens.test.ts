import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { auth } from '../helpers/billing-client.js';
import { bearer, createToken } from '../helpers/ops-client.js';
import { createMemoryLogger } from '../helpers/memory-logger.js';

describe('access tokens', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.stop());

  it('creates a token: 201 with the secret shown once, and only its SHA-256 hash stored', async () => {
    const res = await t.http.post('/api/tokens').set(auth).send({ name: 'alice (on-call)', role: 'operator' });
    assert.equal(res.status, 201);
    assert.match(res.body.id, /^tok_[0-9a-f]{24}$/);
    assert.equal(res.body.name, 'alice (on-call)');
    assert.equal(res.body.role, 'operator');
    assert.match(res.body.token, /^bld_[A-Za-z0-9_-]{43}$/);

    const [row] = await t.query<{ token_hash: Buffer; last_four: string }>('SELECT token_hash, last_four FROM access_tokens WHERE id = ?', [res.body.id]);
    assert.deepEqual(row!.token_hash, createHash('sha256').update(res.body.token).digest());
    assert.equal(row!.last_four, res.body.token.slice(-4));
    const [dump] = await t.query<{ n: number }>('SELECT COUNT(*) AS n FROM access_tokens WHERE CONCAT_WS(\'|\', id, name, role, HEX(token_hash)) LIKE ?', [`%${res.body.token}%`]);
    assert.equal(Number(dump!.n), 0, 'the secret itself is nowhere in the table');

    const list = await t.http.get('/api/tokens').set(auth);
    assert.equal(list.status, 200);
    const listed = list.body.data.find((token: { id: string }) => token.id === res.body.id);
    assert.equal(listed.name, 'alice (on-call)');
    assert.equal(listed.lastFour, res.body.token.slice(-4));
    assert.equal(listed.revokedAt, null);
    assert.ok(!JSON.stringify(list.body).includes(res.body.token), 'GET /api/tokens never shows a secret');
  });

  it('lets the new token in with its role at once, and keeps it out of what the role may not do', async () => {
    const { token } = await createToken(t, 'accountant');
    assert.equal((await t.http.get('/api/invoices').set(bearer(token))).status, 200);
    assert.equal((await t.http.get('/api/ops/events').set(bearer(token))).status, 403);
    assert.equal((await t.http.get('/api/tokens').set(bearer(token))).status, 403);
  });

  it('revokes a token: 204, and the very next request with it is 401', async () => {
    const { id, token } = await createToken(t, 'operator');
    assert.equal((await t.http.get('/api/ops/events').set(bearer(token))).status, 200);
    const res = await t.http.delete(`/api/tokens/${id}`).set(auth);
    assert.equal(res.status, 204);
    const after = await t.http.get('/api/ops/events').set(bearer(token));
    assert.equal(after.status, 401);
    assert.equal(after.body.error.code, 'unauthorized');
    const list = await t.http.get('/api/tokens').set(auth);
    const listed = list.body.data.find((x: { id: string }) => x.id === id);
    assert.ok(listed.revokedAt, 'the list shows when it was revoked');
    assert.equal(listed.revokedBy, 'ADMIN_TOKEN');
    assert.equal((await t.http.delete(`/api/tokens/${id}`).set(auth)).status, 204, 'revoking again is harmless');
  });

  it('answers 404 token_not_found for revoking an id that does not exist', async () => {
    const res = await t.http.delete('/api/tokens/tok_000000000000000000000000').set(auth);
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'token_not_found');
  });

  it('lets an admin token made through the API create and revoke tokens itself', async () => {
    const admin = await createToken(t, 'admin', 'bob (admin)');
    const res = await t.http.post('/api/tokens').set(bearer(admin.token)).send({ name: 'ci', role: 'accountant' });
    assert.equal(res.status, 201);
    assert.equal((await t.http.delete(`/api/tokens/${res.body.id}`).set(bearer(admin.token))).status, 204);
    const [row] = await t.query<{ created_by: string; revoked_by: string }>('SELECT created_by, revoked_by FROM access_tokens WHERE id = ?', [res.body.id]);
    assert.deepEqual({ ...row }, { created_by: 'bob (admin)', revoked_by: 'bob (admin)' });
  });

  const bad: [string, unknown, string][] = [
    ['an unknown role', { name: 'x', role: 'superuser' }, 'invalid_role'],
    ['no role', { name: 'x' }, 'invalid_role'],
    ['no name', { role: 'operator' }, 'invalid_name'],
    ['a blank name', { name: '   ', role: 'operator' }, 'invalid_name'],
  ];
  for (const [what, body, code] of bad) {
    it(`rejects ${what} with 400 ${code}`, async () => {
      const res = await t.http.post('/api/tokens').set(auth).send(body as object);
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, code);
    });
  }

  it('writes token creation and revocation to the audit log: who, what, when', async () => {
    const { id } = await createToken(t, 'operator', 'carol');
    await t.http.delete(`/api/tokens/${id}`).set(auth).expect(204);
    const res = await t.http.get(`/api/ops/audit?target=${id}`).set(auth);
    assert.equal(res.status, 200);
    const actions = res.body.data.map((e: { action: string; actor: { name: string }; count: number; details: { name: string } }) => [
      e.action,
      e.actor.name,
      e.count,
      e.details.name,
    ]);
    assert.deepEqual(actions, [
      ['token.revoke', 'ADMIN_TOKEN', 1, 'carol'],
      ['token.create', 'ADMIN_TOKEN', 1, 'carol'],
    ]);
    assert.ok(!Number.isNaN(Date.parse(res.body.data[0].at)));
  });

  it('redacts a token secret that reaches a log line anyway', async () => {
    const { token } = await createToken(t, 'operator');
    const { logger, lines } = createMemoryLogger();
    logger.warn('someone pasted a token', { note: `use ${token} for the UI` });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(lines.length, 1);
    assert.ok(!lines[0]!.includes(token));
    assert.match(lines[0]!, /bld_\[redacted\]/);
  });
});
