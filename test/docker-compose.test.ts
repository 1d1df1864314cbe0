import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { npmStartCommand } from './helpers/start-command.js';

// What a user relies on when running `docker compose up`: the file is read
// the way Compose reads it (YAML merge keys `<<:` enabled).

type Service = {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, unknown> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  ports?: (string | number | { target?: number; published?: number | string })[];
  healthcheck?: { test?: string | string[] };
};

type Compose = { services?: Record<string, Service> };

const root = new URL('../', import.meta.url);
const compose = parse(readFileSync(new URL('docker-compose.yml', root), 'utf8'), {
  merge: true,
}) as Compose;
const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8');

function service(name: string): Service {
  const s = compose.services?.[name];
  assert.ok(s, `docker-compose.yml has no "${name}" service`);
  return s;
}

function env(name: string): Record<string, string> {
  const e = service(name).environment ?? {};
  if (Array.isArray(e)) {
    return Object.fromEntries(
      e.map((kv) => {
        const i = kv.indexOf('=');
        return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, String(v ?? '')]));
}

function words(cmd: string | string[] | undefined): string {
  return (Array.isArray(cmd) ? cmd.join(' ') : (cmd ?? '')).replace(/\s+/g, ' ');
}

describe('docker-compose.yml', () => {
  it('defines the mysql, redis, api and worker services', () => {
    for (const name of ['mysql', 'redis', 'api', 'worker']) service(name);
  });

  it('runs redis with AOF persistence and noeviction, as BullMQ requires', () => {
    const cmd = words(service('redis').command);
    assert.match(cmd, /--appendonly yes\b/);
    assert.match(cmd, /--maxmemory-policy noeviction\b/);
  });

  it('gives mysql and redis healthchecks, so the apps can wait for them', () => {
    assert.match(words(service('mysql').healthcheck?.test), /mysqladmin ping/);
    assert.match(words(service('redis').healthcheck?.test), /redis-cli ping/);
  });

  for (const role of ['api', 'worker']) {
    it(`builds ${role} from the repo's Dockerfile and runs it with ROLE=${role}`, () => {
      const build = service(role).build;
      const context = typeof build === 'string' ? build : build?.context;
      const file = (typeof build === 'object' && build.dockerfile) || 'Dockerfile';
      assert.ok(context === '.' || context === './', `${role} is not built from the repo root`);
      assert.equal(file, 'Dockerfile');
      assert.equal(env(role).ROLE, role);
    });

    it(`starts ${role} only once mysql and redis are healthy`, () => {
      const deps = service(role).depends_on;
      assert.ok(deps && !Array.isArray(deps), `${role} must use depends_on with conditions`);
      assert.equal(deps.mysql?.condition, 'service_healthy');
      assert.equal(deps.redis?.condition, 'service_healthy');
    });

    it(`points ${role} at the mysql and redis services`, () => {
      const db = new URL(env(role).DATABASE_URL ?? '');
      assert.equal(db.protocol, 'mysql:');
      assert.equal(db.hostname, 'mysql');
      assert.equal(db.pathname, '/billed');
      const redis = new URL(env(role).REDIS_URL ?? '');
      assert.equal(redis.protocol, 'redis:');
      assert.equal(redis.hostname, 'redis');
    });
  }

  it('publishes the api on port 3000', () => {
    const ports = (service('api').ports ?? []).map((p) =>
      typeof p === 'object' ? `${p.published}:${p.target}` : String(p),
    );
    assert.ok(
      ports.some((p) => /^(?:[\d.]+:)?3000:3000(?:\/tcp)?$/.test(p)),
      `api ports are ${JSON.stringify(ports)}`,
    );
    assert.equal(env('api').PORT ?? '3000', '3000');
  });

  // The README's quick start offers `docker compose up -d mysql redis` for a service and tests run on the host.
  for (const [name, port] of [['mysql', 3306], ['redis', 6379]] as const) {
    it(`publishes ${name} on the loopback address only, port ${port} by default`, () => {
      const ports = (service(name).ports ?? []).map(String);
      assert.equal(ports.length, 1, `${name} ports are ${JSON.stringify(ports)}`);
      const match = /^127\.0\.0\.1:\$\{[A-Z_]+:-(\d+)\}:(\d+)$/.exec(ports[0]!);
      assert.ok(match, `${name} is published as ${ports[0]}, not on 127.0.0.1 with an overridable port`);
      assert.equal(Number(match[1]), port);
      assert.equal(Number(match[2]), port);
    });
  }

  it("gives the README's host-side DATABASE_URL the mysql service's root password", () => {
    const readme = readFileSync(new URL('README.md', root), 'utf8');
    const password = env('mysql').MYSQL_ROOT_PASSWORD;
    assert.ok(password, 'mysql has no MYSQL_ROOT_PASSWORD');
    assert.ok(readme.includes(`DATABASE_URL=mysql://root:${password}@127.0.0.1:3306/billed`));
    assert.ok(readme.includes(`TEST_MYSQL_URL=mysql://root:${password}@127.0.0.1:3306`));
  });
});

describe('Dockerfile', () => {
  it('exists next to docker-compose.yml', () => {
    assert.ok(existsSync(new URL('Dockerfile', root)));
  });

  /** Each stage's name (FROM ... AS name) and its instructions, continuation lines joined. */
  function stages(): { name?: string; lines: string[] }[] {
    const result: { name?: string; lines: string[] }[] = [];
    const lines = dockerfile.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const line of lines) {
      const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line);
      if (from) result.push({ name: from[1], lines: [] });
      else result.at(-1)?.lines.push(line);
    }
    return result;
  }

  it('runs the compiled service with npm start\'s flags, no loader, and node as the process that receives SIGTERM', () => {
    const runtime = stages().at(-1)!;
    const cmds = runtime.lines.filter((l) => /^CMD\s/i.test(l));
    assert.ok(cmds.length > 0, 'the runtime stage has no CMD');
    const last = cmds.at(-1)!.replace(/^CMD\s+/i, '').trim();
    assert.ok(last.startsWith('['), 'exec form, so no shell sits between the signal and node (npm would not pass it on)');
    const argv = JSON.parse(last) as string[];
    // The image gets its settings from the environment, so only npm start's .env file is left out.
    assert.deepEqual(argv, npmStartCommand().filter((arg) => !arg.startsWith('--env-file')));
    assert.equal(argv.at(-1), 'dist/src/main.js');
    assert.ok(!argv.some((arg) => /^--(import|loader|experimental-loader|require)\b|^-r$|\btsx\b/.test(arg)), `no TypeScript loader: ${argv.join(' ')}`);
  });

  it('compiles in a build stage with dev dependencies and ships only dist/ to a runtime stage without them', () => {
    const all = stages();
    assert.ok(all.length >= 2, 'a build stage and a runtime stage');
    const runtime = all.at(-1)!;
    const build = all.slice(0, -1).find((stage) => stage.lines.some((l) => /^RUN\s.*\bnpm run build\b/.test(l)));
    assert.ok(build?.name, 'a named stage runs `npm run build`');
    assert.ok(build.lines.some((l) => /^RUN\s.*\bnpm ci\b/.test(l) && !/--omit=dev/.test(l)), 'the build stage installs dev dependencies (TypeScript)');
    assert.ok(runtime.lines.some((l) => /^RUN\s.*\bnpm ci\b.*--omit=dev/.test(l)), 'the runtime stage omits dev dependencies');
    assert.ok(
      runtime.lines.some((l) => new RegExp(`^COPY\\s+--from=${build.name}\\s+\\S*dist/?\\s`).test(l)),
      `the runtime stage copies dist/ from ${build.name}`,
    );
    assert.ok(!runtime.lines.some((l) => /^COPY\s+(?!--from)(.*\s)?(\.\/)?(src|config|workers|tsconfig[^ ]*)\/?\s/.test(l)), 'the runtime stage holds no TypeScript sources');
  });

  it('keeps tsx out of the production dependencies: the image omits dev dependencies and runs none of them', () => {
    const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
      dependencies?: Record<string, string>;
      devDependencies?: Record<string, string>;
    };
    assert.equal(pkg.dependencies?.tsx, undefined, 'tsx belongs in devDependencies (npm run dev, tests, bench)');
    assert.equal(pkg.dependencies?.typescript, undefined);
    assert.ok(pkg.devDependencies?.tsx);
  });
});
