-- pg_affiliate 0.1.0 -> 0.2.0: the referral spine (refcode type, exact
-- splitting, members, clicks, the referral tree, commission plans,
-- conversions, refunds, holds, pg_cron jobs) and verify() covering them.
-- The objects are the same as in pg_affiliate--0.2.0.sql (test/sql/upgrade.sql
-- compares the catalogs of both paths).

\echo Use "ALTER EXTENSION pg_affiliate UPDATE TO '0.2.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- The refcode type (src/refcode.c): referral, affiliate and promo codes.
-- 8 bytes; text in Crockford base32 with a check character; see
-- docs/refcode.md.
-- ---------------------------------------------------------------------------
CREATE TYPE affiliate.refcode;

CREATE FUNCTION affiliate.refcode_in(cstring) RETURNS affiliate.refcode
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'refcode_in';
CREATE FUNCTION affiliate.refcode_out(affiliate.refcode) RETURNS cstring
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'refcode_out';
CREATE FUNCTION affiliate.refcode_recv(internal) RETURNS affiliate.refcode
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'refcode_recv';
CREATE FUNCTION affiliate.refcode_send(affiliate.refcode) RETURNS bytea
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'refcode_send';

CREATE TYPE affiliate.refcode (
    INPUT = affiliate.refcode_in,
    OUTPUT = affiliate.refcode_out,
    RECEIVE = affiliate.refcode_recv,
    SEND = affiliate.refcode_send,
    INTERNALLENGTH = 8,
    PASSEDBYVALUE,
    ALIGNMENT = double,
    STORAGE = plain
);
COMMENT ON TYPE affiliate.refcode IS
    'Referral code: Crockford base32 with a check character; 8 bytes.';

CREATE FUNCTION affiliate.refcode_eq(affiliate.refcode, affiliate.refcode) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'refcode_eq';
CREATE FUNCTION affiliate.refcode_ne(affiliate.refcode, affiliate.refcode) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'refcode_ne';
CREATE FUNCTION affiliate.refcode_lt(affiliate.refcode, affiliate.refcode) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'refcode_lt';
CREATE FUNCTION affiliate.refcode_le(affiliate.refcode, affiliate.refcode) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'refcode_le';
CREATE FUNCTION affiliate.refcode_gt(affiliate.refcode, affiliate.refcode) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'refcode_gt';
CREATE FUNCTION affiliate.refcode_ge(affiliate.refcode, affiliate.refcode) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'refcode_ge';
CREATE FUNCTION affiliate.refcode_cmp(affiliate.refcode, affiliate.refcode) RETURNS integer
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'refcode_cmp';
CREATE FUNCTION affiliate.refcode_sortsupport(internal) RETURNS void
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'refcode_sortsupport';
CREATE FUNCTION affiliate.refcode_hash(affiliate.refcode) RETURNS integer
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'refcode_hash';
CREATE FUNCTION affiliate.refcode_hash_extended(affiliate.refcode, bigint) RETURNS bigint
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'refcode_hash_extended';

