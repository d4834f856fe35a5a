/*
 * fraud.c
 *	  Fraud rules, the flags they raise, the hold an open flag puts on a
 *	  member's money, and blocking members (docs/fraud.md).
 *
 * A rule is one set-based statement that selects candidate flags (member,
 * rule, evidence key, evidence) and inserts them ON CONFLICT DO NOTHING
 * against the unique key (program_id, member_id, rule, evidence_key): a rule
 * never raises the same flag twice, however often or concurrently it runs.
 * The event rules run in the transaction of their event, called by one line
 * of the engine: add_member (FraudOnJoin), record_conversion
 * (FraudOnConversion) and request_withdrawal (FraudOnWithdrawal).  The
 * program-wide rules (signup bursts, low conversion) run from the daily job
 * run_fraud_checks_all(); run_fraud_checks(program, member) runs every rule
 * for one member on demand.
 *
 * An open flag holds: release_due (holds.c) skips the member's commissions
 * and FraudRequireNoOpenFlag refuses their withdrawal requests and approvals
 * (55000).  Device, IP and payout destination appear in evidence only as the
 * hex of their keyed hashes, or masked.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "pg_affiliate.h"

#define FRAUD_MAX_NOTE 2000

PG_FUNCTION_INFO_V1(run_fraud_checks);
PG_FUNCTION_INFO_V1(run_fraud_checks_all);
PG_FUNCTION_INFO_V1(resolve_fraud_flag);
PG_FUNCTION_INFO_V1(block_member);
PG_FUNCTION_INFO_V1(unblock_member);

/*
 * Candidate statements.  Each selects (member_id, rule, evidence_key,
 * evidence) with $1 the program; RaiseFlags wraps it in the INSERT.
 */

/* self_referral: a referral shares the device or IP hash of its sponsor */
#define SELF_REFERRAL_SELECT \
	"SELECT s.id, 'self_referral'::text, 'member:' || r.id, " \
	"  pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(" \
	"    'referred_member_id', r.id, " \
	"    'device_hash', CASE WHEN r.device_hash = s.device_hash " \
	"                   THEN pg_catalog.encode(r.device_hash, 'hex') END, " \
	"    'ip_hash', CASE WHEN r.ip_hash = s.ip_hash " \
	"               THEN pg_catalog.encode(r.ip_hash, 'hex') END)) " \
	"FROM affiliate.member r " \
	"JOIN affiliate.member s ON s.program_id = r.program_id AND s.id = r.sponsor_id "

#define SELF_REFERRAL_MATCH \
	" AND (r.device_hash = s.device_hash OR r.ip_hash = s.ip_hash)"

/* shared_device / shared_ip: more members on one hash than the setting allows */
#define SHARED_HASH_SELECT(col, rule, prefix, setting) \
	"SELECT m.id, '" rule "'::text, '" prefix ":' || pg_catalog.encode(m." col ", 'hex'), " \
	"  pg_catalog.jsonb_build_object('" col "', pg_catalog.encode(m." col ", 'hex'), " \
	"    'members', c.n, 'threshold', p." setting ") " \
	"FROM affiliate.member m " \
	"JOIN affiliate.program p ON p.id = m.program_id " \
	"CROSS JOIN LATERAL (SELECT pg_catalog.count(*) AS n FROM affiliate.member x " \
	"  WHERE x.program_id = m.program_id AND x." col " = m." col ") c " \
	"WHERE m.program_id = $1 AND m.id = $2 AND m." col " IS NOT NULL AND c.n > p." setting

/*
 * buyer_match: the buyer of a conversion shares the device or IP hash, or a
 * payout destination, with a beneficiary of its commissions.  pairs(c, b) are
 * (conversion, beneficiary).
 */
