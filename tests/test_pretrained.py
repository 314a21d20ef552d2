"""The shipped ds2-en bundle transcribes held-out utterances: test-split sentences never seen
in training, two spoken by seen voices and two by voice variants never heard in training
(tests/data/heldout, picked by rule: the first such test utterances under 4 s)."""

from pathlib import Path

import pytest

import speechzoo
from speechzoo.audio import load_audio
from speechzoo.data.manifest import read_manifest
from speechzoo.metrics import cer, wer

HELDOUT = read_manifest(Path(__file__).parent / "data" / "heldout" / "heldout.jsonl")
# The shipped model (about 7 hours of training) scores CER 0.06 / WER 0.29 on these four (a
# predecessor 0.04 / 0.23, though worse on the whole test split), a 40-minute model scored
# 0.14 / 0.58 and an untrained one CER ~1, so the bounds catch a broken or regressed bundle.
# Tighten them as the bundle improves.
CER_MAX, WER_MAX = 0.1, 0.35
# deepvoice-segmentation-en finds nat-en's boundaries to a median 38 ms below (its own test
# median: 34 ms); an epoch-0 model was about 100 ms off.
MEDIAN_BOUNDARY_MAX_S = 0.06


@pytest.fixture(scope="module")
def asr():
    return speechzoo.load("ds2-en")


def test_bundle_is_listed():
    assert "ds2-en" in speechzoo.available_models()


def test_transcribes_held_out_utterances(asr):
    refs = [e["text"] for e in HELDOUT]
    hyps = asr.transcribe([e["audio_filepath"] for e in HELDOUT])
    assert cer(refs, hyps) < CER_MAX, list(zip(refs, hyps, strict=True))
    assert wer(refs, hyps) < WER_MAX, list(zip(refs, hyps, strict=True))


AN4 = Path("/work/shared/data/an4")
# ds2-en-voices scores WER 0.28 on the first 30 utterances of AN4's held-out speakers (0.15 on
# all 102); ds2-en, which heard eSpeak only, 1.01.
AN4_WER_MAX = 0.45


@pytest.mark.skipif(not (AN4 / "etc").is_dir(), reason="no local AN4 copy")
def test_ds2_en_voices_hears_recorded_speech_of_held_out_speakers(tmp_path):
    """AN4's held-out dev speakers (recorded, never trained on): the first 30 utterances."""
    from speechzoo.data.corpora.an4 import prepare_an4

    dev = read_manifest(prepare_an4(AN4, tmp_path)["dev"])[:30]
    refs = [e["text"] for e in dev]
    hyps = speechzoo.load("ds2-en-voices").transcribe([e["audio_filepath"] for e in dev])
    assert wer(refs, hyps) < AN4_WER_MAX, list(zip(refs, hyps, strict=True))


def test_waveform_input_matches_file_input(asr):
    import soundfile as sf

    entry = HELDOUT[0]
    wav, rate = sf.read(entry["audio_filepath"], dtype="float32")
    assert asr.transcribe(wav, sample_rate=rate) == asr.transcribe(entry["audio_filepath"])


def test_beam_search_with_the_bundled_lm_is_no_worse(asr):
    refs = [e["text"] for e in HELDOUT]
    greedy = asr.transcribe([e["audio_filepath"] for e in HELDOUT])
    beam = asr.transcribe([e["audio_filepath"] for e in HELDOUT], decoder="beam", beam_size=50)
    assert wer(refs, beam) <= wer(refs, greedy), list(zip(refs, beam, strict=True))


HELDOUT_ZH = read_manifest(Path(__file__).parent / "data" / "heldout-zh" / "heldout.jsonl")
# synth-zh test sentences, two in seen and two in held-out voices (the first of each under
# 3 s). The shipped ds2-zh scores CER 0.06 on them with beam + LM (0.28 greedy), an untrained
# model ~1: the bound catches a broken bundle or LM.
ZH_CER_MAX = 0.3


def test_mandarin_bundle_writes_characters():
    zh = speechzoo.load("ds2-zh")
    refs = [e["text"] for e in HELDOUT_ZH]
    hyps = zh.transcribe([e["audio_filepath"] for e in HELDOUT_ZH], decoder="beam")
    assert cer(refs, hyps) < ZH_CER_MAX, list(zip(refs, hyps, strict=True))
    words = zh.transcribe(HELDOUT_ZH[0]["audio_filepath"], timestamps=True).words
    assert all(len(w.text) == 1 for w in words)  # one "word" per character


# The shipped ds2-en-streaming scores CER 0.13 on HELDOUT, an untrained model ~1.
STREAMING_CER_MAX = 0.3


def test_streaming_bundle_streams_what_it_transcribes():
    live = speechzoo.load("ds2-en-streaming")
    refs = [e["text"] for e in HELDOUT]
    hyps = []
    for entry in HELDOUT:
        wav, _ = load_audio(entry["audio_filepath"], live.sample_rate)
        stream = live.stream()
        for start in range(0, len(wav), 3200):  # 200 ms chunks
            stream.push(wav[start:start + 3200])
        hyps.append(stream.finish())
        assert hyps[-1] == live.transcribe(entry["audio_filepath"])
    assert cer(refs, hyps) < STREAMING_CER_MAX, list(zip(refs, hyps, strict=True))


