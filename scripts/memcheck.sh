#!/usr/bin/env bash
#
# scripts/memcheck.sh — `make memcheck`: the test suites with the extension
# built under AddressSanitizer and UndefinedBehaviorSanitizer.
#
#   bash scripts/memcheck.sh [regress] [isolation] [pgtap] [drivers]
#
# (default: every suite, as test/run.sh).  Nothing outside a temporary
# directory is touched: neither the source tree (no object files change, a
# plain `make` afterwards is a normal build) nor the PostgreSQL installation.
#
#  1. installs missing packages (scripts/install-deps.sh);
#  2. copies the PostgreSQL installation that pg_config ($PG_CONFIG, else
#     pg_config on the PATH) describes — binaries, libraries, share and
#     include directories, about 60 MB — into the temporary directory
#     (PostgreSQL's binaries find their files relative to themselves, so the
#     copy is a complete installation), removes its JIT provider (JIT-inlined
#     bitcode would bypass the instrumented code) and replaces its `postgres`
#     by a wrapper that preloads the compiler's libasan into the server,
#     followed by test/memcheck/asan_initfirst.c (built here), which makes
#     the runtime initialise before the server's libraries do;
#  3. copies the source tree and runs test/run.sh from the copy with that
#     pg_config and COPT set, so the extension is compiled and linked with
#        -fsanitize=address,undefined -fno-sanitize-recover=all
#        -fno-omit-frame-pointer -fno-wrapv -O1 -g
#     and installed into the copy only;
#  4. fails unless test/run.sh passed, the installed library really is
#     instrumented, the sanitizer runtime really started in the server, and
#     the sanitizers wrote no report.  Reports are printed (and kept in
#     MEMCHECK_KEEP_LOGS, a directory, when that is set).
#
# Server settings of the sanitizers (see docs/reliability.md):
#   ASAN_OPTIONS  detect_leaks=0 (a backend's memory is freed by exiting, by
#                 design), abort_on_error=1 (a report kills the backend, so
#                 the test that triggered it fails too), log_path=<tmp>/asan
#   UBSAN_OPTIONS halt_on_error=1, abort_on_error=1, print_stacktrace=1
# Extra ASAN_OPTIONS can be appended with MEMCHECK_ASAN_OPTIONS.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

die() { printf 'memcheck: error: %s\n' "$*" >&2; exit 2; }
log() { printf '==> %s\n' "$*"; }

for s in "$@"; do
    case "$s" in
        regress|isolation|pgtap|drivers) ;;
        *) echo "usage: bash scripts/memcheck.sh [regress] [isolation] [pgtap] [drivers]" >&2; exit 2 ;;
    esac
done

log "dependencies"
bash "$ROOT/scripts/install-deps.sh"

PGC=$(command -v "${PG_CONFIG:-pg_config}") || die "pg_config not found (run: make deps)"
CC_PG=$("$PGC" --cc | awk '{print $1}')
command -v "$CC_PG" >/dev/null 2>&1 || die "the compiler PostgreSQL was built with ($CC_PG) is not installed"

