/*
 * reward.c
 *	  Rewards (issue 9 §3): a catalog priced in points, redeemed with the
 *	  member's usable points.
 *
 *	 affiliate.add_reward     admin: a new reward; audited
 *	 affiliate.set_reward     admin: replace a reward's attributes; audited
 *	 affiliate.redeem_reward  points for a reward; idempotent on request_ref
 *
 * A redemption locks, in this order, the reward row (FOR UPDATE: redemptions
 * of one reward serialise, so the stock is read and decremented under the
 * lock and never goes below zero — a CHECK says so too) and the member's
 * loyalty_points account row (the lock every points consumer takes first:
 * the per-member count and the usable points are read under it, and the
 * lots are consumed with ConsumeLots of loyalty.c, soonest-expiring first).
 * The points go to the system account loyalty_redeemed in one journal
 * (kind reward_redemption); verify() checks that the redemptions sum to
 * what loyalty_redeemed holds (rewards_match_ledger).
 *
 * Nothing else takes these locks in the other order (set_reward takes only
 * the reward row, the points engine only the account), so redemptions do
 * not deadlock with them.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "pg_affiliate.h"

#define REWARD_MAX_NAME 200
#define REWARD_MAX_REF 200
#define REWARD_MAX_LIMIT 1000000

PG_FUNCTION_INFO_V1(add_reward);
PG_FUNCTION_INFO_V1(set_reward);
PG_FUNCTION_INFO_V1(redeem_reward);

/* the attributes of a reward, as add_reward and set_reward take them */
typedef struct RewardAttrs
{
	char	   *name;
	int64		cost;
	bool		has_stock;
	int64		stock;
	bool		has_from;
	TimestampTz from;
	bool		has_until;
	TimestampTz until;
	bool		has_limit;
	int32		limit;
	bool		active;
} RewardAttrs;

/* read and check the attributes starting at argument first (name) */
static void
RewardAttrsArgs(FunctionCallInfo fcinfo, int first, RewardAttrs *a)
{
	a->name = AffTextArg(fcinfo, first, "name", REWARD_MAX_NAME, true);
	a->cost = AffArgInt64(fcinfo, first + 1, "cost_points");
	a->has_stock = !PG_ARGISNULL(first + 2);
	a->stock = a->has_stock ? PG_GETARG_INT64(first + 2) : 0;
	a->has_from = !PG_ARGISNULL(first + 3);
	a->from = a->has_from ? PG_GETARG_TIMESTAMPTZ(first + 3) : 0;
	a->has_until = !PG_ARGISNULL(first + 4);
	a->until = a->has_until ? PG_GETARG_TIMESTAMPTZ(first + 4) : 0;
	a->has_limit = !PG_ARGISNULL(first + 5);
	a->limit = a->has_limit ? PG_GETARG_INT32(first + 5) : 0;
	a->active = true;

	if (a->cost <= 0 || a->cost > LEDGER_MAX_AMOUNT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cost_points must be between 1 and " INT64_FORMAT, LEDGER_MAX_AMOUNT)));
	if (a->has_stock && (a->stock < 0 || a->stock > LEDGER_MAX_AMOUNT))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stock must be NULL (unlimited) or between 0 and " INT64_FORMAT, LEDGER_MAX_AMOUNT)));
	if (a->has_limit && (a->limit < 1 || a->limit > REWARD_MAX_LIMIT))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("per_member_limit must be NULL (unlimited) or between 1 and %d", REWARD_MAX_LIMIT)));
	if (a->has_from)
		AffCheckTimeWithinYears(a->from, "valid_from");
	if (a->has_until)
		AffCheckTimeWithinYears(a->until, "valid_until");
	if (a->has_from && a->has_until && a->until <= a->from)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("valid_until must be later than valid_from")));
}

