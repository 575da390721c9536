"""Writing examples: chat ``messages`` JSONL, OpenAI fine-tuning JSONL, LLaMA-Factory (sharegpt) and HF datasets.

Layout under ``--out DIR`` (one representation R, splits ``train`` and ``test``):

- ``messages``: ``R/train.jsonl`` — ``{"messages": [{"role", "content"}...], "meta": {task_id, ids, tokens...}}``;
- ``openai``: ``R/train.jsonl`` — ``{"messages": [...]}`` only (the fine-tuning API accepts no other key);
- ``llamafactory``: ``R_train.json`` — a JSON list of ``{"conversations": [{"from": "human"|"gpt", "value"}],
  "system": ...}`` plus ``dataset_info.json`` with one entry per file (``formatting: sharegpt``, ``columns``,
  ``tags``), so ``dataset_dir: DIR`` and ``dataset: semtrace_R_train`` read it;
- ``hf``: ``R/`` — a ``datasets.DatasetDict`` (``save_to_disk``) with ``messages`` and the meta columns (an empty
  split is left out).

The model's reasoning (``--reasoning keep``; dropped by default) goes where each format's readers look for it:
``messages`` and ``hf``: a ``reasoning_content`` field on every message (the target's holds the reasoning; the
field vLLM and DeepSeek return and Qwen3's chat template renders as ``<think>``); ``llamafactory``: a
``<think>...</think>`` block before the answer in the ``gpt`` value (LLaMA-Factory's reasoning templates, e.g.
``qwen3``, ``deepseekr1``); ``openai``: refused (OpenAI's fine-tuning format has no place for reasoning).

A ``debug`` round exported as the conversation it was (``chains.py``): ``messages`` and ``openai`` in OpenAI's
shape (assistant ``tool_calls``, ``tool`` messages, a row-level ``tools`` list); ``llamafactory`` as
``function_call``/``observation`` turns with a ``tools`` column (its documented sharegpt tool format); ``hf``:
refused (its fixed features hold no tool calls).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from semtrace.sft import chains
from semtrace.sft.build import Example

FORMATS = ("messages", "openai", "llamafactory", "hf")
REASONING_FORMATS = ("messages", "llamafactory", "hf")  # the formats that can keep the reasoning (--reasoning keep)
THINK = ("<think>\n", "\n</think>\n\n")  # LLaMA-Factory's thought words around the reasoning (its qwen3 template)
SPLITS = ("train", "test")

LF_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
           "system_tag": "system"}
LF_TOOL_TAGS = {"observation_tag": "observation", "function_tag": "function_call"}  # a debug round's turns
LF_ROLES = {"user": "human", "assistant": "gpt"}


class FormatError(ValueError):
    """An output format that cannot be written (unknown, or its package is missing)."""


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> list[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return [path]


def _tools(example: Example) -> dict[str, Any]:
    """A debug round's row names its tools (OpenAI's fine-tuning ``tools`` key; TRL's ``tools`` column)."""
    return {"tools": chains.tool_specs()} if example.dialogue is not None else {}


def write_messages(out: Path, rep: str, split: str, examples: list[Example], reasoning: bool = False) -> list[Path]:
    return _jsonl(out / rep / f"{split}.jsonl", [{"messages": e.chat(reasoning), **_tools(e), "meta": e.meta()}
                                                  for e in examples])


def write_openai(out: Path, rep: str, split: str, examples: list[Example], reasoning: bool = False) -> list[Path]:
    return _jsonl(out / rep / f"{split}.jsonl", [{"messages": e.chat(), **_tools(e)} for e in examples])


def sharegpt(example: Example, reasoning: bool = False) -> dict[str, Any]:
    """One LLaMA-Factory sharegpt row: the system prompt in ``system``, then human/gpt turns alternating; with
    ``reasoning``, the target's reasoning in ``<think>`` before the answer."""
    system = "\n\n".join(m.content for m in example.messages if m.role == "system")
    turns = [{"from": LF_ROLES[m.role], "value": m.content} for m in example.messages if m.role != "system"]
    turns.extend(chains.sharegpt_turns(example.dialogue or (), reasoning))
    think = f"{THINK[0]}{example.reasoning}{THINK[1]}" if reasoning and example.reasoning else ""
    turns.append({"from": "gpt", "value": think + example.target})
    row: dict[str, Any] = {"conversations": turns}
    if system:
        row["system"] = system
    if example.dialogue is not None:
        row["tools"] = chains.lf_tools()
    return row