def test_pruned_bundle_is_sparse_and_runs_the_same_through_sparse_kernels():
    from speechzoo.training.sparsity import sparsity_of

    dense = speechzoo.load("ds2-en-sparse90")
    sparse = speechzoo.load("ds2-en-sparse90", sparse=True)
    for name, p in dense.model.named_parameters():
        if name.startswith("rnns.") and name.endswith(("recurrent", "input.weight")):
            assert sparsity_of(p) == pytest.approx(0.9, abs=0.005), name
    refs = [e["text"] for e in HELDOUT]
    hyps = [dense.transcribe(e["audio_filepath"]) for e in HELDOUT]
    assert [sparse.transcribe(e["audio_filepath"]) for e in HELDOUT] == hyps
    # 90% pruned in 400 steps it recognises far less than ds2-en (CER 0.26 here; an untrained
    # model ~1): the bound catches a broken bundle, not a weak one (see its card)
    assert cer(refs, hyps) < 0.4, list(zip(refs, hyps, strict=True))


@pytest.mark.parametrize("name", ["nat-en", "nat-en-unsupervised"])
def test_tts_bundles_speak(name):
    import numpy as np

    assert speechzoo.available_models()[name] == "tts"
    tts = speechzoo.load(name, device="cpu")
    audio, alignment = tts.synthesize("The weather is nice today.", alignment=True)
    assert audio.sample_rate == 22050 and 0.8 < audio.duration < 4.0
    assert np.isfinite(audio.waveform).all() and np.sqrt(np.mean(audio.waveform ** 2)) > 1e-3
    seconds = alignment.durations[0]  # per phoneme: they vary and add up to the audio
    assert seconds.std() > 0.01 and abs(seconds.sum() - audio.duration) < 0.02
    fast = tts.synthesize("The weather is nice today.", pace=2.0)
    assert abs(fast.duration / audio.duration - 0.5) < 0.05


@pytest.mark.parametrize("name", ["wavenet-en", "parallel-wavenet-en"])
def test_vocoder_bundles_follow_the_mel(name):
    """Neither vocoder is intelligible yet (their cards), but their loudness follows the
    mel's frame by frame: measured 0.5-0.8 on real speech, about 0 for an untrained one."""
    import numpy as np
    import torch

    from speechzoo.features import TTS_MEL, TTS_PAD, Spectrogram

    assert speechzoo.available_models()[name] == "vocoder"
    wav = load_audio(Path(__file__).parent / "data" / "heldout" / HELDOUT[0]["audio_filepath"],
                     22050)[0]
    x = torch.from_numpy(np.pad(wav, TTS_PAD))[None]
    mel = Spectrogram(**TTS_MEL)(x, torch.tensor([x.shape[1]]))[0][0, :, :40]
    out = speechzoo.load(name).vocode(mel).waveform
    assert out.shape == (40 * 256,) and np.abs(out).max() <= 1.0
    loudness = np.log((out.reshape(40, 256) ** 2).mean(1) + 1e-8)
    assert np.corrcoef(loudness, mel.exp().sum(0).log().numpy())[0, 1] > 0.3


@pytest.fixture(scope="module")
def nat_speech():
    """A sentence nat-en speaks (Griffin-Lim), with its own phonemes and durations: a voice
    like Piper's joe that neither Deep Voice stage below was trained on."""
    tts = speechzoo.load("nat-en", device="cpu")
    audio, alignment = tts.synthesize("The weather is nice today, isn't it?", alignment=True)
    return audio, alignment.phonemes[0], alignment.durations[0]


def test_prosody_bundle_predicts_durations_and_pitch_like_nat(nat_speech):
    import numpy as np

    assert speechzoo.available_models()["deepvoice-prosody-en"] == "prosody"
    _, phonemes, nat_seconds = nat_speech
    out = speechzoo.load("deepvoice-prosody-en", device="cpu").predict(phonemes=phonemes[:-1])
    assert len(out.durations) == len(nat_seconds)
    # Both learned joe's durations: per phoneme they agree to within tens of ms.
    assert np.abs(out.durations - nat_seconds).mean() < 0.03
    voiced = out.voiced > 0.5
    assert 0.2 < voiced.mean() < 0.8
    assert 60 < np.median(out.f0[voiced]) < 160  # joe speaks around 90 Hz


def test_segmentation_bundle_finds_nat_boundaries(nat_speech):
    import numpy as np

    assert speechzoo.available_models()["deepvoice-segmentation-en"] == "segmentation"
    audio, phonemes, nat_seconds = nat_speech
    segments = speechzoo.load("deepvoice-segmentation-en", device="cpu").align(
        audio.waveform, phonemes=phonemes[:-1], sample_rate=audio.sample_rate)
    starts = np.array([s.start for s in segments[1:]])
    truth = np.cumsum(nat_seconds)[:-2]  # where phonemes 2.. begin in nat-en's alignment
    assert np.median(np.abs(starts - truth)) < MEDIAN_BOUNDARY_MAX_S


def test_deepvoice_bundle_speaks_through_its_stages():
    import numpy as np

    assert speechzoo.available_models()["deepvoice-en"] == "deepvoice"
    dv = speechzoo.load("deepvoice-en", device="cpu")
    text = "The flimbertots sang, then left."
    audio, alignment = dv.synthesize(text, alignment=True)
    frames = len(alignment.weights[0])
    assert len(audio.waveform) == frames * 256 and frames > 50
    assert np.isfinite(audio.waveform).all() and audio.waveform.std() > 1e-3
    assert np.array_equal(audio.waveform, dv.synthesize(text).waveform)
    # the G2P stage read the word CMUdict lacks; eSpeak alone reads it otherwise
    from speechzoo.pipelines.tts import sentence_phonemes

    assert dv.phonemes(text) != sentence_phonemes(text)
