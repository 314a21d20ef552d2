"""Bad input gets a clear SpeechZooError that says what to do."""

import numpy as np
import pytest
import soundfile as sf
import torch

import speechzoo
from speechzoo.audio import load_audio
from speechzoo.cli import main
from speechzoo.errors import AudioError, CheckpointError, DataError
from speechzoo.models.deepspeech2 import DeepSpeech2
from speechzoo.pipelines.asr import SpeechRecognizer
from speechzoo.text.english import CHARACTERS
from speechzoo.text.tokenizers import CharTokenizer


@pytest.fixture
def asr():
    model = DeepSpeech2(conv_channels=(2,), conv_kernels=((11, 5),), conv_strides=((4, 2),),
                        rnn_hidden=8, rnn_layers=1)
    return SpeechRecognizer(model, CharTokenizer(CHARACTERS))


def test_missing_corrupt_and_empty_audio(tmp_path, asr):
    with pytest.raises(AudioError, match="does not exist"):
        asr.transcribe(tmp_path / "nope.wav")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00garbage" * 10)
    with pytest.raises(AudioError, match="could not decode.*convert it"):
        load_audio(corrupt)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="no audio samples"):
        asr.transcribe(empty)
    with pytest.raises(AudioError, match="sample_rate"):
        asr.transcribe(np.zeros(16000, np.float32))
    with pytest.raises(AudioError, match="NaN"):
        asr.transcribe(np.full(16000, np.nan, np.float32), sample_rate=16000)


def test_any_rate_and_channel_layout(tmp_path, asr):
    rng = np.random.default_rng(0)
    mono = rng.standard_normal(16000).astype(np.float32) * 0.1
    expected = asr.transcribe(mono, sample_rate=16000)
    stereo = np.stack([mono, mono])
    assert asr.transcribe(stereo, sample_rate=16000) == expected
    assert asr.transcribe(torch.from_numpy(stereo.T.copy()), sample_rate=16000) == expected
    sf.write(tmp_path / "a.wav", np.stack([mono, mono], 1), 16000)
    assert asr.transcribe(tmp_path / "a.wav") == expected
    odd = tmp_path / "odd.wav"
    wav = rng.standard_normal(11025).astype(np.float32) * 0.1
    sf.write(odd, wav, 11025, subtype="FLOAT")
    # a file at another rate is resampled to the model's, exactly as a waveform is
    model_input = []
    asr.model.register_forward_pre_hook(lambda module, args: model_input.append(args[0]))
    asr.transcribe(odd)
    asr.transcribe(wav, sample_rate=11025)
    assert model_input[0].shape == (1, 16000)
    torch.testing.assert_close(model_input[0], model_input[1])


def test_truncated_and_foreign_checkpoints(tmp_path):
    path = tmp_path / "model.ckpt"
    torch.save({"speechzoo": {}, "state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="not a speechzoo checkpoint"):
        speechzoo.load(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        speechzoo.load(path)
    with pytest.raises(CheckpointError, match="not a bundle name"):
        speechzoo.load("no-such-model")


def test_cli_reports_errors_cleanly(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["transcribe", "--model", "no-such-model", str(tmp_path / "a.wav")])
    assert exit_info.value.code == 2
    assert "speechzoo: error: no model 'no-such-model'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", str(tmp_path / "missing.yaml")])
    assert "does not exist" in capsys.readouterr().err


def test_manifest_errors(tmp_path):
    from speechzoo.data.manifest import read_manifest

    bad = tmp_path / "m.jsonl"
    bad.write_text('{"audio_filepath": "a.wav", "duration": 1}\n{not json\n')
    with pytest.raises(DataError, match=r"m.jsonl:2: not valid JSON"):
        read_manifest(bad)
    bad.write_text('{"audio_filepath": "a.wav"}\n')
    with pytest.raises(DataError, match="missing field"):
        read_manifest(bad)


def test_atomic_write_leaves_nothing_behind_on_error(tmp_path):
    from speechzoo.files import atomic_path

    target = tmp_path / "model.ckpt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and target.stat().st_mode & 0o044  # readable by others
