"""Shared fixtures: a tiny synth-en corpus generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """8 training, 2 dev and 2 test utterances of the embedded corpus (real text only)."""
    from speechzoo.data.corpora.synth_en import prepare_synth_en

    out = tmp_path_factory.mktemp("corpus") / "synth-en"
    return prepare_synth_en(out, seed=3, train_size=8, dev_size=2, test_size=2, markov=0,
                            workers=1)