/* the audit detail of a reward's attributes */
static Jsonb *
RewardDetail(int64 reward_id, const RewardAttrs *a)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s, "{\"reward_id\": " INT64_FORMAT ", \"name\": ", reward_id);
	escape_json(&s, a->name);
	appendStringInfo(&s, ", \"cost_points\": " INT64_FORMAT ", \"stock\": ", a->cost);
	if (a->has_stock)
		appendStringInfo(&s, INT64_FORMAT, a->stock);
	else
		appendStringInfoString(&s, "null");
	appendStringInfoString(&s, ", \"valid_from\": ");
	if (a->has_from)
		escape_json(&s, timestamptz_to_str(a->from));
	else
		appendStringInfoString(&s, "null");
	appendStringInfoString(&s, ", \"valid_until\": ");
	if (a->has_until)
		escape_json(&s, timestamptz_to_str(a->until));
	else
		appendStringInfoString(&s, "null");
	appendStringInfoString(&s, ", \"per_member_limit\": ");
	if (a->has_limit)
		appendStringInfo(&s, "%d", a->limit);
	else
		appendStringInfoString(&s, "null");
	appendStringInfo(&s, ", \"active\": %s}", a->active ? "true" : "false");
	return AffJsonbOf(&s);
}

static void
RewardValues(const RewardAttrs *a, Datum *values, char *nulls)
{
	values[0] = CStringGetTextDatum(a->name);
	values[1] = Int64GetDatum(a->cost);
	values[2] = Int64GetDatum(a->stock);
	nulls[2] = a->has_stock ? ' ' : 'n';
	values[3] = TimestampTzGetDatum(a->from);
	nulls[3] = a->has_from ? ' ' : 'n';
	values[4] = TimestampTzGetDatum(a->until);
	nulls[4] = a->has_until ? ' ' : 'n';
	values[5] = Int32GetDatum(a->limit);
	nulls[5] = a->has_limit ? ' ' : 'n';
	values[6] = BoolGetDatum(a->active);
}

static void
DuplicateName(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("a reward named \"%s\" already exists in the program", name)));
}

/*
 * affiliate.add_reward(program_id bigint, name text, cost_points bigint,
 *     stock bigint DEFAULT NULL, valid_from timestamptz DEFAULT NULL,
 *     valid_until timestamptz DEFAULT NULL, per_member_limit integer DEFAULT
 *     NULL) RETURNS bigint
 */
Datum
add_reward(PG_FUNCTION_ARGS)
{
	static PlanSlot ins;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	RewardAttrs a;
	Datum		values[8];
	char		nulls[9] = "        ";
	int64		id;

	RewardAttrsArgs(fcinfo, 1, &a);
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	values[0] = Int64GetDatum(program_id);
	RewardValues(&a, &values[1], &nulls[1]);
	AffExec(&ins,
			"INSERT INTO affiliate.reward (program_id, name, cost_points, stock, valid_from, valid_until, "
			"                              per_member_limit, active) "
			"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
			"ON CONFLICT (program_id, name) DO NOTHING RETURNING id",
			8, (Oid[]) {INT8OID, TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID, BOOLOID},
			values, nulls, false, 1);
	if (SPI_processed == 0)
		DuplicateName(a.name);
	id = AffGetInt64(0, 1, NULL);
	AffAudit(program_id, "add_reward", RewardDetail(id, &a));
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * affiliate.set_reward(program_id bigint, reward_id bigint, name text,
 *     cost_points bigint, stock bigint DEFAULT NULL, valid_from timestamptz
 *     DEFAULT NULL, valid_until timestamptz DEFAULT NULL, per_member_limit
 *     integer DEFAULT NULL, active boolean DEFAULT true) RETURNS void
 *
 * Replaces every attribute (NULL stock and limit: unlimited).  Redemptions
 * already made stay; a limit lowered below what a member has redeemed only
 * stops that member's further redemptions.
 */
Datum
set_reward(PG_FUNCTION_ARGS)
{
	static PlanSlot lock,
				dup,
				upd;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		reward_id = AffArgInt64(fcinfo, 1, "reward_id");
	RewardAttrs a;
	Datum		values[9];
	char		nulls[10] = "         ";

	RewardAttrsArgs(fcinfo, 2, &a);
	AffRequireArg(fcinfo, 8, "active");
	a.active = PG_GETARG_BOOL(8);
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(reward_id);
	AffExec(&lock, "SELECT 1 FROM affiliate.reward WHERE program_id = $1 AND id = $2 FOR UPDATE",
			2, (Oid[]) {INT8OID, INT8OID}, values, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("reward " INT64_FORMAT " does not exist in program " INT64_FORMAT,
						reward_id, program_id)));
	RewardValues(&a, &values[2], &nulls[2]);
	AffExec(&dup, "SELECT 1 FROM affiliate.reward WHERE program_id = $1 AND id <> $2 AND name = $3",
			3, (Oid[]) {INT8OID, INT8OID, TEXTOID}, values, nulls, false, 1);
	if (SPI_processed > 0)
		DuplicateName(a.name);
	AffExec(&upd,
			"UPDATE affiliate.reward SET name = $3, cost_points = $4, stock = $5, valid_from = $6, "
			"       valid_until = $7, per_member_limit = $8, active = $9, updated_at = pg_catalog.now() "
			" WHERE program_id = $1 AND id = $2",
			9, (Oid[]) {INT8OID, INT8OID, TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID,
				INT4OID, BOOLOID},
			values, nulls, false, 0);
	AffAudit(program_id, "set_reward", RewardDetail(reward_id, &a));
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * A redemption recorded under request_ref, compared with the inputs: its id,
 * or -1 when there is none; 23505 when the inputs differ.
 */
static int64
ReplayRedemption(int64 program_id, int64 member_id, int64 reward_id, const char *ref)
{
	static PlanSlot slot;

	AffExec(&slot,
			"SELECT id, member_id = $2 AND reward_id = $3 FROM affiliate.reward_redemption "
			" WHERE program_id = $1 AND request_ref = $4",
			4, (Oid[]) {INT8OID, INT8OID, INT8OID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id), Int64GetDatum(reward_id),
				CStringGetTextDatum(ref)}, NULL, false, 1);
	if (SPI_processed == 0)
		return -1;
	if (!AffGetBool(0, 2, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("redemption \"%s\" was already recorded with different inputs", ref),
				 errhint("A retried redemption must repeat the same member and reward; a new one needs a new request_ref.")));
	return AffGetInt64(0, 1, NULL);
}

