import { constants } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/**
 * The browser the browser suites drive through playwright-core, which
 * downloads none of its own: Debian's chromium, as CI installs it (.ci/run),
 * or the one CHROMIUM_PATH names.
 */
export const chromiumPath = () => process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Its stack is its message, so mocha prints the one line that says what to do, not the frames of this helper. */
class OneLineError extends Error {
  constructor(message: string) {
    super(message);
    this.stack = message;
  }
}

/** The path of a Chromium that can be run; else rejects, saying what to install. */
export async function findChromium(path = chromiumPath()): Promise<string> {
  try {
    await access(path, constants.X_OK);
    return path;
  } catch {
    throw new OneLineError(
      `Chromium not found at ${path}: install it (Debian: apt-get install chromium; macOS: brew install --cask chromium, ` +
        'then set CHROMIUM_PATH=/Applications/Chromium.app/Contents/MacOS/Chromium) — the browser suites need it',
    );
  }
}

/** A headless Chromium with its own profile in `profileDir`. */
export async function launchChromium(profileDir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, { executablePath: await findChromium(), headless: true, args: CHROMIUM_ARGS });
}

/** A page in a fresh profile that collects console errors and page errors (a CSP violation shows up there). */
export interface BrowserPage {
  page: Page;
  problems: string[];
  close(): Promise<void>;
}

export async function openBrowserPage(): Promise<BrowserPage> {
  const profile = await mkdtemp(join(tmpdir(), 'billed-chromium-'));
  const problems: string[] = [];
  let context: BrowserContext | undefined;
  try {
    context = await launchChromium(profile);
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  return {
    page,
    problems,
    async close() {
      await context?.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
