"""The README's make targets do what it says, read from `make -n` in a fresh clone (no .venv yet)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Target → what its dry run must show, in order (README "Two commands" and "Other targets").
PROMISES = {
    "test": [
        "-m venv .venv",
        "pip install -q -e '.[dev]'",
        "ruff check .",
        "mypy bot generator storage",
        "-m pytest",
    ],
    "run": ["-m venv .venv", "pip install -q -e .", "-m bot run"],
    "playground": ["-m venv .venv", "-m playground"],
    "demo": ["-m venv .venv", "-m generator demo -o out/demo.mp4"],
    "bench": ["bench/render.py", "bench/claims.py"],
    "migrate": ["-m bot migrate"],
    "worker": ["-m bot worker"],
    "gpu": ["-m venv .venv", "pip install -q -e '.[dev]'", "pip install -q -e '.[dev,gpu]'"],
}


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("make") is None:
        pytest.fail("the README's commands need make (apt-get install make)", pytrace=False)
    clone = tmp_path_factory.mktemp("clone")
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(REPO / name, clone / name)
    return clone


def test_every_make_target_the_readme_names_exists() -> None:
    readme = (REPO / "README.md").read_text()
    named = set(re.findall(r"`?make ([a-z]+)", readme))
    assert named == set(PROMISES), "README names make targets this test does not check (or the reverse)"


@pytest.mark.parametrize("target", sorted(PROMISES))
def test_a_make_target_runs_what_the_readme_says(fresh_clone: Path, target: str) -> None:
    proc = subprocess.run(["make", "-n", target], cwd=fresh_clone, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    at = 0
    for step in PROMISES[target]:
        found = proc.stdout.find(step, at)
        assert found >= 0, f"make {target} does not run {step!r} (after what came before):\n{proc.stdout}"
        at = found + len(step)


def test_python_3_11_or_3_12_is_what_the_package_and_make_accept() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.13"
    assert "assert (3, 11) <= sys.version_info[:2] < (3, 13)" in (REPO / "Makefile").read_text()
