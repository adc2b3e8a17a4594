"""Waits until the processes PID... (with their children) are idle: under 5 % of one core over
half a second, or 60 s at most. wrk stops with requests still in flight; after a hashing row
those are seconds of bcrypt the server still owes, which would land on the next measurement.
Usage: settle.py PID..."""
import os
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def stat(pid):
    """(parent pid, CPU seconds) of a process; the command name may hold spaces."""
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def cpu_seconds(roots):
    processes = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                processes[int(entry)] = stat(entry)
            except (FileNotFoundError, ProcessLookupError, IndexError):
                pass
    family, grew = set(roots), True
    while grew:
        children = {pid for pid, (parent, _) in processes.items() if parent in family} - family
        family |= children
        grew = bool(children)
    return sum(processes[pid][1] for pid in family if pid in processes)


roots = {int(pid) for pid in sys.argv[1:]}
deadline = time.monotonic() + 60
before = cpu_seconds(roots)
while time.monotonic() < deadline:
    time.sleep(0.5)
    now = cpu_seconds(roots)
    if now - before < 0.025:
        break
    before = now