#define BUYER_MATCH_FROM_PAIRS \
	"SELECT DISTINCT ON (u.b, v.buyer_id) u.b, 'buyer_match'::text, 'buyer:' || v.buyer_id, " \
	"  pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(" \
	"    'conversion_id', v.id, 'external_ref', v.external_ref, 'buyer_id', v.buyer_id, " \
	"    'device_hash', CASE WHEN bm.device_hash = be.device_hash " \
	"                   THEN pg_catalog.encode(bm.device_hash, 'hex') END, " \
	"    'ip_hash', CASE WHEN bm.ip_hash = be.ip_hash " \
	"               THEN pg_catalog.encode(bm.ip_hash, 'hex') END, " \
	"    'destination_hash', pg_catalog.encode(d.h, 'hex'))) " \
	"FROM pairs u " \
	"JOIN affiliate.conversion v ON v.program_id = $1 AND v.id = u.c " \
	"JOIN affiliate.member bm ON bm.program_id = $1 AND bm.id = v.buyer_id " \
	"JOIN affiliate.member be ON be.program_id = $1 AND be.id = u.b " \
	"LEFT JOIN LATERAL (SELECT w1.destination_hash AS h FROM affiliate.withdrawal w1 " \
	"  JOIN affiliate.withdrawal w2 ON w2.program_id = w1.program_id " \
	"    AND w2.destination_hash = w1.destination_hash AND w2.member_id = be.id " \
	"  WHERE w1.program_id = $1 AND w1.member_id = bm.id " \
	"  ORDER BY w1.id LIMIT 1) d ON true " \
	"WHERE u.b <> v.buyer_id " \
	"  AND (bm.device_hash = be.device_hash OR bm.ip_hash = be.ip_hash OR d.h IS NOT NULL) " \
	"ORDER BY u.b, v.buyer_id, v.id"

/* shared_destination: a withdrawal's destination is used by another member */
#define SHARED_DESTINATION_SELECT \
	"SELECT DISTINCT ON (w.destination_hash) w.member_id, 'shared_destination'::text, " \
	"  'destination:' || pg_catalog.encode(w.destination_hash, 'hex'), " \
	"  pg_catalog.jsonb_build_object('destination_hash', pg_catalog.encode(w.destination_hash, 'hex'), " \
	"    'destination_masked', w.destination_masked, 'withdrawal_id', w.id, 'other_members', o.ids) " \
	"FROM affiliate.withdrawal w " \
	"CROSS JOIN LATERAL (SELECT pg_catalog.array_agg(DISTINCT x.member_id ORDER BY x.member_id) AS ids " \
	"  FROM affiliate.withdrawal x WHERE x.program_id = w.program_id " \
	"  AND x.destination_hash = w.destination_hash AND x.member_id <> w.member_id) o "

/*
 * signup_burst: more than fraud_burst_signups referrals of one sponsor joined
 * within fraud_burst_window ($3) of each other; the flag names the earliest
 * such window by its first member.  $4: the latest join time considered.
 */
#define SIGNUP_BURST(filter) \
	"SELECT DISTINCT ON (b.sponsor_id) b.sponsor_id, 'signup_burst'::text, 'burst:' || b.id, " \
	"  pg_catalog.jsonb_build_object('signups', b.n, 'threshold', p.fraud_burst_signups, " \
	"    'window', $3::interval::text, 'first_member_id', b.id, " \
	"    'first_joined_at', b.joined_at, 'last_joined_at', b.last_at) " \
	"FROM (SELECT m.sponsor_id, m.id, m.joined_at, " \
	"        pg_catalog.count(*) OVER w AS n, pg_catalog.max(m.joined_at) OVER w AS last_at " \
	"      FROM affiliate.member m " \
	"      WHERE m.program_id = $1 AND m.joined_at <= $4 AND " filter " " \
	"      WINDOW w AS (PARTITION BY m.sponsor_id ORDER BY m.joined_at " \
	"                   RANGE BETWEEN CURRENT ROW AND $3 FOLLOWING)) b " \
	"JOIN affiliate.program p ON p.id = $1 " \
	"WHERE b.n > p.fraud_burst_signups " \
	"ORDER BY b.sponsor_id, b.joined_at, b.id"

/*
 * low_conversion: among the sponsors with at least
 * fraud_low_conversion_referrals direct referrals (the peers, at least 3),
 * one whose share of referrals with a paid (not fully refunded) conversion
 * is below the peers' median times fraud_low_conversion_ratio / 10000.
 * $2: as of.
 */
