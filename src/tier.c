/*
 * tier.c
 *	  Loyalty tiers (issue 9 §2): per program, ranked tiers with a threshold
 *	  on qualifying points or spend over a rolling window, an earning
 *	  multiplier and benefits; members upgrade at once, downgrade only by the
 *	  job and only after a grace period.
 *
 *	 affiliate.set_tier          admin: create or change a tier (by name)
 *	 affiliate.set_tier_policy   admin: the grace period before a downgrade
 *	 affiliate.set_member_tier   admin: put a member in a tier (manual)
 *	 affiliate.review_tiers      job: upgrades missed, downgrades due
 *	 affiliate.member_tier       a member's tier, progress, next downgrade
 *
 * Qualifying value of a member for a tier at time t: the sum, over the
 * member's contributions dated in (t - window, t], of their points (basis
 * 'points') or spend (basis 'spend').  Contributions: each bill at its
 * occurred_at (points earned less the points its refunds were due; amount
 * less the refunded amount) and each awarded lot that is not a bill's at
 * its created_at.  Spending, deducting or expiring points changes neither,
 * so it never demotes.
 *
 * All contributions are >= 0, so a member who qualifies for tier T at t
 * and earns nothing more keeps qualifying until e + window, where e is the
 * date of the contribution at which the running sum, newest first, reaches
 * T's threshold ("qualified until").  The job downgrades a member from T
 * when they qualify for a lower rank only and as_of >= greatest(since,
 * qualified until) + grace; member_tier() reports that date.
 *
 * A member's state (affiliate.tier_member) is locked FOR UPDATE by every
 * change; the job skips a locked member (the next run takes it).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "pg_affiliate.h"

#define TIER_MAX_NAME 64
#define TIER_MAX_RANK 1000
#define TIER_MAX_MULTIPLIER_BP 1000000	/* 100x */

PG_FUNCTION_INFO_V1(set_tier);
PG_FUNCTION_INFO_V1(set_tier_policy);
PG_FUNCTION_INFO_V1(set_member_tier);
PG_FUNCTION_INFO_V1(review_tiers);
PG_FUNCTION_INFO_V1(member_tier);

/*
 * Every tier of program $1 for member $2 at time $3, by rank: id, rank,
 * threshold, value (qualifying value at $3), qualified_until (NULL: never
 * reached; infinity for a threshold of 0), name, basis, multiplier_bp.
 */
#define TIER_EVAL_SQL \
	"WITH c AS (" \
	"  SELECT b.occurred_at AS at, " \
	"         b.points - coalesce((SELECT sum(r.points) FROM affiliate.points_bill_refund r " \
	"                               WHERE r.program_id = b.program_id AND r.bill_id = b.id), 0) AS pts, " \
	"         (b.amount - b.refunded_amount)::numeric AS spend " \
	"    FROM affiliate.points_bill b " \
	"   WHERE b.program_id = $1 AND b.member_id = $2 AND b.occurred_at <= $3 AND b.withheld IS NULL " \
	"  UNION ALL " \
	"  SELECT l.created_at, l.points::numeric, 0::numeric FROM affiliate.points_lot l " \
	"   WHERE l.program_id = $1 AND l.member_id = $2 AND l.created_at <= $3 " \
	"     AND (l.source_ref IS NULL OR l.source_ref NOT LIKE 'bill:%') " \
	") " \
	"SELECT t.id, t.rank, t.threshold, " \
	"       (SELECT coalesce(sum(CASE t.basis WHEN 'points' THEN c.pts ELSE c.spend END), 0) " \
	"          FROM c WHERE c.at > $3 - t.qualifying_window)::bigint AS value, " \
	"       CASE WHEN t.threshold = 0 THEN 'infinity'::timestamptz ELSE " \
	"       (SELECT max(x.at) + t.qualifying_window " \
	"          FROM (SELECT c.at, sum(CASE t.basis WHEN 'points' THEN c.pts ELSE c.spend END) " \
	"                             OVER (ORDER BY c.at DESC) AS cum FROM c) x " \
	"         WHERE x.cum >= t.threshold) END AS until, " \
	"       t.name, t.basis, t.multiplier_bp " \
	"  FROM affiliate.tier t WHERE t.program_id = $1 ORDER BY t.rank"

