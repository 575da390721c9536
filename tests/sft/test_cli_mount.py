"""The ``sft`` group is mounted on the root command; ``--sandbox docker`` builds the same examples as local;
``sft train`` input errors are one line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

BUGGY = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"


def test_root_command_mounts_sft():
    from semtrace.cli import _mount, app

    _mount()
    res = CliRunner().invoke(app, ["sft", "build", "--help"])
    assert res.exit_code == 0 and "--source" in res.output and "--representation" in res.output


@pytest.mark.docker
def test_docker_sandbox_builds_the_same_examples(tmp_path):
    from semtrace.sft.cli import app

    pairs = tmp_path / "p.jsonl"
    pairs.write_text(json.dumps({"buggy": BUGGY, "fixed": FIXED, "tests": ["assert add(1, 2) == 3"]}) + "\n")
    rows = {}
    for sandbox in ("local", "docker"):
        out = tmp_path / sandbox
        res = CliRunner().invoke(app, ["build", "--source", f"pairs:{pairs}", "-r", "next", "--out", str(out),
                                       "--split", "1.0", "--sandbox", sandbox])
        assert res.exit_code == 0, res.output
        rows[sandbox] = [json.loads(x)["messages"] for x in (out / "next" / "train.jsonl").read_text().splitlines()]
    assert len(rows["local"]) == 1 and rows["local"] == rows["docker"]


def test_train_without_data_is_one_line(tmp_path):
    from semtrace.sft.cli import app

    res = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "none"), "--model", "x", "--out",
                                   str(tmp_path / "o")])
    assert res.exit_code == 2 and "not a directory" in res.output and "Traceback" not in res.output


def test_train_without_the_extra_names_it(tmp_path):
    try:
        import trl  # noqa: F401
        pytest.skip("the train extra is installed here; tests/sft/test_train.py covers training")
    except ModuleNotFoundError:
        pass
    from semtrace.sft.cli import app

    data = tmp_path / "data" / "concise"
    data.mkdir(parents=True)
    msgs = [{"role": "user", "content": "fix"}, {"role": "assistant", "content": "```python\npass\n```"}]
    (data / "train.jsonl").write_text(json.dumps({"messages": msgs}) + "\n")
    res = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "data"), "--model", "x", "--out",
                                   str(tmp_path / "o")])
    assert res.exit_code == 2 and "semtrace[train]" in res.output and "Traceback" not in res.output