#define LOW_CONVERSION(filter) \
	"WITH s AS (" \
	"  SELECT r.sponsor_id, pg_catalog.count(*) AS referrals, " \
	"    pg_catalog.count(*) FILTER (WHERE EXISTS (SELECT 1 FROM affiliate.conversion v " \
	"      WHERE v.program_id = r.program_id AND v.buyer_id = r.id " \
	"        AND v.status <> 'refunded' AND v.occurred_at <= $2)) AS converted " \
	"  FROM affiliate.member r " \
	"  WHERE r.program_id = $1 AND r.sponsor_id IS NOT NULL AND r.joined_at <= $2 " \
	"  GROUP BY r.sponsor_id " \
	"  HAVING pg_catalog.count(*) >= (SELECT fraud_low_conversion_referrals " \
	"                                 FROM affiliate.program WHERE id = $1)), " \
	"med AS (SELECT pg_catalog.percentile_cont(0.5) WITHIN GROUP " \
	"          (ORDER BY s.converted::float8 / s.referrals) AS median, " \
	"        pg_catalog.count(*) AS peers FROM s) " \
	"SELECT s.sponsor_id, 'low_conversion'::text, 'low_conversion'::text, " \
	"  pg_catalog.jsonb_build_object('referrals', s.referrals, 'converted', s.converted, " \
	"    'rate', pg_catalog.round((s.converted::float8 / s.referrals)::numeric, 4), " \
	"    'median', pg_catalog.round(med.median::numeric, 4), 'peers', med.peers, " \
	"    'min_referrals', p.fraud_low_conversion_referrals, " \
	"    'ratio_bp', p.fraud_low_conversion_ratio) " \
	"FROM s CROSS JOIN med JOIN affiliate.program p ON p.id = $1 " \
	"WHERE med.peers >= 3 " \
	"  AND s.converted::float8 / s.referrals * 10000 < med.median * p.fraud_low_conversion_ratio " \
	filter \
	" ORDER BY s.sponsor_id"

/*
 * Whether the schema has the fraud tables (0.6.0).  The library serves every
 * installed version: a database still at an older version (ALTER EXTENSION
 * UPDATE not yet run) has no fraud_flag and no fraud settings, and then no
 * rule runs and nothing is held.  A syscache look-up, no SPI.
 */
bool
FraudSchemaReady(void)
{
	Oid			nsp = get_namespace_oid("affiliate", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("fraud_flag", nsp));
}

/*
 * Insert the candidates of cand_sql as open flags (source names the caller);
 * the rows raised go to ts when given.  Returns how many were raised.
 * Inside SPI.
 */
static uint64
RaiseFlags(PlanSlot *slot, const char *cand_sql, const char *source, int nargs,
		   const Oid *types, Datum *values, Tuplestorestate *ts)
{
	/*
	 * The whole statement every time: AffPlan prepares it again now and then
	 * (after 100, 400, ... uses), from the text it is given.
	 */
	const char *sql = psprintf(
		"WITH cand (member_id, rule, evidence_key, evidence) AS (%s) "
		"INSERT INTO affiliate.fraud_flag (program_id, member_id, rule, evidence_key, evidence, source) "
		"SELECT $1, c.member_id, c.rule, c.evidence_key, c.evidence, '%s' FROM cand c "
		"ORDER BY c.member_id, c.rule, c.evidence_key "
		"ON CONFLICT (program_id, member_id, rule, evidence_key) DO NOTHING "
		"RETURNING *",
		cand_sql, source);

	AffExec(slot, sql, nargs, types, values, NULL, false, 0);
	if (ts != NULL)
		for (uint64 r = 0; r < SPI_processed; r++)
			tuplestore_puttuple(ts, SPI_tuptable->vals[r]);
	return SPI_processed;
}

/*
 * At add_member, for the new member: self-referral (the sponsor's device or
 * IP hash), and too many members on its device or IP.  Inside SPI.
 */
