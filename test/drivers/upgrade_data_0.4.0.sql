-- Data written with the 0.4.0 API (test/drivers/upgrade_data.sh): the 0.3.0
-- data set, then what 0.4.0 added: a member's cancel over HTTP, an audited
-- admin step with a JWT subject, and sealed-or-clear program keys as the
-- server has them.
\set ON_ERROR_STOP 1
\ir upgrade_data_0.3.0.sql

SELECT affiliate.request_withdrawal(:p1, 6, 10000, 'upi', 'tara@okaxis') AS w_cancel \gset
BEGIN;
SELECT set_config('request.jwt.claims',
                  json_build_object('role', 'affiliate_member', 'program', :p1,
                                    'sub', (SELECT external_id FROM affiliate.member WHERE program_id = :p1 AND id = 6))::text, true);
SET LOCAL ROLE affiliate_member;
SELECT status FROM affiliate_api.cancel_withdrawal(:w_cancel);
COMMIT;
BEGIN;
SELECT set_config('request.jwt.claims', json_build_object('role', 'affiliate_admin', 'program', :p1, 'sub', 'admin:upgrade')::text, true);
SET LOCAL ROLE affiliate_admin;
SELECT status FROM affiliate_api.approve_withdrawal(:w_requested);
COMMIT;