typedef struct TierRow
{
	int64		id;
	int32		rank;
	int64		threshold;
	int64		value;
	bool		has_until;
	TimestampTz until;
	char	   *name;
	char	   *basis;
	int32		multiplier_bp;
} TierRow;

static Jsonb *
DetailOf(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);
	bool		isnull;

	if (plan == NULL || SPI_execute_plan(plan, values, nulls, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_affiliate: audit detail failed");
	return DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static bool
ProgramHasTiers(int64 program_id)
{
	static PlanSlot slot;

	AffExec(&slot, "SELECT 1 FROM affiliate.tier WHERE program_id = $1",
			1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(program_id)}, NULL, false, 1);
	return SPI_processed > 0;
}

/* the program's tiers as seen by member at as_of; *n rows, by rank */
static TierRow *
EvalTiers(int64 program_id, int64 member_id, TimestampTz as_of, int *n)
{
	static PlanSlot slot;
	TierRow    *rows;
	uint64		i;

	AffExec(&slot, TIER_EVAL_SQL, 3, (Oid[]) {INT8OID, INT8OID, TIMESTAMPTZOID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id), TimestampTzGetDatum(as_of)},
			NULL, false, 0);
	*n = (int) SPI_processed;
	rows = palloc0(sizeof(TierRow) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d;

		rows[i].id = AffGetInt64((int) i, 1, NULL);
		rows[i].rank = (int32) AffGetInt64((int) i, 2, NULL);
		rows[i].threshold = AffGetInt64((int) i, 3, NULL);
		rows[i].value = AffGetInt64((int) i, 4, NULL);
		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 5, &isnull);
		rows[i].has_until = !isnull;
		rows[i].until = isnull ? 0 : DatumGetTimestampTz(d);
		rows[i].name = AffGetText((int) i, 6);
		rows[i].basis = AffGetText((int) i, 7);
		rows[i].multiplier_bp = (int32) AffGetInt64((int) i, 8, NULL);
	}
	return rows;
}

static Interval *
GracePeriod(int64 program_id)
{
	static PlanSlot slot;
	bool		isnull;
	Datum		d;

	AffExec(&slot,
			"SELECT coalesce((SELECT grace_period FROM affiliate.tier_policy WHERE program_id = $1), "
			"                interval '30 days')",
			1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(program_id)}, NULL, false, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return DatumGetIntervalP(datumCopy(d, false, sizeof(Interval)));
}

/*
 * Lock the member's tier state, creating it (no tier) if missing.  skip:
 * SKIP LOCKED, and false is returned for a busy member.  Sets *tier_id (0:
 * none) and *since.
 */
static bool
LockState(int64 program_id, int64 member_id, bool skip, int64 *tier_id, TimestampTz *since)
{
	static PlanSlot ins,
				lock,
				lockskip;
	Datum		values[2];
	bool		isnull;

	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(member_id);
	AffExec(&ins,
			"INSERT INTO affiliate.tier_member (program_id, member_id, tier_id, since) "
			"VALUES ($1, $2, NULL, pg_catalog.now()) ON CONFLICT (program_id, member_id) DO NOTHING",
			2, (Oid[]) {INT8OID, INT8OID}, values, NULL, false, 0);
	if (skip)
		AffExec(&lockskip,
				"SELECT tier_id, since FROM affiliate.tier_member WHERE program_id = $1 AND member_id = $2 "
				"FOR UPDATE SKIP LOCKED",
				2, (Oid[]) {INT8OID, INT8OID}, values, NULL, false, 1);
	else
		AffExec(&lock,
				"SELECT tier_id, since FROM affiliate.tier_member WHERE program_id = $1 AND member_id = $2 "
				"FOR UPDATE",
				2, (Oid[]) {INT8OID, INT8OID}, values, NULL, false, 1);
	if (SPI_processed == 0)
	{
		if (skip)
			return false;
		elog(ERROR, "pg_affiliate: tier state of member " INT64_FORMAT " is not visible", member_id);
	}
	*tier_id = AffGetInt64(0, 1, &isnull);
	if (isnull)
		*tier_id = 0;
	*since = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	return true;
}

