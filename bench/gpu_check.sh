#!/usr/bin/env bash
# The GPU check of issue 13, in one go (< 5 min on one GPU): installs phototalk with the gpu extra,
# then prints one table — parity with the CPU rig at 720p, the torch engine's frame speed at
# 720p / 1080p / 4K with 1 and 6 faces (cpu-rig beside it where that takes seconds, not minutes),
# a full 1080p render with its encode (NVENC when it opens), and the render worker's throughput
# with several renders in flight (one process each, as RENDER_WORKERS runs them).
#
#   bash bench/gpu_check.sh                 # installs from PyPI / the local index pip is set up for
#   WHEELS=/path/to/wheels bash bench/gpu_check.sh   # installs only from the wheels it is handed
#
# Knobs: PYTHON (python3.11/3.12), VENV (.venv-gpu), SKIP_INSTALL (set: use VENV as it is), and for
# bench/gpu_check.py SECONDS_CLIP (15), RUNS (3), IN_FLIGHT (4), RENDERS (8), DEVICE (cuda),
# SIZES (720p,1080p,4K).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv-gpu}"
started=$(date +%s)

if [ -z "${SKIP_INSTALL:-}" ]; then
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    PIP=("$VENV/bin/python" -m pip install -q)
    if [ -n "${WHEELS:-}" ]; then
        PIP+=(--no-index --find-links "$WHEELS")
    fi
    "${PIP[@]}" -e '.[gpu,dev]'
    echo "installed in $(( $(date +%s) - started )) s" >&2
fi
if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2; fi

"$VENV/bin/python" bench/gpu_check.py
echo "gpu_check took $(( $(date +%s) - started )) s" >&2
