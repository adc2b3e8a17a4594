// A passkey added on the account page signs in without a password, and serves as the second
// factor after one, through Chromium's DevTools virtual authenticator (real WebAuthn
// ceremonies in the browser).
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
    // The list shows a placeholder row while empty: count the rows that are passkeys.
    const rows = '#passkeys li[data-passkey-id]';
    expect((await page.locator(rows).count()) === 0, 'a new account already lists a passkey');
    if (await page.locator('#passkey-name').count()) await page.fill('#passkey-name', 'Virtual authenticator');
    await page.click('#passkey-add');
    await page.locator(rows).first().waitFor().catch(() => {});
    expect((await page.locator(rows).count()) === 1, `${await page.locator(rows).count()} passkeys listed after adding one`);
  });

  await scenario.step('logout', () => scenario.signOut());

  await scenario.step('passkey-signs-in', async () => {
    await Promise.all([page.waitForURL((url) => url.pathname === '/ui/account'), page.click('#passkey-login')]);
    expect((await page.innerText('#account-email')).trim() === email, 'the account page shows another email');
  });

  await scenario.step('logout-again', () => scenario.signOut());

  // A passkey is a second factor too: the password alone now leads to the second-factor step,
  // which offers the passkey.
  await scenario.step('password-then-passkey', async () => {
    await scenario.signIn(email, PASSWORD);
    await page.locator('#mfa-form').waitFor();
    await Promise.all([page.waitForURL((url) => url.pathname === '/ui/account'), page.click('#mfa-passkey')]);
    expect((await page.innerText('#account-email')).trim() === email, 'the account page shows another email');
  });
}