/* move the member (state locked) to tier to (0: none), with history */
static void
ChangeTier(int64 program_id, int64 member_id, int64 from, int64 to, const char *reason,
		   TimestampTz at, int64 value)
{
	static PlanSlot upd,
				hist;
	Datum		values[7];
	char		nulls[7] = "       ";

	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(member_id);
	values[2] = Int64GetDatum(from);
	nulls[2] = from ? ' ' : 'n';
	values[3] = Int64GetDatum(to);
	nulls[3] = to ? ' ' : 'n';
	values[4] = CStringGetTextDatum(reason);
	values[5] = TimestampTzGetDatum(at);
	values[6] = Int64GetDatum(value);
	nulls[6] = value >= 0 ? ' ' : 'n';
	AffExec(&upd,
			"UPDATE affiliate.tier_member SET tier_id = $3, since = $4 WHERE program_id = $1 AND member_id = $2",
			4, (Oid[]) {INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID},
			(Datum[]) {values[0], values[1], values[3], values[5]},
			(char[]) {' ', ' ', nulls[3], ' '}, false, 0);
	AffExec(&hist,
			"INSERT INTO affiliate.tier_history (program_id, member_id, from_tier_id, to_tier_id, reason, at, qualifying_value) "
			"VALUES ($1, $2, $3, $4, $5, $6, $7)",
			7, (Oid[]) {INT8OID, INT8OID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID, INT8OID},
			values, nulls, false, 0);
	AffNotifyTierChange(program_id, member_id, from, to, reason);
}

/*
 * (Every query here runs with read_only false: record_bill has just written
 * the bill in this SPI connection, and a read-only execution would not see
 * it.)
 *
 * Review one member at as_of: upgrade to the highest tier they qualify for
 * if it ranks above theirs; with downgrade, move them down to it when the
 * grace period since they last qualified for their tier has passed.
 * A review dated before the member's last change changes nothing.
 * Returns 1 if the tier changed, 0 if not, -1 for a busy member (skip).
 */
static int
ReviewMember(int64 program_id, int64 member_id, TimestampTz as_of, bool downgrade, bool skip)
{
	TierRow    *rows;
	int			n,
				i,
				best = -1,
				cur = -1;
	int64		tier_id;
	TimestampTz since;

	if (!LockState(program_id, member_id, skip, &tier_id, &since))
		return -1;
	/* a review dated before the member's last change says nothing new */
	if (as_of < since)
		return 0;
	rows = EvalTiers(program_id, member_id, as_of, &n);
	for (i = 0; i < n; i++)
	{
		if (rows[i].value >= rows[i].threshold)
			best = i;
		if (rows[i].id == tier_id)
			cur = i;
	}
	if (tier_id != 0 && cur < 0)
		elog(ERROR, "pg_affiliate: tier " INT64_FORMAT " is not in program " INT64_FORMAT, tier_id, program_id);
	/* a blocked member is not upgraded (downgrades go on as for anyone) */
	if (best >= 0 && (cur < 0 || rows[best].rank > rows[cur].rank) &&
		!WalletRequireMember(program_id, member_id, false, NULL))
	{
		ChangeTier(program_id, member_id, tier_id, rows[best].id, "upgrade", as_of, rows[best].value);
		return 1;
	}
	if (downgrade && cur >= 0 && (best < 0 || rows[best].rank < rows[cur].rank))
	{
		TimestampTz last = since;
		TimestampTz due;

		if (rows[cur].has_until && rows[cur].until > last)
			last = rows[cur].until;
		due = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(last),
													  PointerGetDatum(GracePeriod(program_id))));
		if (as_of >= due)
		{
			ChangeTier(program_id, member_id, tier_id, best >= 0 ? rows[best].id : 0, "downgrade", as_of,
					   best >= 0 ? rows[best].value : rows[cur].value);
			return 1;
		}
	}
	return 0;
}

