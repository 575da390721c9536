"""The reporting half of ``perf/orchestration.py``: what its measurement prints, and the helpers that summarize a
run for it (where the time goes by kind, the LLM slots' utilization by tenth of the run, the CPU of the sandbox's
processes). ``orchestration.py`` imports these names (and re-exports them); the measurement itself stays there.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

BREAKDOWN = (  # kind, what it is
    ("llm_gate", "LLM wait: a call waiting for an LLM slot"),
    ("llm", "LLM calls (the fixed latency)"),
    ("sandbox_queue", "sandbox queue wait (all requests)"),
    ("sandbox_visible", "sandbox run: visible tests (+ in-run tracing)"),
    ("sandbox_trace", "tracing: trace-node re-runs"),
    ("render", "rendering (observe's render stage)"),
    ("checkpoint", "checkpoint reads/writes/deletes"),
    ("scorer", "the scorer (hidden tests)"),
)


def breakdown(profile: Any, start: float, end: float, sandbox_slots: int) -> list[str]:
    """One line per kind: seconds summed over everything in flight, mean in flight over the run, and in flight by
    tenth of the run (where the tail's time goes)."""
    wall = end - start
    lines = [(f"  {'kind':<16}{'count':>7}{'total s':>10}{'mean s':>9}{'max s':>8}{'in flight':>10}   "
              "in flight by tenth of the run")]
    for kind, what in BREAKDOWN:
        spans = profile.spans.get(kind, [])
        total = profile.total(kind)
        occ = profile.occupancy(kind, start, end)
        mean = total / len(spans) if spans else 0.0
        longest = max((b - a for a, b in spans), default=0.0)
        lines.append(
            f"  {kind:<16}{len(spans):>7}{total:>10.1f}{mean:>9.3f}{longest:>8.3f}{total / wall:>10.2f}   "
            f"[{', '.join(f'{x:.1f}' for x in occ)}]  {what}"
        )
    return lines


def descendants_cpu() -> float:
    """CPU seconds (user + system, reaped children included) of this process's live descendants: the sandbox's
    workers and what they forked. Read before the sandbox closes."""
    ticks = os.sysconf("SC_CLK_TCK")
    procs: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        procs[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / ticks)
    mine: set[int] = set()
    frontier = {os.getpid()}
    while frontier:
        frontier = {pid for pid, (ppid, _) in procs.items() if ppid in frontier} - mine
        mine |= frontier
    return sum(procs[pid][1] for pid in mine)


def utilization(
    spans: list[tuple[float, float]], start: float, end: float, slots: int, buckets: int = 10
) -> list[float]:
    """Mean share of the LLM slots busy in each tenth of the run (where the time went)."""
    width = (end - start) / buckets
    busy = [0.0] * buckets
    for a, b in spans:
        for i in range(buckets):
            lo, hi = start + i * width, start + (i + 1) * width
            busy[i] += max(0.0, min(b, hi) - max(a, lo))
    return [round(x / (width * slots), 2) for x in busy]


def print_measurement(args: argparse.Namespace, r: dict[str, Any]) -> bool:
    """Print one measurement (``orchestration.measure``'s dict) against its targets (ratio <= 1.10, peak RSS <=
    600 MB); True when both are met and no task erred."""
    ok_time, ok_mem = r["ratio"] <= 1.10, r["peak_rss_mb"] <= 600
    print(
        f"orchestration ({args.mode}): {r['tasks']} tasks, width {args.width}, depth {args.depth}, {r['llm_calls']} LLM calls "
        f"at {args.latency:.2f} s, concurrency {args.concurrency}"
    )
    print(
        f"  wall {r['wall_s']:.1f} s vs ideal LLM-bound {r['ideal_llm_bound_s']:.1f} s -> ratio {r['ratio']:.3f} "
        f"(target <= 1.10: {'ok' if ok_time else 'MISSED'})"
    )
    print(
        f"  peak RSS {r['peak_rss_mb']:.0f} MB (target <= 600: {'ok' if ok_mem else 'MISSED'}); sandbox workers "
        f"{r['sandbox_workers_peak_rss_mb']:.0f} MB"
    )
    print(f"  LLM slot utilization by tenth of the run: {r['utilization']}")
    print(f"  where the time goes (wall {r['wall_s']:.1f} s; 'in flight' = total / wall):")
    for line in r["breakdown"]:
        print(line)
    t = r["timeouts"]
    print(
        f"  CPU: orchestrator {r['orchestrator_cpu_s']:.1f} s ({r['orchestrator_cpu_s'] / r['wall_s']:.2f} of a core),"
        f" sandbox processes {r['sandbox_cpu_s']:.1f} s; load average {r['load'][0]:.1f} on {os.cpu_count()} cores"
        f" at the end"
    )
    floor = (r["orchestrator_cpu_s"] + r["sandbox_cpu_s"]) / (os.cpu_count() or 1)
    print(
        f"  CPU floor: (orchestrator + sandbox CPU) / {os.cpu_count()} cores = {floor:.1f} s = "
        f"{floor / r['ideal_llm_bound_s']:.2f}x the LLM-bound ideal (no schedule on this machine beats it)"
    )
    bound = max(floor, r["ideal_llm_bound_s"])
    print(f"  wall / max(LLM-bound ideal, CPU floor) = {r['wall_s'] / bound:.2f} (issue 20: <= 1.15)")
    print(
        f"  runner-reported seconds {', '.join(f'{k} {v:.1f}' for k, v in sorted(r['runner_seconds'].items()))}"
    )
    print(
        f"  visible runs with a timeout: {t['requests']}: {t['timed_out']} tests timed out, {t['after_first']} ran "
        f"after the first timeout ({t['after_first_limit_s']:.0f} s of limits); sandbox runs {r['sandbox_runs']}, "
        f"exec-cache hits {r['exec_cache_hits']}"
    )
    print(f"  orchestrator CPU per sandbox request: {1000 * r['orchestrator_cpu_s'] / max(1, r['sandbox_requests']):.1f}"
          f" ms ({r['sandbox_requests']} requests)")
    print(f"  slowest tasks (s): {', '.join(f'{tid} {t:.1f}' for t, tid in r['slowest'])}")
    print(f"  pass@1 by depth {r['pass@1_by_depth']}; task errors {r['errors']}")
    return ok_time and ok_mem and not r["errors"]
