"""The HTML viewer at scale: build it for a 1,000-task x 8-chain run and open it in headless Chromium.

The run is made from a real small one (the bundled demo benchmark, scripted model, local sandbox, ``concise``
renderings, width 8, depth 2; even tasks fixed at round 1, odd ones never, so their chains run every round and
carry prompts and rendered traces), its records copied under new task ids into a run of N tasks (default 1,000)
with the same config. Then (the page measures each the best of ``--repeat``):

- build: ``build_viewer`` with the report (tables and plots) and without it, seconds and ms per task, against
  reading the records alone (``json.loads`` of every line; two demo tasks recurse deeply, so their records carry
  MB-sized traces and parsing them is most of the build);
- time to interactive: navigation start to the task list drawn and filterable (``ST.readyAt``, in the page),
  against the same measure for an empty page in the same folder (the baseline: what any file:// page costs);
- opening one task (its detail scripts loaded and every round drawn) and one filter change, in ms.

Prints the numbers and the ratio TTI / empty page; the target is a TTI under 2 s (exit 1 when missed). Needs
Chromium (``bash .ci/browser.sh``) and no benchmark data.

    .venv/bin/python perf/viewer_scale.py [--tasks 1000] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_TTI_S = 2.0
sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import replicate, small_run


def folder_bytes(path: Path) -> tuple[int, int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files), max(p.stat().st_size for p in files)


def open_ms(browser: Any, url: str, ready: str) -> float:
    browser.open(url)
    return float(browser.wait_for(ready))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="Write the viewer here and keep it.")
    args = ap.parse_args()

    from semtrace.viewer.browser import Browser, BrowserUnavailable, version
    from semtrace.viewer.build import build_viewer

    tmp = Path(tempfile.mkdtemp(prefix="semtrace-viewer-scale-"))
    try:
        t0 = time.perf_counter()
        small = small_run(tmp, args.width, args.depth, representation="concise")
        big = tmp / "big"
        _, cands = replicate(small, big, args.tasks)
        n = args.tasks
        print(f"run: {n} tasks, {cands} candidates ({cands / n:.1f} per task, width {args.width}, depth "
              f"{args.depth}); {(big / 'results.jsonl').stat().st_size / 1e6:.1f} MB of records "
              f"(made in {time.perf_counter() - t0:.1f} s)")
        out = args.keep or tmp / "view"
        read = _timed(lambda: _parse_all(big / "results.jsonl"))
        bare = _timed(lambda: build_viewer([big], tmp / "bare", report=False))
        full = _timed(lambda: build_viewer([big], out))
        files, size, largest = folder_bytes(out)
        index_kb = (out / "data" / "index.js").stat().st_size / 1e3
        print(f"build: {full:.2f} s with the report's tables and plots, {bare:.2f} s without "
              f"({1000 * bare / n:.2f} ms per task); {files} files, {size / 1e6:.1f} MB, index.js {index_kb:.0f} kB, "
              f"largest file {largest / 1e3:.0f} kB")
        print(f"reading the records alone (json.loads of every line, the baseline): {read:.2f} s; the viewer "
              f"without the report = {bare / read:.2f}x that")
        (out / "blank.html").write_text("<!doctype html><html><head><meta charset='utf-8'><title>blank</title>"
                                        "</head><body><script>window.readyAt = performance.now();</script>"
                                        "</body></html>\n")
        try:
            browser = Browser()
            browser.start()
        except BrowserUnavailable as exc:
            sys.exit(f"cannot measure the page: {exc}")
        try:
            blank = min(open_ms(browser, (out / "blank.html").resolve().as_uri(), "window.readyAt")
                        for _ in range(args.repeat))
            tti = min(open_ms(browser, (out / "index.html").resolve().as_uri(), "ST.ready && ST.readyAt")
                      for _ in range(args.repeat))
            rows = browser.eval("document.querySelectorAll('#st-tasks tbody tr').length")
            flt = browser.eval("(function(){var s=document.getElementById('st-outcome'); s.value='never';"
                               "var t=performance.now(); s.dispatchEvent(new Event('change'));"
                               "return performance.now()-t;})()")
            shown = browser.eval("document.getElementById('st-count').textContent")
            detail = []
            for i in range(args.repeat):
                task = f"synthetic/{(2 * i + 1) % n}"  # an odd one: every chain runs every round
                t = browser.eval(f"(function(){{ST.t0=performance.now(); location.hash='#task='+"
                                 f"encodeURIComponent({json.dumps(task)}); return 1;}})()")
                assert t == 1
                browser.wait_for("document.getElementById('st-detail').getAttribute('data-state') === 'ready'")
                detail.append(browser.eval("performance.now()-ST.t0"))
                rounds = browser.eval("document.querySelectorAll('.st-round[data-id]').length")
                browser.eval("location.hash=''")
                browser.wait_for("!document.getElementById('st-list-view').hidden")
            browser.drain(0.3)
            errors = list(browser.errors)
        finally:
            browser.close()
        print(f"browser: {version()}")
        print(f"empty page (baseline): {blank:.0f} ms to its first script")
        print(f"viewer index, {rows} task rows: {tti:.0f} ms to interactive = {tti / blank:.1f}x the empty page "
              f"(target < {TARGET_TTI_S:.0f} s)")
        print(f"one filter change over {rows} rows: {flt:.1f} ms ({shown}); opening a task of {rounds} rounds: "
              f"{min(detail):.0f} ms")
        if errors:
            print(f"console errors: {errors[:5]}")
        if args.keep:
            print(f"viewer kept at {(out / 'index.html').resolve().as_uri()}")
        if tti / 1000 > TARGET_TTI_S or errors:
            sys.exit(1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _parse_all(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for line in fh if json.loads(line))


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
