-- Programs and their typed, validated settings.
-- a fresh extension per file: ids in the output do not depend on test order
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY default
CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM affiliate.program) AS programs,
       (SELECT count(*) FROM affiliate.audit_log) AS audit_rows,
       (SELECT md5(string_agg(affiliate.program_settings(id)::text, ';' ORDER BY id)) FROM affiliate.program) AS settings;

-- defaults
SELECT affiliate.create_program('Defaults Inc', 'usd') AS p_default \gset
SELECT name, currency, affiliate.program_settings(id) FROM affiliate.program WHERE id = :p_default;

-- the OTT shop of DESIGN 4.1: whole rupees, 24 h hold, Rs 500 minimum withdrawal
SELECT affiliate.create_program('OTT shop', 'INR',
    '{"hold_period": "24 hours", "min_withdrawal": 50000, "rounding_unit": 100,
      "rounding": "half_up", "attribution": "last_click", "attribution_window": "7 days",
      "clawback": "write_off"}') AS p_ott \gset
SELECT affiliate.program_settings(:p_ott);
SELECT hold_period, min_withdrawal, rounding_unit, rounding, attribution, attribution_window, clawback
  FROM affiliate.program WHERE id = :p_ott;
SELECT action, detail->'name' AS name, detail->'settings'->'min_withdrawal' AS min_withdrawal
  FROM affiliate.audit_log WHERE program_id = :p_ott;

-- every bad value is refused with 22023 naming the key, and changes nothing
SELECT * FROM fingerprint \gset before_
SELECT affiliate.create_program('x', 'INR', '{"colour": "red"}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'INR', '{"hold_period": "soon"}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'INR', '{"hold_period": "-1 hour"}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'INR', '{"hold_period": 86400}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'INR', '{"hold_period": null}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'INR', '{"min_withdrawal": -1}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'INR', '{"min_withdrawal": 1.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'INR', '{"min_withdrawal": "500"}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'INR', '{"min_withdrawal": 1e30}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'INR', '{"rounding_unit": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'INR', '{"rounding_unit": true}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'INR', '{"rounding": "up"}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'INR', '{"rounding": "HALF_UP"}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'INR', '{"attribution": "random"}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'INR', '{"attribution_window": "0"}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'INR', '{"attribution_window": "-3 days"}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'INR', '{"clawback": "maybe"}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'INR', '["hold_period"]');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'INR', '"24 hours"');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'rupee');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', 'IN1');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('   ', 'INR');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program(NULL, 'INR');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_program('x', NULL);
\echo :LAST_ERROR_SQLSTATE
-- a valid key next to a bad one: the whole call is refused
SELECT affiliate.create_program('x', 'INR', '{"min_withdrawal": 100, "rounding": "up"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM fingerprint \gset after_
SELECT :'before_programs' = :'after_programs' AS same_programs,
       :'before_audit_rows' = :'after_audit_rows' AS same_audit,
       :'before_settings' = :'after_settings' AS same_settings;

-- update_program_settings: only the given keys change; audited with old and new
SELECT affiliate.update_program_settings(:p_ott, '{"hold_period": "48 hours", "rounding": "half_even"}');
SELECT action, detail FROM affiliate.audit_log
 WHERE program_id = :p_ott AND action = 'update_program_settings';
-- an empty change is allowed and audited as changing nothing
SELECT affiliate.update_program_settings(:p_ott, '{}') = affiliate.program_settings(:p_ott) AS unchanged;
SELECT detail FROM affiliate.audit_log
 WHERE program_id = :p_ott AND action = 'update_program_settings' ORDER BY id DESC LIMIT 1;

-- refused updates change nothing
SELECT * FROM fingerprint \gset before_
SELECT affiliate.update_program_settings(:p_ott, '{"min_withdrawal": 100, "hold_period": "later"}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.update_program_settings(:p_ott, '{"currency": "USD"}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.update_program_settings(:p_ott, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.update_program_settings(NULL, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.update_program_settings(-1, '{"min_withdrawal": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM fingerprint \gset after_
SELECT :'before_programs' = :'after_programs' AS same_programs,
       :'before_audit_rows' = :'after_audit_rows' AS same_audit,
       :'before_settings' = :'after_settings' AS same_settings;

-- the table's own constraints back the C validation
\set VERBOSITY terse
UPDATE affiliate.program SET rounding = 'up' WHERE id = :p_ott;
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- the actor of an audit row is the JWT subject when PostgREST sets claims
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub": "admin-42", "role": "affiliate_admin"}', true);
SELECT affiliate.update_program_settings(:p_ott, '{"min_withdrawal": 60000}') ->> 'min_withdrawal' AS min_withdrawal;
SELECT actor, db_role FROM affiliate.audit_log WHERE program_id = :p_ott ORDER BY id DESC LIMIT 1;
COMMIT;
