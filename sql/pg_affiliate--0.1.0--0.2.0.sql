-- pg_affiliate 0.1.0 -> 0.2.0: the referral spine (refcode type, members,
-- clicks, the referral tree, commission plans, conversions, refunds, holds).

\echo Use "ALTER EXTENSION pg_affiliate UPDATE TO '0.2.0'" to load this file. \quit
