"""Issue 2's acceptance counts: every benchmark verified end to end with the local sandbox, through the CLI.

These run the full datasets (about 13 minutes on 2 cores, most of it HumanEval+ and MBPP+; the first run also
calibrates expected outputs and time limits into $SEMTRACE_CACHE). They are the acceptance checks, so they are
not marked slow: CI runs them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# name -> (reference passed, total, starting passed at most, starting total, known broken)
EXPECTED = {
    "humaneval": (164, 164, 0, 0, []),
    "humaneval-plus": (164, 164, 0, 0, []),
    "mbpp": (972, 974, 0, 0, ["MBPP/367", "MBPP/927"]),
    "mbpp-sanitized": (427, 427, 0, 0, []),
    "mbpp-plus": (378, 378, 0, 0, []),
    "humaneval-fix": (164, 164, 0, 164, []),
    "quixbugs": (40, 40, 0, 40, []),
    "cruxeval": (800, 800, 0, 0, []),
    "mbpp-r": (378, 378, 7, 378, []),  # starting code passing <= 2% of 378
    "demo": (17, 17, 0, 17, []),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_verify_counts(name: str, data_dir: Path) -> None:
    ref_passed, total, start_max, start_total, broken = EXPECTED[name]
    env = dict(os.environ, SEMTRACE_DATA=str(data_dir))
    proc = subprocess.run([sys.executable, "-m", "semtrace.cli", "benchmarks", "verify", name, "--json"],
                          capture_output=True, text=True, check=False, timeout=3000, env=env)
    assert proc.stdout, proc.stderr
    report = json.loads(proc.stdout)
    assert report["benchmark"] == name and report["tasks"] == total
    assert report["reference"]["total"] == total
    # a known-broken task may pass or fail (MBPP 367/927 pass here: the setup runs after the program)
    assert ref_passed <= report["reference"]["passed"] <= ref_passed + len(broken), report["mismatches"][:5]
    assert report["starting_code"]["total"] == start_total
    assert report["starting_code"]["passed"] <= start_max, report["mismatches"]
    assert report["known_broken"] == broken
    unexpected = [m for m in report["mismatches"] if m["task_id"] not in broken and m["which"] == "reference"]
    assert not unexpected
    # exit 1 exactly when a reference fails or a starting program passes outside the known-broken tasks
    assert proc.returncode == (1 if any(m["task_id"] not in broken for m in report["mismatches"]) else 0)
