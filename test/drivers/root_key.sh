#!/usr/bin/env bash
# The root key (pg_affiliate.root_key_file): program hash keys sealed so that
# the table, COPY, pg_dump and the table's data file do not carry them in
# clear.  The driver makes its own throwaway cluster (pg_affiliate must be in
# shared_preload_libraries, which the suite's cluster does not have) and
# restarts it with different settings:
#   bad key files     missing, 0644, 0640, a directory, 63/66 hex digits, a
#                     non-hex digit, all zeros: the server refuses to start
#                     with a clear FATAL that never prints the file's text
#   no root key       keys are stored in clear, as before; seal_secrets() is
#                     refused (55000); a known clear key K is planted and its
#                     hashes taken; positive controls: K is found in COPY and
#                     in the table's data file (so the searches below work)
#   root key A        the GUC is superuser-only; clear keys keep working; new
#                     keys are sealed; seal_secrets() by an operator seals the
#                     clear ones (audited), hashes unchanged; K is then in no
#                     COPY, pg_dump or data file; an altered or moved sealed
#                     key is refused (XX001)
#   restart, A        hashes stable across the restart
#   root key B        sealed keys refused: 55000 naming both key ids
#   no GUC            sealed keys refused: 55000 naming the key id needed; new
#                     keys in clear, as before
#   GUC, no preload   nothing opened, nothing created in clear (55000)
#   root key A        everything works again; verify() is empty
# and the same for the signing keys of certificates (0.5.0): made in clear
# without a root key, sealed with one (112 bytes, root key A's id), sealed by
# seal_secrets() (one audit row per key; the clear secret key then in no
# COPY, pg_dump or data file), refused when altered (XX001), on root key B
# and without the root key (55000: nothing issued, nothing in clear), not
# made by create_program while the GUC is set without the preload (made
# when first needed instead); certificates verify with any root key or none
# (verification needs only the public key) and after every restart.
#
# Environment: PG_CONFIG (optional; the PostgreSQL whose bin dir is used).
# PGDATABASE etc. from test/run.sh are ignored: the cluster is the driver's.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/cluster.sh
. "$ROOT/scripts/cluster.sh"

