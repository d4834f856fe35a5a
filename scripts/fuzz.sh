#!/usr/bin/env bash
#
# scripts/fuzz.sh — build the libFuzzer harnesses of test/fuzz and run each
# for a bounded time (`make fuzz`; `make test` runs it for 15 s per harness
# through test/drivers/fuzz_short.sh).
#
#   bash scripts/fuzz.sh [--seconds N] [--coverage] [HARNESS...]
#   bash scripts/fuzz.sh --reproduce HARNESS FILE...
#
# HARNESS is a name from test/fuzz/fuzz_<name>.c (refcode, split); default:
# all of them.  Each is compiled with clang from its .c file and every
# dependency-free core file src/*_core.c, with
# -fsanitize=fuzzer,address,undefined (plus unsigned-integer-overflow and
# implicit-conversion: the core code claims that nothing wraps) and
# -fno-sanitize-recover=all, then run for N seconds (default FUZZ_SECONDS,
# else 300) starting from the seed corpus test/fuzz/corpus/<name>.  The seed
# corpus is only read; new inputs go to a temporary directory, or to
# $FUZZ_CORPUS_DIR/<name> when FUZZ_CORPUS_DIR is set (kept between runs).
#
# A crash, a sanitizer report, a violated property (the harness aborts), a
# timeout or running out of memory fails the run: the input is copied to
# $FUZZ_ARTIFACTS (default test/fuzz/artifacts) and the command that
# replays it is printed.  --reproduce builds HARNESS and runs it once on each
# FILE (exit status non-zero if one fails).
#
# --coverage afterwards builds each harness with clang's source-based
# coverage, replays seeds and new inputs through it and prints llvm-cov's
# line and branch coverage of the core files.
#
# Needs clang, libFuzzer (Debian: libclang-rt-dev) and for --coverage
# llvm-profdata and llvm-cov (Debian: llvm); scripts/install-deps.sh
# installs them.  A missing tool is an error, never a skip.
# Exit status: 0 when every harness ran its time without a failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

die() { printf 'fuzz: error: %s\n' "$*" >&2; exit 2; }
log() { printf '==> %s\n' "$*"; }

usage() {
    sed -n '7,8p' "${BASH_SOURCE[0]}" | sed 's/^# */usage: /' >&2
    exit 2
}

SECONDS_EACH=${FUZZ_SECONDS:-300}
COVERAGE=0
REPRODUCE=""
names=()
while [ "$#" -gt 0 ]; do
    case "$1" in
        --seconds) [ "$#" -ge 2 ] || usage; SECONDS_EACH=$2; shift 2 ;;
        --coverage) COVERAGE=1; shift ;;
        --reproduce) [ "$#" -ge 3 ] || usage; REPRODUCE=$2; shift 2; break ;;
        -h|--help) usage ;;
        -*) echo "fuzz: unknown option $1" >&2; usage ;;
        *) names+=("$1"); shift ;;
    esac
done
case "$SECONDS_EACH" in ''|*[!0-9]*|0) die "--seconds / FUZZ_SECONDS must be a positive integer, not '$SECONDS_EACH'" ;; esac

# ---- the harnesses ------------------------------------------------------------
# Every test/fuzz/fuzz_<name>.c is a harness.  (Template rendering has no C
# parser yet: it arrives with the notifications work, and its harness is
# then test/fuzz/fuzz_template.c with seeds in test/fuzz/corpus/template.)
all_names=()
for f in test/fuzz/fuzz_*.c; do
    [ -f "$f" ] || continue
    n=$(basename "$f" .c)
    all_names+=("${n#fuzz_}")
done
[ "${#all_names[@]}" -gt 0 ] || die "no harness in test/fuzz/fuzz_*.c"
if [ -n "$REPRODUCE" ]; then
    names=("$REPRODUCE")
elif [ "${#names[@]}" -eq 0 ]; then
    names=("${all_names[@]}")
fi
for n in "${names[@]}"; do
    [ -f "test/fuzz/fuzz_$n.c" ] || die "no harness test/fuzz/fuzz_$n.c (harnesses: ${all_names[*]})"
done

