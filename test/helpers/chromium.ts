import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { chromium, type BrowserContext } from 'playwright-core';

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
