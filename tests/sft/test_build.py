"""``semtrace sft build`` on real HumanEvalFix tasks: counts per representation, the answer format, the split,
dedup, stats.json, and that hidden tests never reach an example in any format."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from semtrace.llms.extract import extract_code
from semtrace.sandbox.local import LocalSandbox
from semtrace.sandbox.types import TestCase
from semtrace.sft import formats
from semtrace.sft.build import BuildSettings, split_of
from semtrace.sft.dataset import build_examples, write_dataset
from semtrace.sft.sources import task_pair
from typer.testing import CliRunner

N = 6
CANARY = "HIDDEN_CANARY_5d1e"


def _cli(args: list[str]):
    from semtrace.sft.cli import app

    return CliRunner().invoke(app, args)


def test_cli_build_writes_every_task_per_representation(data_dir, fix_tasks, tmp_path):
    out = tmp_path / "out"
    res = _cli(["build", "--source", "benchmark:humaneval-fix", "--data", str(data_dir), "--representation",
                "concise,next,none", "--limit", str(N), "--out", str(out), "--split", "0.5"])
    assert res.exit_code == 0, res.output
    stats = json.loads((out / "stats.json").read_text())
    refs = {t.task_id: t for t in fix_tasks[:N]}
    for rep in ("concise", "next", "none"):
        row = stats["representations"][rep]
        assert row["examples"] == N and row["train"] + row["test"] == N and row["dropped"] == 0
        lines = {s: [json.loads(x) for x in (out / rep / f"{s}.jsonl").read_text().splitlines()]
                 for s in formats.SPLITS}
        ids = {s: {r["meta"]["task_id"] for r in rows} for s, rows in lines.items()}
        assert not ids["train"] & ids["test"] and ids["train"] | ids["test"] == set(refs)
        for rows in lines.values():
            for r in rows:
                assert [m["role"] for m in r["messages"]] == ["system", "user", "assistant"]
                task = refs[r["meta"]["task_id"]]
                # the target is what the agent's extractor reads back as the fix
                assert extract_code(r["messages"][-1]["content"], task.entry_point).code == task.reference.rstrip() + "\n"
                assert r["meta"]["tokens"] > 0
                assert ("## Trace" in r["messages"][1]["content"]) == (rep != "none")
    assert stats["settings"]["trace_budget"] == 1024 and len(stats["digest"]) == 64


def test_split_is_by_task_id_and_deterministic():
    ids = [f"T/{i}" for i in range(200)]
    sides = [split_of(i, 0.8, 3) for i in ids]
    assert sides == [split_of(i, 0.8, 3) for i in ids]
    assert 120 < sides.count("train") < 190
    assert sides != [split_of(i, 0.8, 4) for i in ids]
    assert {split_of(i, 1.0, 0) for i in ids} == {"train"} and {split_of(i, 0.0, 0) for i in ids} == {"test"}


@pytest.fixture(scope="module")
def built(fix_tasks):
    """Three tasks whose hidden tests carry a canary, one of them twice (a duplicate pair)."""
    import asyncio

    tasks = [replace(t, hidden_tests=(TestCase(kind="assert", source=f"assert '{CANARY}' != 0"), *t.hidden_tests),
                     metadata={"note": CANARY}) for t in fix_tasks[:3]]
    pairs = [task_pair(t, "benchmark:humaneval-fix") for t in [*tasks, tasks[0]]]

    async def go():
        sandbox = LocalSandbox(concurrency=2)
        try:
            return await build_examples(pairs, ["concise", "none"], sandbox, BuildSettings())
        finally:
            await sandbox.close()

    return asyncio.run(go())


def test_dedup_keeps_the_first_of_identical_pairs(built):
    assert [len(built.examples[r]) for r in ("concise", "none")] == [3, 3]
    assert [d.reason for d in built.dropped] == ["duplicate of an earlier pair (same normalised programs)"] * 2


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_no_hidden_test_in_any_format(built, tmp_path, fmt):
    stats = write_dataset(built, tmp_path, fmt=fmt, split=0.5)
    blob = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b"concise" in blob or fmt == "hf"
    assert CANARY.encode() not in blob
    assert stats["representations"]["concise"]["examples"] == 3


def test_openai_lines_hold_only_messages(built, tmp_path):
    write_dataset(built, tmp_path, fmt="openai", split=1.0)
    rows = [json.loads(x) for x in (tmp_path / "concise" / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(list(r) == ["messages"] for r in rows)
    assert all([m["role"] for m in r["messages"]] == ["system", "user", "assistant"] for r in rows)


def test_llamafactory_layout_follows_its_dataset_rules(built, tmp_path):
    """LLaMA-Factory's data/README: dataset_info.json maps a name to file_name, formatting 'sharegpt', columns
    (messages -> conversations, system) and tags; a row's conversations alternate human (odd positions) and gpt
    (even positions); the system prompt is its own column."""
    write_dataset(built, tmp_path, fmt="llamafactory", split=0.5)
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert set(info) == {f"semtrace_{r}_{s}" for r in ("concise", "none") for s in ("train", "test")}
    allowed = {"file_name", "formatting", "columns", "tags", "ranking", "subset", "folder", "split"}
    total = 0
    for entry in info.values():
        assert set(entry) <= allowed and entry["formatting"] == "sharegpt"
        assert entry["columns"] == {"messages": "conversations", "system": "system"}
        tags = entry["tags"]
        assert (tags["role_tag"], tags["content_tag"], tags["user_tag"], tags["assistant_tag"]) == (
            "from", "value", "human", "gpt")
        rows = json.loads((tmp_path / entry["file_name"]).read_text())
        assert isinstance(rows, list)
        total += len(rows)
        for row in rows:
            assert set(row) == {"conversations", "system"} and row["system"]
            turns = row["conversations"]
            assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2) and len(turns) % 2 == 0
            assert all(set(t) == {"from", "value"} and t["value"] for t in turns)
            assert turns[-1]["value"].startswith("```python\n")
    assert total == 6


def test_hf_output_loads_with_load_from_disk(built, tmp_path):
    datasets = pytest.importorskip("datasets", reason="the hf format needs `datasets` (in the dev extra)")
    write_dataset(built, tmp_path, fmt="hf", split=0.5)
    dd = datasets.load_from_disk(str(tmp_path / "concise"))
    assert set(dd) == {"train", "test"} and dd["train"].num_rows + dd["test"].num_rows == 3
    row = (dd["train"] if dd["train"].num_rows else dd["test"])[0]
    assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
    assert row["representation"] == "concise" and row["tokens"] > 0


async def test_full_humaneval_fix_every_task_is_an_example_or_a_stated_drop(fix_tasks, tmp_path):
    """All 164 tasks, concise/next/none: each is an example, or dropped because its buggy program passes the
    visible tests (the agent would stop at round 0 there: no round-1 prompt exists to learn from)."""
    sandbox = LocalSandbox(concurrency=2)
    try:
        built = await build_examples([task_pair(t, "benchmark:humaneval-fix") for t in fix_tasks],
                                     ["concise", "next", "none"], sandbox, BuildSettings())
    finally:
        await sandbox.close()
    assert len(fix_tasks) == 164
    for rep in ("concise", "next", "none"):
        kept = {e.task_id for e in built.examples[rep]}
        gone = {d.task_id for d in built.dropped if d.representation == rep}
        assert kept | gone == {t.task_id for t in fix_tasks} and not kept & gone
        assert len(kept) >= 145
    assert {d.reason.split(" (")[0] for d in built.dropped} == {"the buggy program passes its visible tests"}
    stats = write_dataset(built, tmp_path, split=0.9)
    assert stats["representations"]["next"]["examples"] == len(built.examples["next"])


def test_hf_output_with_an_empty_split_still_loads(built, tmp_path):
    datasets = pytest.importorskip("datasets", reason="the hf format needs `datasets` (in the dev extra)")
    write_dataset(built, tmp_path, fmt="hf", split=1.0)
    dd = datasets.load_from_disk(str(tmp_path / "none"))
    assert set(dd) == {"train"} and dd["train"].num_rows == 3
