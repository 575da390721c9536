"""LiveCodeBench code generation (``livecodebench/code_generation_lite``): dated contest problems from
LeetCode, AtCoder and Codeforces, graded by LiveCodeBench's own rules.

Data: the official JSONL files ``test.jsonl``, ``test2.jsonl``, ... ``test6.jsonl`` under
``DATA/livecodebench/`` (``release_vN`` = ``test.jsonl`` .. ``testN.jsonl``; ``vN`` = that release's file
alone; no ``release``: every ``test*.jsonl`` there). When the folder holds none, the same files are fetched
from the Hugging Face Hub (online; ``huggingface_hub``, installed with ``pip install datasets``; the files the
dataset's loading script reads for ``version_tag=release``, which ``datasets`` 4 no longer runs).

Field mapping: ``question_id`` -> task_id; the prompt is ``question_content`` followed by the format section
of LiveCodeBench's generation prompt (functional problems: the starter code in a ```python block; stdin
problems: "read the inputs from stdin ... write the answer to stdout" and ``# YOUR CODE HERE``);
``metadata.func_name`` -> entry_point (functional) or ``""`` (a stdin program has no function);
``difficulty``, ``platform``, ``contest_date``, ``contest_id``, ``question_title``, the test type and the
starter code -> metadata. The dataset has no reference solutions.

Tests: ``stdin`` tests become ``stdio`` tests (input -> stdin, output -> expected stdout); ``functional``
tests become ``call`` tests: each input line is one JSON argument, the output one JSON value (stored as
Python source), and ``test_setup`` binds the name to ``Solution().<func_name>`` (one instance for every test,
as LiveCodeBench does) when the program defines ``class Solution``, else the program's own function. Every
test uses compare mode ``lcb`` (``sandbox/judge.py``: LiveCodeBench's line/Decimal rule for stdout, tuple ->
list then ``==`` for values) and LiveCodeBench's 6 s per test. ``private_test_cases`` is JSON or base64 +
zlib + pickle of a JSON string; the pickle passes an opcode whitelist and an unpickler that refuses every
global, so it can only yield a string (anything else is a DataError naming the task; nothing in it runs).

Visible/hidden split: visible = the public tests (feedback and selection); hidden = public + private tests,
in that order (LiveCodeBench's score runs both). Options: ``release``, ``since`` / ``until`` (``YYYY-MM-DD``,
inclusive, compared with the contest date as LiveCodeBench does), ``difficulty`` and ``platform``
(comma-separated choices). An option given with no value (``livecodebench?release``) is an error naming the
option and its valid values; leave an option out for no filter (every release).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import pickle
import pickletools
import re
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

from semtrace.benchmarks.common import DataError, DataMissing, args_source, read_rows, to_source
from semtrace.benchmarks.registry import Benchmark
from semtrace.benchmarks.task import Task
from semtrace.registry import RegistryError
from semtrace.sandbox.digest import unlimited_digits
from semtrace.sandbox.types import TestCase

log = logging.getLogger(__name__)

FOLDER = "livecodebench"
HF_DATASET = "livecodebench/code_generation_lite"
URL = f"https://huggingface.co/datasets/{HF_DATASET}"
TIMEOUT = 6.0  # LiveCodeBench's per-test limit (the study's setting)
FILE_OF = {n: "test.jsonl" if n == 1 else f"test{n}.jsonl" for n in range(1, 7)}  # release n adds this file
RELEASE_FILES = {f"release_v{n}": tuple(FILE_OF[k] for k in range(1, n + 1)) for n in FILE_OF}
RELEASE_FILES.update({f"v{n}": (FILE_OF[n],) for n in FILE_OF})
DIFFICULTIES = ("easy", "medium", "hard")
PLATFORMS = ("leetcode", "codeforces", "atcoder")
FIELDS = ("question_title", "question_content", "platform", "question_id", "contest_id", "contest_date",
          "starter_code", "difficulty", "public_test_cases", "private_test_cases", "metadata")
MAX_DECOMPRESSED = 1 << 31  # a private-test blob that inflates past 2 GiB is refused

# the format lines of LiveCodeBench's generation prompt, verbatim (the study's prompts build on them)
WITH_STARTER = ("You will use the following starter code to write the solution to the problem and enclose "
                "your code within delimiters.")
WITHOUT_STARTER = ("Read the inputs from stdin solve the problem and write the answer to stdout (do not "
                   "directly test on the sample inputs). Enclose your code within delimiters as follows. "
                   "Ensure that when the python program runs, it reads the inputs, runs the algorithm and "
                   "writes output to STDOUT.")
_SAFE_OPCODES = frozenset({"PROTO", "FRAME", "STOP", "MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT", "UNICODE",
                           "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"})


class OptionError(RegistryError):
    """A livecodebench option with a value it does not take."""


# ------------------------------------------------------------------------------------- private test blobs

class _NoGlobals(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def unpickle_string(data: bytes) -> str:
    """The string a pickle holds. Only string opcodes are admitted (no globals, no reduce, no containers); the
    opcodes are checked before anything is unpickled, and the unpickler refuses every global as well."""
    try:
        for op, _arg, _pos in pickletools.genops(data):
            if op.name not in _SAFE_OPCODES:
                raise pickle.UnpicklingError(f"opcode {op.name} is not allowed (only a plain string is)")
        value = _NoGlobals(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, ValueError, EOFError) as exc:
        raise ValueError(f"not a pickled string: {exc}") from None
    if type(value) is not str:
        raise ValueError(f"the pickle holds a {type(value).__name__}, not a string")
    return value


def decode_private(text: str) -> list[Any]:
    """``private_test_cases`` as a list of test dicts: JSON, else base64 + zlib + pickle of a JSON string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=False)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"private_test_cases is neither JSON nor base64 ({exc})") from None
    inflate = zlib.decompressobj()
    try:
        data = inflate.decompress(raw, MAX_DECOMPRESSED)
    except zlib.error as exc:
        raise ValueError(f"private_test_cases is neither JSON nor zlib-compressed ({exc})") from None
    if inflate.unconsumed_tail:
        raise ValueError(f"private_test_cases inflates past {MAX_DECOMPRESSED} bytes")
    try:
        return json.loads(unpickle_string(data))
    except json.JSONDecodeError as exc:
        raise ValueError(f"the decoded private_test_cases is not JSON ({exc.msg})") from None


