"""The service's own view of how fast it answered 503 to logins: the difference of two /metrics
readings of http_request_duration_seconds{route="/auth/login",status="503"}. Prints
'count share_within_50ms p99_bucket_ms', the p99 as the upper bound of the histogram bucket it
falls in. Usage: shed_latency.py BEFORE AFTER (files holding the two /metrics texts)"""
import re
import sys

series = re.compile(r'^http_request_duration_seconds_bucket\{(?P<labels>[^}]*)\} (?P<value>\S+)$')


def buckets(path):
    found = {}
    for line in open(path):
        match = series.match(line.strip())
        if not match:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group("labels")))
        if labels.get("route") == "/auth/login" and labels.get("status") == "503":
            found[float(labels["le"])] = float(match.group("value"))
    return found


before, after = buckets(sys.argv[1]), buckets(sys.argv[2])
counts = sorted((bound, after[bound] - before.get(bound, 0.0)) for bound in after)
total = counts[-1][1] if counts else 0.0
within = next((count for bound, count in counts if bound >= 0.05), 0.0)
p99 = next((bound for bound, count in counts if total and count >= 0.99 * total), float("nan"))
print(f"{total:.0f} {within / total if total else float('nan'):.3f} {p99 * 1000:.1f}")
