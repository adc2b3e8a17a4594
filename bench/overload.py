"""A login flood of CLIENTS concurrent connections for SECONDS, each signing in as an unknown
email (a full bcrypt verification) again and again, waiting out Retry-After when told 503.
Prints 'completed_per_s shed p99_shed_ms p99_completed_ms late' where completed are the logins
judged (401) inside the window, shed the 503 answers, and late the 503s that came only at the
request timeout (TIMEOUT seconds). Usage: overload.py PORT CLIENTS SECONDS TIMEOUT"""
import asyncio
import json
import os
import sys
import time

port, clients, seconds, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])


async def client(deadline, results):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < deadline:
            body = json.dumps({"email": f"nobody-{os.urandom(8).hex()}@example.com", "password": "benchmark password"})
            request = (
                f"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n{body}"
            )
            started = time.monotonic()
            writer.write(request.encode())
            await writer.drain()
            status = int((await reader.readline()).split()[1])
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            await reader.readexactly(int(headers.get("content-length", "0")))
            finished = time.monotonic()
            results.append((status, finished - started, finished))
            if status == 503:
                pause = float(headers.get("retry-after", "1"))
                await asyncio.sleep(max(0.0, min(pause, deadline - time.monotonic())))
            if headers.get("connection", "").lower() == "close":
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


def p99(values):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.99))] * 1000 if values else float("nan")


async def main():
    results = []
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(client(deadline, results) for _ in range(clients)))
    completed = [took for status, took, finished in results if status == 401 and finished <= deadline]
    shed = [took for status, took, _ in results if status == 503]
    late = sum(1 for took in shed if took >= timeout * 0.95)
    others = sorted({status for status, _, _ in results if status not in (401, 503)})
    if others:
        sys.exit(f"unexpected answers: {others}")
    print(f"{len(completed) / seconds:.1f} {len(shed)} {p99(shed):.1f} {p99(completed):.0f} {late}")


asyncio.run(main())
