#!/usr/bin/env python3
"""Checkpoint bytes per task against an earlier revision, on a run that keeps every round.

    python perf/checkpoint_bytes.py --baseline REV [--width 4] [--depth 3] [--sandbox local]

By default runs ``semtrace run --benchmark demo --strategy hybrid`` with a scripted model that never fixes
anything (every chain goes the full depth), once with the current package and once with the package at git
revision ``REV`` (a temporary worktree), each in a fresh process with the same ``semtrace run`` arguments and
the same rule file, and counts the bytes the saver's serializer hands to the checkpoint database (checkpoint
blobs and pending writes, ``Send`` payloads included) — a run deletes a finished task's checkpoints, so the
file's size says nothing. Prints bytes per task, ``results.jsonl`` bytes per task, tasks solved and candidates
written (equal on both sides, or the two runs did not do the same work), and the ratio current/baseline of the
checkpoint bytes (issue 20: <= 0.25).

Issue 20's scenario, the one of ``perf/orchestration.py --latency 0.3 --concurrency 32 --width 8 --depth 3``
(HumanEvalFix, 164 tasks, hybrid 8x3, the scripted model of ``orchestration.write_rules``: distinct buggy
variants, a quarter of the tasks fixed at round 2 and a quarter at round 3; tests limited to 1 s as there):

    python perf/checkpoint_bytes.py --baseline REV --benchmark humaneval-fix --width 8 --depth 3 \\
        --rules orchestration --limit 164 -o limits.wall_time=1 [--data DIR]

``--rules never`` (the default) replies with each task's starting code, always; ``--rules orchestration``
writes the rules with ``perf/orchestration.py``'s ``write_rules`` (imported, not copied). Either way the rule
file is written once, by the current package, for the first ``--limit`` tasks, and both runs read it.
``--data`` (default ``$SEMTRACE_DATA``, else ``../shared/benchmarks``) goes to both runs for any benchmark but
``demo``. The flags both runs get (``--benchmark --sandbox --strategy --width --depth --data --limit -o
--model --out``) are ones older revisions' ``semtrace run`` accepts too (47b5b31's does).
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
out, rules, cli = pathlib.Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
from semtrace.cli import main
sys.argv = ["semtrace", "run", *cli, "--model", "scripted:%s" % rules, "--out", str(out)]
try:
    main()
except SystemExit as exc:
    if exc.code not in (0, None):
        raise
records = [json.loads(line) for line in open(out / "results.jsonl") if line.strip()]
print(json.dumps({"checkpoint_bytes": counted["bytes"], "blobs": counted["blobs"], "tasks": len(records),
                  "solved": sum(bool(r.get("correct")) for r in records),
                  "candidates": sum(len(r.get("candidates") or ()) for r in records),
                  "results_bytes": (out / "results.jsonl").stat().st_size}))
"""


def write_rule_file(args: argparse.Namespace, path: Path) -> None:
    """The scripted model's rules for the run's tasks, written once by the current package for both runs."""
    from semtrace.benchmarks.registry import load_benchmark

    tasks = load_benchmark(args.benchmark, args.data, calibrate=False)
    if args.limit is not None:
        tasks = tasks[: args.limit]
    if args.rules == "orchestration":
        sys.path.insert(0, str(REPO / "perf"))
        from orchestration import write_rules  # module-level code is imports and definitions only

        write_rules(tasks, path)
        return
    never = (  # never fixes: every reply is the task's starting code
        {"when": f"The function to implement is `{t.entry_point}`",
         "reply": f"```python\n{t.starting_code.rstrip()}\n```"}
        for t in tasks
    )
    path.write_text("".join(json.dumps(r) + "\n" for r in never))


def cli_args(args: argparse.Namespace) -> list[str]:
    """The ``semtrace run`` flags both runs get (all accepted by older revisions' CLI, e.g. 47b5b31)."""
    cli = ["--benchmark", args.benchmark, "--sandbox", args.sandbox, "--strategy", args.strategy,
           "--width", str(args.width), "--depth", str(args.depth)]
    if args.data is not None:
        cli += ["--data", args.data]
    if args.limit is not None:
        cli += ["--limit", str(args.limit)]
    for item in args.override:
        cli += ["-o", item]
    return cli


def run_version(pkg_parent: Path | None, out: Path, rules: Path, cli: list[str]) -> dict[str, float]:
    env = dict(os.environ)
    if pkg_parent is not None:
        env["PYTHONPATH"] = str(pkg_parent)
    proc = subprocess.run([sys.executable, "-c", WORKER, str(out), str(rules), json.dumps(cli)],
                          capture_output=True, text=True, env=env, timeout=3600, check=False)
    if proc.returncode != 0:
        sys.exit(f"error: a {'baseline' if pkg_parent else 'current'} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", required=True, help="git revision to compare against")
    ap.add_argument("--benchmark", default="demo")
    ap.add_argument("--data", default=None, help="benchmark data dir (for any benchmark but demo, default: "
                    "$SEMTRACE_DATA, else ../shared/benchmarks)")
    ap.add_argument("--limit", type=int, default=None, help="only the first K tasks")
    ap.add_argument("--strategy", default="hybrid")
    ap.add_argument("--width", type=int, default=4)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--sandbox", default="local")
    ap.add_argument("--rules", choices=("never", "orchestration"), default="never",
                    help="never: the model never fixes; orchestration: perf/orchestration.py's write_rules")
    ap.add_argument("-o", "--override", action="append", default=[], help="key=value for both runs (repeatable)")
    args = ap.parse_args()
    if args.data is None and args.benchmark != "demo":
        args.data = os.environ.get("SEMTRACE_DATA") or str(REPO.parent / "shared" / "benchmarks")
    cli = cli_args(args)
    with tempfile.TemporaryDirectory(prefix="semtrace-ckpt-") as tmp:
        rules = Path(tmp) / "rules.jsonl"
        write_rule_file(args, rules)
        tree = Path(tmp) / "base" / "semtrace"  # the package is the repository root: the worktree is named after it
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-f", str(tree), args.baseline],
                       check=True, capture_output=True)
        try:
            cur = run_version(None, Path(tmp) / "current-run", rules, cli)
            old = run_version(tree.parent, Path(tmp) / "baseline-run", rules, cli)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                           capture_output=True, check=False)
    model = {"never": "a model that never fixes", "orchestration": "orchestration.py's rules"}[args.rules]
    extra = "".join(f", -o {o}" for o in args.override)
    print(f"{args.benchmark} ({cur['tasks']} tasks), {args.strategy} {args.width}x{args.depth}, {model}{extra}; "
          f"baseline {args.baseline}")
    for name, r in (("current", cur), ("baseline", old)):
        per = r["checkpoint_bytes"] / max(1, r["tasks"])
        res = r["results_bytes"] / max(1, r["tasks"])
        print(f"  {name:8s} checkpoint {per / 1024:8.1f} KB/task ({r['blobs']} blobs), results.jsonl "
              f"{res / 1024:6.1f} KB/task, checkpoint/results {per / res:5.1f}x")
        print(f"  {'':8s} solved {r['solved']}/{r['tasks']}, {r['candidates']} candidates")
    ratio = (cur["checkpoint_bytes"] / cur["tasks"]) / (old["checkpoint_bytes"] / old["tasks"])
    print(f"  ratio current/baseline (checkpoint bytes per task): {ratio:.3f} (issue 20: <= 0.25)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
