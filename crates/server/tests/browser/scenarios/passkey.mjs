// A passkey added on the account page signs in without a password, through Chromium's
// DevTools virtual authenticator (a real WebAuthn ceremony in the browser).
import { PASSWORD, createAccount, expect, expectPath, uniqueEmail } from '../lib.mjs';

export default async function passkey(scenario) {
  const { page } = scenario;
  const email = uniqueEmail('passkey');
  await createAccount(scenario, email);
  await scenario.addVirtualAuthenticator();

  await scenario.step('sign-in', async () => {
    await scenario.open('/ui/login');
    await scenario.signIn(email, PASSWORD);
    expectPath(page, '/ui/account');
  });

  await scenario.step('add-passkey', async () => {
    const before = await page.locator('#passkeys li').count();
    await page.click('#passkey-add');
    await page.waitForFunction((count) => document.querySelectorAll('#passkeys li').length > count, before);
  });

  await scenario.step('logout', () => scenario.signOut());

  await scenario.step('passkey-signs-in', async () => {
    await Promise.all([page.waitForURL((url) => url.pathname === '/ui/account'), page.click('#passkey-login')]);
    expect((await page.innerText('#account-email')).trim() === email, 'the account page shows another email');
  });
}
