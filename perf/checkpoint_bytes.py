#!/usr/bin/env python3
"""Checkpoint bytes per task against an earlier revision, on a run that keeps every round.

    python perf/checkpoint_bytes.py --baseline REV [--width 4] [--depth 3] [--sandbox local]

Runs ``semtrace run --benchmark demo --strategy hybrid`` with a scripted model that never fixes anything (every
chain goes the full depth), once with the current package and once with the package at git revision ``REV``
(a temporary worktree), each in a fresh process, and counts the bytes the saver's serializer hands to the
checkpoint database (checkpoint blobs and pending writes, ``Send`` payloads included) — a run deletes a finished
task's checkpoints, so the file's size says nothing. Prints bytes per task, ``results.jsonl`` bytes per task, and
the ratio current/baseline of the checkpoint bytes (issue 20: <= 0.25).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, sys, pathlib
from langgraph.checkpoint.sqlite import SqliteSaver
counted = {"bytes": 0, "blobs": 0}
_init = SqliteSaver.__init__
def __init__(self, *args, **kwargs):  # count what the saver's own serializer hands to SQLite (compressed or not)
    _init(self, *args, **kwargs)
    inner = self.serde
    class Counting:
        def __getattr__(self, name):
            return getattr(inner, name)
        def dumps_typed(self, obj):
            kind, data = inner.dumps_typed(obj)
            counted["bytes"] += len(data or b"")
            counted["blobs"] += 1
            return kind, data
        def loads_typed(self, data):
            return inner.loads_typed(data)
    self.serde = Counting()
SqliteSaver.__init__ = __init__
from semtrace.benchmarks.demo import load
out, width, depth, sandbox = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
rules = out.parent / (out.name + "-rules.jsonl")
with open(rules, "w") as fh:
    for t in load():
        fh.write(json.dumps({"when": "The function to implement is `%s`" % t.entry_point,
                             "reply": "```python\n%s\n```" % t.starting_code.rstrip()}) + "\n")
from semtrace.cli import main
sys.argv = ["semtrace", "run", "--benchmark", "demo", "--model", "scripted:%s" % rules, "--sandbox", sandbox,
            "--strategy", "hybrid", "--width", width, "--depth", depth, "--out", str(out)]
try:
    main()
except SystemExit as exc:
    if exc.code not in (0, None):
        raise
tasks = sum(1 for line in open(out / "results.jsonl") if line.strip())
print(json.dumps({"checkpoint_bytes": counted["bytes"], "blobs": counted["blobs"], "tasks": tasks,
                  "results_bytes": (out / "results.jsonl").stat().st_size}))
"""


def run_version(pkg_parent: Path | None, out: Path, args: argparse.Namespace) -> dict[str, float]:
    env = dict(os.environ)
    if pkg_parent is not None:
        env["PYTHONPATH"] = str(pkg_parent)
    proc = subprocess.run([sys.executable, "-c", WORKER, str(out), str(args.width), str(args.depth), args.sandbox],
                          capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        sys.exit(f"error: a {'baseline' if pkg_parent else 'current'} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", required=True, help="git revision to compare against")
    ap.add_argument("--width", type=int, default=4)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--sandbox", default="local")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="semtrace-ckpt-") as tmp:
        tree = Path(tmp) / "base" / "semtrace"  # the package is the repository root: the worktree is named after it
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-f", str(tree), args.baseline],
                       check=True, capture_output=True)
        try:
            cur = run_version(None, Path(tmp) / "current-run", args)
            old = run_version(tree.parent, Path(tmp) / "baseline-run", args)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)
    print(f"demo, hybrid {args.width}x{args.depth}, a model that never fixes; baseline {args.baseline}")
    for name, r in (("current", cur), ("baseline", old)):
        per = r["checkpoint_bytes"] / max(1, r["tasks"])
        res = r["results_bytes"] / max(1, r["tasks"])
        print(f"  {name:8s} checkpoint {per / 1024:8.1f} KB/task ({r['blobs']} blobs), results.jsonl "
              f"{res / 1024:6.1f} KB/task, checkpoint/results {per / res:5.1f}x")
    ratio = (cur["checkpoint_bytes"] / cur["tasks"]) / (old["checkpoint_bytes"] / old["tasks"])
    print(f"  ratio current/baseline (checkpoint bytes per task): {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
