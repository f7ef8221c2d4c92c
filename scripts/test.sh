#!/usr/bin/env bash
# Install fakevision with its test extras into .venv and run the whole test suite.
# This is the README's test command, and CI's .ci/run calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
# EGL (Mesa's software OpenGL) for the optional pyrender backend's tests: installed only when missing (~20 s on a
# bare Debian 12: 37 packages, 49 MB), skipped with a note when not root (those tests then skip, saying why).
egl=(libegl1 libegl-mesa0 libgl1-mesa-dri)
missing=()
for p in "${egl[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}"; } >/dev/null || echo "note: could not install ${missing[*]}; the pyrender tests will skip"
    else
        echo "note: ${missing[*]} not installed and not root; the pyrender tests will skip"
    fi
fi
# Chromium for the report's browser test (tests/report/test_browser.py, driven by Playwright with
# executable_path=/usr/bin/chromium: never a browser download): installed only when missing, as root, like EGL.
if ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            chromium; } >/dev/null || echo "note: could not install chromium; the report's browser test will skip"
    else
        echo "note: chromium not installed and not root; the report's browser test will skip"
    fi
fi
python3 -m venv .venv
# pyrender: the optional renderer's extra (~13 s more); faces: dlib and its 68-point model (~100 MB download);
# ray: the Ray engine (its tests share one local Ray runtime per test process); s3: outputs to buckets (tested
# against moto's S3 server on 127.0.0.1, from the test extra); docs: mkdocs-material, for the docs build test
# (mkdocs build --strict)
.venv/bin/pip install -q -e ".[test,pyrender,faces,ray,s3,docs]"
# torch-fidelity is only the reference implementation the FID/KID tests compare against; installed without its
# dependencies because it would otherwise pull torchvision, which does not import beside the pinned torch.
.venv/bin/pip install -q --no-deps "torch-fidelity==0.4.0" tqdm
# the browser test's screenshots land in artifacts/ (CI keeps that folder)
export NO_MKDOCS_2_WARNING=1
# lint and types first (seconds): a finding fails the run like a failing test
.venv/bin/ruff check src tests benchmarks experiments
.venv/bin/mypy
# the whole suite: slow end-to-end tests included (pyproject's default run leaves them out)
exec .venv/bin/python -m pytest -n 2 -m "slow or not slow" "$@"