void
FraudOnJoin(int64 program_id, int64 member_id, bool has_identity)
{
	static PlanSlot slot;
	Datum		values[2];

	if (!has_identity || !FraudSchemaReady())
		return;
	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(member_id);
	RaiseFlags(&slot,
			   SELF_REFERRAL_SELECT "WHERE r.program_id = $1 AND r.id = $2" SELF_REFERRAL_MATCH
			   " UNION ALL " SHARED_HASH_SELECT("device_hash", "shared_device", "device", "fraud_device_members")
			   " UNION ALL " SHARED_HASH_SELECT("ip_hash", "shared_ip", "ip", "fraud_ip_members"),
			   "add_member", 2, (Oid[]) {INT8OID, INT8OID}, values, NULL);
}

/*
 * At record_conversion(s): conversions[i] paid a commission to
 * beneficiaries[i] (bigint arrays of one length).  Inside SPI.
 */
void
FraudOnConversion(int64 program_id, Datum conversions, Datum beneficiaries)
{
	static PlanSlot slot;
	Datum		values[3];

	if (!FraudSchemaReady())
		return;
	values[0] = Int64GetDatum(program_id);
	values[1] = conversions;
	values[2] = beneficiaries;
	RaiseFlags(&slot,
			   "WITH pairs (c, b) AS (SELECT DISTINCT x.c, x.b "
			   "  FROM ROWS FROM (pg_catalog.unnest($2::bigint[]), pg_catalog.unnest($3::bigint[])) AS x(c, b)) "
			   BUYER_MATCH_FROM_PAIRS,
			   "record_conversion", 3, (Oid[]) {INT8OID, INT8ARRAYOID, INT8ARRAYOID}, values, NULL);
}

/* At request_withdrawal, for the new withdrawal.  Inside SPI. */
void
FraudOnWithdrawal(int64 program_id, int64 withdrawal_id)
{
	static PlanSlot slot;
	Datum		values[2];

	if (!FraudSchemaReady())
		return;
	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(withdrawal_id);
	RaiseFlags(&slot,
			   SHARED_DESTINATION_SELECT
			   "WHERE w.program_id = $1 AND w.id = $2 AND o.ids IS NOT NULL "
			   "ORDER BY w.destination_hash, w.id",
			   "request_withdrawal", 2, (Oid[]) {INT8OID, INT8OID}, values, NULL);
}

/*
 * 55000 when the member has an open fraud flag: what is the refused step
 * ("request a withdrawal", "approve withdrawal 7").  Inside SPI.
 */
void
FraudRequireNoOpenFlag(int64 program_id, int64 member_id, const char *what)
{
	static PlanSlot slot;
	int64		flag_id;
	int64		n;
	char	   *rule;

	if (!FraudSchemaReady())
		return;
	AffExec(&slot,
			"SELECT f.id, f.rule, pg_catalog.count(*) OVER () FROM affiliate.fraud_flag f "
			"WHERE f.program_id = $1 AND f.member_id = $2 AND f.status = 'open' "
			"ORDER BY f.id LIMIT 1",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id)}, NULL, false, 1);
	if (SPI_processed == 0)
		return;
	flag_id = AffGetInt64(0, 1, NULL);
	rule = AffGetText(0, 2);
	n = AffGetInt64(0, 3, NULL);
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("member " INT64_FORMAT " has an open fraud flag", member_id),
			 errdetail("Fraud flag " INT64_FORMAT " (rule %s)%s holds the member's commissions and withdrawals: cannot %s.",
					   flag_id, rule,
					   n > 1 ? psprintf(" and " INT64_FORMAT " more", n - 1) : "", what),
			 errhint("An admin resolves or dismisses the flag with affiliate.resolve_fraud_flag(); nothing was changed.")));
}

/* The member must exist in the program (P0002).  Inside SPI. */
static void
RequireMember(int64 program_id, int64 member_id)
{
	(void) WalletRequireMember(program_id, member_id, false, NULL);
}