/*
 * affiliate.redeem_reward(program_id bigint, member_id bigint, reward_id
 *     bigint, request_ref text) RETURNS bigint
 *
 * Returns the redemption id.  Refusals change nothing: 55000 when the
 * reward is inactive, outside its window or out of stock; 23514 when the
 * member reached the per-member limit or has too few usable points.
 */
Datum
redeem_reward(PG_FUNCTION_ARGS)
{
	static PlanSlot lock,
				count,
				usable,
				stock,
				ins;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		member_id = AffArgInt64(fcinfo, 1, "member_id");
	int64		reward_id = AffArgInt64(fcinfo, 2, "reward_id");
	char	   *ref = AffTextArg(fcinfo, 3, "request_ref", REWARD_MAX_REF, true);
	int64		id,
				cost,
				have,
				taken,
				journal_id,
				left = 0;
	bool		stock_null,
				limit_null;
	int64		limit;
	bool		blocked;
	bool		active,
				before_start,
				after_end;
	Datum		values[4];
	StringInfoData memo;

	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(member_id);
	values[2] = Int64GetDatum(reward_id);
	values[3] = CStringGetTextDatum(ref);

	/* P0002 for a member not in the program; a blocked one is refused below */
	blocked = WalletRequireMember(program_id, member_id, false, NULL);

	/* a replay needs no lock and does not care what the reward is now */
	id = ReplayRedemption(program_id, member_id, reward_id, ref);
	if (id >= 0)
	{
		SPI_finish();
		PG_RETURN_INT64(id);
	}

	/* the reward row: redemptions of one reward serialise here */
	AffExec(&lock,
			"SELECT cost_points, stock, per_member_limit, active, "
			"       valid_from IS NOT NULL AND pg_catalog.now() < valid_from, "
			"       valid_until IS NOT NULL AND pg_catalog.now() >= valid_until "
			"  FROM affiliate.reward WHERE program_id = $1 AND id = $3 FOR UPDATE",
			3, (Oid[]) {INT8OID, INT8OID, INT8OID}, values, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("reward " INT64_FORMAT " does not exist in program " INT64_FORMAT,
						reward_id, program_id)));
	cost = AffGetInt64(0, 1, NULL);
	left = AffGetInt64(0, 2, &stock_null);
	limit = AffGetInt64(0, 3, &limit_null);
	active = AffGetBool(0, 4, NULL);
	before_start = AffGetBool(0, 5, NULL);
	after_end = AffGetBool(0, 6, NULL);

	/* the member's points account: the per-member count and the points */
	(void) LedgerLockedBalance(program_id,
							   LedgerAccount(program_id, false, member_id, "loyalty_points", "POINTS",
											 -1, NULL, NULL));

	/* the same request_ref committed while this call waited: replay it */
	id = ReplayRedemption(program_id, member_id, reward_id, ref);
	if (id >= 0)
	{
		SPI_finish();
		PG_RETURN_INT64(id);
	}

	/* a blocked member's points are frozen (a replay above still answers) */
	if (blocked)
		(void) WalletRequireMember(program_id, member_id, true, NULL);
	if (!active)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("reward " INT64_FORMAT " is not active", reward_id)));
	if (before_start || after_end)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("reward " INT64_FORMAT " is outside its validity window", reward_id),
				 errdetail(before_start ? "Its window has not opened yet." : "Its window has closed.")));
	if (!stock_null && left <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("reward " INT64_FORMAT " is out of stock", reward_id)));
	if (!limit_null)
	{
		int64		done;

		AffExec(&count,
				"SELECT pg_catalog.count(*) FROM affiliate.reward_redemption "
				" WHERE program_id = $1 AND member_id = $2 AND reward_id = $3",
				3, (Oid[]) {INT8OID, INT8OID, INT8OID}, values, NULL, false, 1);
		done = AffGetInt64(0, 1, NULL);
		if (done >= limit)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("member " INT64_FORMAT " reached the limit of reward " INT64_FORMAT
							" (" INT64_FORMAT " per member)", member_id, reward_id, limit)));
	}
	AffExec(&usable,
			"SELECT coalesce(pg_catalog.sum(remaining), 0)::bigint FROM affiliate.points_lot "
			" WHERE program_id = $1 AND member_id = $2 AND remaining > 0 "
			"   AND usable_from <= pg_catalog.now() "
			"   AND (expires_at IS NULL OR expires_at > pg_catalog.now())",
			2, (Oid[]) {INT8OID, INT8OID}, values, NULL, false, 1);
	have = AffGetInt64(0, 1, NULL);
	if (have < cost)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("member " INT64_FORMAT " has " INT64_FORMAT " usable points, fewer than the "
						INT64_FORMAT " reward " INT64_FORMAT " costs", member_id, have, cost, reward_id),
				 errdetail("Pending and expired points cannot be used.")));

	taken = ConsumeLots(program_id, member_id, cost, false, 0);
	if (taken != cost)
		elog(ERROR, "pg_affiliate: took " INT64_FORMAT " of " INT64_FORMAT " points", taken, cost);
	if (!stock_null)
		AffExec(&stock,
				"UPDATE affiliate.reward SET stock = stock - 1 WHERE program_id = $1 AND id = $3",
				3, (Oid[]) {INT8OID, INT8OID, INT8OID}, values, NULL, false, 0);

	initStringInfo(&memo);
	appendStringInfo(&memo, "{\"reward_id\": " INT64_FORMAT ", \"points\": " INT64_FORMAT
					 ", \"request_ref\": ", reward_id, cost);
	escape_json(&memo, ref);
	appendStringInfoChar(&memo, '}');
	journal_id = PostPoints(program_id, member_id, "reward_redemption", "loyalty_redeemed", -cost, NULL, &memo);

	AffExec(&ins,
			"INSERT INTO affiliate.reward_redemption (program_id, reward_id, member_id, points, request_ref, journal_id) "
			"VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
			6, (Oid[]) {INT8OID, INT8OID, INT8OID, INT8OID, TEXTOID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(reward_id), Int64GetDatum(member_id),
				Int64GetDatum(cost), values[3], Int64GetDatum(journal_id)}, NULL, false, 1);
	id = AffGetInt64(0, 1, NULL);
	SPI_finish();
	PG_RETURN_INT64(id);
}
