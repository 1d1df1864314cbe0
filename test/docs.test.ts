import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envSchema } from '../config/env.schema.js';

// The README is the front door: short, every prerequisite named, and no link that leads nowhere.

const root = fileURLToPath(new URL('../', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const documents = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

function anchors(markdown: string): Set<string> {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, '');
  return new Set([...withoutCode.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1]!)));
}

/** Markdown links outside code: [text](target). */
function links(markdown: string): string[] {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...withoutCode.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

describe('README and docs/', () => {
  it('keeps the README under 10 KB, the front door and not the manual', () => {
    const size = statSync(join(root, 'README.md')).size;
    assert.ok(size < 10 * 1024, `README.md is ${size} bytes: move reference material to docs/`);
  });

  for (const document of documents) {
    it(`${document}: every relative link resolves to a file, and every anchor to a heading in it`, () => {
      const broken: string[] = [];
      for (const target of links(read(document))) {
        if (/^[a-z]+:/i.test(target)) continue; // https:, mailto: are outside the repository
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const file = path === '' ? join(root, document) : join(dirname(join(root, document)), decodeURIComponent(path));
        const inside = !relative(root, file).startsWith('..');
        if (!inside || !existsSync(file)) {
          broken.push(`${target} (${inside ? 'no such file' : 'outside the repository: a clone does not have it'})`);
          continue;
        }
        if (anchor && file.endsWith('.md') && !anchors(readFileSync(file, 'utf8')).has(anchor)) broken.push(`${target} (no such heading)`);
      }
      assert.deepEqual(broken, [], `${document} has links that lead nowhere`);
    });
  }

  it('names every prerequisite, with how to get it on Debian and on macOS', () => {
    const readme = read('README.md');
    const prerequisites = readme.slice(readme.indexOf('## Prerequisites'), readme.indexOf('## Run it'));
    for (const [what, debian, mac] of [
      ['MySQL 8 or MariaDB 10.11', 'apt-get install mariadb-server', 'brew install mariadb'],
      ['Redis 7', 'apt-get install redis-server', 'brew install redis'],
      ['Chromium', 'apt-get install chromium', 'brew install --cask chromium'],
    ] as const) {
      assert.ok(prerequisites.includes(what), `the prerequisites do not name ${what}`);
      assert.ok(prerequisites.includes(debian), `no Debian install line for ${what}`);
      assert.ok(prerequisites.includes(mac), `no macOS install line for ${what}`);
    }
    assert.match(prerequisites, /docker compose up -d mysql redis/);
  });

  it('documents every environment variable the service reads in docs/configuration.md', () => {
    const table = read('docs/configuration.md');
    const missing = Object.keys(envSchema.shape).filter((name) => !table.includes(`| \`${name}\` |`));
    assert.deepEqual(missing, [], 'add a row for each to the table in docs/configuration.md');
  });

  it('shows the two commands, to run it and to test it', () => {
    const readme = read('README.md');
    assert.match(readme, /^npm install && npm start\b/m);
    assert.match(readme, /^npm test\b/m);
  });

  it('never makes a new ENCRYPTION_KEY on a command that starts the service (it must stay the same across runs)', () => {
    for (const file of [...documents, 'docker-compose.yml']) {
      for (const line of read(file).split('\n')) {
        if (!/ENCRYPTION_KEY=\$\(/.test(line)) continue;
        assert.doesNotMatch(line, /npm (run )?start|npm run dev|node |docker compose up/, `${file}: ${line.trim()}`);
        // Writing it into .env is fine only once: guarded by the file's absence, never appended on every run.
        assert.match(line, /\[ -f \.env \] \|\||>> \.env/, `${file}: ${line.trim()}`);
      }
    }
  });
});
