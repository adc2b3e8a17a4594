// Drives the OpenID provider with openid-client (OpenID Certified relying-party library): the
// library does discovery, builds the authorization request, checks the authorization response,
// redeems the code with PKCE and validates the ID token itself (signature against the JWKS,
// iss, aud, nonce, at_hash). The person's part, signing in on the hosted pages, is plain HTTP
// with a cookie jar. Prints one JSON line of findings; any failure exits non-zero.
import crypto from 'node:crypto';
import * as client from 'openid-client';

const env = process.env;
const insecure = { execute: [client.allowInsecureRequests] };
const findings = {};

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/// A browser's cookies, sent back to the same service.
class Jar {
  constructor() { this.cookies = new Map(); }
  header() { return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; '); }
  take(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const index = pair.indexOf('=');
      const name = pair.slice(0, index), value = pair.slice(index + 1);
      if (value === '' || /Max-Age=0/i.test(line)) this.cookies.delete(name); else this.cookies.set(name, value);
    }
  }
  async get(url) {
    const response = await fetch(url, { redirect: 'manual', headers: { cookie: this.header() } });
    this.take(response);
    return { status: response.status, location: response.headers.get('location'), body: await response.text() };
  }
  async post(url, fields) {
    const response = await fetch(url, {
      method: 'POST', redirect: 'manual',
      headers: { cookie: this.header(), origin: new URL(url).origin, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields),
    });
    this.take(response);
    return { status: response.status, location: response.headers.get('location'), body: await response.text() };
  }
}

function csrfOf(body) {
  const match = body.match(/name="csrf-token" content="([^"]+)"/);
  check(match, 'the page carries a CSRF token');
  return match[1];
}

/// RFC 6238 with SHA-1, 30-second steps, 6 digits, from a base32 secret.
function totp(base32) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const character of base32.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(character).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const mac = crypto.createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/// Follows the authorization through the hosted sign-in (and the second factor) to the
/// redirect back to the client; returns that URL.
async function signIn(jar, authorizationUrl, email, password, totpSecret) {
  const base = new URL(authorizationUrl).origin;
  let answer = await jar.get(authorizationUrl.href);
  for (let hops = 0; hops < 10; hops += 1) {
    if (answer.status === 303 || answer.status === 302) {
      const next = new URL(answer.location, base);
      if (next.href.startsWith(env.REDIRECT_URI)) return next;
      answer = await jar.get(next.href);
    } else if (answer.status === 200 && answer.body.includes('action="/ui/login/mfa"')) {
      check(totpSecret, 'a second factor is asked for only when the account has one');
      const rd = answer.body.match(/name="rd" value="([^"]*)"/)[1].replaceAll('&amp;', '&').replaceAll('&#x2f;', '/');
      answer = await jar.post(`${base}/ui/login/mfa`, { code: totp(totpSecret), rd, csrf: csrfOf(answer.body) });
      findings.second_factor_asked = true;
    } else if (answer.status === 200 && answer.body.includes('action="/ui/login"')) {
      const rd = new URL(answer.location ?? jar.lastLogin ?? base, base);
      const hidden = answer.body.match(/name="rd" value="([^"]*)"/);
      const value = hidden ? hidden[1].replaceAll('&amp;', '&').replaceAll('&#x2f;', '/') : rd.searchParams.get('rd');
      answer = await jar.post(`${base}/ui/login`, { email, password, rd: value, csrf: csrfOf(answer.body) });
    } else {
      throw new Error(`unexpected page ${answer.status}: ${answer.body.slice(0, 300)}`);
    }
  }
  throw new Error('no redirect back to the client');
}

async function codeFlow(config, email, password, totpSecret) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: env.REDIRECT_URI, scope: 'openid email profile',
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce,
  });
  const jar = new Jar();
  const callback = await signIn(jar, url, email, password, totpSecret);
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
  });
  return { tokens, jar };
}

const config = await client.discovery(new URL(env.ISSUER), env.CLIENT_ID, env.CLIENT_SECRET, undefined, insecure);
findings.issuer = config.serverMetadata().issuer;

// Without a second factor.
const { tokens, jar } = await codeFlow(config, env.EMAIL, env.PASSWORD);
const claims = tokens.claims();
check(claims.email === env.EMAIL, 'the ID token carries the email');
check(claims.acr === 'aal1', 'a password sign-in is aal1');
findings.sub = claims.sub;
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
check(userinfo.email === env.EMAIL && userinfo.sub === claims.sub, 'userinfo answers for the same person');
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
check(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, 'refresh rotates');
check(refreshed.claims().sub === claims.sub, 'the refreshed ID token is validated and names the same person');
const live = await client.tokenIntrospection(config, refreshed.access_token);
check(live.active === true && live.client_id === env.CLIENT_ID, 'introspection: active');
await client.tokenRevocation(config, refreshed.refresh_token);
const dead = await client.tokenIntrospection(config, refreshed.access_token);
check(dead.active === false, 'after revocation the access token is inactive');
findings.revoked = true;

// With a second factor: the same flow, the pages ask for the code, the tokens say aal2.
const second = await codeFlow(config, env.MFA_EMAIL, env.PASSWORD, env.MFA_TOTP_SECRET);
const strong = second.tokens.claims();
check(findings.second_factor_asked, 'the TOTP step was shown');
check(strong.acr === 'aal2' && strong.amr.includes('otp'), 'a sign-in with TOTP is aal2 with otp');
findings.mfa_acr = strong.acr;

// RP-initiated logout with the library's end-session URL.
const logout = client.buildEndSessionUrl(config, {
  id_token_hint: second.tokens.id_token, post_logout_redirect_uri: env.POST_LOGOUT_URI, state: 'bye',
});
const out = await second.jar.get(logout.href);
check(out.status === 303 && out.location === `${env.POST_LOGOUT_URI}?state=bye`, `logout redirects back: ${out.status} ${out.location}`);
const afterLogout = await client.tokenIntrospection(config, second.tokens.access_token);
check(afterLogout.active === false, 'logout ended the grant session');
findings.logged_out = true;

// A service account with client_credentials.
const machine = await client.discovery(new URL(env.ISSUER), env.SERVICE_ID, env.SERVICE_SECRET, undefined, insecure);
const machineTokens = await client.clientCredentialsGrant(machine, { scope: 'orders:read' });
check(!machineTokens.refresh_token, 'no refresh token for a machine');
const machineIntrospection = await client.tokenIntrospection(config, machineTokens.access_token);
check(machineIntrospection.active && machineIntrospection.sub === env.SERVICE_ID, 'the machine token is active and names the client');
findings.client_credentials = machineTokens.scope;

// A wrong secret is refused by the provider, as the library reports it.
const wrong = await client.discovery(new URL(env.ISSUER), env.CLIENT_ID, 'not-the-secret', undefined, insecure);
try {
  await client.refreshTokenGrant(wrong, tokens.refresh_token);
  throw new Error('a wrong secret was accepted');
} catch (error) {
  // The 401 answer to basic authentication carries a Basic challenge (RFC 6749 §5.2).
  check(error.status === 401 && (error.error === 'invalid_client' || error.code === 'OAUTH_WWW_AUTHENTICATE_CHALLENGE'), `wrong secret: ${error.error ?? error.message}`);
}
void jar;
console.log(JSON.stringify({ ok: true, ...findings }));
