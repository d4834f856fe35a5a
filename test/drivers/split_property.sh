#!/usr/bin/env bash
# Property test of affiliate.split(): CASES random splits (default 100000)
# over amounts from 0 to the bigint maximum, 1..10 rates mostly adding up to
# (nearly) 100 %, units from 1 to the bigint maximum and all three rounding
# modes.  Each share is checked against figures computed in numeric,
# independently of the C code (test/drivers/split_property.sql):
#   - the shares never add up to more than the amount;
#   - every share is >= 0 and within one rounding unit of its exact value;
#   - every share is a multiple of the unit, unless the clamp made the shares
#     add up to exactly the amount;
#   - a single rate gets the named rounding of its exact value (at most the
#     amount);
#   - when the shares rounded alone fit in the amount, they are the result;
#   - otherwise the result is the clamped rounding of the running total.
# Also fails when the random cases did not reach the fallback, the clamp, a
# tie and a near tie in every mode, or amounts and units at the bigint maximum.
#
# Environment: PGHOST/PGPORT/PGUSER/PGDATABASE (a database with pg_affiliate
# installed), SEED (optional; printed so a failure can be replayed),
# CASES (default 100000).
set -euo pipefail
cd "$(dirname "$0")/../.."

SEED=${SEED:-$(( (RANDOM << 15 | RANDOM) % 1000000 + 1 ))}
CASES=${CASES:-100000}
case "$SEED" in ''|*[!0-9]*) echo "split_property: SEED must be a positive integer" >&2; exit 2 ;; esac
case "$CASES" in ''|*[!0-9]*) echo "split_property: CASES must be a positive integer" >&2; exit 2 ;; esac
echo "split_property: seed $SEED, $CASES cases (replay with SEED=$SEED)"

export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# setseed() takes a float; map the integer seed into (0, 1)
fseed=$(awk -v s="$SEED" 'BEGIN { printf "%.9f", (s % 1000003) / 1000003.0 }')

start=$(date +%s.%N)
if ! q -v seed="$fseed" -v cases="$CASES" -f test/drivers/split_property.sql; then
  echo "split_property: FAILED: the property query raised an error (seed $SEED)"
  exit 1
fi
elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

q -At -F ' ' -c "
  SELECT 'cases: ' || count(*) || ', shares: ' || sum(n)
         || ', amount 0: ' || count(*) FILTER (WHERE amount = 0)
         || ', amount >= 9e18: ' || count(*) FILTER (WHERE amount >= 9000000000000000000)
         || ', amount = max: ' || count(*) FILTER (WHERE amount = 9223372036854775807)
         || ', unit 1: ' || count(*) FILTER (WHERE unit = 1)
         || ', unit > amount: ' || count(*) FILTER (WHERE unit > amount)
         || ', unit >= 1e18: ' || count(*) FILTER (WHERE unit >= 1000000000000000000)
    FROM prop_case" | sed 's/^/  /'
q -At -F ' ' -c "
  SELECT '  ' || rpad(mode, 9) || ' cases ' || count(DISTINCT id)
         || ', fallback ' || count(DISTINCT id) FILTER (WHERE fallback)
         || ', clamped ' || count(DISTINCT id) FILTER (WHERE fallback AND cum_r > amount)
         || ', ties ' || count(*) FILTER (WHERE tie_gap = 0)
         || ', near ties ' || count(*) FILTER (WHERE tie_gap <> 0 AND abs(tie_gap) <= 4)
    FROM prop_eval GROUP BY mode ORDER BY mode"
q -At -c "
  SELECT '  rates adding up to 10000: ' || count(*) FILTER (WHERE t = 10000)
         || ', 9981..9999: ' || count(*) FILTER (WHERE t BETWEEN 9981 AND 9999)
         || ', fallback cases in all: ' || (SELECT count(DISTINCT id) FROM prop_eval WHERE fallback)
    FROM (SELECT (SELECT sum(x) FROM unnest(rates) x) AS t FROM prop_case) s"
echo "  runtime: ${elapsed}s (generate, split and check)"

status=0
check() {  # name, query returning rows that are failures
  local out
  out=$(q -At -F ' ' -c "$2")
  if [ -n "$out" ]; then
    echo "FAIL $1:"; echo "$out" | head -20; status=1
  else
    echo "ok   $1"
  fi
}

for c in 'shape' 'sum <= amount' 'share >= 0' '|share - exact| <= unit' 'multiple of unit' \
         'single rate = rounding' 'fits: share = rounding alone' 'share = oracle'; do
  check "$c" "
    SELECT 'case ' || r.id || ': split(' || r.amount || ', ''' || r.rates::text || ''', '
           || r.unit || ', ''' || r.mode || ''') = ' || coalesce(r.shares::text, 'NULL')
           || '; expected ' || coalesce((SELECT array_agg(e.expected ORDER BY e.ord)::text
                                           FROM prop_eval e WHERE e.id = r.id), '?')
      FROM prop_result r
     WHERE r.id IN (SELECT v.id FROM prop_violation v WHERE v.\"check\" = \$\$$c\$\$)
     ORDER BY r.id LIMIT 5"
done
n=$(q -At -c "SELECT count(*) FROM prop_violation")
echo "  violations: $n"

# the random cases must have reached every path worth testing
check "coverage: fallback, clamp, ties and near ties in every mode, bigint extremes" "
  SELECT 'missing: ' || what FROM (VALUES
      ('fallback', (SELECT count(*) FROM prop_eval WHERE fallback)),
      ('clamp', (SELECT count(*) FROM prop_eval WHERE fallback AND cum_r > amount)),
      ('half_up tie', (SELECT count(*) FROM prop_eval WHERE tie_gap = 0 AND mode = 'half_up')),
      ('half_even tie', (SELECT count(*) FROM prop_eval WHERE tie_gap = 0 AND mode = 'half_even')),
      ('down tie', (SELECT count(*) FROM prop_eval WHERE tie_gap = 0 AND mode = 'down')),
      ('half_up near tie', (SELECT count(*) FROM prop_eval WHERE tie_gap <> 0 AND abs(tie_gap) <= 4 AND mode = 'half_up')),
      ('half_even near tie', (SELECT count(*) FROM prop_eval WHERE tie_gap <> 0 AND abs(tie_gap) <= 4 AND mode = 'half_even')),
      ('amount = bigint max', (SELECT count(*) FROM prop_case WHERE amount = 9223372036854775807)),
      ('unit = bigint max', (SELECT count(*) FROM prop_case WHERE unit = 9223372036854775807)),
      ('amount 0', (SELECT count(*) FROM prop_case WHERE amount = 0))) v(what, n)
   WHERE n = 0"
check "case count" "SELECT 'only ' || count(*) || ' cases' FROM prop_result HAVING count(*) < $CASES"

if [ "$status" != 0 ]; then echo "split_property: FAILED (seed $SEED)"; exit 1; fi
echo "split_property: passed (seed $SEED)"
