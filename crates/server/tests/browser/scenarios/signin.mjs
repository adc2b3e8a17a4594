// A wrong password shows an error and signs nobody in; a right one sets only cookies that
// page scripts cannot read (HttpOnly), so an injected script cannot steal the session.
import { PASSWORD, createAccount, expect, expectAlert, expectPath, uniqueEmail } from '../lib.mjs';

export default async function signin(scenario) {
  const { page } = scenario;
  const email = uniqueEmail('signin');
  await createAccount(scenario, email);

  await scenario.step('wrong-password', async () => {
    await scenario.open('/ui/login');
    await scenario.signIn(email, 'not the password');
    await expectAlert(page, 'a wrong password');
    expectPath(page, '/ui/login');
    await page.goto(scenario.url('/ui/account'));
    expectPath(page, '/ui/login');
  });

  await scenario.step('right-password', async () => {
    const before = new Set((await scenario.cookies()).map((cookie) => `${cookie.name}=${cookie.value}`));
    await scenario.open('/ui/login');
    await scenario.signIn(email, PASSWORD);
    expectPath(page, '/ui/account');
    const cookies = await scenario.cookies();
    const added = cookies.filter((cookie) => !before.has(`${cookie.name}=${cookie.value}`));
    expect(added.length > 0, 'signing in set no cookie at all');
    for (const cookie of cookies) expect(cookie.httpOnly, `cookie ${cookie.name} is not HttpOnly`);
    const readable = await page.evaluate(() => document.cookie);
    for (const cookie of cookies) {
      expect(!readable.includes(cookie.name), `document.cookie shows ${cookie.name}: ${readable}`);
      expect(!readable.includes(cookie.value), `document.cookie shows the value of ${cookie.name}`);
    }
    console.log(`     cookies: ${cookies.map((c) => `${c.name} (HttpOnly, SameSite=${c.sameSite}${c.secure ? ', Secure' : ''})`).join(', ')}`);
  });
}
