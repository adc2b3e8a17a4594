// Sign in with Apple from the hosted login page. Apple (a stand-in on another site) sends the
// browser back with a cross-site form POST: the sign-in finishes only because the binding
// cookie is SameSite=None, the session cookies set in answer to that POST hold, and a refusal
// is told on the login page, not as a bare error body.
import { PASSWORD, createAccount, expect, expectAlert, expectPath, setting, uniqueEmail } from '../lib.mjs';

/** Tells the stand-in who signs in next. */
async function nextAppleUser(sub, email) {
  const response = await fetch(`${setting('AUTH_BROWSER_APPLE_URL')}/control/next-user`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ sub, email }),
  });
  expect(response.status === 204, `the stand-in answered ${response.status}`);
}

/** Clicks "Continue with Apple" and waits until the form POST back has been answered; returns
 * that answer. */
async function continueWithApple(scenario) {
  const { page } = scenario;
  await scenario.open('/ui/login');
  const answered = page.waitForResponse(
    (response) =>
      response.request().method() === 'POST' && new URL(response.url()).pathname === '/auth/oauth/apple/callback',
  );
  await page.click('#social-apple');
  const response = await answered;
  const origin = response.request().headers().origin || '';
  expect(!origin.startsWith(scenario.base), `the form came from ${origin}, not from another site`);
  await page.waitForLoadState();
  return response;
}

export default async function apple(scenario) {
  const { page } = scenario;

  await scenario.step('an-address-apple-does-not-own-is-refused-on-the-page', async () => {
    // Apple vouches for an address it does not run, and a password account has it.
    const email = uniqueEmail('taken');
    await createAccount(scenario, email, PASSWORD);
    await nextAppleUser('001.taken', email);
    const response = await continueWithApple(scenario);
    const type = response.headers()['content-type'] || '';
    expect(type.startsWith('text/html'), `the refusal is ${type}, not the login page`);
    const shown = await expectAlert(page, 'the address belongs to another account');
    expect(shown.some((text) => text.includes('link this sign-in method')), `the alert says ${shown.join(' | ')}`);
  });

  await scenario.step('continue-with-apple', async () => {
    await nextAppleUser('001.ann', 'ann@icloud.com');
    await continueWithApple(scenario);
    await page.waitForURL((url) => url.origin === scenario.base && !url.pathname.startsWith('/auth/oauth/'));
  });

  await scenario.step('signed-in-as-the-apple-user', async () => {
    await scenario.open('/ui/account');
    expectPath(page, '/ui/account');
    const email = (await page.innerText('#account-email')).trim();
    expect(email === 'ann@icloud.com', `the account page shows ${email}`);
    // Apple is this account's only way in: the page offers no unlink the service would refuse.
    const actions = await page.locator('#providers [data-provider=apple] button').count();
    expect(actions === 0, `the only sign-in method shows ${actions} action(s)`);
  });
}
