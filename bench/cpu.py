"""CPU seconds used so far by the service (PID), by PostgreSQL (every postgres process, plus the
backends that have exited, which the postmaster has reaped into its children's time) and by the
whole machine. Two readings around a run tell where the CPU of that run went.
Usage: cpu.py PID  -> prints 'service postgres machine' in seconds"""
import os
import sys

tick = os.sysconf("SC_CLK_TCK")


def stat(pid):
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rsplit(")", 1)[1].split()
    # After the command name: utime, stime, cutime, cstime are fields 12 to 15 (from 0).
    return [int(value) for value in fields[11:15]]


service = sum(stat(sys.argv[1])[:2])
postgres = 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/comm") as file:
            if file.read().strip() != "postgres":
                continue
        utime, stime, cutime, cstime = stat(pid)
    except OSError:
        continue
    postgres += utime + stime + cutime + cstime
with open("/proc/stat") as file:
    cpu = [int(value) for value in file.readline().split()[1:]]
machine = sum(cpu) - cpu[3] - cpu[4]  # all but idle and iowait
print(f"{service / tick:.2f} {postgres / tick:.2f} {machine / tick:.2f}")
