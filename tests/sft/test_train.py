"""``semtrace sft train`` smoke test (``train`` marker; ``make test-train``): a tiny randomly initialised causal LM
and tokenizer built on the fly (no download) learn a few builder examples on CPU: the loss falls, only the answer
tokens carry labels, and the saved adapter loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.train

CHAT = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")

PAIRS = [
    ("def add(a, b):\n    return a - b\n", "def add(a, b):\n    return a + b\n", "assert add(1, 2) == 3"),
    ("def neg(x):\n    return x\n", "def neg(x):\n    return -x\n", "assert neg(2) == -2"),
    ("def sq(x):\n    return x * 2\n", "def sq(x):\n    return x * x\n", "assert sq(3) == 9"),
]


def _tiny_model(texts: list[str], where: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    special = ["<|pad|>", "<|eos|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=600, special_tokens=special,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|eos|>")
    fast.chat_template = CHAT
    cfg = LlamaConfig(vocab_size=fast.vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096,
                      pad_token_id=fast.pad_token_id, eos_token_id=fast.eos_token_id, bos_token_id=None)
    import torch

    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(str(where))
    fast.save_pretrained(str(where))
    return where


def test_lora_training_on_builder_output(tmp_path):
    pytest.importorskip("trl", reason="needs the train extra: `make test-train` installs it")
    from semtrace.sft.cli import app

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"buggy": b, "fixed": f, "tests": [t]}) + "\n" for b, f, t in PAIRS))
    data = tmp_path / "data"
    res = CliRunner().invoke(app, ["build", "--source", f"pairs:{pairs}", "-r", "concise", "--out", str(data),
                                   "--split", "1.0"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in (data / "concise" / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    texts = [m["content"] for r in rows for m in r["messages"]]
    model_dir = _tiny_model(texts, tmp_path / "tiny")

    # --max-tokens counts with the model's own tokenizer when given
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    exact = [sum(len(tok.encode(m["content"], add_special_tokens=False)) for m in r["messages"]) for r in rows]
    counted = tmp_path / "counted"
    res = CliRunner().invoke(app, ["build", "--source", f"pairs:{pairs}", "-r", "concise", "--out", str(counted),
                                   "--split", "1.0", "--tokenizer", str(model_dir),
                                   "--max-tokens", str(sorted(exact)[1])])
    assert res.exit_code == 0, res.output
    kept = [json.loads(x)["meta"]["tokens"] for x in (counted / "concise" / "train.jsonl").read_text().splitlines()]
    assert sorted(kept) == sorted(exact)[:2]

    # only the answer's tokens are labelled
    from semtrace.sft.train import TrainOptions, make_trainer, prompt_completion
    from transformers import AutoModelForCausalLM

    trainer = make_trainer(prompt_completion(data / "concise" / "train.jsonl"),
                           AutoModelForCausalLM.from_pretrained(str(model_dir)), tok, tmp_path / "probe",
                           TrainOptions(max_steps=1))
    batch = trainer.data_collator([trainer.train_dataset[0]])
    labelled = batch["input_ids"][0][batch["labels"][0] != -100]
    assert tok.decode(labelled).startswith(rows[0]["messages"][-1]["content"])
    assert len(labelled) < len(batch["input_ids"][0]) // 3

    out = tmp_path / "adapter-run"
    res = CliRunner().invoke(app, ["train", "--data", str(data), "--model", str(model_dir), "--out", str(out),
                                   "--max-steps", "30", "--lr", "0.01", "--lora-r", "8", "--batch-size", "3"])
    assert res.exit_code == 0, res.output
    config = json.loads((out / "train_config.json").read_text())
    import hashlib

    assert config["data_digest"] == hashlib.sha256((data / "concise" / "train.jsonl").read_bytes()).hexdigest()
    losses = config["losses"]
    assert len(losses) == 30 and sum(losses[-3:]) / 3 < 0.9 * sum(losses[:3]) / 3, losses  # it falls

    from peft import PeftModel

    base = AutoModelForCausalLM.from_pretrained(str(model_dir))
    tuned = PeftModel.from_pretrained(base, str(out / "adapter"))
    ids = tok("def add", return_tensors="pt")["input_ids"]
    assert tuned(input_ids=ids).logits.shape[-1] == base.config.vocab_size
    assert any("lora" in n for n, _ in tuned.named_parameters())

