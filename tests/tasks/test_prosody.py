"""Deep Voice's duration and F0 model (section 3.3): its targets from F0 tracks, the model and
its CRF duration buckets, the F0 corpus, and the debug recipe trained -> exported -> loaded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import speechzoo
from speechzoo.data.corpora.f0 import prepare_f0, track_f0
from speechzoo.data.manifest import read_manifest
from speechzoo.data.prosody import phoneme_f0
from speechzoo.errors import ConfigError, DataError, TextError
from speechzoo.losses import voicing_f0_loss
from speechzoo.metrics import voicing_f0_errors
from speechzoo.models.deepvoice.prosody import DurationF0Model, duration_buckets
from speechzoo.pipelines import export
from speechzoo.tasks.recipes import make_cli
from tests.conftest import RECIPES
from tests.recipe_runs import metric_column, recipe_overrides, torch_threads


def test_phoneme_targets_from_a_known_track():
    # Phonemes of 3, 0, 3 and 1 frames: voiced at 100 Hz, nothing, 2 of 3 frames at 200 Hz,
    # unvoiced. With 3 points per phoneme of 3 frames, the points fall on the frame centres.
    f0 = np.array([100, 100, 100, 200, 0, 200, 0], np.float32)
    voiced, octaves = phoneme_f0(f0, np.array([3, 0, 3, 1]), points=3, reference_hz=100.0)
    assert voiced.tolist() == [1, 0, 1, 0]
    assert np.allclose(octaves[0], 0.0)  # 100 Hz is the reference
    assert np.allclose(octaves[2], 1.0)  # 200 Hz; the unvoiced frame between is interpolated
    with pytest.raises(DataError, match="F0 frames"):
        phoneme_f0(f0, np.array([2, 2]))
    silent_voiced, silent = phoneme_f0(np.zeros(3, np.float32), np.array([3]))
    assert silent_voiced.tolist() == [0] and not silent.any()


def test_pyin_finds_a_tone_and_leaves_silence_unvoiced():
    rate, hop = 22050, 256
    t = np.arange(rate) / rate
    wav = np.concatenate([0.5 * np.sin(2 * np.pi * 150 * t), np.zeros(rate)]).astype(np.float32)
    f0 = track_f0(wav, rate, hop, 2 * rate // hop)
    assert f0.shape == (2 * rate // hop,)
    assert np.median(f0[10:70]) == pytest.approx(150, rel=0.02)
    assert (f0[100:] == 0).all()


def test_buckets_are_log_spaced_and_label_durations():
    edges, centres = duration_buckets(12, 60)
    assert centres[0] == 0 and (torch.diff(centres) > 0).all()
    ratios = edges[1:] / edges[:-1]
    assert torch.allclose(ratios, ratios[0].expand_as(ratios))
    model = DurationF0Model(61, 16, 16, n_buckets=12, max_frames=60)
    labels = model.bucket(torch.tensor([0, 1, 7, 60, 500]))
    assert labels[0] == 0 and labels[-1] == 11 and (torch.diff(labels) >= 0).all()
    assert abs(float(model.centres[labels[2]]) - 7) / 7 < 0.3  # within its bucket


@pytest.mark.parametrize("duration", ["crf", "regression"])
def test_model_shapes_ranges_and_padding_invariance(duration):
    torch.manual_seed(0)
    model = DurationF0Model(61, 16, 16, duration=duration, n_buckets=12, max_frames=60).eval()
    tokens = torch.randint(3, 61, (2, 9))
    tokens[1, 5:] = 0
    lengths = torch.tensor([9, 5])
    out = model.predict(tokens, lengths)
    assert out["frames"].shape == (2, 9) and out["f0_hz"].shape == (2, 9, 20)
    assert ((out["voiced"] >= 0) & (out["voiced"] <= 1)).all()
    assert (out["frames"][1, 5:] == 0).all() and (out["frames"] >= 0).all()
    alone = model.predict(tokens[1:, :5], lengths[1:])
    assert torch.allclose(alone["f0_hz"][0], out["f0_hz"][1, :5], atol=1e-5)
    assert torch.equal(alone["frames"][0], out["frames"][1, :5])
    with pytest.raises(ValueError, match="duration"):
        DurationF0Model(61, duration="lstm")


def test_losses_and_metrics_on_perfect_and_wrong_predictions():
    frames = torch.tensor([[3.0, 0.0, 4.0]])
    voiced, target = torch.tensor([[1.0, 0.0, 0.0]]), torch.zeros(1, 3, 20)
    perfect = voicing_f0_loss(torch.tensor([[20.0, 0.0, -20.0]]), target, voiced, target,
                              frames, torch.tensor([3]))
    assert perfect["f0"] == 0 and perfect["f0_smoothness"] == 0 and perfect["voicing"] < 1e-6
    accuracy, cents = voicing_f0_errors(np.array([0.9, 0.9, 0.9]), np.full((3, 20), 200.0),
                                        voiced[0], target[0], frames[0])
    assert accuracy == 0.5  # the 0-frame phoneme is not scored; the third is wrong
    assert cents == pytest.approx(1200.0)  # an octave over the 100 Hz truth


def test_f0_corpus_from_a_tts_corpus(tiny_tts_corpus, tmp_path):
    out = prepare_f0(tiny_tts_corpus, tmp_path / "f0", 22050, 256)
    entries = read_manifest(out / "train.jsonl", ("durations", "f0_filepath"))
    assert len(entries) == len(read_manifest(tiny_tts_corpus / "train.jsonl"))
    track = np.load(entries[0]["f0_filepath"])
    assert len(track) == sum(entries[0]["durations"]) and track.dtype == np.float32
    assert json.loads((out / "corpus.json").read_text())["tracker"] == "librosa.pyin"
    with pytest.raises(DataError, match="no train/dev/test"):
        prepare_f0(tmp_path / "empty", tmp_path / "nothing", 22050, 256)
    assert not (tmp_path / "nothing").exists()


def test_debug_recipe_trains_exports_and_predicts(tiny_f0_corpus, tmp_path):
    with torch_threads(1):
        make_cli(RECIPES / "deepvoice_prosody_debug.yaml",
                 recipe_overrides(tiny_f0_corpus, tmp_path / "run", 12))
    losses = metric_column(tmp_path / "run", "train/loss")
    assert len(losses) == 12 and losses[-1] < losses[0]
    assert all(0 <= v <= 1 for v in metric_column(tmp_path / "run", "val/voicing_accuracy"))
    bundle = export(tmp_path / "run" / "ckpt" / "last.ckpt", tmp_path / "bundle")
    prosody = speechzoo.load(bundle.parent, device="cpu")
    out = prosody.predict("Hello there, Dr. Smith.")
    assert out.phonemes[-1] == "<end>" and len(out.durations) == len(out.phonemes)
    assert out.f0.shape == (len(out.phonemes), 20) and (out.durations >= 0).all()
    faster = prosody.predict("Hello there, Dr. Smith.", pace=2.0, pitch=2.0)
    assert np.allclose(faster.durations, out.durations / 2)
    assert np.allclose(faster.f0, out.f0 * 2)
    frame_f0 = out.frame_f0(256 / 22050)
    assert len(frame_f0) == round(out.durations.sum() / (256 / 22050))
    for bad in ("", "   "):
        with pytest.raises(TextError):
            prosody.predict(bad)
    with pytest.raises(ConfigError, match="pace"):
        prosody.predict("Hello.", pace=0.0)
