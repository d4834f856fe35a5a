#!/usr/bin/env bash
# Hostile input driver (issue 7 §2): every function and procedure of schemas
# affiliate and affiliate_api, taken from pg_proc, is called with NULLs,
# zero, negatives, bigint limits and values past them, empty and 1 MB
# strings, invalid UTF-8, SQL- and template-injection strings, odd jsonb,
# unknown ids and ids of another program — one argument at a time, the others
# valid — and, where a JWT reaches it, under hostile claims and headers.
# Every call must be accepted or refused with a documented SQLSTATE (the
# error-code tables of docs/*.md, or the code PostgreSQL itself raises for the
# hostile value on its own); never an XX code, never a crash, never a changed
# ledger.  See docs/reliability.md#hostile-input.
#
#   test/hostile/fixture.sql    two programs with members, plans, conversions,
#                               withdrawals (the world every call runs in)
#   test/hostile/framework.sql  hx_one(): one call, classified and recorded
#   test/hostile/matrix.sql     the values, baselines and hx_generate()
#
# Environment: PGHOST/PGPORT/PGUSER/PGDATABASE (a database with pg_affiliate
# installed; PGUSER a superuser), HOSTILE_TIMEOUT (per call, default 30s),
# HOSTILE_SELFTEST=1 (instead of the matrix, six planted faults — a backend
# crash, a timeout, an XX000, an undocumented code, an accepted value that must
# be refused, a write to another program — each of which the driver must
# catch; it kills its own backend once, so not on a shared server).
# Exit status 1 if any call was internal (XX*, crash, timeout) or refused with
# an undocumented SQLSTATE, if a refused call changed anything, if an accepted
# call changed another program or broke verify() or took a value it must
# refuse, or if verify() is not empty at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."

SELFTEST=${HOSTILE_SELFTEST:-0}
TIMEOUT=${HOSTILE_TIMEOUT:-30s}
[ "$SELFTEST" = 1 ] && TIMEOUT=3s
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hostile_input.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

if [ "$(q -At -c "select rolsuper from pg_roles where rolname = current_user")" != t ]; then
  echo "hostile_input: must run as a superuser (it switches roles like PostgREST does)"
  exit 1
fi

# ---- set up: fixture, framework, the call list ----------------------------
q -f test/hostile/fixture.sql
q -f test/hostile/framework.sql
q -f test/hostile/matrix.sql
q -c "select hx_generate()" >/dev/null
if [ "$SELFTEST" = 1 ]; then
  q -c "delete from hx_call" -c "
    insert into hx_call (fn, role, vclass, sql, scope, expect) values
      ('affiliate.verify(bigint)', 'superuser', 'selftest_crash', 'select pg_terminate_backend(pg_backend_pid())::text', '', null),
      ('affiliate.verify(bigint)', 'superuser', 'selftest_timeout', 'select pg_sleep(6)::text', '', null),
      ('affiliate.verify(bigint)', 'superuser', 'selftest_xx000', 'do \$\$ begin raise exception using errcode = ''XX000''; end \$\$', '', null),
      ('affiliate.verify(bigint)', 'superuser', 'selftest_undocumented', 'do \$\$ begin raise exception ''planted''; end \$\$', '', null),
      ('affiliate.verify(bigint)', 'affiliate_operator', 'selftest_must_refuse', 'select count(*)::text from affiliate.verify()', '', 'refuse'),
      ('affiliate.verify(bigint)', 'affiliate_operator', 'selftest_leak',
       hx_fill('select affiliate.set_member_status({pb}, {b_m2}, ''blocked'')'), hx_fill('{pa}'), null)"
fi

