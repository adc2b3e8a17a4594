// TOTP from enrolment to a second-factor sign-in, with codes computed here (RFC 6238); the
// Rust test runs it in both languages, as these pages are not in the tour.
import {
  PASSWORD,
  createAccount,
  expect,
  expectAlert,
  expectPageBasics,
  expectPath,
  totp,
  totpStep,
  uniqueEmail,
} from '../lib.mjs';

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
    await expectPageBasics(scenario);
  });

  await scenario.step('confirm', async () => {
    usedStep = totpStep();
    await page.fill('#totp-confirm-form [name=code]', totp(secret, usedStep));
    await scenario.submit('#totp-confirm-form [type=submit]');
    await page.locator('#recovery-codes li').first().waitFor();
    const codes = await page.locator('#recovery-codes li').count();
    expect(codes >= 5, `only ${codes} recovery codes shown`);
    await expectPageBasics(scenario);
  });

  await scenario.step('logout', () => scenario.signOut());

  await scenario.step('second-factor-step', async () => {
    await scenario.signIn(email, PASSWORD);
    await page.locator('#mfa-form [name=code]').waitFor();
    await expectPageBasics(scenario);
  });

  // RFC 6238 §5.2: a code is good once. The one that confirmed the enrolment is refused.
  await scenario.step('replayed-code-refused', async () => {
    await page.fill('#mfa-form [name=code]', totp(secret, usedStep));
    await scenario.submit('#mfa-submit');
    await expectAlert(page, 'the code already used to confirm the enrolment');
    await page.locator('#mfa-form [name=code]').waitFor();
    await expectPageBasics(scenario);
  });

  await scenario.step('code-signs-in', async () => {
    // The next step's code, as from a phone whose clock runs a little ahead: inside the drift
    // window, and later than the step spent, so the test need not wait 30 s for a fresh one.
    await page.fill('#mfa-form [name=code]', totp(secret, usedStep + 1));
    await scenario.submit('#mfa-submit');
    expectPath(page, '/ui/account');
    expect((await page.innerText('#account-email')).trim() === email, 'the account page shows another email');
  });
}