/* 22023 unless t is finite and within AFF_MAX_YEARS of now */
static void
CheckAsOf(TimestampTz t)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	int64		span = (int64) AFF_MAX_YEARS * DAYS_PER_YEAR * USECS_PER_DAY;

	if (TIMESTAMP_NOT_FINITE(t) || t < now - span || t > now + span)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be a finite time within %d years of now", AFF_MAX_YEARS)));
}

/* the program's burst window (P0002 for an unknown program); inside SPI */
static Datum
BurstWindow(int64 program_id)
{
	static PlanSlot slot;
	bool		isnull;

	AffExec(&slot, "SELECT fraud_burst_window FROM affiliate.program WHERE id = $1",
			1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(program_id)}, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("program " INT64_FORMAT " does not exist", program_id),
				 errhint("Create it with affiliate.create_program().")));
	return SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
							 false, 16);
}

/*
 * affiliate.run_fraud_checks(program_id bigint, member_id bigint)
 * RETURNS SETOF affiliate.fraud_flag -- the flags raised now
 */
Datum
run_fraud_checks(PG_FUNCTION_ARGS)
{
	static PlanSlot self,
				hashes,
				buyer,
				dest,
				burst,
				low;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		member_id = AffArgInt64(fcinfo, 1, "member_id");
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Tuplestorestate *ts;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	Datum		v2[2];
	Datum		v4[4];
	uint64		n = 0;
	StringInfoData s;

	InitMaterializedSRF(fcinfo, 0);
	ts = rsinfo->setResult;
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	RequireMember(program_id, member_id);
	v2[0] = Int64GetDatum(program_id);
	v2[1] = Int64GetDatum(member_id);

	n += RaiseFlags(&self,
					SELF_REFERRAL_SELECT "WHERE r.program_id = $1 AND r.sponsor_id = $2" SELF_REFERRAL_MATCH,
					"run_fraud_checks", 2, (Oid[]) {INT8OID, INT8OID}, v2, ts);
	n += RaiseFlags(&hashes,
					SHARED_HASH_SELECT("device_hash", "shared_device", "device", "fraud_device_members")
					" UNION ALL " SHARED_HASH_SELECT("ip_hash", "shared_ip", "ip", "fraud_ip_members"),
					"run_fraud_checks", 2, (Oid[]) {INT8OID, INT8OID}, v2, ts);
	n += RaiseFlags(&buyer,
					"WITH pairs (c, b) AS (SELECT DISTINCT k.conversion_id, k.beneficiary_id "
					"  FROM affiliate.commission k WHERE k.program_id = $1 AND k.beneficiary_id = $2) "
					BUYER_MATCH_FROM_PAIRS,
					"run_fraud_checks", 2, (Oid[]) {INT8OID, INT8OID}, v2, ts);
	n += RaiseFlags(&dest,
					SHARED_DESTINATION_SELECT
					"WHERE w.program_id = $1 AND w.member_id = $2 AND o.ids IS NOT NULL "
					"ORDER BY w.destination_hash, w.id DESC",
					"run_fraud_checks", 2, (Oid[]) {INT8OID, INT8OID}, v2, ts);
	v4[0] = v2[0];
	v4[1] = v2[1];
	v4[2] = BurstWindow(program_id);
	v4[3] = TimestampTzGetDatum(now);
	n += RaiseFlags(&burst, SIGNUP_BURST("m.sponsor_id = $2"),
					"run_fraud_checks", 4, (Oid[]) {INT8OID, INT8OID, INTERVALOID, TIMESTAMPTZOID},
					v4, ts);
	v4[1] = TimestampTzGetDatum(now);
	v4[2] = v2[1];
	n += RaiseFlags(&low, LOW_CONVERSION(" AND s.sponsor_id = $3"),
					"run_fraud_checks", 3, (Oid[]) {INT8OID, TIMESTAMPTZOID, INT8OID}, v4, ts);

	initStringInfo(&s);
	appendStringInfo(&s, "{\"member_id\": " INT64_FORMAT ", \"flags_raised\": " UINT64_FORMAT "}",
					 member_id, n);
	AffAudit(program_id, "run_fraud_checks", AffJsonbOf(&s));
	SPI_finish();
	return (Datum) 0;
}