# ------------------------------------------------------------------------------------------ rows -> tasks

def _prompt(content: str, starter: str) -> str:
    if starter.strip():
        fmt, code = WITH_STARTER, starter  # verbatim, as LiveCodeBench shows it
    else:
        fmt, code = WITHOUT_STARTER, "# YOUR CODE HERE"
    return f"### Question:\n{content.strip()}\n\n### Format: {fmt}\n```python\n{code}\n```\n"


def _method_setup(name: str) -> str:
    """Bind ``name`` as LiveCodeBench calls it: a method of one ``Solution()`` when the program defines that
    class, else the program's own function of that name."""
    return (f"if isinstance(globals().get('Solution'), type):\n"
            f"    globals()[{name!r}] = getattr(Solution(), {name!r})\n")


def _tests(raw: Any, func: str | None, where: str) -> list[TestCase]:
    if not isinstance(raw, list):
        raise ValueError(f"{where} is a {type(raw).__name__}, not a list of tests")
    out = []
    for n, t in enumerate(raw, 1):
        if not (isinstance(t, dict) and isinstance(t.get("input"), str) and isinstance(t.get("output"), str)):
            raise ValueError(f"{where} test {n} is not an object with text 'input' and 'output'")
        kind = t.get("testtype")
        if kind == "stdin":
            out.append(TestCase(kind="stdio", stdin=t["input"], expected=t["output"], compare="lcb",
                                timeout=TIMEOUT, name=f"{where} {n}"))
        elif kind == "functional":
            if not func:
                raise ValueError(f"{where} test {n} is functional but metadata has no func_name")
            try:
                with unlimited_digits():
                    args = args_source([json.loads(line) for line in t["input"].split("\n")])
                    expected = to_source(json.loads(t["output"]))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where} test {n}: an input line or the output is not JSON ({exc.msg})"
                                 ) from None
            out.append(TestCase(kind="call", func=func, args=args, expected=expected, compare="lcb",
                                timeout=TIMEOUT, name=f"{where} {n}"))
        else:
            raise ValueError(f"{where} test {n} has testtype {kind!r} (expected 'stdin' or 'functional')")
    return out


