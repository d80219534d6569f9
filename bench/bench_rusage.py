#!/usr/bin/python3
"""bench_rusage.py [--timeout S] [--stdout FILE] -- CMD ARGS...: run CMD, print its cost.

Prints one JSON object: {"rc", "wall_s", "user_s", "sys_s", "cpu_s", "vmhwm_kib"}: the CPU
time of CMD and of the descendants it waited for (wait4's rusage), so no /usr/bin/time is
needed, and CMD's peak resident set, its VmHWM in /proc/PID/status read every 20 ms (the
high-water mark only grows, so the last read is at most 20 ms of growth short of the true
peak). wait4's ru_maxrss is not used: exec records the exec'ing image's peak in it, so it
would report this Python process's size (~10 MiB) for any smaller CMD. CMD's stdout goes to
--stdout (default /dev/null), its stderr is passed through. After --timeout seconds CMD
gets SIGINT, then SIGKILL 10 s later.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time


def vmhwm_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=0)
    ap.add_argument("--stdout", default=os.devnull)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("no command")
    start = time.monotonic()
    with open(args.stdout, "wb") as out:
        p = subprocess.Popen(cmd, stdout=out)
        deadline = start + args.timeout if args.timeout else None
        killed = None
        hwm = 0
        while True:
            hwm = max(hwm, vmhwm_kib(p.pid))
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            now = time.monotonic()
            if deadline and now > deadline and killed is None:
                os.kill(p.pid, signal.SIGINT)
                killed = now
            elif killed is not None and now > killed + 10:
                os.kill(p.pid, signal.SIGKILL)
            time.sleep(0.02)
    p.returncode = os.waitstatus_to_exitcode(status)
    res = {"rc": p.returncode, "wall_s": round(time.monotonic() - start, 3),
           "user_s": ru.ru_utime, "sys_s": ru.ru_stime, "cpu_s": ru.ru_utime + ru.ru_stime,
           "vmhwm_kib": hwm}
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