CREATE OPERATOR affiliate.= (
    LEFTARG = affiliate.refcode, RIGHTARG = affiliate.refcode,
    FUNCTION = affiliate.refcode_eq,
    COMMUTATOR = OPERATOR(affiliate.=), NEGATOR = OPERATOR(affiliate.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR affiliate.<> (
    LEFTARG = affiliate.refcode, RIGHTARG = affiliate.refcode,
    FUNCTION = affiliate.refcode_ne,
    COMMUTATOR = OPERATOR(affiliate.<>), NEGATOR = OPERATOR(affiliate.=),
    RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR affiliate.< (
    LEFTARG = affiliate.refcode, RIGHTARG = affiliate.refcode,
    FUNCTION = affiliate.refcode_lt,
    COMMUTATOR = OPERATOR(affiliate.>), NEGATOR = OPERATOR(affiliate.>=),
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR affiliate.<= (
    LEFTARG = affiliate.refcode, RIGHTARG = affiliate.refcode,
    FUNCTION = affiliate.refcode_le,
    COMMUTATOR = OPERATOR(affiliate.>=), NEGATOR = OPERATOR(affiliate.>),
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR affiliate.> (
    LEFTARG = affiliate.refcode, RIGHTARG = affiliate.refcode,
    FUNCTION = affiliate.refcode_gt,
    COMMUTATOR = OPERATOR(affiliate.<), NEGATOR = OPERATOR(affiliate.<=),
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR affiliate.>= (
    LEFTARG = affiliate.refcode, RIGHTARG = affiliate.refcode,
    FUNCTION = affiliate.refcode_ge,
    COMMUTATOR = OPERATOR(affiliate.<=), NEGATOR = OPERATOR(affiliate.<),
    RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS affiliate.refcode_ops
    DEFAULT FOR TYPE affiliate.refcode USING btree AS
        OPERATOR 1 affiliate.< ,
        OPERATOR 2 affiliate.<= ,
        OPERATOR 3 affiliate.= ,
        OPERATOR 4 affiliate.>= ,
        OPERATOR 5 affiliate.> ,
        FUNCTION 1 affiliate.refcode_cmp(affiliate.refcode, affiliate.refcode),
        FUNCTION 2 affiliate.refcode_sortsupport(internal),
        FUNCTION 4 pg_catalog.btequalimage(oid);
CREATE OPERATOR CLASS affiliate.refcode_ops
    DEFAULT FOR TYPE affiliate.refcode USING hash AS
        OPERATOR 1 affiliate.= ,
        FUNCTION 1 affiliate.refcode_hash(affiliate.refcode),
        FUNCTION 2 affiliate.refcode_hash_extended(affiliate.refcode, bigint);

CREATE FUNCTION affiliate.refcode_is_valid(code text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'refcode_is_valid';
COMMENT ON FUNCTION affiliate.refcode_is_valid(text) IS
    'Whether the text is a valid referral code; never raises an error.';

CREATE FUNCTION affiliate.refcode_error(code text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'refcode_error';
COMMENT ON FUNCTION affiliate.refcode_error(text) IS
    'Why the text is not a valid referral code (one sentence); NULL when it is valid.';

CREATE FUNCTION affiliate.new_refcode(digits integer DEFAULT 8) RETURNS affiliate.refcode
    LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'new_refcode';
COMMENT ON FUNCTION affiliate.new_refcode(integer) IS
    'A random referral code with 4..12 data digits (5 bits each) from libsodium''s CSPRNG; callers retry on collision.';

-- Nothing is granted to PUBLIC (the Privileges section below revokes EXECUTE
-- on every function).  Operators check EXECUTE on their functions, so the
-- comparison functions are granted along with the type.
REVOKE USAGE ON TYPE affiliate.refcode FROM PUBLIC;
GRANT USAGE ON TYPE affiliate.refcode TO affiliate_admin;
GRANT EXECUTE ON FUNCTION
    affiliate.refcode_eq(affiliate.refcode, affiliate.refcode),
    affiliate.refcode_ne(affiliate.refcode, affiliate.refcode),
    affiliate.refcode_lt(affiliate.refcode, affiliate.refcode),
    affiliate.refcode_le(affiliate.refcode, affiliate.refcode),
    affiliate.refcode_gt(affiliate.refcode, affiliate.refcode),
    affiliate.refcode_ge(affiliate.refcode, affiliate.refcode),
    affiliate.refcode_cmp(affiliate.refcode, affiliate.refcode),
    affiliate.refcode_hash(affiliate.refcode),
    affiliate.refcode_hash_extended(affiliate.refcode, bigint),
    affiliate.refcode_is_valid(text),
    affiliate.refcode_error(text),
    affiliate.new_refcode(integer)
TO affiliate_admin;

-- ---------------------------------------------------------------------------
-- Exact splitting (src/money.c, docs/money.md).  Pure: no program_id.
-- ---------------------------------------------------------------------------
CREATE FUNCTION affiliate.split(amount bigint, rates_bp integer[],
                                rounding_unit bigint DEFAULT 1, rounding text DEFAULT 'half_up')
    RETURNS bigint[]
    LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'affiliate_split';
COMMENT ON FUNCTION affiliate.split(bigint, integer[], bigint, text) IS
    'Split an amount by rates in basis points into shares rounded to rounding_unit; the shares never add up to more than the amount.';
GRANT EXECUTE ON FUNCTION affiliate.split(bigint, integer[], bigint, text) TO affiliate_admin;

-- ---------------------------------------------------------------------------
-- The referral spine: members and their tree, clicks, commission plans,
-- conversions, commissions, refunds (src/member.c, src/commission.c,
-- src/holds.c).
-- ---------------------------------------------------------------------------

-- Keys for the keyed BLAKE2b hashes of device ids and IP addresses.  Readable
-- by the extension's owner only (not granted to any role).
CREATE TABLE affiliate.program_secret (
    program_id  bigint NOT NULL REFERENCES affiliate.program (id),
    hash_key    bytea NOT NULL CHECK (length(hash_key) = 32),
    PRIMARY KEY (program_id)
);
COMMENT ON TABLE affiliate.program_secret IS 'Per-program keys of the device/IP hashes; no role may read it.';

CREATE TABLE affiliate.member (
    program_id   bigint NOT NULL REFERENCES affiliate.program (id),
    id           bigint GENERATED ALWAYS AS IDENTITY,
    external_id  text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 200),
    code         affiliate.refcode NOT NULL,
    sponsor_id   bigint,
    upline       bigint[] NOT NULL DEFAULT '{}',     -- ancestors, nearest first
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'blocked')),
    joined_at    timestamptz NOT NULL DEFAULT now(),
    click_id     bigint,                             -- the click that attributed the member
    device_hash  bytea,                              -- keyed BLAKE2b of the device id
    ip_hash      bytea,                              -- keyed BLAKE2b of the IP address
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, external_id),
    UNIQUE (program_id, code),
    FOREIGN KEY (program_id, sponsor_id) REFERENCES affiliate.member (program_id, id),
    CHECK (sponsor_id IS DISTINCT FROM id),
    CHECK (upline[1] IS NOT DISTINCT FROM sponsor_id),
    CHECK (array_ndims(upline) IS NULL OR array_ndims(upline) = 1)
);
CREATE INDEX member_upline ON affiliate.member USING gin (upline);
CREATE INDEX member_sponsor ON affiliate.member (program_id, sponsor_id);
COMMENT ON TABLE affiliate.member IS 'One person in a program: referral code, sponsor and materialised upline.';

-- 0.1.0 let journals name any member id; 0.2.0 has members.  Every member
-- id that a 0.1.0 account names becomes a member "legacy:<id>" (with a fresh
-- referral code), so that accounts can reference their members.  DISTINCT
-- runs before the (volatile) code is drawn: one member per id, however many
-- accounts it has.
INSERT INTO affiliate.member (program_id, id, external_id, code) OVERRIDING SYSTEM VALUE
SELECT l.program_id, l.member_id, 'legacy:' || l.member_id, affiliate.new_refcode()
  FROM (SELECT DISTINCT a.program_id, a.member_id FROM affiliate.account a
         WHERE a.member_id IS NOT NULL) l;
SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence('affiliate.member', 'id'),
                         coalesce((SELECT max(id) FROM affiliate.member), 0) + 1, false);

-- Member accounts belong to members of the same program.
ALTER TABLE affiliate.account
    ADD FOREIGN KEY (program_id, member_id) REFERENCES affiliate.member (program_id, id);

-- No foreign key to member or program: a popular referrer's row and the
-- program row would be share-locked by every click (the C code resolves the
-- code inside the program; verify() checks it).
CREATE TABLE affiliate.click (
    program_id   bigint NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    member_id    bigint NOT NULL,                    -- the owner of the code
    channel      text CHECK (length(channel) BETWEEN 1 AND 200),
    landing_page text CHECK (length(landing_page) BETWEEN 1 AND 2000),
    device_hash  bytea,
    ip_hash      bytea,
    ua_hash      bytea,
    at           timestamptz NOT NULL,
    PRIMARY KEY (program_id, id)
);
CREATE INDEX click_ip ON affiliate.click (program_id, ip_hash, at) WHERE ip_hash IS NOT NULL;
CREATE INDEX click_device ON affiliate.click (program_id, device_hash, at) WHERE device_hash IS NOT NULL;
CREATE INDEX click_member ON affiliate.click (program_id, member_id, at);
COMMENT ON TABLE affiliate.click IS 'Visits through referral links (IP, device and user agent kept as keyed hashes).';

CREATE TABLE affiliate.plan (
    program_id   bigint NOT NULL REFERENCES affiliate.program (id),
    id           bigint GENERATED ALWAYS AS IDENTITY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    beneficiary  text NOT NULL CHECK (beneficiary IN ('upline', 'seller')),
    product      text CHECK (length(product) BETWEEN 1 AND 200),   -- NULL: every product
    base         text NOT NULL CHECK (base IN ('amount', 'profit')),
    rates_bp     integer[] NOT NULL,                 -- level 1 first
    flat         bigint[],                           -- per level: a flat amount instead of the rate
    caps         bigint[],                           -- per level: the most a share may be
    recurring    interval CHECK (recurring > interval '0'),
    min_direct   integer NOT NULL DEFAULT 0 CHECK (min_direct >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id)
);
CREATE INDEX plan_lookup ON affiliate.plan (program_id, beneficiary, product, id);
COMMENT ON TABLE affiliate.plan IS 'Commission plans; per beneficiary kind and product the newest plan applies. Never updated.';

-- No foreign key to program: every conversion would share-lock the program
-- row; the buyer's foreign key (which includes program_id) implies it.
CREATE TABLE affiliate.conversion (
    program_id   bigint NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    external_ref text NOT NULL CHECK (length(external_ref) BETWEEN 1 AND 200),
    buyer_id     bigint NOT NULL,
    referrer_id  bigint,                             -- the buyer's sponsor when the order was paid
    seller_id    bigint,                             -- beneficiary of seller plans (creator, vendor)
    product      text CHECK (length(product) BETWEEN 1 AND 200),
    amount       bigint NOT NULL CHECK (amount >= 0),
    cost         bigint NOT NULL CHECK (cost >= 0 AND cost <= amount),
    refunded     bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    status       text NOT NULL DEFAULT 'paid' CHECK (status IN ('paid', 'partially_refunded', 'refunded')),
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, external_ref),
    FOREIGN KEY (program_id, buyer_id) REFERENCES affiliate.member (program_id, id)
);
CREATE INDEX conversion_buyer ON affiliate.conversion (program_id, buyer_id, occurred_at);
COMMENT ON TABLE affiliate.conversion IS 'Paid orders; external_ref is the idempotency key.';

-- No foreign keys to member or plan: every conversion would share-lock the
-- rows of the top of the tree and of the active plan.
CREATE TABLE affiliate.commission (
    program_id     bigint NOT NULL,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    conversion_id  bigint NOT NULL,
    plan_id        bigint NOT NULL,
    beneficiary_id bigint NOT NULL,
    level          integer NOT NULL CHECK (level >= 1),
    amount         bigint NOT NULL CHECK (amount > 0),
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'available', 'reversed', 'clawed_back')),
    hold_until     timestamptz NOT NULL,
    reversed       bigint NOT NULL DEFAULT 0,        -- refunded so far (before or after release)
    released       bigint,                           -- moved to available at release
    written_off    bigint NOT NULL DEFAULT 0,        -- clawback the member kept (write_off policy)
    released_at    timestamptz,
    journal_id     bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, conversion_id, plan_id, level),
    FOREIGN KEY (program_id, conversion_id) REFERENCES affiliate.conversion (program_id, id),
    CHECK (reversed >= 0 AND reversed <= amount),
    CHECK (written_off >= 0 AND written_off <= reversed),
    CHECK (released IS NULL OR (released > 0 AND released <= amount)),
    CHECK ((status = 'pending') = (released IS NULL AND reversed < amount)),
    CHECK ((status = 'reversed') = (released IS NULL AND reversed = amount)),
    CHECK ((status = 'available') = (released IS NOT NULL AND reversed < amount)),
    CHECK ((status = 'clawed_back') = (released IS NOT NULL AND reversed = amount))
);
CREATE INDEX commission_due ON affiliate.commission (hold_until) WHERE status = 'pending';
CREATE INDEX commission_beneficiary ON affiliate.commission (program_id, beneficiary_id, status);
COMMENT ON TABLE affiliate.commission IS 'One beneficiary''s share of one conversion: pending -> available, or reversed / clawed back.';