# the compiler's ASan runtime, to preload into the (uninstrumented) server
LIBASAN=$("$CC_PG" -print-file-name=libasan.so)
case "$LIBASAN" in
    /*) LIBASAN=$(readlink -f "$LIBASAN") ;;
    *) die "$CC_PG has no libasan.so (Debian: libasan of the gcc version; it comes with gcc)" ;;
esac
[ -f "$LIBASAN" ] || die "libasan not found: $LIBASAN"

WORK=$(mktemp -d /tmp/pg_affiliate_memcheck.XXXXXX)
chmod 0755 "$WORK"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 2. a private copy of the PostgreSQL installation ----------------------------
INST="$WORK/pg"
log "copying the PostgreSQL installation of $PGC into $INST"
for opt in --bindir --pkglibdir --sharedir --includedir-server; do
    dir=$("$PGC" "$opt")
    [ -d "$dir" ] || die "pg_config $opt: no directory $dir"
    mkdir -p "$INST$dir"
    cp -a "$dir/." "$INST$dir/"
done
BINDIR="$INST$("$PGC" --bindir)"
PKGLIBDIR="$INST$("$PGC" --pkglibdir)"
PGC_COPY="$BINDIR/pg_config"
[ "$("$PGC_COPY" --bindir)" = "$BINDIR" ] ||
    die "the copied pg_config does not relocate (reports $("$PGC_COPY" --bindir), expected $BINDIR)"

# no JIT: inlined bitcode of the extension would not be instrumented
rm -f "$PKGLIBDIR"/llvmjit*.so
# the extension's old build, if any, must not be what runs
rm -f "$PKGLIBDIR/pg_affiliate.so"

# libasan's constructor would run after those of the server's libraries,
# and libubsan would read its options in a backend, whose environment block
# holds the process title by then: a -z initfirst object initialises ASan
# first and keeps UBSAN_OPTIONS for UBSan (test/memcheck/asan_initfirst.c)
SHIM="$WORK/asan_initfirst.so"
"$CC_PG" -Wall -Wextra -Werror -shared -fPIC -Wl,-z,initfirst -o "$SHIM" "$ROOT/test/memcheck/asan_initfirst.c" ||
    die "could not build $SHIM"
chmod 0755 "$SHIM"
if ! LD_PRELOAD="$LIBASAN:$SHIM" ASAN_OPTIONS=detect_leaks=0 timeout 30 "$BINDIR/postgres" -V >/dev/null; then
    die "postgres -V does not run with $LIBASAN preloaded"
fi

SANLOG="$WORK/sanitizer"
mkdir -p "$SANLOG"
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$SANLOG"; fi

ASAN_OPTS="detect_leaks=0:abort_on_error=1:halt_on_error=1:quarantine_size_mb=64"
ASAN_OPTS="$ASAN_OPTS:log_path=$SANLOG/asan"
if [ -n "${MEMCHECK_ASAN_OPTIONS:-}" ]; then ASAN_OPTS="$ASAN_OPTS:$MEMCHECK_ASAN_OPTIONS"; fi
# UBSan's log_path is ASan's on purpose: libubsan applies it through
# libasan's __sanitizer_set_report_path, so any other value would move
# ASan's reports.  libubsan's own reports go to MEMCHECK_UBSAN_LOG_PATH
# (set by asan_initfirst.so).
UBSAN_OPTS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$SANLOG/asan"

mv "$BINDIR/postgres" "$BINDIR/postgres.uninstrumented"
cat >"$BINDIR/postgres" <<EOF
#!/bin/bash
# scripts/memcheck.sh: the server with the AddressSanitizer runtime preloaded
export LD_PRELOAD="$LIBASAN:$SHIM\${LD_PRELOAD:+:\$LD_PRELOAD}"
export ASAN_OPTIONS="$ASAN_OPTS"
export UBSAN_OPTIONS="$UBSAN_OPTS"
export MEMCHECK_STARTED_DIR="$SANLOG"
export MEMCHECK_UBSAN_LOG_PATH="$SANLOG/ubsan"
echo "\$\$ \$*" >>"$SANLOG/processes"
exec -a "\$0" "$BINDIR/postgres.uninstrumented" "\$@"
EOF
chmod 0755 "$BINDIR/postgres"

# ---- 3. the suites, from a copy of the source tree ------------------------------------
SRC="$WORK/src"
mkdir -p "$SRC"
log "copying the source tree into $SRC"
tar -C "$ROOT" --exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
    --exclude=./results --exclude=./output_iso --exclude=./log --exclude=./tmp_check \
    --exclude=./test/fuzz/artifacts -cf - . | tar -C "$SRC" -xf -

COPT_SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -fno-wrapv -O1 -g"
log "test/run.sh with COPT=\"$COPT_SAN\" against the copy"
rc=0
env -u TEST_KEEP COPT="$COPT_SAN" PG_CONFIG="$PGC_COPY" bash "$SRC/test/run.sh" "$@" || rc=$?

# ---- 4. verdict --------------------------------------------------------------------------
echo
echo "========== memcheck =========="
problems=0

lib="$PKGLIBDIR/pg_affiliate.so"
if [ ! -f "$lib" ]; then
    echo "FAILED: $lib was not installed"
    problems=$((problems + 1))
else
    # (the symbol list goes through a variable: grep -q on a pipe would
    # stop nm early and pipefail would count that as a failure)
    syms=$(nm -D "$lib" 2>/dev/null || true)
    nasan=$(grep -c ' U __asan_report' <<<"$syms" || true)
    nubsan=$(grep -c ' U __ubsan_handle' <<<"$syms" || true)
    if [ "$nasan" -eq 0 ] || [ "$nubsan" -eq 0 ]; then
        echo "FAILED: $lib is not instrumented ($nasan __asan_report, $nubsan __ubsan_handle symbols)"
        problems=$((problems + 1))
    else
        echo "ok   the installed pg_affiliate.so is instrumented (it imports $nasan __asan_report_* and $nubsan __ubsan_handle_* functions)"
    fi
fi

# The wrapper notes each server process with its arguments, and the
# preloaded asan_initfirst.so leaves started.<pid> once the runtime is up.
# The postmaster (pg_ctl starts it with -D and no --boot, --single, -V or
# -C) must have it; backends are forked from the postmaster.
postmasters=0
instrumented=0
while read -r pid args; do
    case " $args " in
        *" --boot "*|*" --single "*|*" -V "*|*" -C "*|*" --describe-config "*) continue ;;
        *" -D "*) ;;
        *) continue ;;
    esac
    postmasters=$((postmasters + 1))
    if [ -f "$SANLOG/started.$pid" ]; then
        instrumented=$((instrumented + 1))
    fi
done < <(cat "$SANLOG/processes" 2>/dev/null || true)
if [ "$postmasters" -eq 0 ] || [ "$instrumented" -ne "$postmasters" ]; then
    echo "FAILED: the AddressSanitizer runtime did not start in the postmaster ($instrumented of $postmasters)"
    problems=$((problems + 1))
else
    echo "ok   the AddressSanitizer runtime ran in the postmaster, so in every backend forked from it ($postmasters postmaster(s), $(wc -l <"$SANLOG/processes") server processes started in all)"
fi

reports=$(grep -l -E 'ERROR: AddressSanitizer|runtime error:|ERROR: UndefinedBehaviorSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer' \
    "$SANLOG"/asan.* "$SANLOG"/ubsan.* 2>/dev/null || true)
nreports=0
if [ -n "$reports" ]; then nreports=$(printf '%s\n' "$reports" | wc -l); fi
if [ "$nreports" -gt 0 ]; then
    echo "FAILED: $nreports sanitizer report(s):"
    for f in $reports; do
        echo "---------- $f ----------"
        sed -n '/ERROR: \|runtime error:/,$p' "$f" | head -n 80
    done
    problems=$((problems + nreports))
else
    echo "ok   sanitizer reports: 0"
fi
if [ -n "${MEMCHECK_KEEP_LOGS:-}" ]; then
    mkdir -p "$MEMCHECK_KEEP_LOGS"
    cp -a "$SANLOG/." "$MEMCHECK_KEEP_LOGS/"
    echo "     sanitizer logs copied to $MEMCHECK_KEEP_LOGS"
fi

if [ "$rc" -ne 0 ]; then
    echo "FAILED: the test suites failed under the sanitizers (test/run.sh exit status $rc)"
    problems=$((problems + 1))
else
    echo "ok   the test suites passed under the sanitizers"
fi

if [ "$problems" -gt 0 ]; then
    echo "memcheck: FAILED"
    exit 1
fi
echo "memcheck: clean (0 sanitizer errors)"
