// The portal recipe (deploy/gateway/nginx-portal.conf): an app behind nginx sends a visitor
// without a session to the sign-in page and gets them back signed in, with X-User-Id.
import { PASSWORD, createAccount, expect, expectPath, setting, uniqueEmail } from '../lib.mjs';

const USER_ID = /upstream sees user ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/;

export default async function gateway(scenario) {
  const { page } = scenario;
  const app = setting('AUTH_BROWSER_APP_URL');
  const email = uniqueEmail('gateway');
  await createAccount(scenario, email);

  await scenario.step('app-sends-to-login', async () => {
    await page.goto(app);
    expect(page.url().startsWith(`${scenario.base}/ui/login`), `the app led to ${page.url()}, not the sign-in page`);
    const rd = new URL(page.url()).searchParams.get('rd');
    expect(rd === app, `rd is ${JSON.stringify(rd)}, expected the app URL ${app}`);
  });

  await scenario.step('sign-in-returns-to-app', async () => {
    await scenario.signIn(email, PASSWORD);
    expect(page.url() === app, `after signing in the browser is on ${page.url()}, not ${app}`);
    const body = await page.innerText('body');
    expect(USER_ID.test(body), `the app did not receive a user id: ${JSON.stringify(body)}`);
  });

  await scenario.step('logout-at-the-service', () => scenario.signOut());

  await scenario.step('app-sends-to-login-again', async () => {
    await page.goto(app);
    expect(page.url().startsWith(`${scenario.base}/ui/login`), `after logout the app led to ${page.url()}`);
  });
}
