#!/usr/bin/env bash
# Runs every check of the project from a fresh clone: installs the tools it needs into .venv,
# lints and tests the Rust core, builds the wheel, and tests the installed package.
# Used as-is by .ci/run. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

PYTHON=${PYTHON:-python3}
step "Python tools into .venv ($($PYTHON --version))"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet "maturin>=1.9.4,<2" "pytest>=8" "pytest-asyncio>=0.23" \
    "jsonschema>=4.20" "mypy>=1.10" "ruff>=0.5" "typing_extensions>=4.6" "cryptography>=42"

step "Rust: format, lints (core alone, and with the Python binding)"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --features python -- -D warnings

step "Rust: tests of the core without Python, then with the emulator"
cargo test --no-default-features
cargo test

step "Build the wheel and install it"
rm -rf target/ci-wheels
maturin build --release --out target/ci-wheels
python -m pip install --quiet --force-reinstall --no-deps target/ci-wheels/*.whl

step "Python: lint, stubs, types"
ruff check python tests
ruff format --check python tests
python -m mypy.stubtest fabric_jobs._core
mypy --strict python/fabric_jobs tests/typecheck/usage.py

step "Python: tests against the installed package and the bundled emulator"
python -m pytest -q tests

step "CLI demo through the installed package"
env -u FABRIC_TOKEN fabric-jobs list --limit 3

printf '\nAll checks passed in %d s.\n' $((SECONDS - started))
