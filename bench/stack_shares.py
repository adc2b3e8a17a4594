"""Where a profile's CPU went, from inferno's folded stacks on stdin: for each part of the
service, the share of samples with one of its frames on the stack (inclusive, so shares overlap),
then the share of samples in the kernel. Usage: stack_shares.py < folded"""
import re
import sys

PARTS = [
    ("HTTP: hyper reading, writing, routing", r"hyper::|axum::routing|tower_http"),
    ("the database: sqlx (encode, send, receive, decode, pool)", r"sqlx_"),
    ("of which the pool's release ping", r"return_to_pool"),
    ("access-token check (signature or cache, claims, revocation)", r"SessionService::authenticate"),
    ("JSON (serde_json)", r"serde_json::"),
    ("logs and metrics (tracing, metrics)", r"tracing|metrics::|metrics_exporter"),
    ("memory (malloc, free)", r"malloc|cfree|_int_free"),
    ("tokio's scheduler (parking, waking)", r"tokio::runtime::(scheduler|park|driver)"),
    ("system calls", r"entry_SYSCALL|do_syscall_64"),
]

samples = []
for line in sys.stdin:
    stack, _, count = line.rstrip().rpartition(" ")
    if stack:
        samples.append((stack, int(count)))
total = sum(count for _, count in samples) or 1
for name, pattern in PARTS:
    expression = re.compile(pattern)
    share = sum(count for stack, count in samples if expression.search(stack))
    print(f"| {name} | {share / total:.0%} |")