/*
 * Called by record_bill (inside its SPI connection) once the bill's points
 * are awarded: upgrade the member at once if they crossed a threshold.
 */
void
TierUpgradeNow(int64 program_id, int64 member_id)
{
	if (!ProgramHasTiers(program_id))
		return;
	(void) ReviewMember(program_id, member_id, GetCurrentTransactionStartTimestamp(), false, false);
}

/* the member's earning multiplier in basis points (10000 without a tier); inside SPI */
int64
TierMultiplierBp(int64 program_id, int64 member_id)
{
	static PlanSlot slot;

	AffExec(&slot,
			"SELECT t.multiplier_bp FROM affiliate.tier_member m "
			"  JOIN affiliate.tier t ON t.program_id = m.program_id AND t.id = m.tier_id "
			" WHERE m.program_id = $1 AND m.member_id = $2",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id)}, NULL, false, 1);
	if (SPI_processed == 0)
		return 10000;
	return AffGetInt64(0, 1, NULL);
}

/* ---------- admin ---------- */

/*
 * affiliate.set_tier(program_id bigint, name text, rank integer, threshold
 *     bigint, basis text, qualifying_window interval, multiplier_bp integer
 *     DEFAULT 10000, benefits jsonb DEFAULT '{}') RETURNS bigint
 *
 * Creates the tier or changes the one of that name; returns its id.
 * Members move only when reviewed (a bill, the job).  Audited.
 */
