// Forms POSTed from another site are refused with 403: a forged sign-in (login CSRF) signs
// nobody in, and a forged logout leaves the session alive.
import { PASSWORD, createAccount, expect, expectPath, setting, uniqueEmail } from '../lib.mjs';

/** Opens the other origin's auto-submitting form for `action` and returns the POST's status. */
async function forge(scenario, path, fields) {
  const other = setting('AUTH_BROWSER_OTHER_ORIGIN');
  const action = `${scenario.base}${path}`;
  const query = new URLSearchParams({ action, ...fields });
  const answered = scenario.page.waitForResponse(
    (response) => response.url().startsWith(action) && response.request().method() === 'POST',
  );
  await scenario.page.goto(`${other}/post?${query}`);
  const response = await answered;
  await scenario.page.waitForLoadState();
  // A person who followed a hostile link sees a page saying what happened, not an error body.
  const type = response.headers()['content-type'] || '';
  expect(type.startsWith('text/html'), `the refusal of ${path} is ${type}, not a page`);
  return response.status();
}

export default async function crossSite(scenario) {
  const { page } = scenario;
  const email = uniqueEmail('victim');
  const attacker = uniqueEmail('attacker');
  await createAccount(scenario, email);
  await createAccount(scenario, attacker);

  await scenario.step('forged-sign-in-refused', async () => {
    const status = await forge(scenario, '/ui/login', { email: attacker, password: PASSWORD });
    expect(status === 403, `the cross-site sign-in answered ${status}`);
  });

  await scenario.step('nobody-signed-in', async () => {
    await page.goto(scenario.url('/ui/account'));
    expectPath(page, '/ui/login');
  });

  await scenario.step('sign-in', async () => {
    await scenario.open('/ui/login');
    await scenario.signIn(email, PASSWORD);
    expectPath(page, '/ui/account');
  });

  await scenario.step('forged-logout-refused', async () => {
    const status = await forge(scenario, '/ui/logout', {});
    expect(status === 403, `the cross-site logout answered ${status}`);
  });

  await scenario.step('session-still-alive', async () => {
    await scenario.open('/ui/account');
    expectPath(page, '/ui/account');
    expect((await page.innerText('#account-email')).trim() === email, 'the account page shows another email');
  });
}
