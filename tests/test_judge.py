"""The PocketSphinx judge transcribes eSpeak speech, times its words, and hears no words in
silence."""

import sys

import numpy as np
import pytest

from speechzoo.errors import ConfigError
from speechzoo.judge import Judge, normalize_text
from speechzoo.text.espeak import SAMPLE_RATE as SR_ESPEAK
from speechzoo.text.espeak import synthesize

# Sentences that the judge transcribed without error in 24 of 24 syntheses (the first three)
# and 5 of 6 (the park: one word wrong once). eSpeak's waveforms vary a little from call to
# call within a process, and the judge's transcripts with them, so the bound leaves room.
# They are written as the judge writes words: punctuation changes eSpeak's prosody, and with
# it the transcripts.
SENTENCES = ["i would like a cup of coffee", "can you help me find my keys", "i like to read books",
             "we went to the park on sunday"]


@pytest.fixture(scope="module")
def judge():
    pytest.importorskip("pocketsphinx")
    return Judge()


def test_normalize_text():
    assert normalize_text("  Hello, World!  It's   me.") == "hello world it's me"


def test_missing_pocketsphinx_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)  # makes the import fail
    with pytest.raises(ConfigError, match=r"pip install speechzoo\[tts\]"):
        Judge()


def test_espeak_sentences_are_transcribed(judge):
    syntheses = [synthesize(s) for s in SENTENCES]
    assert judge.wer(SENTENCES, [s.waveform for s in syntheses], syntheses[0].sample_rate) < 0.25


def test_transcripts_do_not_depend_on_what_was_decoded_before(judge):
    a, b = (synthesize(s) for s in SENTENCES[:2])
    first = judge.transcribe(a.waveform, a.sample_rate)
    judge.transcribe(b.waveform, b.sample_rate)
    assert judge.transcribe(a.waveform, a.sample_rate) == first


def test_words_are_ordered_disjoint_and_inside_the_audio(judge):
    speech = synthesize(SENTENCES[0])
    duration = len(speech.waveform) / speech.sample_rate
    words = judge.words(speech.waveform, speech.sample_rate)
    assert len(words) >= 5
    assert " ".join(w for w, _, _ in words) == judge.transcribe(speech.waveform, SR_ESPEAK)
    for (_, start, end), (_, next_start, _) in zip(words, words[1:], strict=False):
        assert start < end <= next_start
    assert words[0][1] >= 0 and words[-1][2] <= duration
    assert not any(w.startswith(("<", "[")) or "(" in w for w, _, _ in words)


def test_silence_has_no_words(judge):
    assert judge.transcribe(np.zeros(16000, np.float32), 16000) == ""
    assert judge.words(np.zeros(22050, np.float32), 22050) == []


def test_robustness_of_clean_speech_and_of_a_long_pause(judge):
    speech = synthesize(SENTENCES[0]).waveform
    pause = np.zeros(2 * SR_ESPEAK, np.float32)
    scores = judge.robustness(SENTENCES[:1] * 2, [speech, np.concatenate([speech, pause])],
                              SR_ESPEAK)
    assert scores["wer"] < 0.3 and scores["wdr"] < 0.3
    total = (2 * len(speech) + len(pause)) / SR_ESPEAK
    assert scores["udr"] == pytest.approx(2.0 / total, abs=0.1 / total)
