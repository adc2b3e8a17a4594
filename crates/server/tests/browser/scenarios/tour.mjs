// Every page once in the language of this run (AUTH_BROWSER_LANG), checking what the contract
// asks of each and leaving a screenshot of each for a reviewer.
import { PASSWORD, alerts, createAccount, expect, expectAlert, expectPageBasics, expectPath, uniqueEmail } from '../lib.mjs';

const CYRILLIC = /[\u0400-\u04FF]/;

export default async function tour(scenario) {
  const { page, lang } = scenario;
  const email = uniqueEmail('tour');

  await scenario.step('login', async () => {
    await scenario.open('/ui/login');
    await expectPageBasics(scenario);
    for (const selector of ['#login-form', '#login-submit', '#passkey-login', '#register-link', '#forgot-link']) {
      expect((await page.locator(selector).count()) === 1, `the login page has no ${selector}`);
    }
    // The button's words show which language the page is really in, not just its attribute.
    const label = (await page.innerText('#login-submit')) || (await page.getAttribute('#login-submit', 'value'));
    expect(CYRILLIC.test(label) === (lang === 'ru'), `the sign-in button says ${JSON.stringify(label)} in a ${lang} page`);
  });

  await scenario.step('language-switch', async () => {
    const other = lang === 'en' ? 'ru' : 'en';
    await Promise.all([page.waitForNavigation(), page.click(`a[data-lang=${other}]`)]);
    const switched = await page.getAttribute('html', 'lang');
    expect(switched === other, `the ${other} link led to a page with lang ${switched}`);
    await page.goto(scenario.url('/ui/login'));
  });

  await scenario.step('login-error', async () => {
    await scenario.signIn(email, 'not the password');
    await expectAlert(page, 'sign-in of an unknown account');
    await expectPageBasics(scenario);
  });

  await scenario.step('register', async () => {
    await scenario.open('/ui/register');
    await expectPageBasics(scenario);
    for (const name of ['email', 'password', 'name']) {
      expect((await page.locator(`#register-form [name=${name}]`).count()) === 1, `the register form has no ${name} input`);
    }
  });

  await scenario.step('register-sent', async () => {
    await page.fill('#register-form [name=email]', email);
    await page.fill('#register-form [name=password]', PASSWORD);
    await page.fill('#register-form [name=name]', lang === 'ru' ? 'Анна' : 'Anna');
    await scenario.submit('#register-submit');
    await page.locator('#register-sent').waitFor();
    await expectPageBasics(scenario);
  });

  await scenario.step('verify-email', async () => {
    await scenario.open(`/ui/verify-email?token=made-up-token`);
    await expectPageBasics(scenario);
  });

  await scenario.step('verify-email-refused', async () => {
    await scenario.submit('#verify-submit');
    await expectAlert(page, 'a made-up verification token');
    expect((await page.locator('#verify-done').count()) === 0, 'a made-up token confirmed an email');
    await expectPageBasics(scenario);
  });

  await scenario.step('forgot-password', async () => {
    await scenario.open('/ui/forgot-password');
    await expectPageBasics(scenario);
    expect((await page.locator('#forgot-form [name=email]').count()) === 1, 'the forgot form has no email input');
  });

  await scenario.step('forgot-sent', async () => {
    await page.fill('#forgot-form [name=email]', email);
    await scenario.submit('#forgot-submit');
    await page.locator('#forgot-sent').waitFor();
    await expectPageBasics(scenario);
  });

  await scenario.step('reset-password', async () => {
    await scenario.open(`/ui/reset-password?token=made-up-token`);
    await expectPageBasics(scenario);
  });

  await scenario.step('reset-password-refused', async () => {
    await page.fill('#reset-form [name=password]', 'a new password nobody asked for');
    await scenario.submit('#reset-submit');
    await expectAlert(page, 'a made-up reset token');
    expect((await page.locator('#reset-done').count()) === 0, 'a made-up token reset a password');
    await expectPageBasics(scenario);
  });

  await scenario.step('account-needs-sign-in', async () => {
    await page.goto(scenario.url('/ui/account'));
    expectPath(page, '/ui/login');
    const rd = new URL(page.url()).searchParams.get('rd');
    expect(rd, `no rd= on the redirect to ${page.url()}`);
    const field = await page.getAttribute('#login-form input[type=hidden][name=rd]', 'value', { timeout: 1000 }).catch(() => null);
    expect(field === rd, `the login form's hidden rd is ${JSON.stringify(field)}, the URL's ${JSON.stringify(rd)}`);
    await expectPageBasics(scenario);
  });

  await scenario.step('account', async () => {
    const account = uniqueEmail('tour-account');
    await createAccount(scenario, account);
    await scenario.open('/ui/login');
    await scenario.signIn(account, PASSWORD);
    expectPath(page, '/ui/account');
    expect((await page.innerText('#account-email')).trim() === account, 'the account page shows another email');
    expect((await page.locator('#sessions li[data-session-id][data-current]').count()) === 1, 'no current session listed');
    expect((await alerts(page)).length === 0, `errors on the account page: ${await alerts(page)}`);
    await expectPageBasics(scenario);
  });

  // Last, so the screenshots above exist whatever happens here: a visitor sent by the gateway
  // who switches language must still be sent back afterwards.
  await scenario.step('language-switch-keeps-rd', async () => {
    await scenario.signOut();
    const rd = `${scenario.base}/ui/account`;
    await page.goto(scenario.url(`/ui/login?rd=${encodeURIComponent(rd)}`));
    const other = lang === 'en' ? 'ru' : 'en';
    await Promise.all([page.waitForNavigation(), page.click(`a[data-lang=${other}]`)]);
    const kept = new URL(page.url()).searchParams.get('rd');
    expect(kept === rd, `after switching to ${other} the login page's rd is ${JSON.stringify(kept)}, was ${rd}`);
  });
}
