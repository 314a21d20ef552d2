"""CTC beam search: an LM fixes what greedy decoding gets wrong (word LM + lexicon, and a
character LM without one), no LM equals greedy on peaked input, bad LM/lexicon/config files
are reported, decoder.json round-trips, the tuner picks the better weight, the CLI works."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from speechzoo.cli import main
from speechzoo.decoding.beam import BeamDecoder, pad_log_probs, save_decoder_config, tune
from speechzoo.decoding.ctc import ctc_greedy, greedy_transcripts
from speechzoo.decoding.lm import build_lm, lexicon_for, write_lexicon
from speechzoo.errors import CheckpointError, ConfigError
from speechzoo.text.english import CHARACTERS
from speechzoo.text.tokenizers import CharTokenizer

ENGLISH = CharTokenizer(CHARACTERS)
MANDARIN = CharTokenizer("我你他爱好们是")
TEXT = (["the cat sat on the mat"] * 20 + ["the cat sat"] * 10 + ["a red cap"] * 3
        + ["the dog sat on the cap"] * 2)
HELDOUT = Path(__file__).parents[1] / "data" / "heldout"


def emissions(frames: list[dict[str, float]], tok: CharTokenizer) -> torch.Tensor:
    """(1, T, C) log-probs: each frame's given probabilities ('_' is the blank), the rest
    sharing a little."""
    probs = torch.full((1, len(frames), len(tok)), 1e-4)
    for t, frame in enumerate(frames):
        for c, p in frame.items():
            probs[0, t, 0 if c == "_" else tok.encode(c)[0]] = p
    return (probs / probs.sum(-1, keepdim=True)).log()


def spoken(text: str) -> list[dict[str, float]]:
    """A peaked path for ``text``: each character then a blank."""
    return [f for c in text for f in ({c: 0.95}, {"_": 0.95})]


# "the cap sat" by a hair: the LM knows that cats sit, caps rarely.
CAP_OR_CAT = spoken("the ca") + [{"p": 0.5, "t": 0.45}] + spoken(" sat")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lm")
    lm = build_lm(TEXT, root / "lm.arpa", order=3)
    return {"lm": lm, "lexicon": lexicon_for(lm, ENGLISH, root / "lexicon.txt")[0],
            "zh": build_lm(["我 爱 你"] * 10 + ["他爱你们"] * 5 + ["你好"] * 5 + ["我是他"] * 3,
                           root / "zh.arpa", units="chars")}


def test_word_lm_corrects_what_greedy_gets_wrong(files):
    log_probs, lengths = emissions(CAP_OR_CAT, ENGLISH), torch.tensor([len(CAP_OR_CAT)])
    assert greedy_transcripts(log_probs, lengths, ENGLISH) == ["the cap sat"]
    with_lm = BeamDecoder(ENGLISH, files["lm"], files["lexicon"])
    assert with_lm.transcripts(log_probs, lengths) == ["the cat sat"]
    assert with_lm.decode(log_probs, lengths) == [ENGLISH.encode("the cat sat")]
    assert with_lm.with_weights(0.0, 0.0).transcripts(log_probs, lengths) == ["the cap sat"]
    lexicon_only = BeamDecoder(ENGLISH, lexicon=files["lexicon"])
    assert lexicon_only.transcripts(log_probs, lengths) == ["the cap sat"]


def test_lexicon_decoding_ends_the_last_word_and_absorbs_repeats(files):
    # Letters held over several frames, no space after the last word.
    frames = [{c: 0.95} for c in "tthhee  ccaatt"] + [{"_": 0.95}] + [{c: 0.95} for c in " sat"]
    decoder = BeamDecoder(ENGLISH, files["lm"], files["lexicon"])
    assert decoder.transcripts(emissions(frames, ENGLISH), torch.tensor([len(frames)])) == \
        ["the cat sat"]


def test_character_lm_without_lexicon(files):
    frames = [{"我": 0.9}, {"_": 0.9}, {"好": 0.5, "爱": 0.45}, {"_": 0.9}, {"你": 0.9}]
    log_probs, lengths = emissions(frames, MANDARIN), torch.tensor([5])
    assert greedy_transcripts(log_probs, lengths, MANDARIN) == ["我好你"]
    assert BeamDecoder(MANDARIN, files["zh"]).transcripts(log_probs, lengths) == ["我爱你"]
    assert BeamDecoder(MANDARIN).transcripts(log_probs, lengths) == ["我好你"]


def test_beam_without_lm_equals_greedy_on_peaked_input():
    gen = torch.Generator().manual_seed(0)
    paths = [torch.randint(0, len(ENGLISH), (n,), generator=gen) for n in (40, 25, 33)]
    log_probs, lengths = pad_log_probs([torch.nn.functional.one_hot(p, len(ENGLISH)).float()
                                        .mul(8).log_softmax(-1) for p in paths])
    decoder = BeamDecoder(ENGLISH, beam_size=8)
    assert decoder.decode(log_probs, lengths) == ctc_greedy(log_probs, lengths)
    assert decoder.transcripts(log_probs, lengths) == \
        greedy_transcripts(log_probs, lengths, ENGLISH)


def test_bad_lm_and_lexicon_files_are_reported(files, tmp_path):
    with pytest.raises(CheckpointError, match="does not exist.*speechzoo lm build"):
        BeamDecoder(ENGLISH, tmp_path / "none.arpa", files["lexicon"])
    good = files["lm"].read_text()
    (tmp_path / "cut.arpa").write_text(good[:len(good) // 2])  # header and unigrams intact
    with pytest.raises(CheckpointError, match="cannot load language model.*rebuild it"):
        BeamDecoder(ENGLISH, tmp_path / "cut.arpa", files["lexicon"])
    (tmp_path / "junk.arpa").write_bytes(b"\x00\x01junk")
    with pytest.raises(CheckpointError, match="not ARPA"):
        BeamDecoder(ENGLISH, tmp_path / "junk.arpa", files["lexicon"])
    with pytest.raises(CheckpointError, match="lexicon .* does not exist"):
        BeamDecoder(ENGLISH, files["lm"], tmp_path / "none.txt")
    (tmp_path / "lex.txt").write_text("cat c a t |\ndog D O G |\n")
    with pytest.raises(CheckpointError, match=r"lex.txt:2: 'dog D O G \|'"):
        BeamDecoder(ENGLISH, files["lm"], tmp_path / "lex.txt")


def test_lm_and_lexicon_must_match(files):
    with pytest.raises(ConfigError, match="word LM.*lexicon"):
        BeamDecoder(ENGLISH, files["lm"])
    with pytest.raises(ConfigError, match="character LM"):
        BeamDecoder(MANDARIN, files["zh"], files["lexicon"])
    with pytest.raises(ConfigError, match=r"expected \(B, T, 29\)"):
        BeamDecoder(ENGLISH).decode(torch.zeros(1, 5, 8), torch.tensor([5]))


def test_decoder_json_round_trip(files, tmp_path):
    with pytest.raises(CheckpointError, match="no language model.*speechzoo lm tune"):
        BeamDecoder.from_folder(tmp_path, ENGLISH)
    save_decoder_config(tmp_path, files["lm"], files["lexicon"], beam_size=20, lm_weight=1.5,
                        word_score=0.5, meta={"tuned_on": "dev"})
    config = json.loads((tmp_path / "decoder.json").read_text())
    assert config == {"lm": "lm.arpa", "lexicon": "lexicon.txt", "beam_size": 20,
                      "lm_weight": 1.5, "word_score": 0.5, "meta": {"tuned_on": "dev"}}
    assert (tmp_path / "lm.arpa").read_text() == files["lm"].read_text()
    decoder = BeamDecoder.from_folder(tmp_path, ENGLISH, beam_size=None, lm_weight=3.0)
    assert (decoder.beam_size, decoder.lm_weight, decoder.word_score) == (20, 3.0, 0.5)
    log_probs, lengths = emissions(CAP_OR_CAT, ENGLISH), torch.tensor([len(CAP_OR_CAT)])
    assert decoder.transcripts(log_probs, lengths) == ["the cat sat"]
    with pytest.raises(ConfigError, match="unknown decoder settings"):
        BeamDecoder.from_folder(tmp_path, ENGLISH, alpha=1)
    gz = write_lexicon(["the", "cat", "cap", "sat"], ENGLISH, tmp_path / "small.txt.gz")
    save_decoder_config(tmp_path, files["lm"], gz, lm_weight=2.0)
    assert json.loads((tmp_path / "decoder.json").read_text())["lexicon"] == "lexicon.txt.gz"
    (tmp_path / "model.ckpt").touch()  # a bundle's checkpoint names its folder too
    assert BeamDecoder.from_folder(tmp_path / "model.ckpt", ENGLISH) \
        .transcripts(log_probs, lengths) == ["the cat sat"]
    (tmp_path / "lm.arpa").unlink()
    with pytest.raises(CheckpointError, match="lm.arpa does not exist"):
        BeamDecoder.from_folder(tmp_path, ENGLISH)
    (tmp_path / "decoder.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not a decoder config"):
        BeamDecoder.from_folder(tmp_path, ENGLISH)


def test_tuner_picks_the_weight_that_helps(files):
    utterances = [CAP_OR_CAT, spoken("the cat sat on the mat")]
    log_probs = [emissions(u, ENGLISH)[0] for u in utterances]
    refs = ["the cat sat", "the cat sat on the mat"]
    decoder = BeamDecoder(ENGLISH, files["lm"], files["lexicon"])
    result = tune(log_probs, refs, decoder, lm_weights=(0.0, 2.0), word_scores=(0.0,))
    assert [r["wer"] for r in result.grid] == [pytest.approx(1 / 9), 0.0]
    assert result.best["lm_weight"] == 2.0 and result.greedy["wer"] == pytest.approx(1 / 9)
    assert result.utterances == 2


def test_the_tuner_judges_mandarin_by_cer():
    class Fixed:  # hypotheses by lm_weight: 1.0 has the lower WER, 2.0 the lower CER
        tokenizer = MANDARIN
        texts = {1.0: ["我爱你", "好"], 2.0: ["我好你", "他们们"]}

        def with_weights(self, lm_weight, word_score):
            self.alpha = lm_weight
            return self

        def transcripts(self, log_probs, lengths):
            return self.texts[self.alpha]

    log_probs = [torch.zeros(3, len(MANDARIN)), torch.zeros(3, len(MANDARIN))]
    result = tune(log_probs, ["我爱你", "他们是"], Fixed(), (1.0, 2.0), (0.0,))
    assert [r["wer"] for r in result.grid] == [0.5, 1.0]
    assert result.best["lm_weight"] == 2.0  # CER 2/6 against 3/6


def test_cli_builds_attaches_and_tunes(tmp_path, capsys):
    texts = [json.loads(line)["text"] for line in (HELDOUT / "heldout.jsonl").open()]
    (tmp_path / "text.txt").write_text("\n".join(texts * 3) + "\n")
    main(["lm", "build", str(tmp_path / "text.txt"), str(tmp_path / "lm.arpa"), "--order", "2"])
    assert capsys.readouterr().out.strip() == str(tmp_path / "lm.arpa")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copy(Path(__file__).parents[2] / "pretrained" / "ds2-en" / "model.ckpt", bundle)
    main(["lm", "attach", str(bundle), str(tmp_path / "lm.arpa"), "--lm-weight", "1.0"])
    assert json.loads((bundle / "decoder.json").read_text())["lm_weight"] == 1.0
    assert capsys.readouterr().out.strip() == str(bundle / "decoder.json")
    main(["lm", "tune", "--model", str(bundle), "--lm", str(tmp_path / "lm.arpa"),
          "--manifest", str(HELDOUT / "heldout.jsonl"), "--device", "cpu", "--limit", "2",
          "--lm-weights", "0", "1.5", "--word-scores", "0", "--write"])
    out = capsys.readouterr().out
    assert out.startswith("greedy: WER") and out.count("<- best") == 1
    config = json.loads((bundle / "decoder.json").read_text())
    assert config["meta"]["utterances"] == 2 and config["lexicon"] == "lexicon.txt"
    decoder = BeamDecoder.from_folder(bundle, ENGLISH)
    assert decoder.lm_weight == config["lm_weight"] == config["meta"]["lm_weight"]
    with pytest.raises(SystemExit) as e:
        main(["lm", "tune", "--model", str(bundle), "--lm", str(tmp_path / "none.arpa"),
              "--manifest", str(HELDOUT / "heldout.jsonl")])
    assert e.value.code == 2 and "does not exist" in capsys.readouterr().err
