import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { ServiceProcess, exitWithin } from './helpers/service-process.js';
import { freePort } from './helpers/free-port.js';
import { MYSQL_ROOT_URL, trackDatabase, uniqueDatabaseUrl } from './helpers/test-database.js';
import { startTestService, TEST_ADMIN_TOKEN } from './helpers/test-service.js';
import { startFakeStripe, type FakeStripe } from './helpers/fake-stripe.js';
import { signedDelivery, stripeEvent, TEST_WEBHOOK_SECRET } from './helpers/stripe-events.js';

const EX_CONFIG = 78;
const hex = () => randomBytes(4).toString('hex');

/** The run's MySQL, with another user, password or database. */
function mysqlUrl(parts: { user?: string; password?: string; database: string }): string {
  const url = new URL(MYSQL_ROOT_URL);
  if (parts.user) url.username = parts.user;
  if (parts.password) url.password = parts.password;
  url.pathname = `/${parts.database}`;
  return url.toString();
}

describe('start-up naming the setting to fix', function () {
  this.timeout(60_000);
  const spawned: ServiceProcess[] = [];
  afterEach(async () => {
    await Promise.all(spawned.splice(0).map((service) => service.kill()));
  });

  /**
   * `npm start` until it exits. Redis points at a closed port: these fail before
   * any queue is touched, and must not depend on Redis to say why.
   */
  async function startUntilExit(env: Record<string, string>, withinMs = 30_000) {
    const service = ServiceProcess.spawn('service', 'all', {
      PORT: '0',
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      LOG_LEVEL: 'info',
      ...env,
    });
    spawned.push(service);
    const status = await exitWithin(service, withinMs);
    return { ...status, output: service.tail(20_000) };
  }

  describe('with a database it cannot use (DATABASE_URL)', () => {
    it('when nothing listens at its port, exits 78 naming DATABASE_URL, the address, and what to do', async () => {
      const port = await freePort();
      const { code, output } = await startUntilExit({ DATABASE_URL: `mysql://root@127.0.0.1:${port}/billed_startup` });
      assert.equal(code, EX_CONFIG, output);
      assert.match(
        output,
        new RegExp(`^DATABASE_URL: cannot connect to MySQL at 127\\.0\\.0\\.1:${port} \\(connection refused\\): start MySQL/MariaDB there, or set DATABASE_URL=mysql://`, 'm'),
      );
    });

    it('when its host does not exist, exits 78 naming DATABASE_URL and the host', async () => {
      const { code, output } = await startUntilExit({ DATABASE_URL: 'mysql://root@db.invalid:3306/billed' });
      assert.equal(code, EX_CONFIG, output);
      // ENOTFOUND, or EAI_AGAIN on a machine whose DNS does not answer at all.
      assert.match(output, /^DATABASE_URL: cannot connect to MySQL at db\.invalid:3306 \((unknown host db\.invalid|the host name db\.invalid could not be resolved[^)]*)\): correct the host in DATABASE_URL/m);
    });

    it('when its host never answers, gives up within seconds, exits 78 naming DATABASE_URL', async () => {
      // Takes the connection and says nothing, as a firewall that drops packets looks to the client.
      const held = new Set<net.Socket>();
      const silent = net.createServer((socket) => held.add(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const port = (silent.address() as net.AddressInfo).port;
      try {
        const { code, output, elapsedMs } = await startUntilExit({ DATABASE_URL: `mysql://root@127.0.0.1:${port}/billed` });
        assert.equal(code, EX_CONFIG, output);
        assert.match(output, new RegExp(`^DATABASE_URL: cannot connect to MySQL at 127\\.0\\.0\\.1:${port} \\(no answer within 5 s\\)`, 'm'));
        // 5 s of connect timeout, plus the process's own start (a few seconds on a busy machine).
        assert.ok(elapsedMs < 20_000, `exited after ${elapsedMs} ms`);
      } finally {
        for (const socket of held) socket.destroy();
        silent.close();
      }
    });

    it('when the password is wrong, exits 78 naming DATABASE_URL and the user, and never prints the password', async () => {
      const password = `Wr0ng-${hex()}`;
      const { code, output } = await startUntilExit({ DATABASE_URL: mysqlUrl({ password, database: 'billed' }) });
      assert.equal(code, EX_CONFIG, output);
      assert.match(output, /^DATABASE_URL: MySQL at \S+ refused user 'root' \(Access denied for user 'root'@'[^']*' \(using password: YES\)\): correct the password in DATABASE_URL/m);
      // root exists already (and on Debian may only use the socket): the way out is a user of the service's own.
      assert.match(output, /give the service a user of its own: CREATE USER 'billed'@'127\.0\.0\.1' IDENTIFIED BY '…'; GRANT ALL ON `billed%`\.\* TO 'billed'@'127\.0\.0\.1';/);
      assert.match(output, /now mysql:\/\/root:\*\*\*\*@/, 'the URL is echoed with its password masked');
      assert.ok(!output.includes(password), 'the password is not printed');
    });

    it('when the database is missing and the user may not create it, exits 78 with the SQL an administrator runs', async () => {
      const user = `billed_t_${hex()}`;
      const password = `Pw-${hex()}`;
      const database = `billed_test_nocreate_${hex()}`;
      const root = await mysql.createConnection(MYSQL_ROOT_URL);
      try {
        // A user with no rights at all: it may log in, and nothing else.
        await root.query('CREATE USER ?@? IDENTIFIED BY ?', [user, '%', password]);
        const { code, output } = await startUntilExit({ DATABASE_URL: mysqlUrl({ user, password, database }) });
        assert.equal(code, EX_CONFIG, output);
        assert.match(output, new RegExp(`^DATABASE_URL: database \`${database}\` does not exist \\(or user '${user}'@'[^']*' has no rights on it\\), and the user may not create it`, 'm'));
        assert.match(output, new RegExp(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; GRANT ALL ON \`${database}\`\\.\\* TO '${user}'@`));
        assert.ok(!output.includes(password), 'the password is not printed');
      } finally {
        await root.query('DROP USER IF EXISTS ?@?', [user, '%']);
        await root.query(`DROP DATABASE IF EXISTS \`${database}\``);
        await root.end();
      }
    });
  });

  describe('with an ENCRYPTION_KEY that cannot open the stored Stripe keys', () => {
    const SEALED_WITH = 'ab'.repeat(32);
    const OTHER_KEY = 'cd'.repeat(32);
    const MERCHANT_KEY = 'sk_test_51Hstartup0123456789abcdef';
    const databaseUrl = uniqueDatabaseUrl('startkey');
    let fake: FakeStripe;
    let accountId: string;

    before(async () => {
      trackDatabase(databaseUrl);
      fake = await startFakeStripe();
      fake.addAccount({ keys: [MERCHANT_KEY] });
      // A merchant connects Stripe while the service runs with SEALED_WITH.
      const t = await startTestService({ DATABASE_URL: databaseUrl, STRIPE_API_BASE: fake.url, ENCRYPTION_KEY: SEALED_WITH });
      try {
        const auth = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
        accountId = (await t.http.post('/api/accounts').set(auth).send({ name: 'Sealed' }).expect(201)).body.id as string;
        await t.http.put(`/api/accounts/${accountId}/stripe`).set(auth).send({ secretKey: MERCHANT_KEY }).expect(200);
      } finally {
        await t.stop();
      }
    });
    after(async () => {
      await fake.stop();
    });

    it('when it is another key, exits 78 saying to set it back, and how the accounts reconnect if it is lost', async () => {
      const { code, output } = await startUntilExit({ DATABASE_URL: databaseUrl, STRIPE_API_BASE: fake.url, ENCRYPTION_KEY: OTHER_KEY });
      assert.equal(code, EX_CONFIG, output);
      assert.match(output, new RegExp(`^ENCRYPTION_KEY: cannot decrypt the Stripe keys stored for 1 connected account \\(${accountId}\\): it is not the key they were sealed with\\.$`, 'm'));
      assert.match(output, /^Fix: set ENCRYPTION_KEY back to the key they were sealed with, and start again\.$/m);
      assert.match(output, /mysql --host=\S+ --port=\d+ --user=root billed_test_startkey_\w+ -e "DELETE FROM stripe_connections"/);
      assert.match(output, /PUT \/api\/accounts\/<account id>\/stripe/);
      for (const secret of [SEALED_WITH, OTHER_KEY, MERCHANT_KEY]) assert.ok(!output.includes(secret), 'no key is printed');
    });

    it('when it is not set at all, exits 78 saying it must be set to the key they were sealed with', async () => {
      const { code, output } = await startUntilExit({ DATABASE_URL: databaseUrl, STRIPE_API_BASE: fake.url, ENCRYPTION_KEY: '' });
      assert.equal(code, EX_CONFIG, output);
      assert.match(output, new RegExp(`^ENCRYPTION_KEY is not set, but the Stripe keys of 1 connected account \\(${accountId}\\) are stored encrypted\\.$`, 'm'));
      assert.match(output, /^Fix: set ENCRYPTION_KEY to the key they were sealed with/m);
    });

    it('when the key is lost, the statement it prints lets the service start with a new key, and the account connect again', async () => {
      const { output } = await startUntilExit({ DATABASE_URL: databaseUrl, STRIPE_API_BASE: fake.url, ENCRYPTION_KEY: OTHER_KEY });
      const statement = /-e "([^"]+)"/.exec(output)?.[1];
      assert.ok(statement, output);
      const db = await mysql.createConnection(databaseUrl);
      try {
        await db.query(statement);
      } finally {
        await db.end();
      }
      const t = await startTestService({ DATABASE_URL: databaseUrl, STRIPE_API_BASE: fake.url, ENCRYPTION_KEY: OTHER_KEY });
      try {
        const auth = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
        await t.http.put(`/api/accounts/${accountId}/stripe`).set(auth).send({ secretKey: MERCHANT_KEY }).expect(200);
      } finally {
        await t.stop();
      }
    });
  });

  describe('with Redis unreachable (REDIS_URL)', () => {
    it('serves and stores webhooks, with one error line naming REDIS_URL and its address instead of a warning per reconnect', async () => {
      const redisPort = await freePort();
      const databaseUrl = uniqueDatabaseUrl('startredis');
      trackDatabase(databaseUrl);
      const service = await ServiceProcess.start('service', 'all', {
        PORT: '0',
        DATABASE_URL: databaseUrl,
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        ADMIN_TOKEN: TEST_ADMIN_TOKEN,
        STRIPE_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
        LOG_LEVEL: 'info',
      });
      spawned.push(service);
      const startedAt = Date.now();

      const event = stripeEvent({ type: 'customer.created', resource: 'customer' });
      const payload = JSON.stringify(event);
      const res = await fetch(`${service.baseUrl}/webhooks/stripe`, { method: 'POST', headers: signedDelivery(payload).headers, body: payload });
      assert.equal(res.status, 200, 'a webhook is stored and answered while Redis is down');
      const db = await mysql.createConnection(databaseUrl);
      try {
        const [rows] = await db.query<mysql.RowDataPacket[]>('SELECT status FROM stripe_events WHERE id = ?', [event.id]);
        assert.equal(rows[0]?.status, 'received');
      } finally {
        await db.end();
      }

      // ioredis retries every 2 s at most, on three connections, each repeated by its BullMQ queues and workers.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 5000 - (Date.now() - startedAt))));
      const problems = service.logLines().filter((line) => line.level === 'warn' || line.level === 'error');
      assert.equal(problems.length, 1, `one line for the outage:\n${service.tail()}`);
      const [line] = problems;
      assert.equal(line!.level, 'error');
      assert.equal(line!.variable, 'REDIS_URL');
      assert.equal(
        line!.message,
        `REDIS_URL: cannot reach Redis at 127.0.0.1:${redisPort} (connection refused); webhooks are still stored, the relay enqueues them once Redis is back`,
      );
    });
  });
});
