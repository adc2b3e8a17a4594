"""Drives the OpenID provider with Authlib, as a Python web app would: discovery, the code flow
with PKCE through the hosted sign-in page, ID token validation by Authlib (signature against the
JWKS, iss, aud, nonce, at_hash), userinfo, refresh, introspection, revocation and
client_credentials. Prints one JSON line of findings; any failure exits non-zero."""

import base64
import hashlib
import hmac
import html
import json
import struct
import time
import os
import re
import sys
from urllib.parse import parse_qs, urljoin, urlparse

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

env = os.environ
findings = {}


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def totp(secret):
    """RFC 6238: SHA-1, 30-second steps, six digits."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000)


def sign_in(url, email=None, totp_secret=None, browser=None):
    """The person's part: the hosted login form (and the second factor), plain HTTP with a
    cookie jar; returns the redirect back to the client."""
    email = email or env["EMAIL"]
    browser = browser if browser is not None else requests.Session()
    origin = "{0.scheme}://{0.netloc}".format(urlparse(url))
    answer = browser.get(url, allow_redirects=False)
    for _ in range(10):
        if answer.status_code in (302, 303):
            target = urljoin(url, answer.headers["location"])
            if target.startswith(env["REDIRECT_URI"]):
                return target
            answer = browser.get(target, allow_redirects=False)
        elif answer.status_code == 200 and 'action="/ui/login/mfa"' in answer.text:
            check(totp_secret, "a second factor is asked for only when the account has one")
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', answer.text).group(1)
            rd = html.unescape(re.search(r'name="rd" value="([^"]*)"', answer.text).group(1))
            answer = browser.post(
                origin + "/ui/login/mfa",
                data={"code": totp(totp_secret), "rd": rd, "csrf": csrf},
                headers={"origin": origin},
                allow_redirects=False,
            )
            findings["second_factor_asked"] = True
        elif answer.status_code == 200 and 'action="/ui/login"' in answer.text:
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', answer.text).group(1)
            rd = html.unescape(re.search(r'name="rd" value="([^"]*)"', answer.text).group(1))
            answer = browser.post(
                origin + "/ui/login",
                data={"email": email, "password": env["PASSWORD"], "rd": rd, "csrf": csrf},
                headers={"origin": origin},
                allow_redirects=False,
            )
        else:
            raise AssertionError(f"unexpected page {answer.status_code}: {answer.text[:300]}")
    raise AssertionError("no redirect back to the client")


metadata = requests.get(env["ISSUER"] + "/.well-known/openid-configuration").json()
check(metadata["issuer"] == env["ISSUER"], "discovery names the issuer")
keys = JsonWebKey.import_key_set(requests.get(metadata["jwks_uri"]).json())

session = OAuth2Session(
    env["CLIENT_ID"],
    env["CLIENT_SECRET"],
    scope="openid email",
    redirect_uri=env["REDIRECT_URI"],
    code_challenge_method="S256",
    token_endpoint_auth_method="client_secret_post",
)
verifier = generate_token(64)
nonce = generate_token(20)
url, state = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
callback = sign_in(url)
returned = parse_qs(urlparse(callback).query)
check(returned["iss"] == [metadata["issuer"]], "RFC 9207: the response names the issuer")
token = session.fetch_token(
    metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier
)
claims = jwt.decode(
    token["id_token"],
    keys,
    claims_cls=CodeIDToken,
    claims_options={"iss": {"essential": True, "value": metadata["issuer"]}},
    claims_params={"nonce": nonce, "client_id": env["CLIENT_ID"], "access_token": token["access_token"]},
)
claims.validate()
check(claims["email"] == env["EMAIL"], "the ID token carries the email")
findings["sub"] = claims["sub"]

# The code is single use: Authlib hears invalid_grant the second time.
try:
    session.fetch_token(metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier)
    raise AssertionError("a code was redeemed twice")
except OAuthError as error:
    check(error.error == "invalid_grant", f"reused code: {error.error}")
findings["reused_code"] = "invalid_grant"

# The reuse revoked the first tokens; a fresh authorization continues the tour.
verifier = generate_token(64)
url, state = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
token = session.fetch_token(
    metadata["token_endpoint"], authorization_response=sign_in(url), state=state, code_verifier=verifier
)
userinfo = session.get(metadata["userinfo_endpoint"]).json()
check(userinfo["sub"] == claims["sub"] and userinfo["email"] == env["EMAIL"], "userinfo answers for the person")
refreshed = session.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
check(refreshed["refresh_token"] != token["refresh_token"], "refresh rotates")
live = session.introspect_token(metadata["introspection_endpoint"], token=refreshed["access_token"]).json()
check(live["active"] is True and live["client_id"] == env["CLIENT_ID"], "introspection: active")
revoked = session.revoke_token(metadata["revocation_endpoint"], token=refreshed["refresh_token"], token_type_hint="refresh_token")
check(revoked.status_code == 200, "revocation answers 200")
dead = session.introspect_token(metadata["introspection_endpoint"], token=refreshed["access_token"]).json()
check(dead == {"active": False}, "after revocation the access token is inactive")
findings["revoked"] = True

# With a second factor: the pages ask for the TOTP code, and the ID token says aal2.
browser = requests.Session()
verifier = generate_token(64)
nonce = generate_token(20)
url, state = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
callback = sign_in(url, env["MFA_EMAIL"], env["MFA_TOTP_SECRET"], browser)
strong = session.fetch_token(metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier)
strong_claims = jwt.decode(
    strong["id_token"],
    keys,
    claims_cls=CodeIDToken,
    claims_options={"iss": {"essential": True, "value": metadata["issuer"]}},
    claims_params={"nonce": nonce, "client_id": env["CLIENT_ID"], "access_token": strong["access_token"]},
)
strong_claims.validate()
check(findings.get("second_factor_asked"), "the TOTP step was shown")
check(strong_claims["acr"] == "aal2" and "otp" in strong_claims["amr"], "a sign-in with TOTP is aal2 with otp")
findings["mfa_acr"] = strong_claims["acr"]

# RP-initiated logout: back to the registered address with the state, the grant session ended.
out = browser.get(
    metadata["end_session_endpoint"],
    params={"id_token_hint": strong["id_token"], "post_logout_redirect_uri": env["POST_LOGOUT_URI"], "state": "bye"},
    allow_redirects=False,
)
check(out.status_code == 303 and out.headers["location"] == env["POST_LOGOUT_URI"] + "?state=bye", "logout redirects back")
ended = session.introspect_token(metadata["introspection_endpoint"], token=strong["access_token"]).json()
check(ended == {"active": False}, "logout ended the grant session")
findings["logged_out"] = True

machine = OAuth2Session(env["SERVICE_ID"], env["SERVICE_SECRET"], scope="orders:read")
machine_token = machine.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
check("refresh_token" not in machine_token, "no refresh token for a machine")
findings["client_credentials"] = machine_token["scope"]

print(json.dumps({"ok": True, **findings}))
sys.exit(0)