Datum
set_tier(PG_FUNCTION_ARGS)
{
	static PlanSlot rankslot,
				up;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	char	   *name = AffTextArg(fcinfo, 1, "name", TIER_MAX_NAME, true);
	int32		rank;
	int64		threshold;
	char	   *basis = AffTextArg(fcinfo, 4, "basis", 16, true);
	Interval   *window;
	int32		multiplier_bp;
	Jsonb	   *benefits;
	Datum		values[8];
	int64		id;

	AffRequireArg(fcinfo, 2, "rank");
	AffRequireArg(fcinfo, 3, "threshold");
	AffRequireArg(fcinfo, 5, "qualifying_window");
	AffRequireArg(fcinfo, 6, "multiplier_bp");
	AffRequireArg(fcinfo, 7, "benefits");
	rank = PG_GETARG_INT32(2);
	threshold = PG_GETARG_INT64(3);
	window = PG_GETARG_INTERVAL_P(5);
	multiplier_bp = PG_GETARG_INT32(6);
	benefits = PG_GETARG_JSONB_P(7);
	if (rank < 0 || rank > TIER_MAX_RANK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rank must be between 0 and %d", TIER_MAX_RANK)));
	if (threshold < 0 || threshold > LEDGER_MAX_AMOUNT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("threshold must be between 0 and " INT64_FORMAT, LEDGER_MAX_AMOUNT)));
	if (strcmp(basis, "points") != 0 && strcmp(basis, "spend") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid basis \"%s\"", basis),
				 errhint("A tier's basis is points or spend.")));
	if (AffIntervalOutOfRange(window, false))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid qualifying_window"),
				 errdetail("A qualifying window is positive and at most %d years.", AFF_MAX_YEARS)));
	if (multiplier_bp < 0 || multiplier_bp > TIER_MAX_MULTIPLIER_BP)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("multiplier_bp must be between 0 and %d", TIER_MAX_MULTIPLIER_BP)));
	if (!JB_ROOT_IS_OBJECT(benefits))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("benefits must be a JSON object")));
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();

	values[0] = Int64GetDatum(program_id);
	values[1] = CStringGetTextDatum(name);
	values[2] = Int32GetDatum(rank);
	values[3] = Int64GetDatum(threshold);
	values[4] = CStringGetTextDatum(basis);
	values[5] = IntervalPGetDatum(window);
	values[6] = Int32GetDatum(multiplier_bp);
	values[7] = JsonbPGetDatum(benefits);
	AffExec(&rankslot,
			"SELECT name FROM affiliate.tier WHERE program_id = $1 AND rank = $3 AND name <> $2",
			3, (Oid[]) {INT8OID, TEXTOID, INT4OID}, values, NULL, false, 1);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("rank %d is taken by tier \"%s\" in program " INT64_FORMAT, rank, AffGetText(0, 1),
						program_id)));
	AffExec(&up,
			"INSERT INTO affiliate.tier (program_id, name, rank, threshold, basis, qualifying_window, multiplier_bp, benefits) "
			"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (program_id, name) DO UPDATE "
			"SET rank = EXCLUDED.rank, threshold = EXCLUDED.threshold, basis = EXCLUDED.basis, "
			"    qualifying_window = EXCLUDED.qualifying_window, multiplier_bp = EXCLUDED.multiplier_bp, "
			"    benefits = EXCLUDED.benefits, updated_at = pg_catalog.now() RETURNING id",
			8, (Oid[]) {INT8OID, TEXTOID, INT4OID, INT8OID, TEXTOID, INTERVALOID, INT4OID, JSONBOID},
			values, NULL, false, 1);
	id = AffGetInt64(0, 1, NULL);
	AffAudit(program_id, "set_tier",
			 DetailOf("SELECT pg_catalog.jsonb_build_object('tier_id', $1::bigint, 'name', $2::text, 'rank', $3::integer, "
					  "'threshold', $4::bigint, 'basis', $5::text, 'qualifying_window', $6::interval::text, "
					  "'multiplier_bp', $7::integer, 'benefits', $8::jsonb)",
					  8, (Oid[]) {INT8OID, TEXTOID, INT4OID, INT8OID, TEXTOID, INTERVALOID, INT4OID, JSONBOID},
					  (Datum[]) {Int64GetDatum(id), values[1], values[2], values[3], values[4], values[5],
				  values[6], values[7]}, NULL));
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * affiliate.set_tier_policy(program_id bigint, grace_period interval)
 *     RETURNS void
 *
 * The grace period (0 to 100 years; 30 days without a row) before the job
 * may downgrade a member who stopped qualifying.  Audited.
 */
Datum
set_tier_policy(PG_FUNCTION_ARGS)
{
	static PlanSlot up;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	Interval   *grace;
	Datum		values[2];

	AffRequireArg(fcinfo, 1, "grace_period");
	grace = PG_GETARG_INTERVAL_P(1);
	if (AffIntervalOutOfRange(grace, true))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid grace_period"),
				 errdetail("A grace period is 0 to %d years.", AFF_MAX_YEARS)));
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	values[0] = Int64GetDatum(program_id);
	values[1] = IntervalPGetDatum(grace);
	AffExec(&up,
			"INSERT INTO affiliate.tier_policy (program_id, grace_period) VALUES ($1, $2) "
			"ON CONFLICT (program_id) DO UPDATE SET grace_period = EXCLUDED.grace_period, updated_at = pg_catalog.now()",
			2, (Oid[]) {INT8OID, INTERVALOID}, values, NULL, false, 0);
	AffAudit(program_id, "set_tier_policy",
			 DetailOf("SELECT pg_catalog.jsonb_build_object('grace_period', $1::interval::text)",
					  1, (Oid[]) {INTERVALOID}, &values[1], NULL));
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * affiliate.set_member_tier(program_id bigint, member_id bigint, tier text)
 *     RETURNS void
 *
 * Puts the member in the named tier (history reason 'manual'); their grace
 * period counts from now.  The same tier: nothing changes.  Audited.
 */
