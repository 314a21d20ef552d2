"""Building n-gram LMs: well-formed ARPA (normalised distributions, also after pruning),
character LMs, atomic writes, the lmplz route, header checks and lexicons."""

import gzip
import json
import math
import os
import stat
from collections import Counter
from pathlib import Path

import pytest

from speechzoo.decoding.lm import (
    build_lm,
    lexicon_for,
    mix_sentences,
    read_arpa_header,
    write_lexicon,
)
from speechzoo.errors import CheckpointError, ConfigError, DataError, TextError
from speechzoo.text.english import CHARACTERS
from speechzoo.text.tokenizers import CharTokenizer

TEXT = (["the cat sat on the mat"] * 5 + ["the dog sat on the cap", "a cat ran to the dog",
        "the red cap sat on a mat", "a dog ran"] + [f"the cat ate {w}" for w in
                                                    ("fish", "rice", "bread", "fish")])
ENGLISH = CharTokenizer(CHARACTERS)


def ngram_counts(n: int) -> Counter:
    padded = [["<s>", *s.split(), "</s>"] for s in TEXT]
    return Counter(tuple(w[i:i + n]) for w in padded for i in range(len(w) - n + 1))


def read_arpa(path: Path) -> dict[tuple[str, ...], tuple[float, float]]:
    """n-gram -> (log10 p, log10 back-off weight)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    table = {}
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) >= 2:
                table[tuple(fields[1].split())] = (float(fields[0]),
                                                   float(fields[2]) if len(fields) > 2 else 0.0)
    return table


def prob(lm: dict, history: tuple[str, ...], word: str) -> float:
    """p(word | history) with back-off."""
    if history + (word,) in lm:
        return 10 ** lm[history + (word,)][0]
    bow = 10 ** lm[history][1] if history in lm else 1.0
    return bow * prob(lm, history[1:], word)


def assert_normalised(path: Path) -> None:
    lm = read_arpa(path)
    vocab = [k[0] for k in lm if len(k) == 1 and k[0] not in ("<s>", "<unk>")]
    histories = {k for k in lm if len(k) < 3 and k[-1] != "</s>"}
    assert len(histories) > 10
    for h in histories:
        assert sum(prob(lm, h, w) for w in vocab) == pytest.approx(1.0, abs=1e-4), h


def test_build_writes_a_normalised_kneser_ney_lm(tmp_path):
    path = build_lm(TEXT, tmp_path / "lm.arpa", order=3)
    counts, words = read_arpa_header(path)
    assert counts[3] == len(ngram_counts(3)) and "<unk>" in words and "fish" in words
    assert_normalised(path)
    lm = read_arpa(path)
    # Seen trigrams keep most of their mass (not the -99 of a discount of 1).
    assert lm[("the", "cat", "sat")][0] > -1


def test_text_file_manifest_and_gzip_give_the_same_lm(tmp_path):
    (tmp_path / "t.txt").write_text("\n".join(TEXT) + "\n\n")
    with (tmp_path / "m.jsonl").open("w") as f:
        for s in TEXT:
            f.write(json.dumps({"text": s}) + "\n")
    plain = build_lm(tmp_path / "t.txt", tmp_path / "a.arpa")
    manifest = build_lm(tmp_path / "m.jsonl", tmp_path / "b.arpa.gz")
    assert gzip.open(manifest, "rt").read() == plain.read_text() == \
        build_lm(TEXT, tmp_path / "c.arpa").read_text()


def test_mixed_text_weights_sources_normalises_and_drops_held_out_sentences(tmp_path):
    (tmp_path / "big.txt").write_text("The cat sat.\nA dog ran 2 miles\n")
    with (tmp_path / "small.jsonl").open("w") as f:
        f.write(json.dumps({"text": "c a t five"}) + "\n")
    (tmp_path / "dev.txt").write_text("a dog ran two miles\n")
    mixed = mix_sentences([tmp_path / "big.txt", tmp_path / "small.jsonl"], [1, 3],
                          exclude=[tmp_path / "dev.txt"], normalize="english")
    assert mixed == ["the cat sat"] + ["c a t five"] * 3
    counts, _ = read_arpa_header(build_lm(mixed, tmp_path / "lm.arpa", order=1))
    assert counts[1] == len({"<s>", "</s>", "<unk>", "the", "cat", "sat", "c", "a", "t",
                             "five"})
    with pytest.raises(ConfigError, match="2 LM texts take as many weights"):
        mix_sentences([tmp_path / "big.txt", tmp_path / "small.jsonl"], [1])
    with pytest.raises(ConfigError, match="normalize"):
        mix_sentences([tmp_path / "big.txt"], normalize="french")


def test_pruning_drops_rare_ngrams_and_keeps_back_off_mass(tmp_path):
    full = read_arpa_header(build_lm(TEXT, tmp_path / "full.arpa", order=3))[0]
    pruned_path = build_lm(TEXT, tmp_path / "pruned.arpa", order=3, prune=(0, 1))
    pruned = read_arpa_header(pruned_path)[0]
    assert pruned[1] == full[1] and pruned[2] < full[2]
    assert pruned[3] == sum(c > 1 for c in ngram_counts(3).values()) < full[3]
    lm = read_arpa(pruned_path)
    assert ("the", "cat", "sat") in lm and ("the", "cat", "ran") not in lm
    assert_normalised(pruned_path)
    with pytest.raises(ConfigError, match="non-decreasing"):
        build_lm(TEXT, tmp_path / "x.arpa", prune=(0, 2, 1))


def test_character_lm_has_characters_for_words(tmp_path):
    path = build_lm(["我 爱 你", "我爱他们", "你好"], tmp_path / "zh.arpa", order=2, units="chars")
    _, words = read_arpa_header(path)
    assert set(words) == {"<s>", "</s>", "<unk>", *"我爱你他们好"}


def test_failed_build_leaves_nothing(tmp_path):
    def sentences():
        yield "the cat sat"
        raise RuntimeError("text source broke")

    with pytest.raises(RuntimeError):
        build_lm(sentences(), tmp_path / "lm.arpa")
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments_are_reported(tmp_path):
    with pytest.raises(ConfigError, match="order"):
        build_lm(TEXT, tmp_path / "lm.arpa", order=9)
    with pytest.raises(ConfigError, match="units"):
        build_lm(TEXT, tmp_path / "lm.arpa", units="bytes")
    with pytest.raises(DataError, match="no sentences"):
        build_lm(["", "  "], tmp_path / "lm.arpa")
    with pytest.raises(DataError, match="does not exist"):
        build_lm(tmp_path / "missing.txt", tmp_path / "lm.arpa")


def test_lmplz_is_used_when_on_path(tmp_path, monkeypatch):
    reference = build_lm(TEXT, tmp_path / "ref.arpa")
    tool = tmp_path / "bin" / "lmplz"
    tool.parent.mkdir()
    tool.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/args\ncat > {tmp_path}/stdin\n"
                    f"cat {reference}\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    out = build_lm(TEXT, tmp_path / "lm.arpa", order=4, prune=(0, 1))
    assert out.read_text() == reference.read_text()
    assert (tmp_path / "args").read_text().split() == ["-o", "4", "--discount_fallback",
                                                       "--prune", "0", "1", "1", "1"]
    assert (tmp_path / "stdin").read_text().splitlines() == TEXT
    with pytest.raises(ConfigError, match="lmplz is not on PATH"):
        monkeypatch.setenv("PATH", "")
        build_lm(TEXT, tmp_path / "lm.arpa", tool="lmplz")


def test_header_check_catches_missing_foreign_and_truncated_files(tmp_path):
    good = build_lm(TEXT, tmp_path / "lm.arpa").read_text()
    with pytest.raises(CheckpointError, match="does not exist"):
        read_arpa_header(tmp_path / "none.arpa")
    (tmp_path / "junk.arpa").write_text("hello\n")
    with pytest.raises(CheckpointError, match=r"does not start with \\data\\"):
        read_arpa_header(tmp_path / "junk.arpa")
    (tmp_path / "short.arpa").write_text(good[:good.index("\\2-grams:") - 40])
    with pytest.raises(CheckpointError, match="truncated, corrupt or not ARPA"):
        read_arpa_header(tmp_path / "short.arpa")
    lines = good.splitlines()
    (tmp_path / "cut.arpa").write_text("\n".join(lines[:8] + lines[9:]))
    with pytest.raises(CheckpointError, match="promises 18 unigrams, it holds 17"):
        read_arpa_header(tmp_path / "cut.arpa")
    (tmp_path / "bin.arpa").write_bytes(b"\\data\\\n\xff\xfe\x00")
    with pytest.raises(CheckpointError, match="truncated, corrupt or not ARPA"):
        read_arpa_header(tmp_path / "bin.arpa")


def test_lexicon_spells_words_in_the_alphabet(tmp_path):
    path = write_lexicon(["cat", "it's", "cat", "<unk>"], ENGLISH, tmp_path / "lex.txt")
    assert path.read_text().splitlines() == ["cat c a t |", "it's i t ' s |"]
    with pytest.raises(TextError, match="cannot be spelt.*Cat"):
        write_lexicon(["Cat", "dog"], ENGLISH, tmp_path / "bad.txt")
    with pytest.raises(TextError, match="no space"):
        write_lexicon(["我"], CharTokenizer("我你"), tmp_path / "zh.txt")
    assert not (tmp_path / "bad.txt").exists()


def test_lexicon_for_an_lm(tmp_path):
    words = build_lm(TEXT + ["the café sat"], tmp_path / "lm.arpa")
    lexicon, skipped = lexicon_for(words, ENGLISH, tmp_path / "lex.txt")
    spelt = {line.split()[0] for line in lexicon.read_text().splitlines()}
    assert skipped == 1 and spelt == {w for s in TEXT for w in s.split()}
    chars = build_lm(["我爱你"], tmp_path / "zh.arpa", units="chars")
    assert lexicon_for(chars, CharTokenizer("我你爱"), tmp_path / "zh.txt") == (None, 0)
    assert math.isfinite(read_arpa(chars)[("我",)][0])
