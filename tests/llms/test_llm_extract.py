"""Code extraction from replies: fenced blocks, the entry point, truncated fences, unfenced fallbacks."""

from __future__ import annotations

import pytest
from semtrace.llms.extract import extract_code

PROGRAM = "def reverse(s):\n    return s[::-1]\n"


def test_single_fenced_block():
    ex = extract_code(f"Here you go:\n```python\n{PROGRAM}```\nIt slices backwards.")
    assert (ex.code, ex.method, ex.ok, ex.blocks) == (PROGRAM, "fenced", True, 1)


def test_block_defining_the_entry_point_wins_over_a_later_one():
    reply = (f"```python\nimport re\n\n{PROGRAM}```\nTests:\n```python\ndef test():\n    assert reverse('ab') == 'ba'\n```")
    ex = extract_code(reply, entry_point="reverse")
    assert ex.method == "fenced_entry_point" and ex.code == f"import re\n\n{PROGRAM}"


def test_last_complete_program_block_without_entry_point():
    reply = ("First try:\n```python\ndef reverse(s):\n    return s\n```\nFixed:\n```py\n" + PROGRAM +
             "```\nExample:\n```python\nprint(reverse('abc'))\n```")
    ex = extract_code(reply)
    assert ex.code == PROGRAM and ex.blocks == 3


def test_untagged_and_tilde_fences_and_codellama_tags():
    assert extract_code(f"```\n{PROGRAM}```").code == PROGRAM
    assert extract_code(f"~~~python\n{PROGRAM}~~~").code == PROGRAM
    assert extract_code(f"[PYTHON]\n{PROGRAM}[/PYTHON]").code == PROGRAM


def test_other_language_blocks_are_a_last_resort():
    reply = f"Run:\n```bash\npip install x\n```\n```python\n{PROGRAM}```"
    assert extract_code(reply).code == PROGRAM
    assert extract_code(f"```text\n{PROGRAM}```").code == PROGRAM


def test_unterminated_fence_from_a_cut_reply():
    reply = "```python\ndef reverse(s):\n    out = s[::-1]\n    return out\n\ndef other(x):\n    return ("
    ex = extract_code(reply)
    assert ex.method == "unterminated_fence"
    assert ex.code == "def reverse(s):\n    out = s[::-1]\n    return out\n"


def test_unfenced_whole_reply_and_code_after_prose():
    assert extract_code(PROGRAM).method == "unfenced" and extract_code(PROGRAM).code == PROGRAM
    reply = f"Sure! Here is the function:\n\n{PROGRAM}\nThis works because slicing with -1 reverses."
    ex = extract_code(reply, entry_point="reverse")
    assert ex.method == "unfenced" and ex.code == PROGRAM


@pytest.mark.parametrize("reply", [
    "I'm sorry, I can't help with that.",
    "",
    "The bug is on line 3: the loop should start at 1.",
    "```\nThis is just prose inside a fence.\n```",
])
def test_no_code_is_a_value_not_an_exception(reply):
    ex = extract_code(reply)
    assert not ex.ok and ex.code is None and ex.method == "none" and ex.reason


def test_crlf_replies():
    ex = extract_code("```python\r\ndef f():\r\n    return 1\r\n```\r\n")
    assert ex.code == "def f():\n    return 1\n"
