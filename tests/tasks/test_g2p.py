"""Deep Voice's grapheme-to-phoneme model: the CMUdict split, scoring, beam search, the debug
recipe trains -> exports -> loads -> phonemizes, and the shipped g2p-en bundle."""

from __future__ import annotations

import json
import math

import pytest
import torch

import speechzoo
from speechzoo.cli import main
from speechzoo.data.corpora import prepare
from speechzoo.errors import DataError, TextError
from speechzoo.metrics import pronunciation_error_rates
from speechzoo.models.deepvoice.g2p import GraphemeToPhoneme
from speechzoo.pipelines import export
from speechzoo.tasks.recipes import make_cli
from speechzoo.text.lexicon import ARPABET, lexicon, split_of, split_words, strip_stress
from tests.conftest import RECIPES
from tests.recipe_runs import metric_column, recipe_overrides, torch_threads


def test_split_holds_out_words_and_is_fixed():
    test, dev, train = (set(split_words(s)) for s in ("test", "dev", "train"))
    assert not test & dev and not train & (test | dev)
    assert len(test | dev | train) == len(lexicon())
    assert 0.08 < len(test) / len(lexicon()) < 0.12 and 0.01 < len(dev) / len(lexicon()) < 0.03
    # pinned: a change of the hash rule would move words between splits (and leak test words)
    assert [split_of(w) for w in ("aaberg", "abbe", "abandon", "zebra")] == \
        ["test", "dev", "train", "dev"]
    assert len(ARPABET) == 69 and strip_stress(["AH0", "B"]) == ["AH", "B"]


def test_scoring_takes_the_closest_pronunciation():
    refs = [[["T", "AH0", "M", "EY1", "T", "OW2"], ["T", "AH0", "M", "AA1", "T", "OW2"]],
            [["K", "AE1", "T"]]]
    assert pronunciation_error_rates(refs, [refs[0][1], ["K", "AE1", "T"]]) == (0.0, 0.0)
    per, wer = pronunciation_error_rates(refs, [refs[0][1], ["K", "AE1", "D"]])
    assert per == pytest.approx(1 / 9) and wer == 0.5
    assert pronunciation_error_rates(refs, [refs[0][0], ["K", "AE2", "T"]]) == (1 / 9, 0.5)
    assert pronunciation_error_rates(refs, [refs[0][0], ["K", "AE2", "T"]], stress=False) \
        == (0.0, 0.0)


def test_beam_search_pads_nothing_into_a_word_and_width_one_is_greedy():
    torch.manual_seed(0)
    model = GraphemeToPhoneme(embed_size=8, hidden_size=16, layers=2).eval()
    long = torch.randint(1, 28, (1, 9))
    short = torch.randint(1, 28, (1, 4))
    batch = torch.zeros(2, 9, dtype=torch.long)
    batch[0], batch[1, :4] = long[0], short[0]
    alone = model.beam_search(short, torch.tensor([4]), 3, max_length=6)[0]
    assert model.beam_search(batch, torch.tensor([9, 4]), 3, max_length=6)[1] == alone
    # greedy by hand: the argmax at each step until `end`
    h, token, greedy = model.encode(short, torch.tensor([4])), torch.tensor([model.end]), []
    for _ in range(6):
        logp, h = model._step_log_probs(token, h)
        token = logp.argmax(-1)
        if int(token) == model.end:
            break
        greedy.append(int(token))
    assert model.beam_search(short, torch.tensor([4]), 1, max_length=6)[0] == greedy
    assert all(i not in (0, 1, 2) for i in alone)


def test_corpus_writes_every_split(tmp_path):
    out = prepare("cmudict", out=tmp_path / "cmudict")
    info = json.loads((out / "corpus.json").read_text())
    assert sum(s["words"] for s in info["splits"].values()) == len(lexicon())
    first = json.loads((out / "test.jsonl").open().readline())
    assert set(first) == {"text", "pronunciations"} and split_of(first["text"]) == "test"


def test_debug_recipe_trains_exports_and_phonemizes(tmp_path):
    with torch_threads(1):
        make_cli(RECIPES / "g2p_debug.yaml",
                 recipe_overrides(tmp_path / "cmudict", tmp_path / "run", 12))
    losses = metric_column(tmp_path / "run", "train/loss")
    assert len(losses) == 12 and losses[-1] < losses[0]
    assert all(0 <= v <= 1 for v in metric_column(tmp_path / "run", "val/per"))
    bundle = export(tmp_path / "run" / "ckpt" / "last.ckpt", tmp_path / "bundle")
    g2p = speechzoo.load(bundle.parent, device="cpu")
    out = g2p.phonemize_words(["cat", "zorblax"], beam_size=2)
    assert len(out) == 2 and all(p in ARPABET for p in out[0] + out[1])


@pytest.fixture(scope="module")
def g2p_en():
    return speechzoo.load("g2p-en", device="cpu")


def test_shipped_bundle_reads_training_words_and_invented_ones(g2p_en):
    # Words it trained on (every 200th training word): its benchmark WER on held-out words
    # is 0.31 and an untrained model's is 1, so 0.15 on seen words catches a broken bundle.
    words = split_words("train")[::200]
    hyps = g2p_en.phonemize_words(words)
    _, wer = pronunciation_error_rates([[list(p) for p in lexicon()[w]] for w in words], hyps)
    assert wer < 0.15
    assert g2p_en.phonemize("Cat") == ["K", "AE1", "T"]
    invented = g2p_en.phonemize("blorfing")
    assert invented[-1] == "NG" and invented[0] == "B"
    assert "æ" in g2p_en.phonemize("cat", ipa=True)
    assert g2p_en.phonemize_words(["cat"], use_lexicon=True, stress=False) == [["K", "AE", "T"]]


def test_cli_prints_each_word(capsys):
    main(["phonemize", "cat", "Dog", "--lexicon", "--no-stress"])
    assert capsys.readouterr().out.splitlines() == ["cat\tK AE T", "Dog\tD AO G"]
    with pytest.raises(SystemExit):
        main(["phonemize", "r2d2"])
    assert "letters and apostrophes" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["", "12", "a.m.", "two words"])
def test_words_outside_the_letters_are_a_clear_error(g2p_en, bad):
    with pytest.raises(TextError, match="letters and apostrophes"):
        g2p_en.phonemize(bad)


def test_metrics_refuse_nothing_to_score():
    with pytest.raises(DataError, match="no words"):
        pronunciation_error_rates([], [])
    assert math.isfinite(pronunciation_error_rates([[["A"]]], [[]])[0])