CREATE TABLE affiliate.refund (
    program_id    bigint NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    conversion_id bigint NOT NULL,
    refund_ref    text NOT NULL CHECK (length(refund_ref) BETWEEN 1 AND 200),
    amount        bigint NOT NULL CHECK (amount > 0),
    reason        text CHECK (length(reason) <= 2000),
    journal_id    bigint,                            -- NULL when no commission moved
    written_off   bigint NOT NULL DEFAULT 0,         -- clawback not recovered (write_off policy)
    full_refund   boolean NOT NULL DEFAULT false,    -- "the rest of the order" (amount left out)
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, conversion_id, refund_ref),
    FOREIGN KEY (program_id, conversion_id) REFERENCES affiliate.conversion (program_id, id)
);
COMMENT ON TABLE affiliate.refund IS 'Full and partial refunds of conversions; (conversion, refund_ref) makes them idempotent.';

-- ---------------------------------------------------------------------------
-- Members, clicks and the tree.
-- ---------------------------------------------------------------------------
CREATE FUNCTION affiliate.add_member(program_id bigint, external_id text, referral_code text DEFAULT NULL,
                                     device_id text DEFAULT NULL, ip inet DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'add_member';
COMMENT ON FUNCTION affiliate.add_member(bigint, text, text, text, inet) IS
    'Add a member: new referral code, sponsor from the code or an attributed click, materialised upline.';

CREATE FUNCTION affiliate.record_click(program_id bigint, code text, channel text DEFAULT NULL,
                                       ip inet DEFAULT NULL, user_agent text DEFAULT NULL,
                                       at timestamptz DEFAULT now(), device_id text DEFAULT NULL,
                                       landing_page text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'record_click';
COMMENT ON FUNCTION affiliate.record_click(bigint, text, text, inet, text, timestamptz, text, text) IS
    'Record a visit through a referral link (for first/last click attribution).';

CREATE FUNCTION affiliate.move_member(program_id bigint, member_id bigint, new_sponsor_id bigint)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'move_member';
COMMENT ON FUNCTION affiliate.move_member(bigint, bigint, bigint) IS
    'Admin: move a member (and their subtree) under a new sponsor; refuses cycles; audited. Returns the rows rewritten.';

CREATE FUNCTION affiliate.set_member_status(program_id bigint, member_id bigint, status text, reason text DEFAULT NULL)
    RETURNS text
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'set_member_status';
COMMENT ON FUNCTION affiliate.set_member_status(bigint, bigint, text, text) IS
    'Admin: set a member active, inactive or blocked (inactive and blocked members earn nothing); audited. Returns the old status.';

CREATE FUNCTION affiliate.member_by_code(program_id bigint, code text) RETURNS bigint
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'member_by_code';
COMMENT ON FUNCTION affiliate.member_by_code(bigint, text) IS
    'The member owning a referral code (any case, hyphens ignored); NULL when nobody owns it; 22023 when mistyped.';

CREATE FUNCTION affiliate.upline(program_id bigint, member_id bigint, depth integer DEFAULT NULL)
    RETURNS TABLE (level integer, member_id bigint, external_id text, code affiliate.refcode, status text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.level::integer, a.id, a.external_id, a.code, a.status
      FROM affiliate.member m
     CROSS JOIN LATERAL unnest(m.upline) WITH ORDINALITY AS u(ancestor, level)
      JOIN affiliate.member a ON a.program_id = m.program_id AND a.id = u.ancestor
     WHERE m.program_id = $1 AND m.id = $2 AND ($3 IS NULL OR u.level <= $3)
     ORDER BY u.level
$$;
COMMENT ON FUNCTION affiliate.upline(bigint, bigint, integer) IS 'A member''s sponsors, nearest (level 1) first, up to depth levels.';

CREATE FUNCTION affiliate.downline(program_id bigint, member_id bigint, depth integer DEFAULT NULL)
    RETURNS TABLE (level integer, member_id bigint, external_id text, sponsor_id bigint,
                   code affiliate.refcode, status text, joined_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT array_position(d.upline, $2), d.id, d.external_id, d.sponsor_id, d.code, d.status, d.joined_at
      FROM affiliate.member d
     WHERE d.program_id = $1 AND d.upline @> ARRAY[$2]
       AND ($3 IS NULL OR array_position(d.upline, $2) <= $3)
     ORDER BY 1, d.id
$$;
COMMENT ON FUNCTION affiliate.downline(bigint, bigint, integer) IS 'A member''s referral tree, with level (1 = direct referrals), up to depth levels.';

CREATE FUNCTION affiliate.team_size(program_id bigint, member_id bigint) RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*) FROM affiliate.member d WHERE d.program_id = $1 AND d.upline @> ARRAY[$2]
$$;
COMMENT ON FUNCTION affiliate.team_size(bigint, bigint) IS 'How many members are below a member in the referral tree (all levels).';

-- ---------------------------------------------------------------------------
-- Plans, conversions, refunds, holds.
-- ---------------------------------------------------------------------------
CREATE FUNCTION affiliate.set_plan(program_id bigint, name text, levels integer[], base text DEFAULT 'profit',
                                   recurring interval DEFAULT NULL, product text DEFAULT NULL,
                                   beneficiary text DEFAULT 'upline', flat bigint[] DEFAULT NULL,
                                   caps bigint[] DEFAULT NULL, qualification jsonb DEFAULT '{}')
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'set_plan';
COMMENT ON FUNCTION affiliate.set_plan(bigint, text, integer[], text, interval, text, text, bigint[], bigint[], jsonb) IS
    'Add a commission plan; it becomes the active plan for its beneficiary kind and product; audited.';

CREATE TYPE affiliate.conversion_input AS (
    external_ref text,
    buyer_id     bigint,
    amount       bigint,
    cost         bigint,
    occurred_at  timestamptz,
    product      text,
    seller_id    bigint
);
COMMENT ON TYPE affiliate.conversion_input IS 'One order for affiliate.record_conversions().';

CREATE FUNCTION affiliate.record_conversion(program_id bigint, external_ref text, buyer_id bigint, amount bigint,
                                            cost bigint DEFAULT 0, occurred_at timestamptz DEFAULT NULL,
                                            product text DEFAULT NULL, seller_id bigint DEFAULT NULL)
    RETURNS SETOF affiliate.commission
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'record_conversion';
COMMENT ON FUNCTION affiliate.record_conversion(bigint, text, bigint, bigint, bigint, timestamptz, text, bigint) IS
    'Record a paid order and its commissions in one journal; idempotent on external_ref.';

CREATE FUNCTION affiliate.record_conversions(program_id bigint, conversions affiliate.conversion_input[])
    RETURNS SETOF affiliate.commission
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'record_conversions';
COMMENT ON FUNCTION affiliate.record_conversions(bigint, affiliate.conversion_input[]) IS
    'Bulk form of record_conversion for imports: same rules, set-based, all or nothing.';

CREATE FUNCTION affiliate.refund_conversion(program_id bigint, external_ref text, reason text DEFAULT NULL,
                                            amount bigint DEFAULT NULL, refund_ref text DEFAULT NULL)
    RETURNS SETOF affiliate.commission
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'refund_conversion';
COMMENT ON FUNCTION affiliate.refund_conversion(bigint, text, text, bigint, text) IS
    'Refund an order fully or partly; reverses pending commissions or claws back released ones; idempotent.';

CREATE FUNCTION affiliate.release_due(as_of timestamptz DEFAULT now(), batch_size integer DEFAULT 10000,
                                      program_id bigint DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'release_due';
COMMENT ON FUNCTION affiliate.release_due(timestamptz, integer, bigint) IS
    'Job: move up to batch_size due commissions from pending to available; returns how many.';

-- No SET clause (a procedure with one cannot COMMIT); every name is qualified.
CREATE PROCEDURE affiliate.release_all_due(batch_size integer DEFAULT 10000)
    LANGUAGE plpgsql
AS $$
DECLARE
    n bigint;
BEGIN
    LOOP
        n := affiliate.release_due(pg_catalog.now(), batch_size);
        COMMIT;
        EXIT WHEN n < batch_size;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE affiliate.release_all_due(integer) IS
    'Job (pg_cron): release every due commission, one committed batch at a time.';


-- ---------------------------------------------------------------------------
-- Periodic jobs through pg_cron.  The job functions are plain SQL calls and
-- are tested without the cron worker.
-- ---------------------------------------------------------------------------
CREATE FUNCTION affiliate.schedule_jobs(release_schedule text DEFAULT '0 * * * *',
                                        fold_schedule text DEFAULT '*/10 * * * *')
    RETURNS TABLE (jobid bigint, jobname text, schedule text, command text)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION USING ERRCODE = '55000',
            MESSAGE = 'pg_cron is not installed in this database',
            DETAIL = format('The periodic jobs of pg_affiliate run through pg_cron, which lives in database %s (cron.database_name).',
                            coalesce(current_setting('cron.database_name', true), 'postgres')),
            HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database and run CREATE EXTENSION pg_cron.';
    END IF;
    IF release_schedule IS NULL OR fold_schedule IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'job schedules must not be null';
    END IF;
    -- cron.schedule() inserts or updates the job of that name (and validates the schedule)
    EXECUTE 'SELECT cron.schedule($1, $2, $3)'
        USING 'pg_affiliate_release', release_schedule, 'CALL affiliate.release_all_due()';
    EXECUTE 'SELECT cron.schedule($1, $2, $3)'
        USING 'pg_affiliate_fold', fold_schedule, 'SELECT affiliate.fold_balances()';
    RETURN QUERY EXECUTE
        'SELECT j.jobid, j.jobname::text, j.schedule, j.command FROM cron.job j
          WHERE j.jobname IN ($1, $2) ORDER BY j.jobname'
        USING 'pg_affiliate_fold', 'pg_affiliate_release';
END
$$;
COMMENT ON FUNCTION affiliate.schedule_jobs(text, text) IS
    'Register (or update) the periodic jobs with pg_cron: hold release (hourly) and balance folding.';

CREATE FUNCTION affiliate.unschedule_jobs() RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION USING ERRCODE = '55000',
            MESSAGE = 'pg_cron is not installed in this database',
            HINT = 'There are no pg_affiliate jobs to remove without pg_cron.';
    END IF;
    EXECUTE 'SELECT count(cron.unschedule(j.jobid)) FROM cron.job j WHERE j.jobname IN ($1, $2)'
        INTO n USING 'pg_affiliate_release', 'pg_affiliate_fold';
    RETURN n;
END
$$;
COMMENT ON FUNCTION affiliate.unschedule_jobs() IS 'Remove the pg_affiliate jobs from pg_cron; returns how many were removed.';

-- ---------------------------------------------------------------------------
-- verify() now also checks commissions, refunds, clicks and uplines.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION affiliate.verify(program_id bigint DEFAULT NULL)
    RETURNS TABLE (invariant text, detail text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    -- every posting's account exists in the posting's program
    SELECT 'posting_account_exists',
           format('posting %s of journal %s (program %s) names account %s, which is not in the program',
                  p.id, p.journal_id, p.program_id, p.account_id)
      FROM affiliate.posting p
     WHERE ($1 IS NULL OR p.program_id = $1)
       AND NOT EXISTS (SELECT 1 FROM affiliate.account a
                        WHERE a.program_id = p.program_id AND a.id = p.account_id)
    UNION ALL
    -- every journal sums to zero per asset
    SELECT 'journal_balanced',
           format('journal %s (program %s): asset %s sums to %s', p.journal_id, p.program_id, a.asset, sum(p.amount))
      FROM affiliate.posting p
      JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
     WHERE ($1 IS NULL OR p.program_id = $1)
     GROUP BY p.program_id, p.journal_id, a.asset
    HAVING sum(p.amount) <> 0
    UNION ALL
    -- every journal has at least two postings
    SELECT 'journal_has_postings',
           format('journal %s (program %s) has %s posting(s)', j.id, j.program_id,
                  (SELECT count(*) FROM affiliate.posting p WHERE p.program_id = j.program_id AND p.journal_id = j.id))
      FROM affiliate.journal j
     WHERE ($1 IS NULL OR j.program_id = $1)
       AND (SELECT count(*) FROM affiliate.posting p WHERE p.program_id = j.program_id AND p.journal_id = j.id) < 2
    UNION ALL
    -- every unfolded delta mirrors its posting
    SELECT 'delta_matches_posting',
           format('delta of posting %s (program %s) does not match the posting', d.posting_id, d.program_id)
      FROM affiliate.balance_delta d
      LEFT JOIN affiliate.posting p ON p.program_id = d.program_id AND p.id = d.posting_id
     WHERE ($1 IS NULL OR d.program_id = $1)
       AND (p.id IS NULL OR p.account_id <> d.account_id OR p.amount <> d.amount
            OR p.posted_at <> d.posted_at)
    UNION ALL
    -- each stored balance (plus unfolded deltas) equals the sum of its postings
    SELECT 'balance_matches_postings',
           format('account %s (program %s): stored %s + unfolded %s, postings sum to %s',
                  a.id, a.program_id, a.balance, coalesce(d.s, 0), coalesce(p.s, 0))
      FROM affiliate.account a
      LEFT JOIN (SELECT x.program_id, x.account_id, sum(x.amount) AS s FROM affiliate.posting x
                  WHERE $1 IS NULL OR x.program_id = $1 GROUP BY 1, 2) p
             ON p.program_id = a.program_id AND p.account_id = a.id
      LEFT JOIN (SELECT x.program_id, x.account_id, sum(x.amount) AS s FROM affiliate.balance_delta x
                  WHERE $1 IS NULL OR x.program_id = $1 GROUP BY 1, 2) d
             ON d.program_id = a.program_id AND d.account_id = a.id
     WHERE ($1 IS NULL OR a.program_id = $1)
       AND a.balance + coalesce(d.s, 0) <> coalesce(p.s, 0)
    UNION ALL
    -- no forbidden negative balance
    SELECT 'no_forbidden_negative',
           format('account %s (program %s, %s) does not allow a negative balance and holds %s',
                  b.account_id, b.program_id, b.kind, b.balance)
      FROM affiliate.account_balances b
     WHERE ($1 IS NULL OR b.program_id = $1)
       AND NOT b.allow_negative AND b.balance < 0
    UNION ALL
    -- every checkpoint equals the sum of the postings up to its time
    SELECT 'checkpoint_matches_postings',
           format('checkpoint of account %s (program %s) at %s holds %s, postings up to then sum to %s',
                  c.account_id, c.program_id, c.at, c.balance,
                  (SELECT coalesce(sum(p.amount), 0) FROM affiliate.posting p
                    WHERE p.program_id = c.program_id AND p.account_id = c.account_id AND p.posted_at <= c.at)
                  - (SELECT coalesce(sum(d.amount), 0) FROM affiliate.balance_delta d
                      WHERE d.program_id = c.program_id AND d.account_id = c.account_id AND d.posted_at <= c.at))
      FROM affiliate.balance_checkpoint c
     WHERE ($1 IS NULL OR c.program_id = $1)
       AND c.balance <> (SELECT coalesce(sum(p.amount), 0) FROM affiliate.posting p
                          WHERE p.program_id = c.program_id AND p.account_id = c.account_id AND p.posted_at <= c.at)
                      - (SELECT coalesce(sum(d.amount), 0) FROM affiliate.balance_delta d
                          WHERE d.program_id = c.program_id AND d.account_id = c.account_id AND d.posted_at <= c.at)
    UNION ALL
    -- pending commissions equal the members' pending balances
    SELECT 'commission_pending_matches_ledger',
           format('member %s (program %s): pending balance %s, pending commissions %s',
                  coalesce(a.member_id, c.beneficiary_id), coalesce(a.program_id, c.program_id),
                  coalesce(a.balance, 0), coalesce(c.s, 0))
      FROM (SELECT b.program_id, b.member_id, b.balance
              FROM affiliate.account_balances b JOIN affiliate.program g ON g.id = b.program_id
             WHERE b.kind = 'pending' AND b.member_id IS NOT NULL AND b.asset = g.currency
               AND ($1 IS NULL OR b.program_id = $1)) a
      FULL JOIN (SELECT x.program_id, x.beneficiary_id, sum(x.amount - x.reversed) AS s
                   FROM affiliate.commission x
                  WHERE x.status = 'pending' AND ($1 IS NULL OR x.program_id = $1)
                  GROUP BY 1, 2) c
             ON c.program_id = a.program_id AND c.beneficiary_id = a.member_id
     WHERE coalesce(a.balance, 0) <> coalesce(c.s, 0)
    UNION ALL
    -- released commissions (less what was clawed back) equal what the release
    -- and refund journals moved on the members' available and owed accounts
    SELECT 'commission_released_matches_ledger',
           format('member %s (program %s): released commissions net %s, release/refund postings %s',
                  coalesce(l.member_id, c.beneficiary_id), coalesce(l.program_id, c.program_id),
                  coalesce(c.s, 0), coalesce(l.s, 0))
      FROM (SELECT p.program_id, a.member_id, sum(p.amount) AS s
              FROM affiliate.posting p
              JOIN affiliate.journal j ON j.program_id = p.program_id AND j.id = p.journal_id
              JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
             WHERE j.kind IN ('release', 'refund') AND a.kind IN ('available', 'owed')
               AND a.member_id IS NOT NULL AND ($1 IS NULL OR p.program_id = $1)
             GROUP BY 1, 2) l
      FULL JOIN (SELECT x.program_id, x.beneficiary_id,
                        sum(x.amount - x.reversed + x.written_off) AS s
                   FROM affiliate.commission x
                  WHERE x.released IS NOT NULL AND ($1 IS NULL OR x.program_id = $1)
                  GROUP BY 1, 2) c
             ON c.program_id = l.program_id AND c.beneficiary_id = l.member_id
     WHERE coalesce(l.s, 0) <> coalesce(c.s, 0)
    UNION ALL
    -- what conversions and refunds moved on commission_expense agrees with the
    -- commissions: amounts paid, less reversals, plus write-offs
    SELECT 'commission_expense_matches',
           format('program %s: conversion/refund postings on commission_expense %s, commissions net %s',
                  coalesce(l.program_id, c.program_id), coalesce(l.s, 0), -coalesce(c.s, 0))
      FROM (SELECT p.program_id, sum(p.amount) AS s
              FROM affiliate.posting p
              JOIN affiliate.journal j ON j.program_id = p.program_id AND j.id = p.journal_id
              JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
             WHERE j.kind IN ('conversion', 'refund') AND a.kind = 'commission_expense'
               AND a.member_id IS NULL AND ($1 IS NULL OR p.program_id = $1)
             GROUP BY 1) l
      FULL JOIN (SELECT x.program_id, sum(x.amount - x.reversed + x.written_off) AS s
                   FROM affiliate.commission x
                  WHERE $1 IS NULL OR x.program_id = $1
                  GROUP BY 1) c
             ON c.program_id = l.program_id
     WHERE coalesce(l.s, 0) <> -coalesce(c.s, 0)
    UNION ALL
    -- every commission's beneficiary is a member of the program
    SELECT 'commission_beneficiary_exists',
           format('commission %s (program %s) names member %s, who is not in the program',
                  x.id, x.program_id, x.beneficiary_id)
      FROM affiliate.commission x
     WHERE ($1 IS NULL OR x.program_id = $1)
       AND NOT EXISTS (SELECT 1 FROM affiliate.member m
                        WHERE m.program_id = x.program_id AND m.id = x.beneficiary_id)
    UNION ALL
    -- the commissions of a conversion never exceed its amount
    SELECT 'commissions_within_amount',
           format('conversion %s (program %s): commissions %s exceed the amount %s',
                  v.id, v.program_id, sum(x.amount), v.amount)
      FROM affiliate.conversion v
      JOIN affiliate.commission x ON x.program_id = v.program_id AND x.conversion_id = v.id
     WHERE ($1 IS NULL OR v.program_id = $1)
     GROUP BY v.program_id, v.id, v.amount
    HAVING sum(x.amount) > v.amount
    UNION ALL
    -- a conversion's refunded amount is the sum of its refunds
    SELECT 'conversion_refunds_match',
           format('conversion %s (program %s): refunded %s, refunds sum to %s',
                  v.id, v.program_id, v.refunded,
                  (SELECT coalesce(sum(r.amount), 0) FROM affiliate.refund r
                    WHERE r.program_id = v.program_id AND r.conversion_id = v.id))
      FROM affiliate.conversion v
     WHERE ($1 IS NULL OR v.program_id = $1)
       AND v.refunded <> (SELECT coalesce(sum(r.amount), 0) FROM affiliate.refund r
                           WHERE r.program_id = v.program_id AND r.conversion_id = v.id)
    UNION ALL
    -- every click names a member of the program
    SELECT 'click_member_exists',
           format('click %s (program %s) names member %s, who is not in the program',
                  k.id, k.program_id, k.member_id)
      FROM affiliate.click k
     WHERE ($1 IS NULL OR k.program_id = $1)
       AND NOT EXISTS (SELECT 1 FROM affiliate.member m
                        WHERE m.program_id = k.program_id AND m.id = k.member_id)
    UNION ALL
    -- every member's upline is its sponsor followed by the sponsor's upline
    SELECT 'upline_matches_sponsor',
           format('member %s (program %s): upline %s, sponsor %s with upline %s',
                  m.id, m.program_id, m.upline, m.sponsor_id, s.upline)
      FROM affiliate.member m
      LEFT JOIN affiliate.member s ON s.program_id = m.program_id AND s.id = m.sponsor_id
     WHERE ($1 IS NULL OR m.program_id = $1)
       AND m.upline IS DISTINCT FROM
           CASE WHEN m.sponsor_id IS NULL THEN '{}'::bigint[] ELSE array_prepend(s.id, s.upline) END
    UNION ALL
    -- every asset of a program sums to zero over all its accounts
    SELECT 'asset_sums_to_zero',
           format('program %s: asset %s sums to %s over all accounts', b.program_id, b.asset, sum(b.balance))
      FROM affiliate.account_balances b
     WHERE ($1 IS NULL OR b.program_id = $1)
     GROUP BY b.program_id, b.asset
    HAVING sum(b.balance) <> 0
$$;
COMMENT ON FUNCTION affiliate.verify(bigint) IS 'Every broken ledger invariant, one row each; empty when all hold.';

-- ---------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC; explicit grants to affiliate_admin.
-- ---------------------------------------------------------------------------
REVOKE ALL ON ALL TABLES IN SCHEMA affiliate FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA affiliate FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA affiliate FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA affiliate FROM PUBLIC;
GRANT USAGE ON SCHEMA affiliate TO affiliate_admin;
GRANT SELECT ON ALL TABLES IN SCHEMA affiliate TO affiliate_admin;
GRANT EXECUTE ON FUNCTION
    affiliate.program_settings(bigint),
    affiliate.create_program(text, text, jsonb),
    affiliate.update_program_settings(bigint, jsonb),
    affiliate.ensure_account(bigint, bigint, text, text, boolean),
    affiliate.post_journal(bigint, text, jsonb, text, jsonb),
    affiliate.fold_balances(bigint, integer),
    affiliate.account_balance(bigint, bigint),
    affiliate.balance_at(bigint, bigint, timestamptz),
    affiliate.verify(bigint),
    affiliate.add_member(bigint, text, text, text, inet),
    affiliate.record_click(bigint, text, text, inet, text, timestamptz, text, text),
    affiliate.move_member(bigint, bigint, bigint),
    affiliate.set_member_status(bigint, bigint, text, text),
    affiliate.member_by_code(bigint, text),
    affiliate.upline(bigint, bigint, integer),
    affiliate.downline(bigint, bigint, integer),
    affiliate.team_size(bigint, bigint),
    affiliate.set_plan(bigint, text, integer[], text, interval, text, text, bigint[], bigint[], jsonb),
    affiliate.record_conversion(bigint, text, bigint, bigint, bigint, timestamptz, text, bigint),
    affiliate.record_conversions(bigint, affiliate.conversion_input[]),
    affiliate.refund_conversion(bigint, text, text, bigint, text),
    affiliate.release_due(timestamptz, integer, bigint)
TO affiliate_admin;
GRANT EXECUTE ON PROCEDURE affiliate.release_all_due(integer) TO affiliate_admin;
GRANT EXECUTE ON FUNCTION affiliate.schedule_jobs(text, text), affiliate.unschedule_jobs() TO affiliate_admin;
GRANT USAGE ON TYPE affiliate.conversion_input TO affiliate_admin;
-- the keys of the device/IP hashes are for the extension's C code only
REVOKE ALL ON affiliate.program_secret FROM affiliate_admin;
