"""The wheel installs and works where there is no Rust: a fresh venv, a PATH
with no ``cargo`` or ``rustc``, empty CARGO_HOME/RUSTUP_HOME, no package
index; then the READMEs' Python examples run against a real loghogd.

The wheel is the one scripts/build-wheel.sh made (scripts/test-python.sh
builds it once per run and names it in $LOGHOG_WHEEL).
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO, bodies

WHEEL = os.environ.get("LOGHOG_WHEEL")

pytestmark = pytest.mark.skipif(
    not WHEEL, reason="LOGHOG_WHEEL is not set (scripts/test-python.sh sets it)"
)

# Runs a script with every LoghogHandler aimed at the test daemon's port
# (the README examples use the default 5566).
AIMED = r"""
import runpy, sys
import loghog

port = int(sys.argv[1])
original = loghog.LoghogHandler.__init__

def aimed(self, *args, **kwargs):
    kwargs["port"] = port
    original(self, *args, **kwargs)

loghog.LoghogHandler.__init__ = aimed
runpy.run_path(sys.argv[2], run_name="__main__")
"""


def python_example(readme, install_marker):
    """The first ```python block of ``readme`` after the line that holds
    ``install_marker`` (the install line must come before the example)."""
    text = (REPO / readme).read_text(encoding="utf-8")
    at = text.find(install_marker)
    assert at >= 0, "%s has no %r" % (readme, install_marker)
    found = re.search(r"```python\n(.*?)```", text[at:], re.S)
    assert found, "%s has no Python example after %r" % (readme, install_marker)
    return found.group(1)


@pytest.fixture(scope="module")
def rustless_venv(tmp_path_factory):
    """A fresh venv with the wheel installed by pip without a Rust
    toolchain in reach; returns (python, environment)."""
    wheel = pathlib.Path(WHEEL)
    assert wheel.is_file(), wheel
    # One build for every CPython >= 3.9, on an old-glibc platform tag.
    assert "-cp39-abi3-manylinux" in wheel.name, wheel.name
    with zipfile.ZipFile(wheel) as z:
        native = [n for n in z.namelist() if n.endswith(".so")]
    assert native == ["loghog/_native.abi3.so"], native

    base = tmp_path_factory.mktemp("rustless")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # The system directories, unless one holds a Rust tool (a distribution's
    # rustc in /usr/bin): then it is left out, which is stricter still.
    path_dirs = [str(venv / "bin")] + [
        d for d in ("/usr/bin", "/bin")
        if not any((pathlib.Path(d) / tool).exists() for tool in ("cargo", "rustc"))
    ]
    path = os.pathsep.join(path_dirs)
    assert shutil.which("cargo", path=path) is None
    assert shutil.which("rustc", path=path) is None
    empty = base / "empty"
    (empty / "cargo").mkdir(parents=True)
    (empty / "rustup").mkdir()
    (empty / "home").mkdir()
    env = {
        "PATH": path,
        "HOME": str(empty / "home"),
        "CARGO_HOME": str(empty / "cargo"),
        "RUSTUP_HOME": str(empty / "rustup"),
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "LANG": "C.UTF-8",
    }
    python = str(venv / "bin" / "python")
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--no-index", "--only-binary", ":all:",
         "--no-deps", str(wheel)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return python, env


def run_example(python, env, code, port, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(code)
    # Run from an empty directory so that python/loghog in a checkout can
    # never be what is imported.
    return subprocess.run(
        [python, "-c", AIMED, str(port), str(script)],
        env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=60,
    )


def test_wheel_is_what_the_venv_imports(rustless_venv, tmp_path):
    python, env = rustless_venv
    where = subprocess.run(
        [python, "-c", "import loghog, loghog._native as n; print(loghog.__file__); print(n.__file__)"],
        env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=60,
    )
    assert where.returncode == 0, where.stderr
    venv = pathlib.Path(python).parent.parent
    for line in where.stdout.splitlines():
        assert pathlib.Path(line).resolve().is_relative_to(venv.resolve()), line


@pytest.mark.parametrize(
    "readme, marker",
    [("README.md", "pip install target/wheels/"), ("python/README.md", "pip install target/wheels/")],
)
def test_readme_example_runs_from_the_wheel(rustless_venv, daemon, tmp_path, readme, marker):
    python, env = rustless_venv
    code = python_example(readme, marker)
    assert "LoghogHandler('my-first-app')" in code, code
    done = run_example(python, env, code, daemon.tcp_port, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = daemon.wait_lines("my-first-app/root.log", 1)
    assert bodies(lines) == ["INFO - Hello world!"], lines
