// The account page lists where the user is signed in; revoking another device's session
// there signs that device out.
import { PASSWORD, createAccount, expect, expectPath, uniqueEmail } from '../lib.mjs';

export default async function sessions(scenario) {
  const { page } = scenario;
  const email = uniqueEmail('sessions');
  await createAccount(scenario, email);
  const device = await scenario.otherDevice();

  await scenario.step('other-device-signs-in', async () => {
    await device.goto(scenario.url('/ui/login'));
    await device.fill('#login-form [name=email]', email);
    await device.fill('#login-form [name=password]', PASSWORD);
    await Promise.all([device.waitForNavigation(), device.click('#login-submit')]);
    expectPath(device, '/ui/account');
    await scenario.screenshotDevice(device, 'other-device-account');
    await page.goto(scenario.url('/ui/login'));
  });

  await scenario.step('both-sessions-listed', async () => {
    await scenario.signIn(email, PASSWORD);
    expectPath(page, '/ui/account');
    const rows = page.locator('#sessions li[data-session-id]');
    expect((await rows.count()) === 2, `${await rows.count()} sessions listed, expected this one and the other device`);
    expect((await page.locator('#sessions li[data-current]').count()) === 1, 'not exactly one current session');
    const current = page.locator('#sessions li[data-current]');
    expect((await current.locator('form.session-revoke').count()) === 0, 'the current session offers to revoke itself');
  });

  await scenario.step('revoke-the-other', async () => {
    const other = page.locator('#sessions li[data-session-id]:not([data-current])');
    await scenario.submit('#sessions li[data-session-id]:not([data-current]) form.session-revoke [type=submit]');
    expectPath(page, '/ui/account');
    expect((await other.count()) === 0, 'the revoked session is still listed');
  });

  await scenario.step('other-device-signed-out', async () => {
    await device.goto(scenario.url('/ui/account'));
    await scenario.screenshotDevice(device, 'other-device-login');
    expectPath(device, '/ui/login');
  });
}