# ---- tools ----------------------------------------------------------------------
find_clang() {
    local c v best="" bestv=0
    if [ -n "${CLANG:-}" ]; then
        command -v "$CLANG" && return 0
        return 1
    fi
    if command -v clang >/dev/null 2>&1; then
        command -v clang
        return 0
    fi
    for c in /usr/bin/clang-[0-9]*; do
        [ -x "$c" ] || continue
        v=${c##*-}
        case "$v" in ''|*[!0-9]*) continue ;; esac
        if [ "$v" -gt "$bestv" ]; then best=$c; bestv=$v; fi
    done
    [ -n "$best" ] && echo "$best"
}
CC_FUZZ=$(find_clang) || CC_FUZZ=""
[ -n "$CC_FUZZ" ] || die "clang not found (run: make deps, which installs clang and libclang-rt-dev)"

# llvm-profdata / llvm-cov of the same LLVM as clang: <resource dir>/../../../bin
llvm_tool() {
    local name=$1 dir
    dir=$("$CC_FUZZ" -print-resource-dir 2>/dev/null)/../../../bin
    if [ -x "$dir/$name" ]; then
        echo "$dir/$name"
    elif command -v "$name" >/dev/null 2>&1; then
        command -v "$name"
    else
        return 1
    fi
}

WORK=$(mktemp -d /tmp/pg_affiliate_fuzz.XXXXXX)
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ARTIFACTS=${FUZZ_ARTIFACTS:-$ROOT/test/fuzz/artifacts}