# the documented SQLSTATEs: first cell of every row of an error-code table
# shellcheck disable=SC2016  # the backquotes are markdown, not a command
codes=$(grep -hoE '^\| *`[0-9A-Z]{5}`' docs/*.md | grep -oE '[0-9A-Z]{5}' | grep '[0-9]' | sort -u)
if [ -z "$codes" ]; then echo "hostile_input: no error-code table found in docs/*.md"; exit 1; fi
for c in $codes; do echo "$c"; done | q -c "\copy hx_doc_code from stdin"
echo "documented SQLSTATEs (docs/*.md error tables): $(tr '\n' ' ' <<<"$codes")"

q -c "insert into hx_state select hx_snap()"
q -At -c "create table hx_state0 as select snap from hx_state"
q -At -F ' | ' -c "select 'skipped: ' || fn::text, why from hx_skip order by 1"
q -At -c "select 'functions fuzzed: ' || count(distinct fn) || ', calls planned: ' || count(*) from hx_call"

# ---- run every call; a lost connection or a top-level error is recorded ----
pending() {
  q -At -c "select id from hx_call c where not exists (select 1 from hx_result r where r.id = c.id) order by id"
}
wait_for_server() {
  for _ in $(seq 1 60); do
    if pg_isready -q 2>/dev/null && q -At -c "select 1" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "hostile_input: the server did not come back"
  exit 1
}
record_internal() {  # id, what
  q -c "insert into hx_result (id, outcome, sqlstate, message) values ($1, 'internal', null, \$m\$$2\$m\$)"
}

VACUUM=$(q -At -c "select string_agg(format('%I.%I', schemaname, relname), ', ' order by relname)
                      from pg_stat_user_tables where schemaname = 'affiliate'")
start=$(date +%s)
rounds=0
while :; do
  ids=$(pending)
  [ -n "$ids" ] || break
  rounds=$((rounds + 1))
  if [ "$rounds" -gt 200 ]; then echo "hostile_input: more than 200 rounds, giving up"; exit 1; fi
  # every call is rolled back: vacuum now and then, so the dead rows do not
  # slow down the fingerprint
  awk -v v="vacuum $VACUUM;" '{ print "select hx_one(" $0 ");" } NR % 400 == 0 { print v }' <<<"$ids" >"$WORK/calls.sql"
  rc=0
  PGOPTIONS="$PGOPTIONS -c statement_timeout=$TIMEOUT" \
    psql -X -q -v ON_ERROR_STOP=0 -v VERBOSITY=verbose -f "$WORK/calls.sql" >/dev/null 2>"$WORK/err" || rc=$?
  first=$(pending | head -n 1)
  [ -n "$first" ] || break
  if [ "$rc" -ne 0 ]; then
    # psql lost its connection: the first call without a result killed the backend
    echo "call $first: connection lost (psql status $rc): $(grep -m1 -iE 'server closed|terminat|lost' "$WORK/err" || true)"
    wait_for_server
    record_internal "$first" "connection lost: $(tr '\n' ' ' <"$WORK/err" | cut -c1-400)"
  else
    # a top-level error hx_one could not catch (a timeout, ...): run it alone to see it
    rc=0
    PGOPTIONS="$PGOPTIONS -c statement_timeout=$TIMEOUT" \
      psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "select hx_one($first)" >/dev/null 2>"$WORK/err1" || rc=$?
    if [ -z "$(q -At -c "select 1 from hx_result where id = $first")" ]; then
      echo "call $first: $(head -n 1 "$WORK/err1")"
      [ "$rc" -eq 2 ] && wait_for_server
      record_internal "$first" "$(tr '\n' ' ' <"$WORK/err1" | cut -c1-400)"
    fi
  fi
done
echo "ran in $(( $(date +%s) - start )) s, $rounds round(s)"

# ---- report ---------------------------------------------------------------
status=0
q -At -F ' ' -c "
  select 'calls tried: ' || count(*), '| refused cleanly: ' || count(*) filter (where outcome = 'refused'),
         '| accepted: ' || count(*) filter (where outcome = 'accepted'),
         '| undocumented: ' || count(*) filter (where outcome = 'undocumented'),
         '| internal errors: ' || count(*) filter (where outcome = 'internal')
    from hx_result"
q -At -F ' ' -c "
  select 'by role:', string_agg(role || ' ' || n, ', ' order by role)
    from (select c.role, count(*) n from hx_result r join hx_call c using (id) group by 1) s"
q -At -F ' ' -c "
  select 'refused SQLSTATEs:', string_agg(sqlstate || ' ' || n, ', ' order by n desc)
    from (select sqlstate, count(*) n from hx_result where outcome <> 'accepted' group by 1) s"

# a refused baseline makes the calls that vary it weaker (they are refused
# for the baseline's reason); listed so that a fixture or hx_base gap shows
q -At -F ' ' -c "
  select 'baseline refused (informative): ' || c.fn::text || ' as ' || c.role || ': ' || r.sqlstate || ' ' || left(r.message, 100)
    from hx_result r join hx_call c using (id)
   where c.vclass = 'baseline' and r.outcome <> 'accepted' order by c.id"

# check NAME QUERY: QUERY lists failures (grouped; the first 40 groups shown)
check() {
  local out n
  out=$(q -At -F ' | ' -c "$2")
  if [ -n "$out" ]; then
    n=$(wc -l <<<"$out")
    echo "FAIL $1 ($n group(s)):"
    head -n 40 <<<"$out" | sed 's/^/    /'
    status=1
  else
    echo "ok   $1"
  fi
}
# grouped WHAT WHERE: one line per (function and role, WHAT) over the calls
# WHERE selects, with a count and a reproduction of the first
grouped() {
  echo "select c.fn::text || ' as ' || c.role, $1 as what, count(*) || ' call(s)',
               'e.g. call ' || min(c.id) || ' (' || (array_agg(c.vclass || coalesce(' in ' || c.arg_name, '') order by c.id))[1]
                 || '): ' || replace(hx_repro(min(c.id)), chr(10), ' ')
          from hx_result r join hx_call c using (id)
         where $2
         group by 1, 2 order by 1, 2"
}
check "no internal error (XX class, crash, timeout)" \
  "$(grouped "coalesce(r.sqlstate, '') || ' ' || left(r.message, 200)" "r.outcome = 'internal'")"
check "every refusal has a documented SQLSTATE" \
  "$(grouped "r.sqlstate || ' ' || left(regexp_replace(r.message, '[0-9]+', 'N', 'g'), 120)" "r.outcome = 'undocumented'")"
check "no call left the fixture changed (refused or rolled back)" \
  "$(grouped "r.outcome || ' ' || coalesce(r.sqlstate, '')" "r.snap_changed")"
check "no accepted call changed another program" \
  "$(grouped "'changed program(s) ' || r.leaked_program" "r.leaked_program is not null")"
check "verify() and the stored-value checks clean after every accepted call" \
  "$(grouped "left(regexp_replace(r.verify_rows, '[0-9]+', 'N', 'g'), 200)" "r.verify_rows is not null")"
check "every program an accepted call changed still works (hx_probe)" \
  "$(grouped "left(regexp_replace(r.probe, '[0-9]+', 'N', 'g'), 200)" "r.probe is not null")"
check "no hostile value that must be refused was accepted" \
  "$(grouped "'accepted ' || c.vclass" "r.outcome = 'accepted' and c.expect = 'refuse'")"
check "verify() empty at the end" "select invariant, detail from affiliate.verify()"
check "the fixture is as it was before the run" \
  "select 'fingerprint differs' from hx_state0 s where s.snap is distinct from hx_snap()"
check "every call has a result" \
  "select 'no result for call ' || id from hx_call c where not exists (select 1 from hx_result r where r.id = c.id)"

if [ "$SELFTEST" = 1 ]; then
  # every planted fault must have been caught, each by its own check
  status=0
  check "self-test: every planted fault was caught" "
    select c.vclass from hx_call c join hx_result r using (id)
     where not case c.vclass
       when 'selftest_crash' then r.outcome = 'internal' and r.message like 'connection lost%'
       when 'selftest_timeout' then r.outcome = 'internal' and r.message like '%57014%'
       when 'selftest_xx000' then r.outcome = 'internal' and r.sqlstate = 'XX000'
       when 'selftest_undocumented' then r.outcome = 'undocumented' and r.sqlstate = 'P0001'
       when 'selftest_must_refuse' then r.outcome = 'accepted' and c.expect = 'refuse'
       when 'selftest_leak' then r.outcome = 'accepted' and r.leaked_program is not null
       else false end
    union all select 'missing: ' || v from unnest(array['selftest_crash', 'selftest_timeout', 'selftest_xx000',
      'selftest_undocumented', 'selftest_must_refuse', 'selftest_leak']) v
     where not exists (select 1 from hx_call c join hx_result r using (id) where c.vclass = v)"
  if [ "$status" != 0 ]; then echo "hostile_input self-test: FAILED"; exit 1; fi
  echo "hostile_input self-test: passed"
  exit 0
fi
if [ "$status" != 0 ]; then echo "hostile_input: FAILED"; exit 1; fi
echo "hostile_input: passed"
