"""A run collects garbage with its own thresholds, and gives the process its own back after it — also when it
fails."""

from __future__ import annotations

import gc

import pytest
from semtrace.agents.run import RUN_GC_THRESHOLDS, collecting_for_run


def test_a_run_sets_its_gc_thresholds_and_restores_them_after_it_even_when_it_fails() -> None:
    before = gc.get_threshold()
    assert before != RUN_GC_THRESHOLDS
    with collecting_for_run():
        assert gc.get_threshold() == RUN_GC_THRESHOLDS
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), collecting_for_run():
        raise RuntimeError("a task failed")
    assert gc.get_threshold() == before


def test_overlapping_runs_restore_the_process_thresholds_when_the_last_one_ends() -> None:
    before = gc.get_threshold()
    first, second = collecting_for_run(), collecting_for_run()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first ends while the second still runs: its thresholds stay
    assert gc.get_threshold() == RUN_GC_THRESHOLDS
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before