def contest_date(text: str) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).replace(tzinfo=None)


def _fail(path: Path, row: dict[str, Any], problem: str, line: int | None) -> DataError:
    return DataError(path, f"cannot decode the task ({problem})", row=line,
                     task=f"question_id {row.get('question_id')!r}")


# What LiveCodeBench's evaluator runs before every program (its grading environment, not part of the prompt):
# star imports of these standard modules, the modules themselves, and a deep recursion limit.
PRELUDE_MODULES = ("string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math", "random",
                   "statistics", "itertools", "functools", "operator", "io", "sys", "json")
PRELUDE = "".join(f"from {m} import *\n" for m in (*PRELUDE_MODULES, "builtins", "typing")) + "".join(
    f"import {m}\n" for m in PRELUDE_MODULES) + "sys.setrecursionlimit(50000)\n"


def task_from_row(row: dict[str, Any], path: Path, line: int | None = None) -> Task:
    """One dataset row -> Task; a row that does not decode raises DataError naming the file, row and task."""
    try:
        missing = [f for f in FIELDS if f not in row]
        if missing:
            raise ValueError(f"missing field(s) {', '.join(map(repr, missing))}")
        meta = row["metadata"]
        meta = json.loads(meta) if isinstance(meta, str) else dict(meta or {})
        func = meta.get("func_name")
        public = _tests(json.loads(row["public_test_cases"]), func, "public")
        private = _tests(decode_private(row["private_test_cases"]), func, "private")
        date = contest_date(row["contest_date"])
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise _fail(path, row, str(exc), line) from None
    functional = any(t.kind == "call" for t in (*public, *private))
    return Task(
        task_id=str(row["question_id"]), kind="synthesis",
        prompt=_prompt(row["question_content"], row["starter_code"] or ""),
        entry_point=(func or "") if functional else "",
        visible_tests=tuple(public), hidden_tests=tuple(public + private),
        test_setup=_method_setup(func) if functional and func else "", prelude=PRELUDE,
        metadata={"difficulty": str(row["difficulty"]), "platform": str(row["platform"]),
                  "contest_date": date.isoformat(), "contest_id": str(row["contest_id"]),
                  "question_title": row["question_title"], "func_name": func,
                  "test_type": "functional" if functional else "stdin", "starter_code": row["starter_code"]})


# ------------------------------------------------------------------------------------------------ options

def _given(option: str, text: str | None, valid: str) -> str | None:
    """``text`` of an option that was given, or None when it was not; an empty value (``?release`` or
    ``?release=``) is an error: it would silently mean "no filter"."""
    if text is None:
        return None
    if not str(text).strip():
        raise OptionError(f"livecodebench: option '{option}' has no value; give {valid}, or leave the option "
                          f"out for {'every release' if option == 'release' else 'no filter'}")
    return str(text).strip()


def _date(option: str, text: str | None) -> datetime | None:
    text = _given(option, text, "a date YYYY-MM-DD")
    if text is None:
        return None
    try:
        return datetime.strptime(str(text), "%Y-%m-%d")
    except ValueError:
        raise OptionError(f"livecodebench: option '{option}' must be a date YYYY-MM-DD (got {text!r})"
                          ) from None


def _choices(option: str, text: str | None, valid: tuple[str, ...]) -> set[str] | None:
    text = _given(option, text, f"one or more of {', '.join(valid)} (comma-separated)")
    if text is None:
        return None
    chosen = {c.strip().lower() for c in text.split(",") if c.strip()}
    bad = sorted(chosen - set(valid))
    if bad or not chosen:
        raise OptionError(f"livecodebench: option '{option}' takes {', '.join(valid)} (comma-separated); "
                          f"got {', '.join(bad) or repr(text)}")
    return chosen


def _release(release: str | None) -> tuple[str, ...] | None:
    release = _given("release", release, "one of release_v1..release_v6, release_latest, v1..v6")
    if release is None or release == "release_latest":
        return None
    if release not in RELEASE_FILES:
        raise OptionError(f"livecodebench: unknown release {release!r} (valid: release_v1..release_v6, "
                          f"release_latest, v1..v6)")
    return RELEASE_FILES[release]


def _file_number(path: Path) -> int:
    m = re.fullmatch(r"test(\d*)\.jsonl", path.name)
    return int(m.group(1) or 1) if m else 0


