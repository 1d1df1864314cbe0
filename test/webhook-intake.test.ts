import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { webhookIntake } from '../src/http/webhook-intake.js';
import { createMemoryLogger } from './helpers/memory-logger.js';
import { currentContext } from '../src/shared/context.js';
import { startTestService, type TestService } from './helpers/test-service.js';
import { signedDelivery, stripeEvent } from './helpers/stripe-events.js';

describe('webhook intake (the webhook route in front of Express)', () => {
  describe('takes only what it answers exactly as Express would', () => {
    let server: Server;
    let port: number;
    const contexts: (string | undefined)[] = [];
    before(async () => {
      const { logger } = createMemoryLogger();
      // Deliveries it takes are refused (no secret): what matters here is whether it took them.
      const intake = webhookIntake({
        resolveSecrets: async () => {
          contexts.push(currentContext()?.requestId);
          return [];
        },
        ingestor: { ingest: () => Promise.reject(new Error('not reached')) } as never,
        metrics: { webhooksReceived: { inc: () => undefined } } as never,
        logger,
        signatureRejected: Object.assign(() => undefined, { flush: () => undefined }),
        expectedFailures: Object.assign(() => undefined, { flush: () => undefined }),
      });
      server = createServer((req, res) => {
        if (!intake(req, res)) res.writeHead(299, { 'x-left-to': 'express' }).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const send = (method: string, path: string, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        req.end('{}');
      });

    const cases: [string, string, Record<string, string>, 'intake' | 'express'][] = [
      ['POST', '/webhooks/stripe', {}, 'intake'],
      ['POST', '/webhooks/stripe?x=1', {}, 'intake'],
      ['POST', '/webhooks/stripe/ma_0123456789abcdef0123', {}, 'intake'],
      ['POST', '/webhooks/stripe', { 'content-encoding': 'identity' }, 'intake'],
      ['POST', '/webhooks/stripe', { 'content-encoding': 'gzip' }, 'express'],
      ['POST', '/webhooks/stripe/', {}, 'express'],
      ['POST', '/Webhooks/Stripe', {}, 'express'],
      ['POST', '/webhooks/stripe/ma%5F1', {}, 'express'],
      ['POST', '/webhooks/stripe/a/b', {}, 'express'],
      ['GET', '/webhooks/stripe', {}, 'express'],
      ['POST', '/api/invoices', {}, 'express'],
    ];
    it('runs the delivery in its request context (read after the body), so its log lines carry the request id', async () => {
      contexts.length = 0;
      await send('POST', '/webhooks/stripe', { 'x-request-id': 'ctx-check-1' });
      assert.deepEqual(contexts, ['ctx-check-1']);
    });

    for (const [method, path, headers, taker] of cases) {
      it(`${method} ${path}${headers['content-encoding'] ? ` (Content-Encoding: ${headers['content-encoding']})` : ''} → ${taker}`, async () => {
        const status = await send(method, path, headers);
        assert.equal(status === 299 ? 'express' : 'intake', taker);
      });
    }
  });

  describe('answers as the Express route does', () => {
    let t: TestService;
    before(async () => {
      t = await startTestService();
    });
    after(() => t.stop());

    // The trailing-slash form is left to Express: the same delivery both ways must get the same answer.
    const both = async (payload: string | Buffer, headers: Record<string, string>) => {
      const intake = await t.http.post('/webhooks/stripe').set(headers).send(payload);
      const express = await t.http.post('/webhooks/stripe/').set(headers).send(payload);
      const shape = (res: typeof intake) => ({
        status: res.status,
        contentType: res.headers['content-type'],
        requestId: res.headers['x-request-id'],
        length: Number(res.headers['content-length']),
        headers: Object.keys(res.headers).sort(),
      });
      return { intake, express, shapes: [shape(intake), shape(express)] };
    };

    it('a stored event, then its redelivery: 200, same headers and body', async () => {
      const payload = JSON.stringify(stripeEvent({ type: 'customer.created', resource: 'customer' }));
      const { headers } = signedDelivery(payload);
      const first = await t.http.post('/webhooks/stripe').set({ ...headers, 'X-Request-Id': 'intake-1' }).send(payload);
      const again = await t.http.post('/webhooks/stripe/').set({ ...headers, 'X-Request-Id': 'intake-1' }).send(payload);
      assert.deepEqual([first.status, first.body, first.headers['x-request-id']], [200, { received: true, duplicate: false }, 'intake-1']);
      assert.deepEqual([again.status, again.body, again.headers['x-request-id']], [200, { received: true, duplicate: true }, 'intake-1']);
      assert.deepEqual(Object.keys(first.headers).sort(), Object.keys(again.headers).sort());
      assert.equal(first.headers['content-type'], again.headers['content-type']);
    });

    it('a bad signature: the same 400 signature_invalid, headers and message', async () => {
      const payload = JSON.stringify(stripeEvent({ type: 'customer.created', resource: 'customer' }));
      const { intake, express, shapes } = await both(payload, { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00', 'X-Request-Id': 'bad-sig' });
      assert.deepEqual(shapes[0], shapes[1]);
      assert.deepEqual(intake.body, express.body);
      assert.equal(intake.body.error.code, 'signature_invalid');
    });

    it('a body over 1 MB: the same 413 payload_too_large', async () => {
      const big = Buffer.alloc(1024 * 1024 + 1, 0x20);
      const { intake, express, shapes } = await both(big, { 'content-type': 'application/json', 'X-Request-Id': 'too-big' });
      assert.deepEqual(shapes[0], shapes[1]);
      assert.deepEqual(intake.body, express.body);
      assert.equal(intake.body.error.code, 'payload_too_large');
    });

    it('an unknown merchant account: the same 404 account_not_found', async () => {
      const payload = JSON.stringify(stripeEvent({ type: 'customer.created', resource: 'customer' }));
      const headers = { ...signedDelivery(payload).headers, 'X-Request-Id': 'no-account' };
      const intake = await t.http.post('/webhooks/stripe/ma_00000000000000000000').set(headers).send(payload);
      const express = await t.http.post('/webhooks/stripe/ma_00000000000000000000/').set(headers).send(payload);
      assert.deepEqual([intake.status, intake.body], [express.status, express.body]);
      assert.equal(intake.body.error.code, 'account_not_found');
    });
  });
});
