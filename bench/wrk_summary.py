"""Reads wrk --latency output on stdin; prints 'requests/s p50_ms p99_ms'. The rate counts only
2xx answers: wrk's own counts every answer, so a driver that went wrong (a spent refresh token,
say) would show its quick 401s as speed. Fails when wrk printed no rate."""
import re
import sys

text = sys.stdin.read()


def milliseconds(label):
    match = re.search(r"^\s*" + label + r"%\s+([\d.]+)(us|ms|s)\b", text, re.M)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
if not rate:
    sys.exit("wrk printed no request rate:\n" + text)
answered = re.search(r"^\s*(\d+) requests in", text, re.M)
failed = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
share = 1.0
if answered and failed and int(answered.group(1)):
    share = 1 - int(failed.group(1)) / int(answered.group(1))
print(f"{float(rate.group(1)) * share:.0f} {milliseconds('50'):.3f} {milliseconds('99'):.3f}")
