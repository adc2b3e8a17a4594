// Registration to sign-out in one browser: the confirmation mail's link, a verify page whose
// GET confirms nothing, sign-in, the account page, logout.
import { PASSWORD, expect, expectAlert, expectPath, uniqueEmail } from '../lib.mjs';

export default async function register(scenario) {
  const { page } = scenario;
  const email = uniqueEmail('register');
  let link;

  await scenario.step('register-page', async () => {
    await scenario.open('/ui/login');
    await Promise.all([page.waitForNavigation(), page.click('#register-link')]);
    expectPath(page, '/ui/register');
  });

  await scenario.step('register-sent', async () => {
    await page.fill('#register-form [name=email]', email);
    await page.fill('#register-form [name=password]', PASSWORD);
    await page.fill('#register-form [name=name]', 'Anna');
    await scenario.submit('#register-submit');
    await page.locator('#register-sent').waitFor();
  });

  await scenario.step('verify-page', async () => {
    link = await scenario.link(email, '/ui/verify-email');
    expect(link.startsWith(`${scenario.base}/ui/verify-email?token=`), `the mail links to ${link}`);
    await page.goto(link);
    await page.locator('#verify-form #verify-submit').waitFor();
    expect((await page.locator('#verify-done').count()) === 0, 'opening the link alone confirmed the email');
  });

  // The service requires a verified email here, so a refused sign-in proves the GET (a mail
  // scanner following the link) confirmed nothing.
  await scenario.step('unverified-sign-in-refused', async () => {
    await scenario.open('/ui/login');
    await scenario.signIn(email, PASSWORD);
    await expectAlert(page, 'sign-in before the email is confirmed');
    expectPath(page, '/ui/login');
  });

  await scenario.step('verify-done', async () => {
    await page.goto(link);
    await scenario.submit('#verify-submit');
    await page.locator('#verify-done').waitFor();
  });

  await scenario.step('sign-in', async () => {
    await scenario.open('/ui/login');
    await scenario.signIn(email, PASSWORD);
    expectPath(page, '/ui/account');
    const shown = (await page.innerText('#account-email')).trim();
    expect(shown === email, `the account page shows ${JSON.stringify(shown)}`);
  });

  await scenario.step('logout', () => scenario.signOut());

  await scenario.step('account-redirects-to-login', async () => {
    await page.goto(scenario.url('/ui/account'));
    expectPath(page, '/ui/login');
    const rd = new URL(page.url()).searchParams.get('rd') || '';
    expect(rd.includes('/ui/account'), `the login page's rd is ${JSON.stringify(rd)}`);
  });
}