CORE_SOURCES=(src/*_core.c)
SAN_FLAGS=("-fsanitize=fuzzer,address,undefined,unsigned-integer-overflow,implicit-conversion"
           -fno-sanitize-recover=all)
COMMON_FLAGS=(-g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror -Isrc)

build() {  # build NAME OUT [extra flags...]
    local n=$1 out=$2
    shift 2
    if ! "$CC_FUZZ" "${COMMON_FLAGS[@]}" "$@" -o "$out" \
            "test/fuzz/fuzz_$n.c" "${CORE_SOURCES[@]}" >"$out.build.log" 2>&1; then
        cat "$out.build.log" >&2
        if grep -q -i 'fuzzer' "$out.build.log"; then
            echo "fuzz: libFuzzer is missing or broken (Debian: libclang-rt-dev; run: make deps)" >&2
        fi
        return 1
    fi
}

log "clang: $CC_FUZZ ($("$CC_FUZZ" --version | head -n 1))"

# ---- --reproduce ------------------------------------------------------------------
if [ -n "$REPRODUCE" ]; then
    n=$REPRODUCE
    build "$n" "$WORK/fuzz_$n" "${SAN_FLAGS[@]}" || die "could not build fuzz_$n"
    rc=0
    "$WORK/fuzz_$n" "$@" || rc=$?
    exit "$rc"
fi

# ---- fuzzing ------------------------------------------------------------------------
failed=0
summary=()
for n in "${names[@]}"; do
    bin="$WORK/fuzz_$n"
    log "fuzz_$n: building"
    if ! build "$n" "$bin" "${SAN_FLAGS[@]}"; then
        echo "FAILED: fuzz_$n does not build"
        failed=$((failed + 1))
        summary+=("fuzz_$n: BUILD FAILED")
        continue
    fi

    seeds="test/fuzz/corpus/$n"
    [ -d "$seeds" ] || die "no seed corpus $seeds"
    if [ -n "${FUZZ_CORPUS_DIR:-}" ]; then
        corpus="$FUZZ_CORPUS_DIR/$n"
    else
        corpus="$WORK/corpus_$n"
    fi
    mkdir -p "$corpus" "$WORK/artifacts_$n"

    log "fuzz_$n: running ${SECONDS_EACH}s (seeds: $seeds, $(find "$seeds" -type f | wc -l) files)"
    flog="$WORK/fuzz_$n.log"
    rc=0
    # libFuzzer stops itself after -max_total_time; timeout(1) is only a
    # backstop should the harness hang outside libFuzzer's own timeout.
    timeout -k 10 $((SECONDS_EACH + 120)) "$bin" \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
        -print_final_stats=1 -artifact_prefix="$WORK/artifacts_$n/" \
        "$corpus" "$seeds" >"$flog" 2>&1 || rc=$?

    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$flog" | tail -n 1)
    last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$flog" | tail -n 1 || true)
    cov=$(printf '%s\n' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(printf '%s\n' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    units=$(printf '%s\n' "$last" | sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p')
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$flog" | tail -n 1)

    bad=""
    [ "$rc" -eq 0 ] || bad="exit status $rc"
    if grep -q -E 'ERROR: (libFuzzer|AddressSanitizer|UndefinedBehaviorSanitizer)|runtime error:|property violated' "$flog"; then
        bad=${bad:-"a sanitizer or property report"}
    fi
    grep -q -E '^#[0-9]+[[:space:]]+DONE' "$flog" || bad=${bad:-"no DONE line from libFuzzer"}
    [ -n "$runs" ] && [ "$runs" -gt 0 ] || bad=${bad:-"no inputs were executed"}

    if [ -n "$bad" ]; then
        failed=$((failed + 1))
        echo "FAILED: fuzz_$n ($bad); the end of its log:"
        tail -n 60 "$flog"
        saved=()
        for a in "$WORK/artifacts_$n"/*; do
            [ -f "$a" ] || continue
            mkdir -p "$ARTIFACTS"
            cp "$a" "$ARTIFACTS/${n}-$(basename "$a")"
            saved+=("$ARTIFACTS/${n}-$(basename "$a")")
        done
        for a in "${saved[@]}"; do
            echo "  input saved: $a"
            echo "  replay:      bash scripts/fuzz.sh --reproduce $n $a"
        done
        summary+=("fuzz_$n: FAILED ($bad) after ${runs:-0} runs")
    else
        summary+=("fuzz_$n: ok, $runs runs in ${SECONDS_EACH}s (${rate:-?}/s), cov ${cov:-?} edges, ft ${ft:-?} features, corpus ${units:-?} inputs")
    fi

    if [ "$COVERAGE" = 1 ] && [ -z "$bad" ]; then
        profdata=$(llvm_tool llvm-profdata) || die "llvm-profdata not found (Debian: llvm; run: make deps)"
        llvmcov=$(llvm_tool llvm-cov) || die "llvm-cov not found (Debian: llvm; run: make deps)"
        cbin="$WORK/cov_$n"
        build "$n" "$cbin" -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping ||
            die "could not build the coverage binary of fuzz_$n"
        # -runs=0: execute every input of the corpora once, then stop
        LLVM_PROFILE_FILE="$WORK/cov_$n.profraw" "$cbin" -runs=0 -max_len=4096 \
            "$corpus" "$seeds" >"$WORK/cov_$n.log" 2>&1 ||
            { tail -n 20 "$WORK/cov_$n.log"; die "replaying the corpus of fuzz_$n for coverage failed"; }
        "$profdata" merge -sparse -o "$WORK/cov_$n.profdata" "$WORK/cov_$n.profraw"
        # the core file the harness is named after (all of them if none is)
        covered=("src/${n}_core.c")
        [ -f "${covered[0]}" ] || covered=("${CORE_SOURCES[@]}")
        echo "---------- coverage of ${covered[*]} by the corpus of fuzz_$n ----------"
        "$llvmcov" report "$cbin" -instr-profile="$WORK/cov_$n.profdata" \
            -show-region-summary=false "${covered[@]}" |
            awk -v root="$ROOT/" '
                # the file name without the checkout path, the columns kept aligned
                index($0, root) == 1 {
                    rest = substr($0, length(root) + 1)
                    n = index(rest, " ")
                    if (n > 0) {
                        $0 = substr(rest, 1, n - 1) sprintf("%" length(root) "s", "") substr(rest, n)
                    } else {
                        $0 = rest
                    }
                }
                { print }'
        if [ -n "${FUZZ_SHOW_MISSED:-}" ]; then
            "$llvmcov" show "$cbin" -instr-profile="$WORK/cov_$n.profdata" \
                -show-line-counts-or-regions "${covered[@]}" | grep -E '^ *[0-9]+\| *0\|' || true
        fi
    fi
done

echo
echo "---------- fuzz summary ----------"
for s in "${summary[@]}"; do echo "$s"; done
if [ "$failed" -gt 0 ]; then
    echo "fuzz: $failed of ${#names[@]} harnesses FAILED"
    exit 1
fi
echo "fuzz: all ${#names[@]} harnesses passed"
