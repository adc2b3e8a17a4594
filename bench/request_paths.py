"""Drives each request path of a user and an admin a few times, so that every statement they run
is planned, first with custom plans and then (prepared statements switch after five) with the
generic one. Usage: request_paths.py PORT ADMIN_EMAIL PASSWORD ROUNDS"""
import http.client
import json
import sys
import uuid

port, admin_email, password, rounds = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def call(method, path, body=None, token=None, expect=(200,)):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection.request(method, path, json.dumps(body) if body is not None else None, headers)
    response = connection.getresponse()
    answer = response.read()
    if response.status not in expect:
        sys.exit(f"{method} {path} answered {response.status}: {answer[:200]!r}")
    return json.loads(answer) if answer else None


admin = call("POST", "/auth/login", {"email": admin_email, "password": password})["access_token"]
for _ in range(rounds):
    email = f"paths-{uuid.uuid4().hex[:12]}@example.com"
    created = call("POST", "/auth/register", {"email": email, "password": password}, expect=(200, 201))
    tokens = call("POST", "/auth/login", {"email": email, "password": password})
    call("POST", "/auth/login", {"email": email, "password": "not the password"}, expect=(401,))
    call("POST", "/auth/login", {"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com", "password": password}, expect=(401,))
    call("GET", "/auth/me", token=tokens["access_token"])
    call("GET", "/auth/validate", token=tokens["access_token"])
    tokens = call("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    call("GET", "/auth/sessions", token=tokens["access_token"])
    call("GET", "/admin/users?email=listed-&limit=20", token=admin)
    call("GET", "/admin/users?limit=20", token=admin)
    user_id = (created.get("user") or created).get("id") if isinstance(created, dict) else None
    if user_id:
        call("GET", f"/admin/users/{user_id}", token=admin)
    call("POST", "/auth/logout", {"refresh_token": tokens["refresh_token"]}, token=tokens["access_token"], expect=(200, 204))