/*
 * affiliate.run_fraud_checks_all(as_of timestamptz DEFAULT now(), program_id bigint DEFAULT NULL)
 * RETURNS bigint -- the flags raised
 *
 * The daily job: signup bursts among the joins of the day before as_of (and
 * one burst window more), and low conversion as of as_of, in every program
 * (or the one given).
 */
Datum
run_fraud_checks_all(PG_FUNCTION_ARGS)
{
	static PlanSlot progs,
				burst,
				low;
	TimestampTz as_of;
	int64	   *ids;
	int			nprogs;
	uint64		n = 0;

	AffRequireArg(fcinfo, 0, "as_of");
	as_of = PG_GETARG_TIMESTAMPTZ(0);
	CheckAsOf(as_of);
	if (!PG_ARGISNULL(1))
		AffRequireProgram(PG_GETARG_INT64(1), NULL);

	AffSpiConnect();
	AffExec(&progs,
			"SELECT id FROM affiliate.program WHERE $1::bigint IS NULL OR id = $1 ORDER BY id",
			1, (Oid[]) {INT8OID}, (Datum[]) {PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1)},
			PG_ARGISNULL(1) ? "n" : " ", true, 0);
	nprogs = (int) SPI_processed;
	ids = palloc(sizeof(int64) * Max(nprogs, 1));
	for (int i = 0; i < nprogs; i++)
		ids[i] = AffGetInt64(i, 1, NULL);

	for (int i = 0; i < nprogs; i++)
	{
		Datum		v[4];

		CHECK_FOR_INTERRUPTS();
		v[0] = Int64GetDatum(ids[i]);
		v[1] = TimestampTzGetDatum(as_of);
		v[2] = BurstWindow(ids[i]);
		v[3] = TimestampTzGetDatum(as_of);
		n += RaiseFlags(&burst,
						SIGNUP_BURST("m.sponsor_id IS NOT NULL "
									 "AND m.joined_at > $2::timestamptz - interval '1 day' - $3"),
						"run_fraud_checks_all", 4,
						(Oid[]) {INT8OID, TIMESTAMPTZOID, INTERVALOID, TIMESTAMPTZOID}, v, NULL);
		n += RaiseFlags(&low, LOW_CONVERSION(""), "run_fraud_checks_all", 2,
						(Oid[]) {INT8OID, TIMESTAMPTZOID}, v, NULL);
	}
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}

/*
 * affiliate.resolve_fraud_flag(program_id bigint, flag_id bigint, status text, note text)
 * RETURNS affiliate.fraud_flag -- the flag after the decision
 */
