#!/usr/bin/env bash
#
# scripts/install-deps.sh — install what pg_affiliate needs to build and test
# on Debian (`make deps`; also the first step of `make test` and `make demo`).
#
# Every package is checked with `dpkg -s` first.  When everything is present
# the script prints one line and never touches apt.  Otherwise it runs
# `apt-get update` once and installs only the missing packages, as root or
# through sudo.
#
# The PostgreSQL major version comes from `pg_config --version`; without
# pg_config it is the newest /usr/lib/postgresql/<N>, else 15.
set -euo pipefail

log() { printf '==> %s\n' "$*"; }
die() { printf 'install-deps: error: %s\n' "$*" >&2; exit 1; }

# ---- PostgreSQL major version ---------------------------------------------
pg_major() {
    local v n best=""
    if command -v pg_config >/dev/null 2>&1; then
        # "PostgreSQL 15.20 (Debian ...)" -> 15 ; "PostgreSQL 9.6.24" -> 9.6
        v=$(pg_config --version 2>/dev/null | awk '{print $2}')
        case "$v" in
            9.*) echo "${v%.*}"; return ;;
            [0-9]*) echo "${v%%[!0-9]*}"; return ;;
        esac
    fi
    for n in /usr/lib/postgresql/*/; do
        n=$(basename "$n")
        case "$n" in *[!0-9]*|"") continue ;; esac
        if [ -z "$best" ] || [ "$n" -gt "$best" ]; then best=$n; fi
    done
    echo "${best:-15}"
}

# True when dpkg reports the package as fully installed.  (`dpkg -s` alone
# also succeeds for removed packages whose config files remain.)
installed() {
    dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'
}

command -v dpkg >/dev/null 2>&1 || die "dpkg not found: this script supports Debian/Ubuntu only"

MAJOR=$(pg_major)
PACKAGES=(
    "postgresql-$MAJOR"               # server (initdb, pg_ctl, postgres)
    "postgresql-server-dev-$MAJOR"    # PGXS, headers, pg_regress
    "postgresql-$MAJOR-pgtap"         # pgTAP extension
    "postgresql-$MAJOR-cron"          # pg_cron
    libsodium-dev                     # crypto used by the extension
    pgtap                             # pg_prove
    clang                             # fuzz harnesses (scripts/fuzz.sh)
    libclang-rt-dev                   # libFuzzer and clang's sanitizer runtimes
    llvm                              # llvm-cov, llvm-profdata (make fuzz coverage)
)

missing=()
for p in "${PACKAGES[@]}"; do
    installed "$p" || missing+=("$p")
done
# Build tools: fine if present either as packages or on PATH.
for tool in make gcc; do
    if ! installed "$tool" && ! command -v "$tool" >/dev/null 2>&1; then
        missing+=("$tool")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    log "dependencies present (PostgreSQL $MAJOR); nothing to install"
    exit 0
fi

log "PostgreSQL $MAJOR; missing packages: ${missing[*]}"

# Root runs apt directly; anyone else goes through sudo.
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 ||
        die "not root and sudo is not installed; install as root: ${missing[*]}"
    SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive

log "apt-get update"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update ||
    die "apt-get update failed"

log "apt-get install ${missing[*]}"
if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"; then
    die "apt-get install failed for: ${missing[*]}
  (PostgreSQL $MAJOR packages may need the PGDG repository: https://wiki.postgresql.org/wiki/Apt)"
fi

# Confirm the result rather than trusting apt's exit status alone.
still=()
for p in "${missing[@]}"; do
    installed "$p" || command -v "$p" >/dev/null 2>&1 || still+=("$p")
done
[ "${#still[@]}" -eq 0 ] || die "still missing after install: ${still[*]}"
command -v pg_config >/dev/null 2>&1 || die "pg_config still not on PATH"

log "dependencies installed"
