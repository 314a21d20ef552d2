"""Shared fixtures: a tiny synth-en corpus generated once per test session."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _ctrl_c_restored():
    """Each test starts with the Ctrl-C handler it found: Lightning, after it handles an
    interrupt, leaves SIGINT ignored (it ignores repeats while it shuts down and never
    restores the handler), and a later test's Ctrl-C would then do nothing."""
    before = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """8 training, 2 dev and 2 test utterances of the embedded corpus (real text only)."""
    from speechzoo.data.corpora.synth_en import prepare_synth_en

    out = tmp_path_factory.mktemp("corpus") / "synth-en"
    return prepare_synth_en(out, seed=3, train_size=8, dev_size=2, test_size=2, markov=0,
                            workers=1)


FAKE_PIPER = Path(__file__).parent / "data" / "fake_piper"


def use_fake_piper(mp: pytest.MonkeyPatch) -> None:
    """Piper's server replaced by tests/data/fake_piper (same HTTP API), run by this Python."""
    import os
    import sys

    mp.setenv("PYTHONPATH", os.pathsep.join([str(FAKE_PIPER), os.environ.get("PYTHONPATH", "")]))
    mp.setenv("SPEECHZOO_PIPER_PYTHON", sys.executable)


@pytest.fixture
def fake_piper(monkeypatch):
    use_fake_piper(monkeypatch)


@pytest.fixture(scope="session")
def tiny_tts_corpus(tmp_path_factory) -> Path:
    """A synth-tts-en of 8 training, 2 dev and 2 test sentences spoken by the fake Piper."""
    from speechzoo.data.corpora.synth_tts_en import prepare_synth_tts_en

    with pytest.MonkeyPatch.context() as mp:
        use_fake_piper(mp)
        out = tmp_path_factory.mktemp("tts") / "synth-tts-en"
        return prepare_synth_tts_en(out, seed=1, markov=0, dev_size=2, test_size=2,
                                    train_size=8, workers=1)


@pytest.fixture(scope="session")
def tiny_f0_corpus(tiny_tts_corpus, tmp_path_factory) -> Path:
    """tiny_tts_corpus with its pyin F0 tracks (a synth-tts-en-f0)."""
    from speechzoo.data.corpora.f0 import prepare_f0

    return prepare_f0(tiny_tts_corpus, tmp_path_factory.mktemp("f0") / "synth-tts-en-f0",
                      22050, 256)


RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@pytest.fixture(scope="module")
def one_thread():
    """A module's tests on one torch thread (``tests.recipe_runs.torch_threads``); use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    from tests.recipe_runs import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def wavenet_run(tiny_tts_corpus, tmp_path_factory) -> Path:
    """wavenet_debug.yaml trained 30 steps on tiny_tts_corpus: the run folder (ckpt/, logs/)."""
    from speechzoo.tasks.recipes import make_cli
    from tests.recipe_runs import recipe_overrides, torch_threads

    run_dir = tmp_path_factory.mktemp("wavenet")
    with torch_threads(1):
        make_cli(RECIPES / "wavenet_debug.yaml", recipe_overrides(tiny_tts_corpus, run_dir, 30))
    return run_dir


@pytest.fixture(scope="session")
def parallel_wavenet_run(tiny_tts_corpus, wavenet_run, tmp_path_factory) -> Path:
    """parallel_wavenet_debug.yaml distilled 30 steps from wavenet_run's last checkpoint."""
    from speechzoo.tasks.recipes import make_cli
    from tests.recipe_runs import recipe_overrides, torch_threads

    run_dir = tmp_path_factory.mktemp("parallel_wavenet")
    teacher = wavenet_run / "ckpt" / "last.ckpt"
    with torch_threads(1):
        make_cli(RECIPES / "parallel_wavenet_debug.yaml", recipe_overrides(
            tiny_tts_corpus, run_dir, 30, "--model.init_args.teacher", str(teacher)))
    return run_dir


# Chorale-sized scores of the music21 corpus: they parse in milliseconds.
SMALL_WORKS = ["bach/bwv1.6.mxl", "bach/bwv10.7.mxl", "bach/bwv101.7.mxl", "bach/bwv102.7.mxl",
               "bach/bwv103.6.mxl", "bach/bwv104.6.mxl", "bach/bwv108.6.mxl",
               "palestrina/Agnus_01.krn", "mozart/k80/movement1.mxl"]


@pytest.fixture(scope="session")
def tiny_piano_corpus(tmp_path_factory) -> Path:
    """A synth-piano of 3 training works + 1 exercise, 2 dev and 2 test works, 4 s each."""
    from speechzoo.data.corpora import synth_piano

    out = tmp_path_factory.mktemp("piano") / "synth-piano"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(synth_piano, "music21_works", lambda: SMALL_WORKS)
        return synth_piano.prepare_synth_piano(out, seed=1, pieces=3, generated=1, dev_pieces=2,
                                               test_pieces=2, max_seconds=4.0,
                                               clip_seconds=(2.0, 3.0), workers=1)


@pytest.fixture(scope="session")
def piano_run(tiny_piano_corpus, tmp_path_factory) -> Path:
    """onsets_frames_debug.yaml trained 12 steps on tiny_piano_corpus: the run folder."""
    from speechzoo.tasks.recipes import make_cli
    from tests.recipe_runs import recipe_overrides, torch_threads

    run_dir = tmp_path_factory.mktemp("onsets_frames")
    with torch_threads(1):
        make_cli(RECIPES / "onsets_frames_debug.yaml",
                 recipe_overrides(tiny_piano_corpus, run_dir, 12))
    return run_dir
