"""What the benchmarks print about the machine they ran on: CPU model, and how busy the other
processes kept it during a measurement (shared machines make absolute times pessimistic)."""
from __future__ import annotations

import os
import platform
import time


class OthersCpu:
    """CPU time that *other* processes used while a block ran, as a fraction of the whole machine
    (all cores = 1.0): busy time from /proc/stat (steal included) minus this process's own CPU
    time. The honest measure of how loaded a shared machine was during a measurement; None where
    /proc/stat does not exist."""

    def __init__(self) -> None:
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.ncpu = os.cpu_count() or 1
        self._start = None

    @staticmethod
    def _busy_ticks() -> int | None:
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        # user nice system idle iowait irq softirq steal: everything but idle and iowait
        return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)

    def start(self) -> None:
        t = os.times()
        self._start = (self._busy_ticks(), t.user + t.system, time.perf_counter())

    def stop(self) -> float | None:
        busy0, own0, wall0 = self._start
        busy1, t, wall1 = self._busy_ticks(), os.times(), time.perf_counter()
        if busy0 is None or busy1 is None or wall1 <= wall0:
            return None
        others = (busy1 - busy0) / self.hz - (t.user + t.system - own0)
        return min(1.0, max(0.0, others / ((wall1 - wall0) * self.ncpu)))


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
