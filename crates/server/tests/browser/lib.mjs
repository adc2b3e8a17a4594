// What every scenario shares: Debian's Chromium driven by playwright-core, one context per
// scenario, numbered screenshots, the mailbox the Rust test serves, a DevTools virtual
// authenticator and RFC 6238 codes. Never downloads a browser: it runs /usr/bin/chromium.
import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const PASSWORD = 'correct horse battery staple';

/** A required environment variable; the Rust test sets them all. */
export function setting(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (the Rust test in crates/server/tests/api/browser.rs sets it)`);
  return value;
}

export function uniqueEmail(label) {
  return `${label}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}@example.com`;
}

/** A failure that names the step, the page and what the page said in [role=alert]. */
export class StepFailure extends Error {}

/**
 * One scenario: one browser, one context (cookies live through every step), one page.
 * `step` runs a named step and screenshots the page after it as `NN-name-LANG.png`.
 */
export class Scenario {
  constructor(name, { lang = process.env.AUTH_BROWSER_LANG || 'en' } = {}) {
    this.name = name;
    this.lang = lang;
    this.base = setting('AUTH_BROWSER_BASE_URL').replace(/\/$/, '');
    this.mailbox = setting('AUTH_BROWSER_MAILBOX_URL').replace(/\/$/, '');
    this.screenshots = setting('AUTH_BROWSER_SCREENSHOTS');
    mkdirSync(this.screenshots, { recursive: true });
    this.counter = 0;
    this.current = '(none yet)';
  }

  async start() {
    this.browser = await chromium.launch({
      executablePath: process.env.AUTH_BROWSER_CHROMIUM || '/usr/bin/chromium',
      // Chromium's sandbox cannot start as root, which is how the tests and CI run.
      args: ['--no-sandbox'],
    });
    this.context = await this.browser.newContext({ locale: this.lang === 'ru' ? 'ru-RU' : 'en-US' });
    this.context.setDefaultTimeout(15_000);
    this.page = await this.context.newPage();
    return this;
  }

  async close() {
    await this.browser?.close();
  }

  /** `path` on the service, with `?lang=` of this run added. */
  url(path, { lang = true } = {}) {
    const url = new URL(path, this.base + '/');
    if (lang && !url.searchParams.has('lang')) url.searchParams.set('lang', this.lang);
    return url.toString();
  }

  async step(name, action) {
    this.current = name;
    this.counter += 1;
    const label = `${String(this.counter).padStart(2, '0')}-${name}`;
    try {
      await action(this.page);
    } catch (error) {
      await this.screenshot(`${label}-FAILED`);
      throw new StepFailure(await this.describe(name, error));
    }
    await this.screenshot(label);
    console.log(`ok   ${this.name}: ${name}`);
  }

  async screenshot(label, page = this.page) {
    const path = join(this.screenshots, `${label}-${this.lang}.png`);
    await page.screenshot({ path, fullPage: true }).catch(() => {});
  }

  /** Screenshots another device's page beside the current step's: `NN-name-LANG.png`. */
  async screenshotDevice(device, name) {
    await this.screenshot(`${String(this.counter).padStart(2, '0')}-${name}`, device);
  }

  /** A page in a second context: another device with cookies of its own. */
  async otherDevice() {
    const context = await this.browser.newContext({ locale: this.lang === 'ru' ? 'ru-RU' : 'en-US' });
    context.setDefaultTimeout(15_000);
    return context.newPage();
  }

  async describe(name, error) {
    const visible = await alerts(this.page).catch(() => []);
    return [
      `step "${name}" of scenario ${this.name} (${this.lang}) failed: ${error.message.split('\n')[0]}`,
      `  page: ${this.page.url()}`,
      `  [role=alert]: ${visible.length ? visible.join(' | ') : '(none)'}`,
    ].join('\n');
  }

  /** Opens `path` and asserts the answer was not an error page. */
  async open(path, options) {
    const response = await this.page.goto(this.url(path, options));
    expect(response && response.status() < 400, `GET ${path} answered ${response?.status()}`);
    return response;
  }

  /** Submits by clicking `button` and returns the main-frame response of the navigation. */
  async submit(button) {
    const [response] = await Promise.all([this.page.waitForNavigation(), this.page.click(button)]);
    return response;
  }

  /** Fills the sign-in form and submits it. */
  async signIn(email, password) {
    await this.page.fill('#login-form [name=email]', email);
    await this.page.fill('#login-form [name=password]', password);
    return this.submit('#login-submit');
  }

  /** Signs out from the account page with its logout form. */
  async signOut() {
    await this.open('/ui/account');
    await this.submit('#logout-submit');
    expectPath(this.page, '/ui/login');
  }

  /**
   * The newest mail to `address` with a link whose path is `path`, polled from the Rust test's
   * mailbox for up to ten seconds (mail is sent in the background of the request).
   */
  async link(address, path) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const query = new URLSearchParams({ to: address, containing: path });
      const response = await fetch(`${this.mailbox}/messages?${query}`);
      if (response.ok) {
        const { links } = await response.json();
        const found = links.find((link) => new URL(link).pathname === path);
        if (found) return found;
        throw new Error(`the mail to ${address} has no link to ${path}: ${links.join(', ')}`);
      }
      if (Date.now() > deadline) throw new Error(`no mail to ${address} with a link to ${path} arrived`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** Cookies of the service's origin as the browser keeps them (HttpOnly included). */
  async cookies() {
    return this.context.cookies(this.base);
  }

  /**
   * Chromium's DevTools virtual authenticator on this page: a platform authenticator with
   * resident keys that verifies the user, so passkey ceremonies run without a person.
   */
  async addVirtualAuthenticator() {
    const session = await this.context.newCDPSession(this.page);
    await session.send('WebAuthn.enable');
    const { authenticatorId } = await session.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
      },
    });
    return { session, authenticatorId };
  }
}

export function expect(condition, message) {
  if (!condition) throw new Error(message);
}

export function expectPath(page, path) {
  const actual = new URL(page.url()).pathname;
  expect(actual === path, `expected to be on ${path}, the browser is on ${page.url()}`);
}

/**
 * Text of the visible [role=alert] elements of the page. Pages keep hidden ones ready for
 * script errors, and innerText of a hidden element is its text all the same: skip those.
 */
export async function alerts(page) {
  const texts = await page.locator('[role=alert]:visible').allInnerTexts();
  return texts.map((text) => text.trim()).filter(Boolean);
}

export async function expectAlert(page, why) {
  await page.locator('[role=alert]:visible').first().waitFor({ state: 'visible' }).catch(() => {});
  const shown = await alerts(page);
  expect(shown.length > 0, `expected an error in [role=alert] (${why})`);
  return shown;
}

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = text.toUpperCase().replace(/[\s=-]/g, '');
  let bits = '';
  for (const character of clean) {
    const index = alphabet.indexOf(character);
    if (index < 0) throw new Error(`not base32: ${text}`);
    bits += index.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let offset = 0; offset + 8 <= bits.length; offset += 8) bytes.push(parseInt(bits.slice(offset, offset + 8), 2));
  return Buffer.from(bytes);
}

/** The 30-second step a time falls in (RFC 6238 §4, T0 = 0). */
export function totpStep(milliseconds = Date.now()) {
  return Math.floor(milliseconds / 1000 / 30);
}

/** RFC 6238 TOTP with HMAC-SHA-1 and six digits (RFC 4226 §5.3 truncation) for `step`. */
export function totp(secret, step = totpStep()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const digest = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = digest[digest.length - 1] & 0x0f;
  const binary = digest.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, '0');
}

/**
 * Creates an account through the JSON API, outside the browser (no cookie reaches the
 * context), for scenarios whose subject is not registration.
 */
export async function createAccount(scenario, email, password = PASSWORD) {
  const response = await fetch(`${scenario.base}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  expect(response.status === 201, `POST /auth/register answered ${response.status}: ${await response.text()}`);
}

/** What the contract asks of every page: its language, both language links, CSRF fields. */
export async function expectPageBasics(scenario) {
  const { page, lang } = scenario;
  const htmlLang = await page.getAttribute('html', 'lang');
  expect(htmlLang === lang, `<html lang> is ${JSON.stringify(htmlLang)}, expected ${lang}`);
  for (const code of ['en', 'ru']) {
    expect((await page.locator(`a[data-lang=${code}]`).count()) > 0, `no a[data-lang=${code}] link on the page`);
  }
  const forms = page.locator('form');
  for (let index = 0; index < (await forms.count()); index += 1) {
    const form = forms.nth(index);
    if (((await form.getAttribute('method')) || 'get').toLowerCase() !== 'post') continue;
    const token = await form.locator('input[type=hidden][name=csrf]').getAttribute('value', { timeout: 1000 }).catch(() => null);
    const id = (await form.getAttribute('id')) || `form #${index}`;
    expect(token, `the POST form ${id} has no hidden csrf input with a value`);
  }
}
