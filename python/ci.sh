#!/usr/bin/env bash
# The Python package's CI: a fresh venv, the README's install command
# (`pip install ./python`), then pytest (which compares with the `pk` CLI).
# Run from anywhere; meant to follow `cargo test --release` in .ci/run, whose
# target/release/pk it reuses (else it builds it).
#
#   PK_PY_VENV        where to make the venv (default: target/python-venv, removed first)
#   CARGO_TARGET_DIR  shared with the CLI build (default: the repository's target/)
#   PK_CLI            the pk binary to compare with (default: $CARGO_TARGET_DIR/release/pk)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
venv=${PK_PY_VENV:-$CARGO_TARGET_DIR/python-venv}
start=$(date +%s)
(cd python && cargo fmt --check && cargo clippy --all-targets -- -D warnings)
if [ -z "${PK_CLI:-}" ]; then
    cargo build --release --bin pk
    export PK_CLI=$CARGO_TARGET_DIR/release/pk
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet "./python[test]"
built=$(date +%s)
echo "python: venv and pip install ./python in $((built - start)) s"
# From the repository's root: python/pk (the sources, without the native
# module) must not shadow the installed package.
cd "$repo"
"$venv/bin/python" -c "import pk; print('pk', pk.__version__, 'imported from', pk.__file__)"
"$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests
echo "python: tests in $(($(date +%s) - built)) s"
