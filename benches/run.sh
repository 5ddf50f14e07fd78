#!/usr/bin/env bash
# fabric-jobs benchmark suite (not part of CI). From a fresh clone:
#
#   bash benches/run.sh              # full run, ~5 minutes; writes benches/RESULTS.md
#   bash benches/run.sh --quick      # smoke run, ~30 s; writes benches/RESULTS.quick.md
#   bash benches/run.sh --repeat 9 --only a,d
#
# Creates .venv-bench/ (ignored by git), builds and installs fabric-jobs in RELEASE mode
# (a debug build is ~10x slower), installs the comparison libraries, then runs
# benches/bench.py, which prints one Markdown table per scenario. Needs python3 >= 3.9,
# a Rust toolchain (cargo) and network access to PyPI.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/.venv-bench"
PYTHON=${PYTHON:-python3}

command -v cargo >/dev/null || { echo "run.sh: cargo not found; install a Rust toolchain" >&2; exit 1; }

if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
# Keep the venv out of `git status` without touching the repository's .gitignore.
printf '*\n' > "$VENV/.gitignore"
PY="$VENV/bin/python"

echo "== installing maturin and the comparison libraries"
"$PY" -m pip install --quiet --disable-pip-version-check maturin requests httpx orjson

echo "== building fabric-jobs (release)"
WHEELS=$(mktemp -d)
trap 'rm -rf "$WHEELS"' EXIT
"$VENV/bin/maturin" build --release --interpreter "$PY" --out "$WHEELS"
"$PY" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$WHEELS"/*.whl
export BENCH_BUILD="release wheel built by benches/run.sh from $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'an unknown commit')$(git -C "$ROOT" diff --quiet HEAD -- src python Cargo.toml Cargo.lock pyproject.toml 2>/dev/null || echo ' + local changes')"

echo "== installing microsoft-fabric-api (optional)"
unset BENCH_MSFABRIC_UNAVAILABLE
if ! out=$("$PY" -m pip install --quiet --disable-pip-version-check --pre microsoft-fabric-api 2>&1); then
    export BENCH_MSFABRIC_UNAVAILABLE="pip install failed: $(printf '%s\n' "$out" | grep -v '^\s*$' | tail -n 1)"
elif ! out=$("$PY" -c 'import microsoft_fabric_api' 2>&1); then
    export BENCH_MSFABRIC_UNAVAILABLE="import failed: $(printf '%s\n' "$out" | tail -n 1)"
fi
if [ -n "${BENCH_MSFABRIC_UNAVAILABLE:-}" ]; then
    echo "   microsoft-fabric-api row: unavailable: $BENCH_MSFABRIC_UNAVAILABLE"
fi

echo "== running benches/bench.py $*"
export BENCH_COMMAND="bash benches/run.sh"
# bench.py keeps to its own --budget (default 600 s, hard stop 60 s later); this is the backstop.
timeout --kill-after=30 720 "$PY" "$ROOT/benches/bench.py" "$@"
