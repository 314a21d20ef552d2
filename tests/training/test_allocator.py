import subprocess
import sys

import pytest

from speechzoo.training import allocator
from speechzoo.training.allocator import find_tcmalloc, tcmalloc_environment


def test_environment_preloads_tcmalloc_once(monkeypatch):
    monkeypatch.setattr(allocator, "find_tcmalloc", lambda: "libtcmalloc_minimal.so.4")
    env = tcmalloc_environment({"PATH": "/bin"})
    assert env == {"PATH": "/bin", "LD_PRELOAD": "libtcmalloc_minimal.so.4"}
    assert tcmalloc_environment(env) is None  # already there: no second exec
    other = tcmalloc_environment({"LD_PRELOAD": "libfoo.so"})
    assert other["LD_PRELOAD"] == "libtcmalloc_minimal.so.4 libfoo.so"
    assert tcmalloc_environment({"SPEECHZOO_ALLOCATOR": "system"}) is None
    assert tcmalloc_environment({"LD_PRELOAD": "libjemalloc.so.2"}) is None
    monkeypatch.setattr(allocator, "find_tcmalloc", lambda: None)
    assert tcmalloc_environment({}) is None


def test_the_environment_loads_tcmalloc():
    if find_tcmalloc() is None:
        pytest.skip("tcmalloc is not installed (apt install libtcmalloc-minimal4)")
    maps = subprocess.run([sys.executable, "-c", "print(open('/proc/self/maps').read())"],
                          env=tcmalloc_environment({}), capture_output=True, text=True,
                          check=True).stdout
    assert "tcmalloc" in maps
