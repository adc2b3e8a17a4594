// The admin console: an administrator finds a user by email, opens them, deactivates them (the
// user can no longer sign in, on another device), and reactivates them. Every console page is
// screenshotted in the scenario's language.
import { PASSWORD, createAccount, expect, expectAlert, expectPageBasics, expectPath, setting, uniqueEmail } from '../lib.mjs';

export default async function admin(scenario) {
  const { page } = scenario;
  const adminEmail = setting('AUTH_BROWSER_ADMIN_EMAIL');
  const email = uniqueEmail('managed');
  await createAccount(scenario, email);

  await scenario.step('admin-signs-in', async () => {
    await scenario.open('/ui/login');
    await scenario.signIn(adminEmail, PASSWORD);
    expectPath(page, '/ui/account');
    expect((await page.locator('#admin-link').count()) === 1, 'no link to the console on an admin account page');
  });

  await scenario.step('console', async () => {
    await scenario.submit('#admin-link');
    expectPath(page, '/ui/admin');
    await expectPageBasics(scenario);
    expect((await page.locator('#dead-letters').count()) === 1, 'no dead-letter list');
  });

  await scenario.step('search', async () => {
    await page.fill('#admin-search-form [name=q]', email.slice(0, 12));
    await scenario.submit('#admin-search-form [type=submit]');
    const found = page.locator('#admin-users a.user', { hasText: email });
    expect((await found.count()) === 1, `${email} not found by the start of its address`);
    expect((await page.locator('#admin-users a.user', { hasText: adminEmail }).count()) === 0, 'the search did not narrow');
  });

  await scenario.step('user-detail', async () => {
    await scenario.submit(`#admin-users a.user:has-text("${email}")`);
    expect((await page.locator('#admin-user-email').innerText()).trim() === email, 'the detail shows another user');
    await expectPageBasics(scenario);
  });

  await scenario.step('deactivate', async () => {
    await scenario.submit('#user-active-form [type=submit]');
    const offered = await page.locator('#user-active-form [name=active]').getAttribute('value');
    expect(offered === 'true', 'after deactivating, the page does not offer to reactivate');
  });

  const device = await scenario.otherDevice();
  await scenario.step('deactivated-user-refused', async () => {
    await device.goto(scenario.url('/ui/login'));
    await device.fill('#login-form [name=email]', email);
    await device.fill('#login-form [name=password]', PASSWORD);
    await Promise.all([device.waitForNavigation(), device.click('#login-submit')]);
    expectPath(device, '/ui/login');
    await expectAlert(device, 'a deactivated account signs in');
    await scenario.screenshotDevice(device, 'user-refused');
  });

  await scenario.step('reactivate', async () => {
    await scenario.submit('#user-active-form [type=submit]');
    const offered = await page.locator('#user-active-form [name=active]').getAttribute('value');
    expect(offered === 'false', 'after reactivating, the page does not offer to deactivate');
  });

  await scenario.step('reactivated-user-signs-in', async () => {
    await device.goto(scenario.url('/ui/login'));
    await device.fill('#login-form [name=email]', email);
    await device.fill('#login-form [name=password]', PASSWORD);
    await Promise.all([device.waitForNavigation(), device.click('#login-submit')]);
    expectPath(device, '/ui/account');
  });
}
