"""Long recordings: run in windows whose frames join into the whole recording's, in memory
that does not grow with the recording, with word times that follow the audio across windows."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jiwer
import numpy as np
import pytest
import torch

import speechzoo
from speechzoo.audio import load_audio
from speechzoo.models.deepspeech2 import DeepSpeech2
from speechzoo.pipelines.asr import SpeechRecognizer
from speechzoo.results import Word
from speechzoo.text.english import CHARACTERS
from speechzoo.text.tokenizers import CharTokenizer

HELDOUT = Path(__file__).parents[1] / "data" / "heldout"
RATE = 16000

# Peak memory added by transcribing 10 minutes with timestamps (batch_size 2, the tiny model
# below). Measured: 31 MB in windows; 296 MB with the whole file through the model at once
# (window_seconds 1e9: the script's argument) and 674 MB with the alignment in one piece
# (segment_frames 1e9), so the bound fails if either stops working.
MEMORY_BOUND_MB = 150

_MEMORY_SCRIPT = textwrap.dedent("""
    import json, resource, sys
    import numpy as np, torch
    from speechzoo.models.deepspeech2 import DeepSpeech2
    from speechzoo.pipelines.asr import SpeechRecognizer
    from speechzoo.text.english import CHARACTERS
    from speechzoo.text.tokenizers import CharTokenizer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    tok = CharTokenizer(CHARACTERS)
    asr = SpeechRecognizer(DeepSpeech2(len(tok), conv_channels=(4, 4), rnn_hidden=32,
                                       rnn_layers=1), tok)
    asr.window_seconds = float(sys.argv[1])
    rate, rng = 16000, np.random.default_rng(0)
    wav = np.empty(10 * 60 * rate, np.float32)  # tones that come and go, and noise
    for s in range(0, len(wav), rate):
        t = np.arange(s, s + rate) / rate
        tone = np.sin(2 * np.pi * (300 + 100 * (s // rate % 7)) * t) * (s // rate % 3 > 0)
        wav[s:s + rate] = 0.1 * tone + 0.01 * rng.standard_normal(rate)
    asr.transcribe(wav[:5 * rate], sample_rate=rate, timestamps=True)  # warm up
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = asr.transcribe(wav, sample_rate=rate, timestamps=True, batch_size=2)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = [t for w in out.words for t in (w.start, w.end)]
    print(json.dumps({"added_mb": (peak - before) / 1024, "words": len(out.words),
                      "times_sorted": times == sorted(times),
                      "inside": 0 <= times[0] and times[-1] <= len(wav) / rate}))
""")


def test_ten_minutes_transcribe_in_bounded_memory():
    """ru_maxrss is the process' peak, so each run has a fresh process."""
    run = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT,
                          str(SpeechRecognizer.window_seconds)], capture_output=True,
                         text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    result = json.loads(run.stdout.splitlines()[-1])
    assert result["added_mb"] < MEMORY_BOUND_MB, result
    assert result["words"] > 100 and result["times_sorted"] and result["inside"], result


def local_recognizer() -> SpeechRecognizer:
    """A DS2 without recurrence or per-utterance normalisation: each output frame depends on
    0.3 s of audio around it, so windows with enough context must give the whole's frames."""
    torch.manual_seed(0)
    tok = CharTokenizer(CHARACTERS)
    asr = SpeechRecognizer(DeepSpeech2(len(tok), rnn_layers=0, normalize=False), tok)
    asr.window_seconds, asr.context_seconds = 2.0, 0.5
    return asr


def test_windows_join_into_the_whole_recordings_frames(capsys):
    asr = local_recognizer()
    wav = np.random.default_rng(0).standard_normal(10 * RATE + 123).astype(np.float32) * 0.1
    windowed = asr.log_probs(wav, sample_rate=RATE, batch_size=3, progress=True)
    assert "s audio" in capsys.readouterr().err  # the progress bar, when asked for
    asr.window_seconds = 1e9
    whole = asr.log_probs(wav, sample_rate=RATE)
    assert windowed.shape == whole.shape == (int(asr.model.output_lengths(
        torch.tensor([len(wav)]))), len(CHARACTERS) + 1)
    torch.testing.assert_close(windowed, whole, rtol=0, atol=1e-4)
    short = asr.transcribe([wav[:RATE], wav[:2 * RATE]], sample_rate=RATE)
    assert capsys.readouterr().err == ""  # no bar off a terminal
    assert short == asr.transcribe([wav[:RATE], wav[:2 * RATE]], sample_rate=RATE,
                                   batch_size=1)


@pytest.fixture(scope="module")
def asr():
    return speechzoo.load("ds2-en", device="cpu")


def test_word_times_follow_a_repeated_utterance_across_windows(asr):
    """A held-out utterance (1.9 s, its own quiet lead and tail) said 21 times back to back
    (40 s: seven windows): its words come at the times of the utterance alone, shifted by
    each repetition's offset. (ds2-en was trained on utterances with at most 0.25 s of quiet at
    each end; long stretches of silence, digital silence above all, throw its per-utterance
    normalisation off, so the repetitions are not padded apart.)"""
    wav, _ = load_audio(HELDOUT / "test-000004.flac", RATE)  # "that killed ten people"
    alone = asr.transcribe(wav, sample_rate=RATE, timestamps=True)
    long = asr.transcribe(np.tile(wav, 21), sample_rate=RATE, timestamps=True)
    period = len(wav) / RATE
    expected = [Word(w.text, w.start + r * period, w.end + r * period)
                for r in range(21) for w in alone.words]
    chunks = jiwer.process_words(" ".join(w.text for w in expected), long.text).alignments[0]
    pairs = [(expected[c.ref_start_idx + k], long.words[c.hyp_start_idx + k])
             for c in chunks if c.type == "equal" for k in range(c.ref_end_idx - c.ref_start_idx)]
    assert len(pairs) >= 0.8 * len(expected), long.text  # 74 of 84: "peoplee" and the like
    for ref, w in pairs:
        # the last character's spike of "people" comes up to 0.13 s later when more audio
        # follows it than in the file alone
        assert abs(w.start - ref.start) <= 0.06 and abs(w.end - ref.end) <= 0.15, (w, ref)
