"""Deep Voice's audio synthesis model (section 3.4) and the whole pipeline (section 3): the
frame conditioning, the model's causality, padding invariance and incremental generation, and
the debug recipe trained -> exported -> loaded as ``deepvoice-en`` with the shipped G2P and
duration/F0 stages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import speechzoo
from speechzoo.data.prosody import frame_conditioning, frame_contour
from speechzoo.errors import CheckpointError, ConfigError, TextError
from speechzoo.models.deepvoice.synthesis import DeepVoiceSynthesis
from speechzoo.pipelines import export
from speechzoo.tasks.recipes import make_cli
from tests.conftest import RECIPES
from tests.recipe_runs import metric_column, recipe_overrides, torch_threads


def _tiny(**kwargs) -> DeepVoiceSynthesis:
    args = {"n_tokens": 10, "hop_length": 4, "embedding": 6, "rnn_size": 5, "cond_channels": 6,
            "layers": 4, "stacks": 2, "residual_channels": 8, "gate_channels": 8,
            "skip_channels": 8, **kwargs}
    return DeepVoiceSynthesis(**args).eval()


def test_frame_conditioning_spreads_phonemes_and_f0_over_frames():
    ends = np.array([2, 2, 6])  # 2 frames, 0 frames, 4 frames
    f0 = np.array([[100.0, 100.0], [0.0, 0.0], [200.0, 400.0]])
    ids, feats = frame_conditioning(np.array([3, 4, 5]), ends, np.array([0.0, 1.0, 1.0]), f0)
    assert ids.tolist() == [3, 3, 5, 5, 5, 5] and feats.shape == (6, 4)
    assert feats[:2, :2].tolist() == [[0, 0], [0, 0]]  # unvoiced: no F0
    assert (feats[2:, 0] == 1).all() and feats[2, 1] == pytest.approx(1.0)  # 200 Hz: 1 octave
    assert feats[5, 1] == pytest.approx(2.0)
    assert np.allclose(feats[2:, 2], [0.125, 0.375, 0.625, 0.875])  # frame centres
    assert np.allclose(feats[:, 3], np.log1p([2, 2, 4, 4, 4, 4]) / 4)
    assert np.allclose(frame_contour(ends, [0.0, 1.0, 1.0], f0)[2:], [200, 250, 350, 400])


def test_model_is_causal_padding_invariant_and_generates_incrementally():
    torch.manual_seed(0)
    model = _tiny()
    tokens = torch.randint(3, 10, (2, 5))
    feats = torch.randn(2, 5, 4)
    lengths = torch.tensor([5, 3])
    cond = model.condition(tokens, feats, lengths)
    assert cond.shape == (2, 6, 5)
    alone = model.condition(tokens[1:, :3], feats[1:, :3], lengths[1:])
    assert torch.allclose(cond[1:, :, :3], alone, atol=1e-6)
    audio = torch.rand(2, 20) * 2 - 1
    params = model(audio, cond)
    assert params.shape == (2, 256, 20)
    changed = audio.clone()
    changed[:, 12:] = 0.3
    assert torch.allclose(model(changed, cond)[..., :13], params[..., :13], atol=1e-5)
    lp = model.log_prob(params, audio)
    assert lp.shape == (2, 20) and (lp < 0).all()
    fast = model.generate(cond, torch.Generator().manual_seed(1))
    slow = model.generate(cond, torch.Generator().manual_seed(1), naive=True)
    assert fast.shape == (2, 20) and torch.allclose(fast, slow, atol=1e-5)
    assert fast.abs().max() <= 1


@pytest.fixture(scope="module")
def deepvoice_bundle(tiny_f0_corpus, tmp_path_factory):
    """The debug recipe trained 12 steps, exported with the shipped G2P and duration/F0 stages."""
    run = tmp_path_factory.mktemp("dvs")
    with torch_threads(1):
        make_cli(RECIPES / "deepvoice_synthesis_debug.yaml",
                 recipe_overrides(tiny_f0_corpus, run / "run", 12))
    losses = metric_column(run / "run", "train/nll")
    assert len(losses) == 12 and losses[-1] < losses[0]
    assert any((run / "run").glob("logs/version_*/samples/*.wav"))
    return export(run / "run" / "ckpt" / "last.ckpt", run / "bundle").parent


def test_pipeline_speaks_out_of_dictionary_words_with_pace_and_pitch(deepvoice_bundle):
    tts = speechzoo.load(deepvoice_bundle, device="cpu")
    text = "The zorblaxian flimbertots sang. Hello!"
    sentences = tts.phonemes(text)
    assert len(sentences) == 2
    assert "".join(sentences[0]) != "".join(speechzoo.pipelines.tts.sentence_phonemes(text)[0])
    with torch_threads(1):
        audio, alignment = tts.synthesize(text, alignment=True)
        again = tts.synthesize(text)
        fast = tts.synthesize(text, pace=2.0, pitch=1.5)
    frames = sum(len(w) for w in alignment.weights)
    assert len(audio.waveform) == frames * 256 and audio.sample_rate == 22050
    assert np.isfinite(audio.waveform).all() and np.abs(audio.waveform).max() <= 1
    assert np.array_equal(audio.waveform, again.waveform)  # the seed fixes the draw
    assert len(fast.waveform) < 0.7 * len(audio.waveform)
    for weights, durations in zip(alignment.weights, alignment.durations, strict=True):
        assert np.allclose(weights.sum(1), 1) and weights.shape[1] == len(durations)
        assert (np.diff(weights.argmax(1)) >= 0).all()  # the alignment only moves forward
    for bad in ("", "   ", "...", "日本語"):
        with pytest.raises(TextError):
            tts.synthesize(bad)
    with pytest.raises(ConfigError, match="pitch"):
        tts.synthesize("Hello.", pitch=10.0)
    with pytest.raises(ConfigError, match="vocoder"):
        speechzoo.load(deepvoice_bundle, device="cpu", vocoder="griffin-lim")


def test_bundle_naming_a_missing_stage_is_a_clear_error(deepvoice_bundle, tmp_path):
    ckpt = torch.load(deepvoice_bundle / "model.ckpt", weights_only=True)
    ckpt["speechzoo"]["frontend"]["stages"]["prosody"] = str(tmp_path / "nowhere")
    (tmp_path / "b").mkdir()
    torch.save(ckpt, tmp_path / "b" / "model.ckpt")
    with pytest.raises(CheckpointError, match="names a stage"):
        speechzoo.load(tmp_path / "b", device="cpu")


def test_synthesize_command_takes_pitch_for_deep_voice_only(deepvoice_bundle, tmp_path, capsys):
    from speechzoo.cli import main

    out, plot = tmp_path / "dv.wav", tmp_path / "align.png"
    with torch_threads(1):
        main(["synthesize", "--model", str(deepvoice_bundle), "--pitch", "1.2", "Hi there.",
              "-o", str(out), "--plot", str(plot)])
    assert "1 sentence(s)" in capsys.readouterr().out
    assert out.stat().st_size > 1000 and plot.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit) as stop:
        main(["synthesize", "--model", "nat-en", "--pitch", "1.2", "Hi.", "-o",
              str(tmp_path / "no.wav")])
    assert stop.value.code == 2 and "cannot shift its pitch" in capsys.readouterr().err
    assert not (tmp_path / "no.wav").exists()
