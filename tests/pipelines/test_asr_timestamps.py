"""Word timestamps from the CTC alignment, beam-decoder wiring, and the CLI's --timestamps."""

import json
import sys
import types
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch

import speechzoo
from speechzoo.audio import load_audio
from speechzoo.checkpoints import find_bundle
from speechzoo.cli import main
from speechzoo.decoding.ctc import align, ctc_greedy, word_spans
from speechzoo.errors import CheckpointError, ConfigError, SpeechZooError
from speechzoo.models.deepspeech2 import DeepSpeech2
from speechzoo.pipelines.asr import SpeechRecognizer
from speechzoo.results import Transcript, Word
from speechzoo.text.english import CHARACTERS
from speechzoo.text.tokenizers import CharTokenizer

HELDOUT = Path(__file__).parents[1] / "data" / "heldout"
FILES = [str(p) for p in sorted(HELDOUT.glob("*.flac"))]
RATE = 16000


class Spelling(torch.nn.Module):
    """A stand-in acoustic model whose frame j is (almost surely) token ``path[j]``: 20 ms
    frames (320 samples) centred on 20 j + 10 ms."""

    sample_rate, frame_seconds = RATE, 0.02

    def __init__(self, path: list[int], classes: int) -> None:
        super().__init__()
        probs = torch.nn.functional.one_hot(torch.tensor(path), classes) * 0.9 + 0.1 / classes
        self.register_buffer("log_probs", probs.log())

    def output_lengths(self, samples: torch.Tensor) -> torch.Tensor:
        return samples // 320

    def frame_centre(self, frame):
        return frame * 0.02 + 0.01

    def forward(self, waveforms, lengths):
        n = self.output_lengths(lengths)
        return self.log_probs[: int(n.max())].expand(len(waveforms), -1, -1), n


def spelling(tokenizer: CharTokenizer, pieces: list[tuple[str, int]]) -> SpeechRecognizer:
    """A recogniser whose model says each (text, frames) piece: the text's tokens one frame
    each, then blanks to fill ``frames``."""
    path = []
    for text, frames in pieces:
        ids = tokenizer.encode(text)
        path += ids + [0] * (frames - len(ids))
    return SpeechRecognizer(Spelling(path, len(tokenizer)), tokenizer)


@pytest.fixture(scope="module")
def asr():
    return speechzoo.load("ds2-en", device="cpu")


def assert_well_formed(result: Transcript, duration: float) -> None:
    assert " ".join(w.text for w in result.words) == result.text
    times = [t for w in result.words for t in (w.start, w.end)]
    assert times == sorted(times), result.words  # monotonic, words do not overlap
    assert all(0 <= t <= duration for t in times) and all(w.end > w.start for w in result.words)


def test_times_come_from_the_frames_each_token_occupies():
    tok = CharTokenizer(CHARACTERS)
    asr = spelling(tok, [("", 5), ("hi", 10), (" ", 3), ("yo", 7)])
    result = asr.transcribe(np.zeros(25 * 320, np.float32), sample_rate=RATE, timestamps=True)
    # 'h' in frame 5, 'i' in frame 6: 100 ms to 140 ms; ' ' in 15; 'y', 'o' in 18, 19
    assert result == Transcript("hi yo", [Word("hi", 0.1, 0.14), Word("yo", 0.36, 0.4)])


def test_characters_are_words_without_a_space_token():
    tok = CharTokenizer("你好世界")
    asr = spelling(tok, [("", 3), ("你", 4), ("好世", 5)])
    result = asr.transcribe(np.zeros(12 * 320, np.float32), sample_rate=RATE, timestamps=True)
    assert result.text == "你好世"
    assert result.words == [Word("你", 0.06, 0.08), Word("好", 0.14, 0.16),
                            Word("世", 0.16, 0.18)]


def test_frame_centre_is_where_a_frame_looks():
    """An impulse at sample s changes the outputs of a window of frames of a local DS2 (no
    recurrence, no per-utterance normalisation) centred on s."""
    torch.manual_seed(0)
    model = DeepSpeech2(rnn_layers=0, normalize=False).eval()
    wav = torch.randn(1, RATE) * 0.01
    bumped = wav.clone()
    sample = 8003
    bumped[0, sample] += 1.0
    with torch.inference_mode():
        a, _ = model(wav, torch.tensor([RATE]))
        b, _ = model(bumped, torch.tensor([RATE]))
    changed = ((a - b).abs().amax(-1)[0] > 1e-5).nonzero().flatten()
    middle = (model.frame_centre(changed[0].item()) + model.frame_centre(changed[-1].item())) / 2
    assert model.frame_seconds == 0.02
    assert abs(middle - sample / RATE) <= model.frame_seconds / 2


def test_ds2_en_timestamps_are_well_formed(asr):
    results = asr.transcribe(FILES, timestamps=True)
    assert [r.text for r in results] == asr.transcribe(FILES)
    for path, result in zip(FILES, results, strict=True):
        wav, rate = load_audio(path)
        assert_well_formed(result, len(wav) / rate)
    single = asr.transcribe(FILES[0], timestamps=True)
    assert isinstance(single, Transcript) and single == results[0]


