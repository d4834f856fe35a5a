#!/usr/bin/env bash
# Short fuzzing run inside `make test`: builds every libFuzzer harness of
# test/fuzz (the referral code parser and formatter, the split arithmetic;
# see scripts/fuzz.sh) with AddressSanitizer and UndefinedBehaviorSanitizer
# and runs each for FUZZ_SHORT_SECONDS (default 15) from its seed corpus.
# Fails on any crash, sanitizer report or violated property, and when clang
# or libFuzzer is missing (scripts/install-deps.sh installs them, so a
# missing tool is a broken setup, not a reason to skip).  The longer run is
# `make fuzz`.
#
# The database the test runner creates for every driver (PGDATABASE) is not
# used: the harnesses call the dependency-free core code directly.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECS=${FUZZ_SHORT_SECONDS:-15}
echo "fuzz_short: ${SECS}s per harness (the long run: make fuzz)"
exec bash scripts/fuzz.sh --seconds "$SECS"
