"""Reads wrk --latency output on stdin; prints 'requests/s p50_ms p99_ms'. Fails when wrk printed no rate."""
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
print(f"{float(rate.group(1)):.0f} {milliseconds('50'):.3f} {milliseconds('99'):.3f}")
