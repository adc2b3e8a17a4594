#!/usr/bin/env python3
"""Verify an auth-service webhook delivery (Python standard library only).

auth-service POSTs each user event as JSON with these headers:

    X-Auth-Event-Id:   the event's id (deduplicate on it: delivery is at least once)
    X-Auth-Event-Type: e.g. user.registered
    X-Auth-Signature:  t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed by WEBHOOK_SECRET>

Check the signature over the raw bytes before parsing, reject stale timestamps to stop
replays, then answer 2xx quickly; any other answer (or a timeout) is retried with backoff.

In a web framework:

    if not verify(SECRET, request.headers["X-Auth-Signature"], request.get_data()):
        abort(401)

As a command (used by auth-service's tests):

    verify_webhook.py --secret S --signature 't=...,v1=...' [--max-age 300] < body.json
    exit status 0: valid, 1: invalid
"""

import argparse
import hashlib
import hmac
import sys
import time


def verify(secret: str, signature_header: str, body: bytes, max_age_seconds: int = 300, now=None) -> bool:
    parts = dict(part.split("=", 1) for part in signature_header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
        received = bytes.fromhex(parts["v1"])
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > max_age_seconds:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).digest()
    # Constant-time comparison: never ==.
    return hmac.compare_digest(expected, received)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secret", required=True)
    parser.add_argument("--signature", required=True, help="the X-Auth-Signature header")
    parser.add_argument("--max-age", type=int, default=300, help="seconds a delivery stays acceptable")
    arguments = parser.parse_args()
    body = sys.stdin.buffer.read()
    return 0 if verify(arguments.secret, arguments.signature, body, arguments.max_age) else 1


if __name__ == "__main__":
    sys.exit(main())
