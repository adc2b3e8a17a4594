"""Query plans of everything an instance ran, from PostgreSQL's auto_explain in the server log.

Usage: plans.py LOG OFFSET SINCE DATABASE SCANS
LOG is the server log, OFFSET its size before the instance started, SINCE the moment it was
ready in the log's own time format (the start-up load of the revocation log before it is a full
read by design), DATABASE the benchmark's database (only its lines count), SCANS the
"table seq_scan rows" lines of pg_stat_user_tables, for the table sizes. Prints each distinct statement with the last plan it ran under (custom
plans first, then the generic one of a prepared statement: both are checked), then a line
'sequential: table(statements)... | none'. A sequential scan of a table over 10,000 rows is what
the benchmark fails on."""
import re
import sys

log_path, offset, since, database, scans_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
rows = {name: int(count) for name, _, count in (line.split() for line in open(scans_path) if line.strip())}
BIG = 10_000
# log_line_prefix '%m [%p] %q%u@%d ': a new entry starts with a timestamp.
entry_start = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[\d+\] ")

with open(log_path, encoding="utf-8", errors="replace") as log:
    log.seek(offset)
    text = log.read()

entries, current = [], None
for line in text.splitlines():
    if entry_start.match(line):
        current = [line]
        entries.append(current)
    elif current is not None:
        current.append(line)

plans = {}
for entry in entries:
    head = entry[0]
    if f"@{database} " not in head or "plan:" not in head or head[: len(since)] < since:
        continue
    body = [line.strip() for line in entry[1:]]
    query = next((line.removeprefix("Query Text:").strip() for line in body if line.startswith("Query Text:")), "?")
    plan = [line for line in entry[1:] if not line.strip().startswith("Query Text:")]
    found = plans.setdefault(" ".join(query.split()), {"plan": plan, "seq": set()})
    found["plan"] = plan
    for line in plan:
        if match := re.search(r"Seq Scan on (\w+)", line):
            found["seq"].add(match.group(1))

sequential = {}
for query, found in sorted(plans.items()):
    print(f"\n{query}\n")
    print("\n".join(f"    {line.rstrip()}" for line in found["plan"]))
    for table in found["seq"]:
        if rows.get(table, 0) > BIG:
            sequential.setdefault(table, []).append(query[:60])
print(f"\n{len(plans)} statements")
if sequential:
    print("sequential: " + " ".join(f"{table}({len(queries)})" for table, queries in sorted(sequential.items())))
    for table, queries in sorted(sequential.items()):
        for query in queries:
            print(f"  {table}: {query}", file=sys.stderr)
else:
    print("sequential: none")
