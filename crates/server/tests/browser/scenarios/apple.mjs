// Sign in with Apple from the hosted login page. Apple (a stand-in on another site) sends the
// browser back with a cross-site form POST: the sign-in finishes only because the binding
// cookie is SameSite=None, and the session cookies set in answer to that POST hold.
import { expect, expectPath } from '../lib.mjs';

export default async function apple(scenario) {
  const { page } = scenario;

  await scenario.step('continue-with-apple', async () => {
    await scenario.open('/ui/login');
    const posted = page.waitForRequest(
      (request) => request.method() === 'POST' && new URL(request.url()).pathname === '/auth/oauth/apple/callback',
    );
    await page.click('#social-apple');
    const request = await posted;
    const origin = request.headers().origin || '';
    expect(!origin.startsWith(scenario.base), `the form came from ${origin}, not from another site`);
    await page.waitForURL((url) => url.origin === scenario.base && !url.pathname.startsWith('/auth/oauth/'));
  });

  await scenario.step('signed-in-as-the-apple-user', async () => {
    await scenario.open('/ui/account');
    expectPath(page, '/ui/account');
    const email = (await page.innerText('#account-email')).trim();
    expect(email === 'ann@icloud.com', `the account page shows ${email}`);
  });
}