def data_files(folder: Path, release: str | None) -> list[Path]:
    """The JSONL files a release reads (every ``test*.jsonl`` without one), in release order."""
    wanted = _release(release)
    if wanted is None:
        return sorted((p for p in folder.glob("test*.jsonl") if _file_number(p)), key=_file_number)
    missing = [folder / f for f in wanted if not (folder / f).is_file()]
    if missing:
        raise DataMissing(f"livecodebench {release}: data file {missing[0]} not found; put the release's "
                          f"files ({', '.join(wanted)}) in {folder} (download: {URL}/tree/main)")
    return [folder / f for f in wanted]


def hub_files(release: str | None) -> list[Path]:
    """The release's files from the Hugging Face Hub (online; cached by ``huggingface_hub``). The dataset's own
    loading script reads the same files, but ``datasets`` 4 no longer runs loading scripts."""
    from huggingface_hub import hf_hub_download  # type: ignore[import-not-found]

    names = _release(release) or tuple(FILE_OF.values())
    return [Path(hf_hub_download(HF_DATASET, name, repo_type="dataset")) for name in names]


def _hub_reachable(timeout: float = 3.0) -> bool:
    """One quick connection to the Hub, so an offline machine is told at once (not after the client's retries)."""
    import socket

    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def _sources(root: Path, release: str | None) -> list[tuple[Path, list[dict[str, Any]]]]:
    """(file, its rows) for each file the release reads; from the Hub when the folder holds none."""
    folder = root / FOLDER
    files = data_files(folder, release) if folder.is_dir() else []
    if not files:
        hint = (f"livecodebench: no test*.jsonl in {folder}; put the official files there (download: "
                f"{URL}/tree/main), or pass --data DIR / set SEMTRACE_DATA to a folder holding livecodebench/")
        try:
            import huggingface_hub  # type: ignore[import-not-found]  # noqa: F401
        except ImportError:
            raise DataMissing(f"{hint}; online, `pip install datasets` fetches them from {URL}") from None
        if not _hub_reachable():
            raise DataMissing(f"{hint} (the Hugging Face Hub does not answer: offline?)")
        try:
            files = hub_files(release)
        except Exception as exc:  # noqa: BLE001  (offline, a missing file, ...: one line, not a traceback)
            raise DataMissing(f"{hint} (fetching them from the Hub failed: {type(exc).__name__})") from None
    return [(path, read_rows(path)) for path in files]


def load(root: Path, *, release: str | None = None, since: str | None = None, until: str | None = None,
         difficulty: str | None = None, platform: str | None = None) -> list[Task]:
    """The tasks of ``root/livecodebench`` (or the Hub), filtered by contest date, difficulty and platform;
    rows outside the filters are not decoded."""
    _release(release)  # every option is checked before a file is read or fetched
    start, end = _date("since", since), _date("until", until)
    levels = _choices("difficulty", difficulty, DIFFICULTIES)
    sites = _choices("platform", platform, PLATFORMS)
    tasks: list[Task] = []
    seen: dict[str, Path] = {}
    for path, rows in _sources(Path(root), release):
        for line, row in enumerate(rows, 1):
            qid = str(row.get("question_id"))
            if qid in seen:
                raise DataError(path, f"question_id {qid!r} appears again (first in {seen[qid]})", row=line,
                                fix="keep one copy of each release file")
            seen[qid] = path
            try:
                when = contest_date(row.get("contest_date"))
            except (ValueError, TypeError) as exc:
                raise _fail(path, row, f"contest_date: {exc}", line) from None
            if (start and when < start) or (end and when > end):
                continue
            if (levels and str(row.get("difficulty")) not in levels) or (
                    sites and str(row.get("platform")) not in sites):
                continue
            tasks.append(task_from_row(row, path, line))
    log.info("livecodebench: %d tasks", len(tasks))
    return tasks


OPTIONS = ("release", "since", "until", "difficulty", "platform")

LIVECODEBENCH = Benchmark(
    name="livecodebench",
    description="LiveCodeBench code generation (LeetCode, AtCoder, Codeforces; LiveCodeBench's grading)",
    loader=load,
    options=OPTIONS,
    data_folder=FOLDER,
)