BINDIR=$(pgc_bindir)
TMP=$(mktemp -d /tmp/pg_affiliate_rootkey.XXXXXX)
DATADIR="$TMP/data"
cleanup() {
    set +e
    pgc_stop "$DATADIR" >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
chmod 0755 "$TMP"
mkdir "$TMP/keys"
pgc_give_to_server "$TMP" "$TMP/keys"

PORT=$(pgc_free_port "$TMP" /tmp/pg_affiliate_test.* /tmp/pg_affiliate_rootkey.* \
    "${PG_AFFILIATE_DEMO_DIR:-/tmp/pg_affiliate_demo}")
pgc_create "$DATADIR" "$TMP" "$PORT" "" \
    "fsync = off" "timezone = 'UTC'" "log_min_messages = log" \
    "include_if_exists = 'root_key_driver.conf'" >/dev/null
pgc_export_env "$TMP" "$PORT"
export PGDATABASE=rk PGOPTIONS="-c client_min_messages=warning"

FAILED=0
fail() { echo "FAIL $*"; FAILED=$((FAILED + 1)); }
pass() { echo "ok   $*"; }

q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# check LABEL SQL — SQL must return exactly 't'
check() {
    local out
    if ! out=$(q -c "$2" 2>&1); then
        fail "$1: $out"
    elif [ "$out" = t ]; then
        pass "$1"
    else
        fail "$1 (got: $out)"
    fi
}

# refused LABEL SQLSTATE TEXT SQL [ROLE] — SQL must fail with SQLSTATE and a
# message (or detail/hint) containing TEXT
refused() {
    local label=$1 state=$2 text=$3 sql=$4 role=${5:-} out
    local -a pre=(-c '\set VERBOSITY verbose')
    if [ -n "$role" ]; then pre+=(-c "SET ROLE $role"); fi
    if out=$(q "${pre[@]}" -c "$sql" 2>&1); then
        fail "$label: succeeded (output: $out)"
    elif ! grep -q "ERROR:  $state: " <<<"$out"; then
        fail "$label: wanted SQLSTATE $state, got: $out"
    elif ! grep -qF -- "$text" <<<"$out"; then
        fail "$label: the error does not say \"$text\": $out"
    else
        pass "$label ($state: $(grep -m1 "ERROR:" <<<"$out" | sed "s/^ERROR:  $state: //"))"
    fi
}

# hex of a file's bytes (one line)
hexof() { od -An -tx1 -v "$1" | tr -d ' \n'; }
# hex of a random 32-byte key
randhex() { od -An -tx1 -N32 -v /dev/urandom | tr -d ' \n'; }

# certify P EXT — a one-topic course in program P completed by a new member
# EXT: prints the certificate's number (the course is named after EXT)
certify() {
    local p=$1 ext=$2 m c mod t
    m=$(q -c "SELECT affiliate.add_member($p, '$ext')")
    c=$(q -c "SELECT affiliate.create_course($p, 'Course of $ext', NULL, 0, true)")
    mod=$(q -c "SELECT affiliate.add_module($p, $c, 'Module', NULL, 0, true)")
    t=$(q -c "SELECT affiliate.add_topic($p, $mod, 'Topic', 'youtube', 'abcdefghijk', 10, NULL, 0, true)")
    q -c "SELECT affiliate.enroll($p, $m, $c)" >/dev/null
    q -c "SELECT completed FROM affiliate.record_progress($p, $m, $t, 10, true)" >/dev/null
    q -c "SELECT number FROM affiliate.certificate WHERE program_id = $p AND member_id = $m AND course_id = $c"
}
# every certificate verifies (status valid)
ALL_VALID="SELECT count(*) > 0 AND bool_and(v.status = 'valid')
             FROM affiliate.certificate c, LATERAL affiliate.verify_certificate(c.program_id, c.number) v"

# conf SETTING... — the settings of the next start
conf() {
    printf '%s\n' "$@" >"$DATADIR/root_key_driver.conf"
}

NSTART=0
LOG=""
# start — start with the current conf; returns pg_ctl's status
start() {
    NSTART=$((NSTART + 1))
    LOG="$TMP/server-$NSTART.log"
    pgc_as_server "$BINDIR/pg_ctl" -D "$DATADIR" -l "$LOG" -w -t 60 start >/dev/null 2>&1
}
stop() { pgc_stop "$DATADIR"; }
restart_with() {
    stop
    conf "$@"
    if ! start; then
        echo "server did not start; log:"
        tail -n 20 "$LOG"
        exit 1
    fi
}

# keyfile NAME MODE TEXT — a key file owned by the server's user
keyfile() {
    local f="$TMP/keys/$1"
    printf '%s' "$3" >"$f"
    chmod "$2" "$f"
    pgc_give_to_server "$f"
    echo "$f"
}

# ---------------------------------------------------------------------------
echo "== bad key files: the server refuses to start"
GOOD=$(randhex)
bad_start() {  # label file expected-text [secret text that must not be logged]
    local label=$1 file=$2 text=$3 secret=${4:-}
    conf "shared_preload_libraries = 'pg_affiliate'" "pg_affiliate.root_key_file = '$file'"
    if start; then
        fail "$label: the server started"
        stop
    elif ! grep -q "FATAL:  .*$text" "$LOG"; then
        fail "$label: no FATAL \"$text\" in the log: $(tail -n 5 "$LOG" | tr '\n' ' ')"
    elif [ -n "$secret" ] && grep -qF -- "$secret" "$LOG"; then
        fail "$label: the log shows the file's contents"
    else
        pass "$label refused: $(grep -m1 'FATAL:' "$LOG" | sed 's/^.*FATAL:  //')"
    fi
}
bad_start "missing file" "$TMP/keys/none" "could not open root key file"
bad_start "mode 0644" "$(keyfile world 0644 "$GOOD")" "has group or world access" "$GOOD"
bad_start "mode 0640 (owned by the server's user)" "$(keyfile group 0640 "$GOOD")" "has group or world access" "$GOOD"
mkdir "$TMP/keys/dir" && chmod 0700 "$TMP/keys/dir" && pgc_give_to_server "$TMP/keys/dir"
bad_start "a directory" "$TMP/keys/dir" "is not a regular file"
short=${GOOD:0:63}
bad_start "63 hex digits" "$(keyfile short 0600 "$short")" "is malformed" "$short"
long="${GOOD}ab"
bad_start "66 hex digits" "$(keyfile long 0600 "$long")" "is malformed" "$long"
nonhex="${GOOD:0:40}g${GOOD:41}"
bad_start "a non-hex digit" "$(keyfile nonhex 0600 "$nonhex")" "is malformed" "$nonhex"
bad_start "an all-zero key" "$(keyfile zero 0600 "$(printf '0%.0s' $(seq 64))")" "all-zero key"

# ---------------------------------------------------------------------------
echo "== no root key (pg_affiliate preloaded): keys in clear, as before"
conf "shared_preload_libraries = 'pg_affiliate'"
start || { tail -n 20 "$LOG"; exit 1; }
q -d postgres -c "CREATE DATABASE rk"
q -c "CREATE EXTENSION pg_affiliate" \
  -c "CREATE ROLE rk_operator LOGIN IN ROLE affiliate_operator" \
  -c "CREATE ROLE rk_nobody LOGIN"
check "root_key_id() is NULL" "SELECT affiliate.root_key_id() IS NULL"
P0=$(q -c "SELECT affiliate.create_program('p0', 'INR')")
P1=$(q -c "SELECT affiliate.create_program('p1', 'INR')")
q -c "SELECT affiliate.add_member($P0, 'a0', NULL, 'dev-0')" >/dev/null
check "a new key is stored in clear (32 bytes)" \
  "SELECT length(hash_key) = 32 AND sealed_key IS NULL AND root_key_id IS NULL
     FROM affiliate.program_secret WHERE program_id = $P0"
refused "seal_secrets() without a root key" 55000 "no root key is loaded" "SELECT affiliate.seal_secrets()"
check "the programs' signing keys are stored in clear (64 bytes)" \
  "SELECT count(*) = 2 AND bool_and(length(secret_key) = 64 AND sealed_key IS NULL AND root_key_id IS NULL)
     FROM affiliate.signing_key WHERE program_id IN ($P0, $P1)"
SK0=$(q -c "SELECT encode(secret_key, 'hex') FROM affiliate.signing_key WHERE program_id = $P0")
C0=$(certify "$P0" cert-a0)
check "a certificate signed with a clear key verifies" \
  "SELECT status = 'valid' FROM affiliate.verify_certificate($P0, '$C0')"
# plant a known clear key K for p1 (what a 0.3.0 install left behind)
K=$(randhex)
q -c "INSERT INTO affiliate.program_secret (program_id, hash_key) VALUES ($P1, '\\x$K')"
q -c "SELECT affiliate.add_member($P1, 'a1', NULL, 'dev-1', '203.0.113.1')" >/dev/null
H0=$(q -c "SELECT encode(device_hash, 'hex') FROM affiliate.member WHERE program_id = $P0 AND external_id = 'a0'")
H1=$(q -c "SELECT encode(device_hash, 'hex') FROM affiliate.member WHERE program_id = $P1 AND external_id = 'a1'")
[ ${#H1} -eq 64 ] && pass "a1's device hash under K: ${H1:0:16}..." || fail "no device hash for a1"
# positive controls: the searches below find K when it is there
q -c "CHECKPOINT"
RELFILE="$DATADIR/$(q -c "SELECT pg_relation_filepath('affiliate.program_secret')")"
if q -c "COPY affiliate.program_secret TO STDOUT" | grep -q "$K"; then
    pass "control: COPY of program_secret shows K in clear"
else
    fail "control: K not found in COPY output"
fi
if hexof "$RELFILE" | grep -q "$K"; then
    pass "control: the table's data file holds K in clear"
else
    fail "control: K not found in $RELFILE"
fi
SKFILE="$DATADIR/$(q -c "SELECT pg_relation_filepath('affiliate.signing_key')")"
if q -c "COPY affiliate.signing_key TO STDOUT" | grep -q "$SK0" && hexof "$SKFILE" | grep -q "$SK0"; then
    pass "control: COPY of signing_key and its data file show p0's secret key in clear"
else
    fail "control: p0's secret key not found in COPY or $SKFILE"
fi
pg_dump -d rk >"$TMP/dump0.sql"
if grep -q 'COPY affiliate.program_secret' "$TMP/dump0.sql"; then
    if grep -q "$K" "$TMP/dump0.sql"; then
        pass "control: pg_dump carries program_secret, with K in clear"
    else
        fail "control: pg_dump carries program_secret but K was not found in it"
    fi
    DUMPS_SECRETS=1
    if grep -q "$SK0" "$TMP/dump0.sql"; then
        pass "control: pg_dump carries signing_key, with p0's secret key in clear"
    else
        fail "control: p0's secret key not found in pg_dump"
    fi
else
    echo "note: pg_dump does not carry program_secret's rows (not a configuration table); the dump check below is weaker"
    DUMPS_SECRETS=0
fi

# ---------------------------------------------------------------------------
echo "== root key A"
KEY_A=$(randhex)
FILE_A=$(keyfile a 0600 "$KEY_A"$'\n')
restart_with "shared_preload_libraries = 'pg_affiliate'" "pg_affiliate.root_key_file = '$FILE_A'"
ID_A=$(q -c "SELECT affiliate.root_key_id()")
[[ "$ID_A" =~ ^[0-9a-f]{16}$ ]] && pass "root key A loaded, id $ID_A" || fail "root_key_id() = '$ID_A'"
if grep -qF "$KEY_A" "$LOG"; then fail "the server log shows root key A"; else pass "the server log does not show the key"; fi
check "superuser: SHOW pg_affiliate.root_key_file names the file" \
  "SELECT current_setting('pg_affiliate.root_key_file') = '$FILE_A'"
refused "operator: SHOW pg_affiliate.root_key_file" 42501 "pg_affiliate.root_key_file" \
  "SHOW pg_affiliate.root_key_file" rk_operator
refused "any role: current_setting('pg_affiliate.root_key_file')" 42501 "pg_affiliate.root_key_file" \
  "SELECT current_setting('pg_affiliate.root_key_file')" rk_nobody
check "any role: pg_settings hides pg_affiliate.root_key_file" \
  "SET ROLE rk_nobody; SELECT count(*) = 0 FROM pg_settings WHERE name = 'pg_affiliate.root_key_file'"
refused "superuser: the root key file cannot be changed at run time" 55P02 "pg_affiliate.root_key_file" \
  "SET pg_affiliate.root_key_file = '/dev/null'"

q -c "SELECT affiliate.add_member($P1, 'b1', NULL, 'dev-1')" >/dev/null
check "the clear key K still works: same hash" \
  "SELECT encode(device_hash, 'hex') = '$H1' FROM affiliate.member WHERE program_id = $P1 AND external_id = 'b1'"
P2=$(q -c "SELECT affiliate.create_program('p2', 'INR')")
q -c "SELECT affiliate.add_member($P2, 'a2', NULL, 'dev-2')" >/dev/null
H2=$(q -c "SELECT encode(device_hash, 'hex') FROM affiliate.member WHERE program_id = $P2 AND external_id = 'a2'")
check "a new key is sealed: no clear key, 80 bytes, root key A's id" \
  "SELECT hash_key IS NULL AND length(sealed_key) = 80 AND encode(root_key_id, 'hex') = '$ID_A'
     FROM affiliate.program_secret WHERE program_id = $P2"
check "a new signing key is sealed: no clear secret key, 112 bytes, root key A's id" \
  "SELECT secret_key IS NULL AND length(sealed_key) = 112 AND encode(root_key_id, 'hex') = '$ID_A'
     FROM affiliate.signing_key WHERE program_id = $P2"
C2=$(certify "$P2" cert-a2)
check "a certificate signed with a sealed key (p2) verifies" \
  "SELECT status = 'valid' FROM affiliate.verify_certificate($P2, '$C2')"
check "a certificate signed with a clear key (p1), root key loaded, verifies" \
  "SELECT status = 'valid' FROM affiliate.verify_certificate($P1, '$(certify "$P1" cert-a1)')"
refused "operator: signing_key stays unreadable" 42501 "permission denied for table signing_key" \
  "SELECT public_key FROM affiliate.signing_key" rk_operator
check "secret_status() (operator): p0 and p1 in clear, p2 sealed with A" \
  "SET ROLE rk_operator;
   SELECT array_agg(row(program_id, sealed, root_key_id)::text ORDER BY program_id)
          = ARRAY[row($P0, false, NULL::text)::text, row($P1, false, NULL::text)::text, row($P2, true, '$ID_A')::text]
     FROM affiliate.secret_status()"
refused "operator: program_secret itself stays unreadable" 42501 "permission denied for table program_secret" \
  "SELECT sealed_key FROM affiliate.program_secret" rk_operator
check "seal_secrets() by an operator seals the four clear keys (hash and signing keys of p0, p1)" \
  "SET ROLE rk_operator; SELECT affiliate.seal_secrets() = 4"
check "seal_secrets() again: nothing left to seal" "SELECT affiliate.seal_secrets() = 0"
check "one audit row per sealed key, naming the operator and root key A" \
  "SELECT array_agg(row(program_id, db_role, detail->>'root_key_id')::text ORDER BY program_id)
          = ARRAY[row($P0, 'rk_operator', '$ID_A')::text, row($P1, 'rk_operator', '$ID_A')::text]
     FROM affiliate.audit_log WHERE action = 'seal_secret'"
check "one audit row per sealed signing key, naming the operator and root key A" \
  "SELECT array_agg(row(program_id, db_role, detail->>'root_key_id')::text ORDER BY program_id)
          = ARRAY[row($P0, 'rk_operator', '$ID_A')::text, row($P1, 'rk_operator', '$ID_A')::text]
     FROM affiliate.audit_log WHERE action = 'seal_signing_key'"
check "signing_key holds no secret key in clear" \
  "SELECT count(*) = 3 AND count(*) FILTER (WHERE secret_key IS NOT NULL) = 0
          AND bool_and(length(sealed_key) = 112 AND encode(root_key_id, 'hex') = '$ID_A')
     FROM affiliate.signing_key"
check "certificates signed before the sealing still verify" "$ALL_VALID"
C0B=$(certify "$P0" cert-b0)
check "p0's sealed signing key signs new certificates" \
  "SELECT status = 'valid' FROM affiliate.verify_certificate($P0, '$C0B')"
check "program_secret holds no key in clear" \
  "SELECT count(*) = 3 AND count(*) FILTER (WHERE hash_key IS NOT NULL) = 0
          AND bool_and(length(sealed_key) = 80 AND encode(root_key_id, 'hex') = '$ID_A')
     FROM affiliate.program_secret"
q -c "SELECT affiliate.add_member($P1, 'c1', NULL, 'dev-1')" -c "SELECT affiliate.add_member($P0, 'c0', NULL, 'dev-0')" >/dev/null
check "sealed K gives the same hashes (p0, p1)" \
  "SELECT array_agg(encode(device_hash, 'hex') ORDER BY program_id) = ARRAY['$H0', '$H1']
     FROM affiliate.member WHERE external_id IN ('c0', 'c1')"
# the old row versions with K go with VACUUM FULL (docs/security.md: and WAL)
q -c "VACUUM FULL affiliate.program_secret" -c "VACUUM FULL affiliate.signing_key" -c "CHECKPOINT"
RELFILE="$DATADIR/$(q -c "SELECT pg_relation_filepath('affiliate.program_secret')")"
if q -c "COPY affiliate.program_secret TO STDOUT" | grep -q "$K"; then
    fail "COPY of program_secret still shows K"
else
    pass "COPY of program_secret does not show K"
fi
if hexof "$RELFILE" | grep -q "$K"; then
    fail "the table's data file still holds K"
else
    pass "the table's data file does not hold K"
fi
SKFILE="$DATADIR/$(q -c "SELECT pg_relation_filepath('affiliate.signing_key')")"
if q -c "COPY affiliate.signing_key TO STDOUT" | grep -q "$SK0" || hexof "$SKFILE" | grep -q "$SK0"; then
    fail "COPY of signing_key or its data file still shows p0's secret key"
else
    pass "neither COPY of signing_key nor its data file shows p0's secret key"
fi
pg_dump -d rk >"$TMP/dump1.sql"
if grep -q "$K" "$TMP/dump1.sql" || grep -qF "$KEY_A" "$TMP/dump1.sql" || grep -q "$SK0" "$TMP/dump1.sql"; then
    fail "pg_dump output holds K, p0's secret signing key or the root key"
else
    if [ "$DUMPS_SECRETS" = 1 ] && ! grep -q 'COPY affiliate.program_secret' "$TMP/dump1.sql"; then
        fail "pg_dump stopped carrying program_secret"
    fi
    if [ "$DUMPS_SECRETS" = 1 ] && ! grep -q 'COPY affiliate.signing_key' "$TMP/dump1.sql"; then
        fail "pg_dump stopped carrying signing_key"
    fi
    pass "pg_dump output holds neither K, p0's secret signing key nor the root key ($(wc -c <"$TMP/dump1.sql") bytes)"
fi
# sealed keys are bound to their program and authenticated
refused "an altered sealed key is refused" XX001 "does not open" "
  BEGIN;
  UPDATE affiliate.program_secret SET sealed_key = set_byte(sealed_key, 50, get_byte(sealed_key, 50) # 1)
   WHERE program_id = $P2;
  SELECT affiliate.add_member($P2, 'x2', NULL, 'dev-2');"
refused "p0's sealed key moved to p2 is refused" XX001 "sealed key of another program" "
  BEGIN;
  UPDATE affiliate.program_secret s SET sealed_key = o.sealed_key
    FROM affiliate.program_secret o WHERE s.program_id = $P2 AND o.program_id = $P0;
  SELECT affiliate.add_member($P2, 'x2', NULL, 'dev-2');"
check "and nothing was written" "SELECT count(*) = 0 FROM affiliate.member WHERE external_id = 'x2'"
refused "an altered sealed signing key is refused" XX001 "the sealed signing key of program $P2 does not open" "
  BEGIN;
  UPDATE affiliate.signing_key SET sealed_key = set_byte(sealed_key, 60, get_byte(sealed_key, 60) # 1)
   WHERE program_id = $P2;
  SELECT affiliate.enroll($P2, (SELECT id FROM affiliate.member WHERE external_id = 'cert-a2'),
                          affiliate.create_course($P2, 'x', NULL, 0, true));
  SELECT completed FROM affiliate.record_progress($P2, (SELECT id FROM affiliate.member WHERE external_id = 'cert-a2'),
    affiliate.add_topic($P2, affiliate.add_module($P2, (SELECT max(id) FROM affiliate.course WHERE program_id = $P2), 'm', NULL, 0, true),
                        't', 'youtube', 'abcdefghijk', 1, NULL, 0, true), 1, true);"
refused "p0's sealed signing key moved to p2 is refused" XX001 "sealed key of another program" "
  BEGIN;
  UPDATE affiliate.signing_key s SET sealed_key = o.sealed_key
    FROM affiliate.signing_key o WHERE s.program_id = $P2 AND o.program_id = $P0;
  SELECT affiliate.enroll($P2, (SELECT id FROM affiliate.member WHERE external_id = 'cert-a2'),
                          affiliate.create_course($P2, 'x', NULL, 0, true));
  SELECT completed FROM affiliate.record_progress($P2, (SELECT id FROM affiliate.member WHERE external_id = 'cert-a2'),
    affiliate.add_topic($P2, affiliate.add_module($P2, (SELECT max(id) FROM affiliate.course WHERE program_id = $P2), 'm', NULL, 0, true),
                        't', 'youtube', 'abcdefghijk', 1, NULL, 0, true), 1, true);"
check "and no certificate was issued" "SELECT count(*) = 4 FROM affiliate.certificate"

# ---------------------------------------------------------------------------
echo "== restart with root key A: hashes stable"
restart_with "shared_preload_libraries = 'pg_affiliate'" "pg_affiliate.root_key_file = '$FILE_A'"
check "same root key id after restart" "SELECT affiliate.root_key_id() = '$ID_A'"
q -c "SELECT affiliate.add_member($P0, 'd0', NULL, 'dev-0')" -c "SELECT affiliate.add_member($P1, 'd1', NULL, 'dev-1')" \
  -c "SELECT affiliate.add_member($P2, 'd2', NULL, 'dev-2')" >/dev/null
check "same hashes after restart (p0, p1, p2)" \
  "SELECT array_agg(encode(device_hash, 'hex') ORDER BY program_id) = ARRAY['$H0', '$H1', '$H2']
     FROM affiliate.member WHERE external_id IN ('d0', 'd1', 'd2')"
check "every certificate verifies after the restart" "$ALL_VALID"
check "p2's sealed signing key signs after the restart" \
  "SELECT status = 'valid' FROM affiliate.verify_certificate($P2, '$(certify "$P2" cert-d2)')"

# ---------------------------------------------------------------------------
echo "== root key B (wrong key)"
KEY_B=$(randhex)
FILE_B=$(keyfile b 0600 "$KEY_B")
restart_with "shared_preload_libraries = 'pg_affiliate'" "pg_affiliate.root_key_file = '$FILE_B'"
ID_B=$(q -c "SELECT affiliate.root_key_id()")
[[ "$ID_B" =~ ^[0-9a-f]{16}$ ]] && [ "$ID_B" != "$ID_A" ] && pass "root key B loaded, id $ID_B" ||
    fail "root key B id '$ID_B' (A: $ID_A)"
refused "a key sealed with A, server on B" 55000 "was sealed with another root key" \
  "SELECT affiliate.add_member($P2, 'e2', NULL, 'dev-2')"
refused "the error names both key ids" 55000 "It was sealed with root key $ID_A; the server loaded root key $ID_B" \
  "SELECT affiliate.record_click($P1, (SELECT code::text FROM affiliate.member WHERE external_id = 'a1'), 'web', '203.0.113.9')"
check "add_member without personal data needs no key" \
  "SELECT affiliate.add_member($P2, 'e2') IS NOT NULL"
check "certificates verify on root key B (only public keys are needed)" "$ALL_VALID"
NCERT=$(q -c "SELECT count(*) FROM affiliate.certificate")
refused "issuing with a key sealed with A, server on B" 55000 "the signing key of program $P2 was sealed with another root key" "
  SELECT affiliate.enroll($P2, (SELECT id FROM affiliate.member WHERE external_id = 'cert-a2'),
                          affiliate.create_course($P2, 'x', NULL, 0, true));
  SELECT completed FROM affiliate.record_progress($P2, (SELECT id FROM affiliate.member WHERE external_id = 'cert-a2'),
    affiliate.add_topic($P2, affiliate.add_module($P2, (SELECT max(id) FROM affiliate.course WHERE program_id = $P2), 'm', NULL, 0, true),
                        't', 'youtube', 'abcdefghijk', 1, NULL, 0, true), 1, true);"
check "no certificate was issued" "SELECT count(*) = $NCERT FROM affiliate.certificate"

# ---------------------------------------------------------------------------
echo "== no root key, pg_affiliate preloaded"
restart_with "shared_preload_libraries = 'pg_affiliate'"
refused "a sealed key without the root key" 55000 "is sealed, but no root key is loaded" \
  "SELECT affiliate.add_member($P2, 'f2', NULL, 'dev-2')"
refused "the hint names the key id needed" 55000 "Configure the root key with id $ID_A" \
  "SELECT affiliate.add_member($P2, 'f2', NULL, 'dev-2')"
P3=$(q -c "SELECT affiliate.create_program('p3', 'INR')")
q -c "SELECT affiliate.add_member($P3, 'a3', NULL, 'dev-3')" >/dev/null
check "without the GUC new keys are in clear, as before" \
  "SELECT length(hash_key) = 32 AND sealed_key IS NULL FROM affiliate.program_secret WHERE program_id = $P3"
check "without the GUC a new signing key is in clear" \
  "SELECT length(secret_key) = 64 AND sealed_key IS NULL FROM affiliate.signing_key WHERE program_id = $P3"
check "certificates verify without a root key" "$ALL_VALID"
refused "issuing with a sealed signing key without the root key" 55000 "the signing key of program $P2 is sealed, but no root key is loaded" "
  SELECT affiliate.enroll($P2, (SELECT id FROM affiliate.member WHERE external_id = 'cert-a2'),
                          affiliate.create_course($P2, 'x', NULL, 0, true));
  SELECT completed FROM affiliate.record_progress($P2, (SELECT id FROM affiliate.member WHERE external_id = 'cert-a2'),
    affiliate.add_topic($P2, affiliate.add_module($P2, (SELECT max(id) FROM affiliate.course WHERE program_id = $P2), 'm', NULL, 0, true),
                        't', 'youtube', 'abcdefghijk', 1, NULL, 0, true), 1, true);"
check "no certificate was issued, no signing key made in clear for p2" \
  "SELECT (SELECT count(*) FROM affiliate.certificate) = $NCERT
      AND (SELECT count(*) FROM affiliate.signing_key WHERE program_id = $P2 AND secret_key IS NOT NULL) = 0"

# ---------------------------------------------------------------------------
echo "== root key file set, pg_affiliate not preloaded"
restart_with "shared_preload_libraries = ''" "pg_affiliate.root_key_file = '$FILE_A'"
refused "a sealed key" 55000 "is sealed, but no root key is loaded" \
  "SELECT affiliate.add_member($P2, 'g2', NULL, 'dev-2')"
P4=$(q -c "SELECT affiliate.create_program('p4', 'INR')")
refused "a new key is not stored in clear" 55000 "pg_affiliate.root_key_file is set but pg_affiliate was not preloaded" \
  "SELECT affiliate.add_member($P4, 'a4', NULL, 'dev-4')"
check "no key was stored for p4" "SELECT count(*) = 0 FROM affiliate.program_secret WHERE program_id = $P4"
check "create_program made no signing key for p4 (none in clear)" \
  "SELECT count(*) = 0 FROM affiliate.signing_key WHERE program_id = $P4"
refused "p4's signing key is not made in clear when first needed" 55000 "was not preloaded" \
  "SELECT * FROM affiliate.certificate_public_key($P4)"
# (SET first: the library, loaded by the first C call, warns about the GUC it did not define)
check "certificates verify without the preload" "SET client_min_messages = error; $ALL_VALID"
refused "seal_secrets() is refused too" 55000 "was not preloaded" "SELECT affiliate.seal_secrets()"

# ---------------------------------------------------------------------------
echo "== root key A again"
restart_with "shared_preload_libraries = 'pg_affiliate'" "pg_affiliate.root_key_file = '$FILE_A'"
q -c "SELECT affiliate.add_member($P1, 'h1', NULL, 'dev-1')" -c "SELECT affiliate.add_member($P2, 'h2', NULL, 'dev-2')" >/dev/null
check "same hashes again (p1, p2)" \
  "SELECT array_agg(encode(device_hash, 'hex') ORDER BY program_id) = ARRAY['$H1', '$H2']
     FROM affiliate.member WHERE external_id IN ('h1', 'h2')"
H3=$(q -c "SELECT encode(device_hash, 'hex') FROM affiliate.member WHERE program_id = $P3 AND external_id = 'a3'")
check "seal_secrets() seals p3's clear keys (hash and signing key, made without the GUC)" "SELECT affiliate.seal_secrets() = 2"
q -c "SELECT affiliate.add_member($P3, 'h3', NULL, 'dev-3')" >/dev/null
check "p3: sealed now, same hash" \
  "SELECT (SELECT sealed_key IS NOT NULL AND hash_key IS NULL FROM affiliate.program_secret WHERE program_id = $P3)
      AND (SELECT encode(device_hash, 'hex') FROM affiliate.member WHERE program_id = $P3 AND external_id = 'h3') = '$H3'"
check "p4 gets its sealed signing key when first needed" \
  "SELECT count(*) = 1 FROM affiliate.certificate_public_key($P4)"
check "no signing key is stored in clear; every one is sealed with A" \
  "SELECT count(*) = 5 AND bool_and(secret_key IS NULL AND encode(root_key_id, 'hex') = '$ID_A') FROM affiliate.signing_key"
check "every certificate verifies; p3 and p4 issue sealed-signed ones" \
  "SELECT (SELECT status FROM affiliate.verify_certificate($P3, '$(certify "$P3" cert-h3)')) = 'valid'
      AND (SELECT status FROM affiliate.verify_certificate($P4, '$(certify "$P4" cert-h4)')) = 'valid'
      AND ($ALL_VALID)"
check "verify() is empty in every program" \
  "SELECT count(*) = 0 FROM affiliate.program p, LATERAL affiliate.verify(p.id)"
if grep -qF -e "$KEY_A" -e "$KEY_B" -e "$K" "$TMP"/server-*.log; then
    fail "a server log shows a key"
else
    pass "no server log shows a key ($NSTART starts)"
fi

stop
if [ "$FAILED" -gt 0 ]; then
    echo "root_key: $FAILED check(s) FAILED"
    exit 1
fi
echo "root_key: passed"
