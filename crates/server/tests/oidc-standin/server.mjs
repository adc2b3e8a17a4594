// A real, OpenID-Certified provider (oidc-provider) configured the way Google behaves, for the
// social sign-in tests: Google-like claims in the ID token, PKCE required, exact redirect URIs.
//
//   node server.mjs <port> <redirect_uri> <signing-key.pem>
//
// The same stand-in plays a configured OpenID Connect provider (a company's Keycloak, GitLab)
// with STANDIN_CLIENT_ID, STANDIN_CLIENT_SECRET, STANDIN_AUTH_METHOD (the client's registered
// token_endpoint_auth_method, which oidc-provider enforces), STANDIN_ALG (the ID-token algorithm,
// matching the key) and STANDIN_KID.
//
// The interaction step signs in the account named by `login_hint` at once (default "alice");
// `login_hint=deny` answers access_denied, as a user who cancels would.
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Provider } from 'oidc-provider';

const [port, redirectUri, keyPath] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const env = process.env;
const alg = env.STANDIN_ALG ?? 'RS256';
const signingKey = { ...createPrivateKey(readFileSync(keyPath)).export({ format: 'jwk' }), kid: env.STANDIN_KID ?? 'standin-key', alg, use: 'sig' };

const accounts = {
  alice: { email: 'alice@gmail.com', email_verified: true, name: 'Alice Gmail' },
  bob: { email: 'bob@corp.example', email_verified: true, hd: 'corp.example', name: 'Bob Workspace' },
  carol: { email: 'carol@example.org', email_verified: true, name: 'Carol Elsewhere' },
  dave: { email: 'dave@gmail.com', email_verified: false, name: 'Dave Unverified' },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: env.STANDIN_CLIENT_ID ?? 'google-client',
    client_secret: env.STANDIN_CLIENT_SECRET ?? 'google-secret',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: env.STANDIN_AUTH_METHOD ?? 'client_secret_post',
    id_token_signed_response_alg: alg,
  }],
  jwks: { keys: [signingKey] },
  claims: { openid: ['sub'], email: ['email', 'email_verified', 'hd'], profile: ['name'] },
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: { keys: ['standin-cookie-key'] },
  features: { devInteractions: { enabled: false } },
  async findAccount(ctx, id) {
    const claims = accounts[id] ?? { email: `${id}@gmail.com`, email_verified: true, name: id };
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  async loadExistingGrant(ctx) {
    if (!ctx.oidc.session?.accountId) return undefined;
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile');
    grant.addOIDCClaims(['email', 'email_verified', 'hd', 'name']);
    await grant.save();
    return grant;
  },
});

provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path.startsWith('/interaction/')) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const accountId = details.params.login_hint || 'alice';
    const result = accountId === 'deny'
      ? { error: 'access_denied', error_description: 'The user cancelled' }
      : { login: { accountId } };
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false }));
    ctx.status = 303;
    return;
  }
  await next();
});

provider.listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
