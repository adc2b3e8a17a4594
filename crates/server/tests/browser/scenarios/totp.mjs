// TOTP from enrolment to a second-factor sign-in, with codes computed here (RFC 6238).
import { PASSWORD, createAccount, expect, expectAlert, expectPath, totp, totpStep, uniqueEmail } from '../lib.mjs';

export default async function totpScenario(scenario) {
  const { page } = scenario;
  const email = uniqueEmail('totp');
  await createAccount(scenario, email);
  let secret;
  let usedStep;

  await scenario.step('sign-in', async () => {
    await scenario.open('/ui/login');
    await scenario.signIn(email, PASSWORD);
    expectPath(page, '/ui/account');
  });

  await scenario.step('enrol', async () => {
    await scenario.submit('#totp-enrol-form [type=submit]');
    secret = (await page.innerText('#totp-secret')).trim();
    expect(/^[A-Z2-7=\s]{16,}$/i.test(secret), `#totp-secret is not base32: ${JSON.stringify(secret)}`);
    expect((await page.locator('#totp-qr svg').count()) === 1, 'no QR code in #totp-qr');
  });

  await scenario.step('confirm', async () => {
    usedStep = totpStep();
    await page.fill('#totp-confirm-form [name=code]', totp(secret, usedStep));
    await scenario.submit('#totp-confirm-form [type=submit]');
    await page.locator('#recovery-codes li').first().waitFor();
    const codes = await page.locator('#recovery-codes li').count();
    expect(codes >= 5, `only ${codes} recovery codes shown`);
  });

  await scenario.step('logout', () => scenario.signOut());

  await scenario.step('second-factor-step', async () => {
    await scenario.signIn(email, PASSWORD);
    await page.locator('#mfa-form [name=code]').waitFor();
  });

  await scenario.step('wrong-code-refused', async () => {
    const right = totp(secret);
    await page.fill('#mfa-form [name=code]', right === '000000' ? '111111' : '000000');
    await scenario.submit('#mfa-submit');
    await expectAlert(page, 'a wrong TOTP code');
    await page.locator('#mfa-form [name=code]').waitFor();
  });

  await scenario.step('code-signs-in', async () => {
    // A code is good once (RFC 6238 §5.2): wait for the step after the one used to confirm.
    while (totpStep() <= usedStep) await new Promise((resolve) => setTimeout(resolve, 500));
    await page.fill('#mfa-form [name=code]', totp(secret));
    await scenario.submit('#mfa-submit');
    expectPath(page, '/ui/account');
    expect((await page.innerText('#account-email')).trim() === email, 'the account page shows another email');
  });
}
