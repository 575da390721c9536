"""``semtrace sft train``: LoRA fine-tuning with TRL's ``SFTTrainer`` on the builder's train split (``train`` extra).

Each example becomes a conversational prompt-completion row (``prompt`` = the system and user messages,
``completion`` = the assistant's fixed program), so TRL computes the loss on the completion tokens only. The output
directory holds ``adapter/`` (PEFT ``save_pretrained``, with the tokenizer) and ``train_config.json``: the model,
the options, the losses and the sha256 digest of the data file read (``data_digest``), so an adapter names the data
it learned from.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"
CONFIG_FILE = "train_config.json"
EXTRA_HINT = "pip install 'semtrace[train]' (torch, transformers, trl, peft, datasets)"


class TrainError(ValueError):
    """Training cannot start: missing extra, no data, a bad row. The message names the fix."""


@dataclass(frozen=True)
class TrainOptions:
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    epochs: float = 1.0
    max_steps: int = -1
    lr: float = 2e-4
    batch_size: int = 1
    max_length: int = 2048
    seed: int = 0
    logging_steps: int = 1


def train_file(data: Path, representation: str | None = None) -> Path:
    """``DATA/R/train.jsonl`` of a ``messages`` or ``openai`` build (R: the only representation when not given)."""
    if not data.is_dir():
        raise TrainError(f"--data {data}: not a directory; pass the --out DIR of `semtrace sft build`")
    if representation is None:
        found = sorted(p.parent.name for p in data.glob("*/train.jsonl"))
        if len(found) != 1:
            which = f"it holds {', '.join(found)}" if found else "it holds no R/train.jsonl"
            raise TrainError(f"--data {data}: {which}; pass --representation R of a messages/openai build")
        representation = found[0]
    path = data / representation / "train.jsonl"
    if not path.is_file():
        raise TrainError(f"{path}: not found; build it with `semtrace sft build ... -r {representation} --format "
                         "messages` (or openai)")
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prompt_completion(path: Path) -> list[dict[str, Any]]:
    """The rows as TRL conversational prompt-completion records."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)["messages"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise TrainError(f"{path}: row {n}: not a {{\"messages\": [...]}} line ({exc}); rebuild with "
                             "`semtrace sft build`") from exc
        if not messages or messages[-1].get("role") != "assistant":
            raise TrainError(f"{path}: row {n}: the last message must be the assistant's answer")
        if any(m.get("tool_calls") or m.get("role") == "tool" for m in messages):
            raise TrainError(f"{path}: row {n}: a debug round's multi-turn example (tool calls); `sft train` reads "
                             "one-turn rows only: rebuild with --debug-chains single-turn, or train on this file "
                             "with TRL or LLaMA-Factory directly")
        msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
        rows.append({"prompt": msgs[:-1], "completion": msgs[-1:]})
    if not rows:
        raise TrainError(f"{path}: no examples to train on")
    return rows


def _imports() -> tuple[Any, Any, Any, Any]:
    try:
        import datasets
        import peft
        import transformers
        import trl
    except ModuleNotFoundError as exc:
        raise TrainError(f"`semtrace sft train` needs the train extra ({exc.name} is missing): {EXTRA_HINT}") from exc
    return datasets, peft, transformers, trl


def make_trainer(rows: list[dict[str, Any]], model: Any, tokenizer: Any, out: Path, options: TrainOptions) -> Any:
    """The SFTTrainer for ``rows`` (loss on the completion only) with a LoRA adapter over ``model``."""
    datasets, peft, _transformers, trl = _imports()
    if not getattr(tokenizer, "chat_template", None):
        raise TrainError("the tokenizer has no chat template; use an instruct/chat model's tokenizer")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    import torch

    gpu = torch.cuda.is_available()
    args = trl.SFTConfig(
        bf16=gpu and torch.cuda.is_bf16_supported(),
        use_cpu=not gpu,
        gradient_checkpointing=gpu,
        output_dir=str(out / "checkpoints"),
        num_train_epochs=options.epochs,
        max_steps=options.max_steps,
        learning_rate=options.lr,
        per_device_train_batch_size=options.batch_size,
        logging_steps=options.logging_steps,
        save_strategy="no",
        report_to=[],
        seed=options.seed,
        max_length=options.max_length,
        completion_only_loss=True,
        packing=False,
    )
    lora = peft.LoraConfig(r=options.lora_r, lora_alpha=options.lora_alpha, lora_dropout=options.lora_dropout,
                           target_modules="all-linear", task_type="CAUSAL_LM")
    return trl.SFTTrainer(model=model, args=args, train_dataset=datasets.Dataset.from_list(rows),
                          processing_class=tokenizer, peft_config=lora)


def train(data: Path, model: Any, out: Path, *, representation: str | None = None,
          options: TrainOptions | None = None, tokenizer: Any = None) -> dict[str, Any]:
    """Train a LoRA adapter on ``data``'s train split; ``model`` is an HF path/id or a loaded causal LM."""
    options = options or TrainOptions()
    path = train_file(Path(data), representation)
    rows = prompt_completion(path)
    _datasets, _peft, transformers, trl = _imports()
    name = model if isinstance(model, str) else getattr(getattr(model, "config", None), "_name_or_path", "")
    if isinstance(model, str):
        try:
            tokenizer = tokenizer or transformers.AutoTokenizer.from_pretrained(model)
            model = transformers.AutoModelForCausalLM.from_pretrained(model)
        except OSError as exc:
            raise TrainError(f"--model {name}: cannot load it ({str(exc).splitlines()[0]}); pass a local "
                             "directory or a Hugging Face model id") from exc
    if tokenizer is None:
        raise TrainError("pass the tokenizer with a loaded model")
    out.mkdir(parents=True, exist_ok=True)
    trainer = make_trainer(rows, model, tokenizer, out, options)
    trainer.train()
    losses = [float(h["loss"]) for h in trainer.state.log_history if "loss" in h]
    adapter = out / ADAPTER_DIR
    trainer.model.save_pretrained(str(adapter))
    tokenizer.save_pretrained(str(adapter))
    stats_path = Path(data) / "stats.json"
    result = {
        "model": name,
        "data": str(data),
        "train_file": str(path),
        "data_digest": digest(path),
        "build_digest": json.loads(stats_path.read_text()).get("digest") if stats_path.is_file() else None,
        "examples": len(rows),
        "options": asdict(options),
        "loss_on": "completion (the assistant's answer) only",
        "losses": losses,
        "first_loss": losses[0] if losses else float("nan"),
        "last_loss": losses[-1] if losses else float("nan"),
        "versions": {"trl": trl.__version__, "transformers": transformers.__version__},
        "adapter": str(adapter),
    }
    (out / CONFIG_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    log.info("adapter written to %s (loss %.4f -> %.4f)", adapter, result["first_loss"], result["last_loss"])
    return result
