"""A plain, non-editable ``pip install .`` serves the shipped bundles without a checkout."""

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HELDOUT = REPO / "tests" / "data" / "heldout" / "test-000004.flac"


_SKIP_AT_ROOT = {".git", ".venv", "venv", "build", "dist", "runs", "data", "lightning_logs",
                 ".pytest_cache", ".ruff_cache"}


def _ignore(folder, names):
    """What a clean checkout would not hold (so a stale build/ cannot leak into the wheel)."""
    top = Path(folder) == REPO
    return [n for n in names if n == "__pycache__" or n.endswith(".egg-info")
            or (top and n in _SKIP_AT_ROOT)]


def _run(args, **kwargs):
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def test_non_editable_install_transcribes(tmp_path):
    import speechzoo

    expected = speechzoo.load("ds2-en", device="cpu").transcribe(HELDOUT)
    source = tmp_path / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=_ignore)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "-w", str(tmp_path / "dist"), str(source)])
    (wheel,) = (tmp_path / "dist").glob("speechzoo-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    # The dependencies come from this environment's site-packages, added as plain paths:
    # its .pth files (this checkout's editable install among them) are not processed.
    target = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                           "['purelib'])"]).strip())
    ours = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    (target / "deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
          "--no-index", str(wheel)])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SPEECHZOO_MODELS")}
    out = _run([str(python), "-c", "import speechzoo, sys; print(speechzoo.__file__); "
                "print(speechzoo.available_models()); "
                f"asr = speechzoo.load('ds2-en'); print(asr.transcribe({str(HELDOUT)!r})); "
                # the bundle's LM files ship too
                f"print(asr.transcribe({str(HELDOUT)!r}, decoder='beam', beam_size=10))"],
               cwd=tmp_path, env=env)
    location, models, text, beam = out.splitlines()[-4:]
    assert location.startswith(str(target)), location
    assert models == str(speechzoo.available_models())
    assert text == expected and beam
