#!/usr/bin/env bash
# Install fakevision with its test extras into .venv and run the whole test suite.
# This is the README's test command, and CI's .ci/run calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
python3 -m venv .venv
.venv/bin/pip install -q -e ".[test]"
# torch-fidelity is only the reference implementation the FID/KID tests compare against; installed without its
# dependencies because it would otherwise pull torchvision, which does not import beside the pinned torch.
.venv/bin/pip install -q --no-deps "torch-fidelity==0.4.0" tqdm
exec .venv/bin/python -m pytest -n 2 "$@"