Datum
resolve_fraud_flag(PG_FUNCTION_ARGS)
{
	static PlanSlot lock,
				upd;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		flag_id = AffArgInt64(fcinfo, 1, "flag_id");
	char	   *status;
	char	   *note;
	char	   *actor;
	char	   *old;
	char	   *rule;
	int64		member_id;
	TupleDesc	desc;
	HeapTuple	row;
	StringInfoData s;
	MemoryContext outer = CurrentMemoryContext;

	AffRequireArg(fcinfo, 2, "status");
	status = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (strcmp(status, "resolved") != 0 && strcmp(status, "dismissed") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid fraud flag decision \"%s\"", status),
				 errhint("An open flag is resolved (the fraud was dealt with) or dismissed (a false alarm).")));
	note = AffTextArg(fcinfo, 3, "note", FRAUD_MAX_NOTE, true);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "pg_affiliate: resolve_fraud_flag must return a row type");
	desc = BlessTupleDesc(desc);
	actor = AffActor();

	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	AffExec(&lock,
			"SELECT status, member_id, rule FROM affiliate.fraud_flag "
			"WHERE program_id = $1 AND id = $2 FOR UPDATE",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(flag_id)}, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("fraud flag " INT64_FORMAT " does not exist in program " INT64_FORMAT,
						flag_id, program_id)));
	old = AffGetText(0, 1);
	member_id = AffGetInt64(0, 2, NULL);
	rule = AffGetText(0, 3);
	if (strcmp(old, "open") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("fraud flag " INT64_FORMAT " is already %s", flag_id, old),
				 errdetail("Only an open flag is resolved or dismissed."),
				 errhint("Nothing was changed.")));
	AffExec(&upd,
			"UPDATE affiliate.fraud_flag SET status = $3, note = $4, actor = $5, "
			"  decided_at = pg_catalog.now() "
			"WHERE program_id = $1 AND id = $2 RETURNING *",
			5, (Oid[]) {INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(flag_id),
				CStringGetTextDatum(status), CStringGetTextDatum(note),
				CStringGetTextDatum(actor)},
			NULL, false, 1);
	{
		MemoryContext spi = MemoryContextSwitchTo(outer);
		Datum	   *values = palloc(sizeof(Datum) * desc->natts);
		bool	   *nulls = palloc(sizeof(bool) * desc->natts);

		heap_deform_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, values, nulls);
		row = heap_form_tuple(desc, values, nulls);
		MemoryContextSwitchTo(spi);
	}
	initStringInfo(&s);
	appendStringInfo(&s, "{\"flag_id\": " INT64_FORMAT ", \"member_id\": " INT64_FORMAT
					 ", \"rule\": \"%s\", \"from\": \"open\", \"to\": \"%s\", \"note\": ",
					 flag_id, member_id, rule, status);
	escape_json(&s, note);
	appendStringInfoChar(&s, '}');
	AffAudit(program_id, "resolve_fraud_flag", AffJsonbOf(&s));
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(row));
}

/* block_member / unblock_member: the previous status is returned */
static Datum
SetBlocked(FunctionCallInfo fcinfo, bool block)
{
	static PlanSlot lock,
				upd;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		member_id = AffArgInt64(fcinfo, 1, "member_id");
	char	   *reason = AffTextArg(fcinfo, 2, "reason", FRAUD_MAX_NOTE, true);
	const char *to = block ? "blocked" : "active";
	char	   *old;
	text	   *result;
	StringInfoData s;

	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	AffExec(&lock,
			"SELECT status FROM affiliate.member WHERE program_id = $1 AND id = $2 FOR UPDATE",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id)}, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("member " INT64_FORMAT " does not exist in program " INT64_FORMAT,
						member_id, program_id)));
	old = AffGetText(0, 1);
	if (block && strcmp(old, "blocked") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("member " INT64_FORMAT " is already blocked", member_id),
				 errhint("Nothing was changed.")));
	if (!block && strcmp(old, "blocked") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("member " INT64_FORMAT " is not blocked", member_id),
				 errdetail("The member is %s.", old),
				 errhint("Nothing was changed.")));
	AffExec(&upd,
			"UPDATE affiliate.member SET status = $3 WHERE program_id = $1 AND id = $2",
			3, (Oid[]) {INT8OID, INT8OID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id), CStringGetTextDatum(to)},
			NULL, false, 0);

	initStringInfo(&s);
	appendStringInfo(&s, "{\"member_id\": " INT64_FORMAT ", \"old_status\": \"%s\", "
					 "\"new_status\": \"%s\", \"reason\": ", member_id, old, to);
	escape_json(&s, reason);
	appendStringInfoChar(&s, '}');
	AffAudit(program_id, block ? "block_member" : "unblock_member", AffJsonbOf(&s));
	result = (text *) SPI_datumTransfer(CStringGetTextDatum(old), false, -1);
	SPI_finish();
	PG_RETURN_TEXT_P(result);
}

/*
 * affiliate.block_member(program_id bigint, member_id bigint, reason text)
 * RETURNS text -- the previous status
 */
Datum
block_member(PG_FUNCTION_ARGS)
{
	return SetBlocked(fcinfo, true);
}

/*
 * affiliate.unblock_member(program_id bigint, member_id bigint, reason text)
 * RETURNS text -- the previous status
 */
Datum
unblock_member(PG_FUNCTION_ARGS)
{
	return SetBlocked(fcinfo, false);
}