def dataset_name(rep: str, split: str) -> str:
    return f"semtrace_{rep}_{split}"


def write_llamafactory(out: Path, rep: str, split: str, examples: list[Example], reasoning: bool = False
                       ) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{rep}_{split}.json"
    path.write_text(json.dumps([sharegpt(e, reasoning) for e in examples], ensure_ascii=False, indent=1),
                    encoding="utf-8")
    info_path = out / "dataset_info.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
    tools = any(e.dialogue is not None for e in examples)  # a debug run's rounds: function_call/observation turns
    info[dataset_name(rep, split)] = {
        "file_name": path.name,
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "system": "system", **({"tools": "tools"} if tools else {})},
        "tags": {**LF_TAGS, **(LF_TOOL_TAGS if tools else {})},
    }
    info_path.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return [path, info_path]


def write_hf(out: Path, rep: str, splits: dict[str, list[Example]], reasoning: bool = False) -> list[Path]:
    try:
        import datasets
    except ModuleNotFoundError as exc:
        raise FormatError("--format hf needs the `datasets` package: pip install 'semtrace[train]' "
                          "(or pip install datasets)") from exc

    def table(examples: list[Example]) -> dict[str, list[Any]]:
        metas = [e.meta() for e in examples]
        return {
            "messages": [e.chat(reasoning) for e in examples],
            "task_id": [m["task_id"] for m in metas],
            "representation": [m["representation"] for m in metas],
            "source": [m["source"] for m in metas],
            "ids": [m["ids"] or [] for m in metas],
            "tokens": [m["tokens"] for m in metas],
        }

    features = datasets.Features({
        "messages": [{"role": datasets.Value("string"), "content": datasets.Value("string"),
                      **({"reasoning_content": datasets.Value("string")} if reasoning else {})}],
        "task_id": datasets.Value("string"),
        "representation": datasets.Value("string"),
        "source": datasets.Value("string"),
        "ids": datasets.Sequence(datasets.Value("string")),
        "tokens": datasets.Value("int64"),
    })
    # an empty split is left out: datasets cannot load a saved zero-row split back (load_from_disk fails)
    dd = datasets.DatasetDict({s: datasets.Dataset.from_dict(table(ex), features=features)
                               for s, ex in splits.items() if ex})
    if not dd:
        return []  # no example for this representation (stats.json says why)
    target = out / rep
    dd.save_to_disk(str(target))
    return [target]


WRITERS: dict[str, Callable[[Path, str, str, list[Example], bool], list[Path]]] = {
    "messages": write_messages,
    "openai": write_openai,
    "llamafactory": write_llamafactory,
}


def check_reasoning(fmt: str, keep: bool) -> None:
    """``--reasoning keep`` with a format that has no place for it is refused before any work."""
    if keep and fmt not in REASONING_FORMATS:
        raise FormatError(f"--reasoning keep: the {fmt} format has no place for reasoning (OpenAI's fine-tuning "
                          f"messages take none); use --format {' or '.join(REASONING_FORMATS)}, or --reasoning drop")


CHAIN_FORMATS = ("messages", "openai", "llamafactory")  # the formats that hold a debug round's tool calls


def check_chains(fmt: str, multi_turn: bool) -> None:
    """A debug run's multi-turn examples in a format without a place for tool calls are refused before any work."""
    if multi_turn and fmt not in CHAIN_FORMATS:
        raise FormatError(f"--format {fmt} has no place for a debug round's tool calls; use --format "
                          f"{' or '.join(CHAIN_FORMATS)}, or --debug-chains single-turn")


def write(fmt: str, out: Path, rep: str, splits: dict[str, list[Example]], reasoning: bool = False) -> list[Path]:
    if fmt not in FORMATS:
        raise FormatError(f"unknown --format '{fmt}'; choose one of {', '.join(FORMATS)}")
    check_reasoning(fmt, reasoning)
    check_chains(fmt, any(e.dialogue is not None for ex in splits.values() for e in ex))
    if fmt == "hf":
        return write_hf(out, rep, splits, reasoning)
    paths: list[Path] = []
    for split, examples in splits.items():
        paths.extend(WRITERS[fmt](out, rep, split, examples, reasoning))
    return sorted(set(paths))
