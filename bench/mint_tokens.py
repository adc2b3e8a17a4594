"""Registers EMAIL (if new), signs in as it COUNT times and prints one token per line (the access
token, or FIELD of the answer): COUNT real sessions, each with its own token.
Usage: mint_tokens.py PORT COUNT EMAIL [FIELD]"""
import http.client
import json
import sys
import threading

port, count, email = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
field = sys.argv[4] if len(sys.argv) > 4 else "access_token"
body = json.dumps({"email": email, "password": "benchmark password"})
setup = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
setup.request("POST", "/auth/register", body, {"Content-Type": "application/json"})
setup.getresponse().read()
lock = threading.Lock()
remaining = [count]
tokens = []


def worker():
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while True:
        with lock:
            if remaining[0] == 0:
                return
            remaining[0] -= 1
        connection.request("POST", "/auth/login", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            sys.exit(f"login answered {response.status}: {answer[:200]!r}")
        token = json.loads(answer)[field]
        with lock:
            tokens.append(token)


threads = [threading.Thread(target=worker) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
if len(tokens) != count:
    sys.exit(f"minted {len(tokens)} of {count} tokens")
sys.stdout.write("\n".join(tokens) + "\n")