Datum
set_member_tier(PG_FUNCTION_ARGS)
{
	static PlanSlot find;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		member_id = AffArgInt64(fcinfo, 1, "member_id");
	char	   *name = AffTextArg(fcinfo, 2, "tier", TIER_MAX_NAME, true);
	int64		to,
				from;
	TimestampTz since;

	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	(void) WalletRequireMember(program_id, member_id, false, NULL);
	AffExec(&find, "SELECT id FROM affiliate.tier WHERE program_id = $1 AND name = $2",
			2, (Oid[]) {INT8OID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), CStringGetTextDatum(name)}, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("tier \"%s\" does not exist in program " INT64_FORMAT, name, program_id)));
	to = AffGetInt64(0, 1, NULL);
	(void) LockState(program_id, member_id, false, &from, &since);
	if (from != to)
	{
		StringInfoData memo;

		ChangeTier(program_id, member_id, from, to, "manual", GetCurrentTransactionStartTimestamp(), -1);
		initStringInfo(&memo);
		appendStringInfo(&memo, "{\"member_id\": " INT64_FORMAT ", \"from_tier_id\": ", member_id);
		if (from)
			appendStringInfo(&memo, INT64_FORMAT, from);
		else
			appendStringInfoString(&memo, "null");
		appendStringInfo(&memo, ", \"to_tier_id\": " INT64_FORMAT ", \"tier\": ", to);
		escape_json(&memo, name);
		appendStringInfoChar(&memo, '}');
		AffAudit(program_id, "set_member_tier", AffJsonbOf(&memo));
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/* ---------- the job ---------- */

/*
 * affiliate.review_tiers(as_of timestamptz DEFAULT now(), program_id bigint
 *     DEFAULT NULL) RETURNS bigint
 *
 * For every member with a tier state, a bill or a lot in a program with
 * tiers (one program or all): upgrades not yet made (an award) and
 * downgrades due (the grace period since the member last qualified has
 * passed).  A member locked by another transaction is skipped.  Returns
 * how many members changed tier.
 */
Datum
review_tiers(PG_FUNCTION_ARGS)
{
	static PlanSlot who;
	TimestampTz as_of;
	bool		one_program = !PG_ARGISNULL(1);
	int64		program_id = one_program ? PG_GETARG_INT64(1) : 0;
	int64		changed = 0;
	uint64		n,
				i;
	int64	   *progs,
			   *members;

	AffRequireArg(fcinfo, 0, "as_of");
	as_of = PG_GETARG_TIMESTAMPTZ(0);
	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be finite")));
	if (one_program)
		AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	AffExec(&who,
			"SELECT DISTINCT s.program_id, s.member_id FROM ("
			"  SELECT program_id, member_id FROM affiliate.tier_member "
			"  UNION SELECT program_id, member_id FROM affiliate.points_bill "
			"  UNION SELECT program_id, member_id FROM affiliate.points_lot) s "
			" WHERE ($1::bigint IS NULL OR s.program_id = $1) "
			"   AND EXISTS (SELECT 1 FROM affiliate.tier t WHERE t.program_id = s.program_id) "
			" ORDER BY 1, 2",
			1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(program_id)}, one_program ? " " : "n", true, 0);
	n = SPI_processed;
	progs = palloc(sizeof(int64) * (n + 1));
	members = palloc(sizeof(int64) * (n + 1));
	for (i = 0; i < n; i++)
	{
		progs[i] = AffGetInt64((int) i, 1, NULL);
		members[i] = AffGetInt64((int) i, 2, NULL);
	}
	for (i = 0; i < n; i++)
		if (ReviewMember(progs[i], members[i], as_of, true, true) == 1)
			changed++;
	SPI_finish();
	PG_RETURN_INT64(changed);
}

/* ---------- reading ---------- */

