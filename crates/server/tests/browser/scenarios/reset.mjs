// Forgotten password: the mail's link, a new password, sign-in with it; the old one is refused.
import { PASSWORD, createAccount, expect, expectAlert, expectPath, uniqueEmail } from '../lib.mjs';

const NEW_PASSWORD = 'a brand new password for the reset';

export default async function reset(scenario) {
  const { page } = scenario;
  const email = uniqueEmail('reset');
  await createAccount(scenario, email);

  await scenario.step('forgot-page', async () => {
    await scenario.open('/ui/login');
    await Promise.all([page.waitForNavigation(), page.click('#forgot-link')]);
    expectPath(page, '/ui/forgot-password');
  });

  await scenario.step('forgot-sent', async () => {
    await page.fill('#forgot-form [name=email]', email);
    await scenario.submit('#forgot-submit');
    await page.locator('#forgot-sent').waitFor();
  });

  await scenario.step('reset-page', async () => {
    const link = await scenario.link(email, '/ui/reset-password');
    expect(link.startsWith(`${scenario.base}/ui/reset-password?token=`), `the mail links to ${link}`);
    await page.goto(link);
    await page.locator('#reset-form [name=password]').waitFor();
  });

  await scenario.step('reset-done', async () => {
    await page.fill('#reset-form [name=password]', NEW_PASSWORD);
    await scenario.submit('#reset-submit');
    await page.locator('#reset-done').waitFor();
  });

  await scenario.step('old-password-refused', async () => {
    await scenario.open('/ui/login');
    await scenario.signIn(email, PASSWORD);
    await expectAlert(page, 'sign-in with the password from before the reset');
    expectPath(page, '/ui/login');
  });

  await scenario.step('new-password-signs-in', async () => {
    await scenario.open('/ui/login');
    await scenario.signIn(email, NEW_PASSWORD);
    expectPath(page, '/ui/account');
    expect((await page.innerText('#account-email')).trim() === email, 'the account page shows another email');
  });
}