def test_segmented_alignment_equals_the_whole_for_the_best_path():
    """Long recordings are aligned in segments; for the best path's own tokens that gives the
    alignment in one piece, and other ids (a beam's) are still aligned in order."""
    torch.manual_seed(0)
    path = torch.randint(0, 6, (2000,))
    path[torch.rand(2000) < 0.6] = 0  # mostly blanks, as CTC outputs are
    log_probs = (torch.nn.functional.one_hot(path, 6) * 4 + torch.randn(2000, 6)).log_softmax(-1)
    ids = ctc_greedy(log_probs[None], torch.tensor([2000]))[0]
    whole = align(log_probs, ids, segment_frames=10_000)
    assert align(log_probs, ids, segment_frames=300) == whole
    assert [s.token for s in whole] == ids
    other = ids[:100] + [5, 5] + ids[103:]  # a substitution and an insertion
    spans = align(log_probs, other, segment_frames=300)
    assert [s.token for s in spans] == other
    assert all(a.end <= b.start for a, b in pairwise(spans))


def test_word_spans_split_at_the_separator():
    tok = CharTokenizer(CHARACTERS)
    spans = align(spelling(tok, [("ab", 4), ("  ", 2), ("c", 3)]).model.log_probs,
                  tok.encode("ab c"))
    assert [[s.token for s in w] for w in word_spans(spans, tok.encode(" ")[0])] == [
        tok.encode("ab"), tok.encode("c")]
    assert len(word_spans(spans, None)) == 4


class FakeBeam:
    """Stands in for speechzoo.decoding.beam.BeamDecoder: records how it was made, returns
    fixed ids."""

    made: list = []

    def __init__(self, ids):
        self.ids = ids

    @classmethod
    def from_folder(cls, folder, tokenizer, **overrides):
        cls.made.append((folder, overrides))
        return cls(tokenizer.encode("hi yo"))

    def decode(self, log_probs, lengths):
        return [self.ids] * len(log_probs)


def test_beam_decoder_is_made_once_from_the_bundle_folder(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "speechzoo.decoding.beam",
                        types.SimpleNamespace(BeamDecoder=FakeBeam))
    FakeBeam.made = []
    tok = CharTokenizer(CHARACTERS)
    asr = spelling(tok, [("", 5), ("hi", 10), (" ", 3), ("go", 7)])
    asr.folder = tmp_path
    wav = np.zeros(25 * 320, np.float32)
    assert asr.transcribe(wav, sample_rate=RATE) == "hi go"
    result = asr.transcribe(wav, sample_rate=RATE, decoder="beam", beam_size=4, timestamps=True)
    assert result.text == "hi yo" and [w.text for w in result.words] == ["hi", "yo"]
    assert_well_formed(result, 0.5)
    assert asr.transcribe([wav, wav], sample_rate=RATE, decoder="beam", beam_size=4) == [
        "hi yo", "hi yo"]
    assert FakeBeam.made == [(tmp_path, {"beam_size": 4})]  # cached
    asr.transcribe(wav, sample_rate=RATE, decoder="beam", lm_weight=0.5)
    assert FakeBeam.made[-1] == (tmp_path, {"lm_weight": 0.5})


def test_bundle_folder_is_kept_for_the_beam_decoder(asr, tmp_path):
    assert asr.folder == Path(find_bundle("ds2-en")).parent
    (tmp_path / "last.ckpt").write_bytes(Path(asr.folder, "model.ckpt").read_bytes())
    bare = speechzoo.load(tmp_path / "last.ckpt", device="cpu")
    assert bare.folder is None
    with pytest.raises(CheckpointError, match="decoder.json.*speechzoo export"):
        bare.transcribe(FILES[0], decoder="beam")


def test_beam_on_a_bundle_without_a_language_model(tmp_path):
    pytest.importorskip("speechzoo.decoding.beam")
    (tmp_path / "model.ckpt").write_bytes(
        find_bundle("ds2-en").read_bytes())
    asr = speechzoo.load(tmp_path, device="cpu")
    assert asr.folder == tmp_path
    with pytest.raises(SpeechZooError):
        asr.transcribe(FILES[0], decoder="beam")


def test_decoder_options_are_checked(asr):
    with pytest.raises(ConfigError, match="unknown decoder 'viterbi'"):
        asr.transcribe(FILES[0], decoder="viterbi")
    with pytest.raises(ConfigError, match="beam_size, lm_weight only apply to decoder='beam'"):
        asr.transcribe(FILES[0], beam_size=3, lm_weight=1.0)


def test_cli_timestamps_in_every_format(asr, capsys):
    expected = asr.transcribe(FILES[:2], timestamps=True)
    main(["transcribe", "--timestamps", "--format", "jsonl", *FILES[:2]])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{"audio_filepath": f, "text": t.text,
                     "words": [{"text": w.text, "start": w.start, "end": w.end}
                               for w in t.words]} for f, t in zip(FILES[:2], expected, strict=True)]
    main(["transcribe", "--timestamps", *FILES[:2]])  # tsv: FILE START END WORD per word
    assert capsys.readouterr().out.splitlines() == [
        f"{f}\t{w.start:.3f}\t{w.end:.3f}\t{w.text}"
        for f, t in zip(FILES[:2], expected, strict=True) for w in t.words]
    main(["transcribe", "--timestamps", FILES[0]])  # text: START END WORD per word
    assert capsys.readouterr().out.splitlines() == [
        f"{w.start:.3f} {w.end:.3f} {w.text}" for w in expected[0].words]


def test_cli_beam_without_a_language_model_exits_2(tmp_path, capsys):
    (tmp_path / "last.ckpt").write_bytes(
        find_bundle("ds2-en").read_bytes())
    for command in (["transcribe", FILES[0]], ["evaluate", str(HELDOUT / "heldout.jsonl")]):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--model", str(tmp_path / "last.ckpt"), "--decoder", "beam",
                  "--beam-size", "8"])
        assert exit_info.value.code == 2
        assert "decoder.json" in capsys.readouterr().err
