"""Tracking helpers without a W&B run: one flatten for every summary, no third-party adverts in the output."""

from __future__ import annotations

import logging

import pytest
from pytorch_lightning.utilities.rank_zero import rank_zero_info

from genexai import tracking
from genexai.tracking.quiet import RANK_ZERO_LOGGERS
from genexai.utils.flatten import flatten


def test_flatten_joins_nested_keys_and_keeps_leaves():
    data = {"test": {"auroc": 0.5, "ci": [0.4, 0.6]}, "n": None, "time_s": {"train": 1, "empty": {}}, 3: {"x": 1}}
    assert flatten(data) == {"test/auroc": 0.5, "test/ci": [0.4, 0.6], "n": None, "time_s/train": 1, "3/x": 1}
    assert flatten({"a": {"b": 1}}, prefix="eval", sep=".") == {"eval.a.b": 1}
    assert flatten({"": {"b": 1}, "a": {"": 2}}) == {"/b": 1, "a/": 2}  # no key part is ever dropped


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def lightning_info():
    handler = _Records()
    loggers = [logging.getLogger(name) for name in RANK_ZERO_LOGGERS]
    saved = [(lg.level, list(lg.filters)) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    yield handler.messages
    for lg, (level, filters) in zip(loggers, saved):
        lg.removeHandler(handler)
        lg.setLevel(level)
        lg.filters[:] = filters


def test_quiet_third_party_output_drops_lightning_adverts_only(lightning_info):
    tracking.quiet_third_party_output()
    tracking.quiet_third_party_output()  # twice: still one filter
    assert all(len(logging.getLogger(name).filters) == 1 for name in RANK_ZERO_LOGGERS)
    rank_zero_info("💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger](...)")
    rank_zero_info("GPU available: False, used: False")
    assert lightning_info == ["GPU available: False, used: False"]
