#!/usr/bin/env bash
# Crash safety, the short form inside `make test`: test/crash/crash.sh with
# 3 clients for 15 s and 5 crashes (SIGKILL of the postmaster and every
# process of the cluster, restart, crash recovery), then every check of
# test/crash/checks.sql.  `make crashtest` runs the long form.
#
# It kills a postmaster, so it runs on a throwaway cluster of its own
# (initdb in /tmp/pg_affiliate_crash.*, stopped and removed on exit, failure
# included) and never on the cluster of test/run.sh: the PGDATABASE it is
# given is not used.  SEED replays the random choices.
set -euo pipefail
cd "$(dirname "$0")/../.."
CRASH_KILLS=5 CRASH_SECONDS=15 CRASH_CLIENTS=3 exec bash test/crash/crash.sh