/*
 * affiliate.member_tier(program_id bigint, member_id bigint, OUT tier text,
 *     OUT rank integer, OUT multiplier_bp integer, OUT benefits jsonb, OUT
 *     since timestamptz, OUT next_tier text, OUT next_basis text, OUT
 *     qualifying_value bigint, OUT next_threshold bigint, OUT
 *     downgrade_possible_at timestamptz)
 *
 * The member's tier now; progress to the next tier up (its basis, the
 * member's qualifying value for it and its threshold; without a higher
 * tier the current tier's basis and value, next_threshold NULL); the
 * earliest time the job may downgrade them if they earn nothing more
 * (NULL without a tier or for a tier of threshold 0).
 */
Datum
member_tier(PG_FUNCTION_ARGS)
{
	static PlanSlot state,
				extra;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		member_id = AffArgInt64(fcinfo, 1, "member_id");
	TupleDesc	tupdesc;
	Datum		values[10];
	bool		nulls[10];
	TierRow    *rows;
	int			n,
				i,
				cur = -1,
				next = -1;
	int64		tier_id = 0;
	TimestampTz since = 0;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	HeapTuple	tuple;
	Datum		result;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "pg_affiliate: member_tier must return a row");
	tupdesc = BlessTupleDesc(tupdesc);
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	(void) WalletRequireMember(program_id, member_id, false, NULL);
	memset(nulls, true, sizeof(nulls));

	AffExec(&state, "SELECT tier_id, since FROM affiliate.tier_member WHERE program_id = $1 AND member_id = $2",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id)}, NULL, true, 1);
	if (SPI_processed == 1)
	{
		bool		isnull;

		tier_id = AffGetInt64(0, 1, &isnull);
		if (isnull)
			tier_id = 0;
		since = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	rows = EvalTiers(program_id, member_id, now, &n);
	for (i = 0; i < n; i++)
		if (rows[i].id == tier_id)
			cur = i;
	for (i = 0; i < n; i++)
		if (cur < 0 || rows[i].rank > rows[cur].rank)
		{
			next = i;
			break;
		}

	if (cur >= 0)
	{
		bool		isnull;

		values[0] = CStringGetTextDatum(rows[cur].name);
		values[1] = Int32GetDatum(rows[cur].rank);
		values[2] = Int32GetDatum(rows[cur].multiplier_bp);
		AffExec(&extra, "SELECT benefits FROM affiliate.tier WHERE program_id = $1 AND id = $2",
				2, (Oid[]) {INT8OID, INT8OID},
				(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(tier_id)}, NULL, true, 1);
		values[3] = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
									  false, -1);
		values[4] = TimestampTzGetDatum(since);
		nulls[0] = nulls[1] = nulls[2] = nulls[3] = nulls[4] = false;
		if (rows[cur].threshold > 0)
		{
			TimestampTz last = since;

			if (rows[cur].has_until && rows[cur].until > last)
				last = rows[cur].until;
			values[9] = DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(last),
											PointerGetDatum(GracePeriod(program_id)));
			nulls[9] = false;
		}
	}
	else
		values[2] = Int32GetDatum(10000), nulls[2] = false;
	if (next >= 0)
	{
		values[5] = CStringGetTextDatum(rows[next].name);
		values[6] = CStringGetTextDatum(rows[next].basis);
		values[7] = Int64GetDatum(rows[next].value);
		values[8] = Int64GetDatum(rows[next].threshold);
		nulls[5] = nulls[6] = nulls[7] = nulls[8] = false;
	}
	else if (cur >= 0)
	{
		values[6] = CStringGetTextDatum(rows[cur].basis);
		values[7] = Int64GetDatum(rows[cur].value);
		nulls[6] = nulls[7] = false;
	}
	/* text datums were made in the SPI context: copy the row out */
	tuple = heap_form_tuple(tupdesc, values, nulls);
	result = PointerGetDatum(SPI_returntuple(tuple, tupdesc));
	SPI_finish();
	PG_RETURN_DATUM(result);
}
