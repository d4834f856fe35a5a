/*
 * loyalty.c
 *	  Loyalty points (issue 9 §1): ledger postings in asset POINTS, each
 *	  award a lot with an expiry and an optional pending period.
 *
 *	 affiliate.set_points_rule    admin: points per event (bill: per amount)
 *	 affiliate.set_points_policy  admin: lot lifetime and pending days
 *	 affiliate.record_bill        points for a bill; idempotent on external_ref
 *	 affiliate.refund_bill        take a bill's points back, shortfall recorded
 *	 affiliate.award_points       admin: a lot; idempotent on source_ref
 *	 affiliate.deduct_points      admin: consume lots; idempotent on source_ref
 *	 affiliate.expire_points      job: retire what is left of expired lots
 *
 * A member's points are the ledger account (member, POINTS, loyalty_points);
 * the lots (affiliate.points_lot) say where those points came from, when
 * they may be used and when they expire; the remainders of a member's lots
 * sum to the account's balance (verify(): points_lots_match_ledger).
 *
 * Every step that takes points from lots first locks the member's
 * loyalty_points account row (LedgerLockedBalance), then the lots, so two
 * consumers of one member serialise and never take the same lot; the expiry
 * job takes the account lock with SKIP LOCKED and leaves a busy member to
 * its next run.  Lots are consumed soonest-expiring first (no expiry last,
 * then by id).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "pg_affiliate.h"

#define POINTS_ASSET "POINTS"
#define POINTS_KIND "loyalty_points"
#define POINTS_MAX_REF 200
#define POINTS_MAX_REASON 200
#define POINTS_MAX_RULE INT64CONST(1000000000)	/* points of one rule */
#define POINTS_MAX_PENDING_DAYS 365

PG_FUNCTION_INFO_V1(set_points_rule);
PG_FUNCTION_INFO_V1(set_points_policy);
PG_FUNCTION_INFO_V1(record_bill);
PG_FUNCTION_INFO_V1(refund_bill);
PG_FUNCTION_INFO_V1(award_points);
PG_FUNCTION_INFO_V1(deduct_points);
PG_FUNCTION_INFO_V1(expire_points);

static void
CheckPoints(int64 points)
{
	if (points <= 0 || points > LEDGER_MAX_AMOUNT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("points must be between 1 and " INT64_FORMAT, LEDGER_MAX_AMOUNT)));
}

/*
 * The earning multiplier of a member, in basis points (10000 = 1.0).  The
 * one place a tier's multiplier is looked up (src/tier.c); inside SPI.
 */
static int64
PointsMultiplierBp(int64 program_id, int64 member_id)
{
	return TierMultiplierBp(program_id, member_id);
}

/* the member's loyalty_points account, created if missing; inside SPI */
static int64
PointsAccount(int64 program_id, int64 member_id)
{
	return LedgerAccount(program_id, false, member_id, POINTS_KIND, POINTS_ASSET, -1, NULL, NULL);
}

/* lock the member's points account (the lock every consumer takes first) */
static void
LockPoints(int64 program_id, int64 member_id)
{
	(void) LedgerLockedBalance(program_id, PointsAccount(program_id, member_id));
}

/*
 * Post points between the member's account and a system account:
 * amount > 0 credits the member.
 */
int64
PostPoints(int64 program_id, int64 member_id, const char *journal_kind,
		   const char *system_kind, int64 amount, const char *key, StringInfo memo)
{
	LedgerLeg	legs[2];
	bool		replayed;

	memset(legs, 0, sizeof(legs));
	legs[0].member_id = member_id;
	legs[0].kind = POINTS_KIND;
	legs[0].asset = POINTS_ASSET;
	legs[0].amount = amount;
	legs[1].is_system = true;
	legs[1].kind = system_kind;
	legs[1].asset = POINTS_ASSET;
	legs[1].amount = -amount;
	return LedgerPost(program_id, journal_kind, key, AffJsonbOf(memo), legs, 2, &replayed);
}

/*
 * Take up to want points from the member's lots, soonest-expiring first;
 * first_lot (> 0) is taken before all others whatever its state.  Only lots
 * usable now count unless with_pending; expired lots never (but first_lot).
 * Returns what was taken.  The caller holds the account lock.
 */
int64
ConsumeLots(int64 program_id, int64 member_id, int64 want, bool with_pending, int64 first_lot)
{
	static PlanSlot lock,
				take;
	Datum		values[5];
	int64		taken = 0;
	uint64		i;

	if (want <= 0)
		return 0;
	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(member_id);
	values[2] = Int64GetDatum(want);
	values[3] = BoolGetDatum(with_pending);
	values[4] = Int64GetDatum(first_lot);
	AffExec(&lock,
			"SELECT id FROM affiliate.points_lot "
			" WHERE program_id = $1 AND member_id = $2 AND remaining > 0 "
			" ORDER BY id FOR UPDATE",
			2, (Oid[]) {INT8OID, INT8OID}, values, NULL, false, 0);
	AffExec(&take,
			"WITH c AS ("
			"  SELECT l.id, l.remaining,"
			"         coalesce(pg_catalog.sum(l.remaining) OVER (ORDER BY l.id = $5 DESC,"
			"             l.expires_at ASC NULLS LAST, l.id"
			"             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before"
			"    FROM affiliate.points_lot l"
			"   WHERE l.program_id = $1 AND l.member_id = $2 AND l.remaining > 0"
			"     AND (l.id = $5 OR ((l.expires_at IS NULL OR l.expires_at > pg_catalog.now())"
			"          AND ($4 OR l.usable_from <= pg_catalog.now()))))"
			" UPDATE affiliate.points_lot l"
			"    SET remaining = l.remaining - LEAST(c.remaining, $3 - c.before)::bigint"
			"   FROM c"
			"  WHERE l.program_id = $1 AND l.id = c.id AND c.before < $3"
			" RETURNING LEAST(c.remaining, $3 - c.before)::bigint",
			5, (Oid[]) {INT8OID, INT8OID, INT8OID, BOOLOID, INT8OID}, values, NULL, false, 0);
	for (i = 0; i < SPI_processed; i++)
		taken += AffGetInt64((int) i, 1, NULL);
	return taken;
}

/* the points usable now (the caller holds the account lock) */
static int64
UsablePoints(int64 program_id, int64 member_id)
{
	static PlanSlot slot;

	AffExec(&slot,
			"SELECT coalesce(pg_catalog.sum(remaining), 0)::bigint FROM affiliate.points_lot "
			" WHERE program_id = $1 AND member_id = $2 AND remaining > 0 "
			"   AND usable_from <= pg_catalog.now() "
			"   AND (expires_at IS NULL OR expires_at > pg_catalog.now())",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id)}, NULL, false, 1);
	return AffGetInt64(0, 1, NULL);
}

static Jsonb *
DetailOf(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);
	bool		isnull;

	if (plan == NULL || SPI_execute_plan(plan, values, nulls, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_affiliate: audit detail failed");
	return DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* ---------- admin: rules and policy ---------- */

/*
 * affiliate.set_points_rule(program_id bigint, event text, points bigint,
 *     per_amount bigint DEFAULT 1) RETURNS void
 */
Datum
set_points_rule(PG_FUNCTION_ARGS)
{
	static PlanSlot up;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	char	   *event = AffTextArg(fcinfo, 1, "event", 32, true);
	int64		points = AffArgInt64(fcinfo, 2, "points");
	int64		per_amount = AffArgInt64(fcinfo, 3, "per_amount");
	Datum		values[4];

	if (strcmp(event, "bill") != 0 && strcmp(event, "signup") != 0 &&
		strcmp(event, "referral_converted") != 0 && strcmp(event, "course_completed") != 0 &&
		strcmp(event, "birthday") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid points event"),
				 errhint("An event is bill, signup, referral_converted, course_completed or birthday.")));
	if (points < 0 || points > POINTS_MAX_RULE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rule points must be between 0 and " INT64_FORMAT, POINTS_MAX_RULE)));
	if (per_amount < 1 || per_amount > LEDGER_MAX_AMOUNT ||
		(strcmp(event, "bill") != 0 && per_amount != 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid per_amount"),
				 errdetail("A bill rule gives points per per_amount minor units (1 to " INT64_FORMAT
						   "); the other events take per_amount 1.", LEDGER_MAX_AMOUNT)));
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	values[0] = Int64GetDatum(program_id);
	values[1] = CStringGetTextDatum(event);
	values[2] = Int64GetDatum(points);
	values[3] = Int64GetDatum(per_amount);
	AffExec(&up,
			"INSERT INTO affiliate.points_rule (program_id, event, points, per_amount) "
			"VALUES ($1, $2, $3, $4) ON CONFLICT (program_id, event) DO UPDATE "
			"SET points = EXCLUDED.points, per_amount = EXCLUDED.per_amount, updated_at = pg_catalog.now()",
			4, (Oid[]) {INT8OID, TEXTOID, INT8OID, INT8OID}, values, NULL, false, 0);
	AffAudit(program_id, "set_points_rule",
			 DetailOf("SELECT pg_catalog.jsonb_build_object('event', $1::text, 'points', $2::bigint, 'per_amount', $3::bigint)",
					  3, (Oid[]) {TEXTOID, INT8OID, INT8OID}, &values[1], NULL));
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * affiliate.set_points_policy(program_id bigint, lot_lifetime interval,
 *     pending_days integer DEFAULT 0) RETURNS void
 */
Datum
set_points_policy(PG_FUNCTION_ARGS)
{
	static PlanSlot up;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	Interval   *lifetime;
	int32		pending_days;
	Datum		values[3];

	AffRequireArg(fcinfo, 1, "lot_lifetime");
	AffRequireArg(fcinfo, 2, "pending_days");
	lifetime = PG_GETARG_INTERVAL_P(1);
	pending_days = PG_GETARG_INT32(2);
	if (AffIntervalOutOfRange(lifetime, false))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid lot_lifetime"),
				 errdetail("A lot lifetime is positive and at most %d years.", AFF_MAX_YEARS)));
	if (pending_days < 0 || pending_days > POINTS_MAX_PENDING_DAYS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pending_days must be between 0 and %d", POINTS_MAX_PENDING_DAYS)));
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	values[0] = Int64GetDatum(program_id);
	values[1] = IntervalPGetDatum(lifetime);
	values[2] = Int32GetDatum(pending_days);
	AffExec(&up,
			"INSERT INTO affiliate.points_policy (program_id, lot_lifetime, pending_days) "
			"VALUES ($1, $2, $3) ON CONFLICT (program_id) DO UPDATE "
			"SET lot_lifetime = EXCLUDED.lot_lifetime, pending_days = EXCLUDED.pending_days, "
			"    updated_at = pg_catalog.now()",
			3, (Oid[]) {INT8OID, INTERVALOID, INT4OID}, values, NULL, false, 0);
	AffAudit(program_id, "set_points_policy",
			 DetailOf("SELECT pg_catalog.jsonb_build_object('lot_lifetime', $1::interval::text, 'pending_days', $2::integer)",
					  2, (Oid[]) {INTERVALOID, INT4OID}, &values[1], NULL));
	SPI_finish();
	PG_RETURN_VOID();
}

/* ---------- bills ---------- */

static void
RefusedBillReplay(const char *ref, const char *field)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("bill \"%s\" was already recorded with different inputs", ref),
			 errdetail("The %s differs from the recorded bill.", field),
			 errhint("A retried bill must repeat the same inputs; a new bill needs a new external_ref.")));
}

/*
 * The recorded bill ref, compared with the inputs: its points, or -1 when
 * there is none.
 */
static int64
ReplayBill(int64 program_id, const char *ref, int64 member_id, int64 amount,
		   bool has_time, TimestampTz at)
{
	static PlanSlot slot;
	bool		isnull;

	AffExec(&slot,
			"SELECT member_id, amount, occurred_at, points FROM affiliate.points_bill "
			" WHERE program_id = $1 AND external_ref = $2",
			2, (Oid[]) {INT8OID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), CStringGetTextDatum(ref)}, NULL, false, 1);
	if (SPI_processed == 0)
		return -1;
	if (AffGetInt64(0, 1, NULL) != member_id)
		RefusedBillReplay(ref, "member_id");
	if (AffGetInt64(0, 2, NULL) != amount)
		RefusedBillReplay(ref, "amount");
	if (has_time &&
		DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull)) != at)
		RefusedBillReplay(ref, "occurred_at");
	return AffGetInt64(0, 4, NULL);
}

/*
 * affiliate.record_bill(program_id bigint, external_ref text, member_id
 *     bigint, amount bigint, occurred_at timestamptz DEFAULT NULL)
 *     RETURNS bigint
 *
 * Points = floor(amount * rule points / per_amount * multiplier), as a lot
 * usable from occurred_at + pending days, expiring at occurred_at + the
 * lot lifetime.  The bill row is inserted ON CONFLICT DO NOTHING first, so
 * the same bill from two sessions waits for the first and then replays it.
 */
Datum
record_bill(PG_FUNCTION_ARGS)
{
	static PlanSlot rule,
				ins,
				lot,
				setlot;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	char	   *ref = AffTextArg(fcinfo, 1, "external_ref", POINTS_MAX_REF, true);
	int64		member_id = AffArgInt64(fcinfo, 2, "member_id");
	int64		amount = AffArgInt64(fcinfo, 3, "amount");
	bool		has_time = !PG_ARGISNULL(4);
	TimestampTz at = has_time ? PG_GETARG_TIMESTAMPTZ(4) : GetCurrentTransactionStartTimestamp();
	int64		points = 0;
	int64		bill_id;
	int64		lot_id;
	int64		replay;
	bool		blocked;
	Datum		values[7];
	StringInfoData memo;

	if (amount <= 0 || amount > LEDGER_MAX_AMOUNT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bill amount must be between 1 and " INT64_FORMAT, LEDGER_MAX_AMOUNT)));
	if (has_time)
		AffCheckOccurredAt(at, -1);
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	blocked = WalletRequireMember(program_id, member_id, false, NULL);

	replay = ReplayBill(program_id, ref, member_id, amount, has_time, at);
	if (replay >= 0)
	{
		SPI_finish();
		PG_RETURN_INT64(replay);
	}

	values[0] = Int64GetDatum(program_id);
	AffExec(&rule,
			"SELECT points, per_amount FROM affiliate.points_rule WHERE program_id = $1 AND event = 'bill'",
			1, (Oid[]) {INT8OID}, values, NULL, false, 1);
	/* a blocked member earns nothing: the bill is recorded, withheld */
	if (SPI_processed == 1 && !blocked)
	{
		int128		p = (int128) amount * AffGetInt64(0, 1, NULL);

		p /= AffGetInt64(0, 2, NULL);
		p = p * PointsMultiplierBp(program_id, member_id) / 10000;
		points = p > LEDGER_MAX_AMOUNT ? LEDGER_MAX_AMOUNT : (int64) p;
	}

	values[1] = CStringGetTextDatum(ref);
	values[2] = Int64GetDatum(member_id);
	values[3] = Int64GetDatum(amount);
	values[4] = TimestampTzGetDatum(at);
	values[5] = Int64GetDatum(points);
	values[6] = CStringGetTextDatum("member_blocked");
	AffExec(&ins,
			"INSERT INTO affiliate.points_bill (program_id, external_ref, member_id, amount, occurred_at, points, withheld) "
			"VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (program_id, external_ref) DO NOTHING RETURNING id",
			7, (Oid[]) {INT8OID, TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID, INT8OID, TEXTOID}, values,
			blocked ? NULL : "      n", false, 1);
	if (SPI_processed == 0)
	{
		/* recorded concurrently: the other session committed; replay it */
		replay = ReplayBill(program_id, ref, member_id, amount, has_time, at);
		if (replay < 0)
			elog(ERROR, "pg_affiliate: bill \"%s\" conflicted but is not visible", ref);
		SPI_finish();
		PG_RETURN_INT64(replay);
	}
	bill_id = AffGetInt64(0, 1, NULL);
	if (points > 0)
	{
		AffExec(&lot,
				"INSERT INTO affiliate.points_lot (program_id, member_id, points, remaining, expires_at, usable_from, source_ref, reason) "
				"SELECT $1, $3, $6, $6, $5 + coalesce(p.lot_lifetime, interval '12 months'), "
				"       $5 + pg_catalog.make_interval(days => coalesce(p.pending_days, 0)), 'bill:' || $2, 'bill' "
				"  FROM (SELECT 1) one LEFT JOIN affiliate.points_policy p ON p.program_id = $1 "
				"RETURNING id",
				6, (Oid[]) {INT8OID, TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID, INT8OID}, values, NULL, false, 1);
		lot_id = AffGetInt64(0, 1, NULL);
		AffExec(&setlot, "UPDATE affiliate.points_bill SET lot_id = $2 WHERE program_id = $1 AND id = $3",
				3, (Oid[]) {INT8OID, INT8OID, INT8OID},
				(Datum[]) {values[0], Int64GetDatum(lot_id), Int64GetDatum(bill_id)}, NULL, false, 0);
		initStringInfo(&memo);
		appendStringInfo(&memo, "{\"bill_id\": " INT64_FORMAT ", \"lot_id\": " INT64_FORMAT ", \"external_ref\": ",
						 bill_id, lot_id);
		escape_json(&memo, ref);
		appendStringInfoChar(&memo, '}');
		PostPoints(program_id, member_id, "points_bill", "loyalty_issued", points,
				   psprintf("points_bill:%s", ref), &memo);
	}
	if (!blocked)
		TierUpgradeNow(program_id, member_id);	/* a threshold crossed: upgrade at once */
	SPI_finish();
	PG_RETURN_INT64(points);
}

/*
 * affiliate.refund_bill(program_id bigint, external_ref text, amount bigint
 *     DEFAULT NULL, refund_ref text DEFAULT NULL) RETURNS bigint
 *
 * Takes back the bill's points in proportion to the refunded amount
 * (cumulatively: a bill refunded in full gives back exactly its points):
 * from the bill's lot first, then the member's other unexpired lots
 * soonest-expiring first; what cannot be taken is recorded as shortfall.
 * Returns the points taken back.  Idempotent on refund_ref.
 */
Datum
refund_bill(PG_FUNCTION_ARGS)
{
	static PlanSlot bill,
				prev,
				ins,
				upd;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	char	   *ref = AffTextArg(fcinfo, 1, "external_ref", POINTS_MAX_REF, true);
	bool		has_amount = !PG_ARGISNULL(2);
	int64		amount = has_amount ? PG_GETARG_INT64(2) : 0;
	char	   *refund_ref = AffTextArg(fcinfo, 3, "refund_ref", POINTS_MAX_REF, false);
	int64		bill_id,
				member_id,
				bill_amount,
				bill_points,
				refunded,
				lot_id,
				due,
				taken;
	bool		isnull;
	int128		before,
				after;
	StringInfoData memo;

	if (has_amount && (amount <= 0 || amount > LEDGER_MAX_AMOUNT))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("refund amount must be between 1 and " INT64_FORMAT, LEDGER_MAX_AMOUNT)));
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();

	/* the bill, locked: refunds of one bill serialise (a replay racing its
	 * original waits here, then finds it) */
	AffExec(&bill,
			"SELECT id, member_id, amount, points, refunded_amount, lot_id FROM affiliate.points_bill "
			" WHERE program_id = $1 AND external_ref = $2 FOR UPDATE",
			2, (Oid[]) {INT8OID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), CStringGetTextDatum(ref)}, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("bill \"%s\" does not exist in program " INT64_FORMAT, ref, program_id)));
	bill_id = AffGetInt64(0, 1, NULL);
	member_id = AffGetInt64(0, 2, NULL);
	bill_amount = AffGetInt64(0, 3, NULL);
	bill_points = AffGetInt64(0, 4, NULL);
	refunded = AffGetInt64(0, 5, NULL);
	lot_id = AffGetInt64(0, 6, &isnull);
	if (isnull)
		lot_id = 0;

	/* the refund_ref replayed: the same bill and amount, its points again */
	if (refund_ref != NULL)
	{
		AffExec(&prev,
				"SELECT b.external_ref, r.amount, r.taken FROM affiliate.points_bill_refund r "
				"  JOIN affiliate.points_bill b ON b.program_id = r.program_id AND b.id = r.bill_id "
				" WHERE r.program_id = $1 AND r.refund_ref = $2",
				2, (Oid[]) {INT8OID, TEXTOID},
				(Datum[]) {Int64GetDatum(program_id), CStringGetTextDatum(refund_ref)}, NULL, false, 1);
		if (SPI_processed == 1)
		{
			if (strcmp(AffGetText(0, 1), ref) != 0 || (has_amount && AffGetInt64(0, 2, NULL) != amount))
				ereport(ERROR,
						(errcode(ERRCODE_UNIQUE_VIOLATION),
						 errmsg("refund \"%s\" was already recorded with different inputs", refund_ref),
						 errhint("A retried refund must repeat the same bill and amount.")));
			taken = AffGetInt64(0, 3, NULL);
			SPI_finish();
			PG_RETURN_INT64(taken);
		}
	}

	if (!has_amount)
		amount = bill_amount - refunded;
	if (amount <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("bill \"%s\" is already refunded in full", ref)));
	if (amount > bill_amount - refunded)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("refund amount " INT64_FORMAT " exceeds what is left of bill \"%s\" (" INT64_FORMAT ")",
						amount, ref, bill_amount - refunded)));

	before = (int128) bill_points * refunded / bill_amount;
	after = (int128) bill_points * (refunded + amount) / bill_amount;
	due = (int64) (after - before);
	taken = 0;
	if (due > 0)
	{
		LockPoints(program_id, member_id);
		taken = ConsumeLots(program_id, member_id, due, true, lot_id);
	}
	AffExec(&ins,
			"INSERT INTO affiliate.points_bill_refund (program_id, bill_id, refund_ref, amount, points, taken, shortfall) "
			"VALUES ($1, $2, $3, $4, $5, $6, $5 - $6)",
			6, (Oid[]) {INT8OID, INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(bill_id),
				refund_ref ? CStringGetTextDatum(refund_ref) : (Datum) 0,
				Int64GetDatum(amount), Int64GetDatum(due), Int64GetDatum(taken)},
			refund_ref ? "      " : "  n   ", false, 0);
	AffExec(&upd,
			"UPDATE affiliate.points_bill SET refunded_amount = refunded_amount + $3 WHERE program_id = $1 AND id = $2",
			3, (Oid[]) {INT8OID, INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(bill_id), Int64GetDatum(amount)}, NULL, false, 0);
	if (taken > 0)
	{
		initStringInfo(&memo);
		appendStringInfo(&memo, "{\"bill_id\": " INT64_FORMAT ", \"amount\": " INT64_FORMAT
						 ", \"due\": " INT64_FORMAT ", \"external_ref\": ", bill_id, amount, due);
		escape_json(&memo, ref);
		appendStringInfoChar(&memo, '}');
		PostPoints(program_id, member_id, "points_refund", "loyalty_reversed", -taken, NULL, &memo);
	}
	SPI_finish();
	PG_RETURN_INT64(taken);
}

/* ---------- admin: award and deduct ---------- */

/*
 * affiliate.award_points(program_id bigint, member_id bigint, points bigint,
 *     reason text, expires_at timestamptz DEFAULT NULL, source_ref text
 *     DEFAULT NULL) RETURNS bigint
 *
 * A lot usable at once; expires_at NULL: now + the lot lifetime.  Returns
 * the lot id; a source_ref seen before returns its lot if the inputs match
 * (23505 otherwise).  Audited.
 */
Datum
award_points(PG_FUNCTION_ARGS)
{
	static PlanSlot prev,
				ins;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		member_id = AffArgInt64(fcinfo, 1, "member_id");
	int64		points = AffArgInt64(fcinfo, 2, "points");
	char	   *reason = AffTextArg(fcinfo, 3, "reason", POINTS_MAX_REASON, true);
	bool		has_exp = !PG_ARGISNULL(4);
	TimestampTz exp = has_exp ? PG_GETARG_TIMESTAMPTZ(4) : 0;
	char	   *source_ref = AffTextArg(fcinfo, 5, "source_ref", POINTS_MAX_REF, false);
	char	   *key = source_ref ? psprintf("award:%s", source_ref) : NULL;
	int64		lot_id;
	int			attempt;
	bool		blocked;
	Datum		values[6];
	char		nulls[6] = "      ";
	StringInfoData memo;

	CheckPoints(points);
	if (has_exp)
	{
		AffCheckOccurredAt(exp, -1);
		if (exp <= GetCurrentTransactionStartTimestamp())
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("expires_at must be in the future")));
	}
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	blocked = WalletRequireMember(program_id, member_id, false, NULL);

	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(member_id);
	values[2] = Int64GetDatum(points);
	values[3] = CStringGetTextDatum(reason);
	values[4] = TimestampTzGetDatum(exp);
	nulls[4] = has_exp ? ' ' : 'n';
	values[5] = key ? CStringGetTextDatum(key) : (Datum) 0;
	nulls[5] = key ? ' ' : 'n';
	/*
	 * A source_ref seen before replays; the insert skips a conflict with an
	 * award committed meanwhile by another session, which is then replayed.
	 */
	for (attempt = 0;; attempt++)
	{
		if (key)
		{
			AffExec(&prev,
					"SELECT id, member_id = $2 AND points = $3 AND reason = $4 "
					"       AND ($5::timestamptz IS NULL OR expires_at = $5) "
					"  FROM affiliate.points_lot WHERE program_id = $1 AND source_ref = $6",
					6, (Oid[]) {INT8OID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID, TEXTOID},
					values, nulls, false, 1);
			if (SPI_processed == 1)
			{
				if (!AffGetBool(0, 2, NULL))
					ereport(ERROR,
							(errcode(ERRCODE_UNIQUE_VIOLATION),
							 errmsg("points award \"%s\" was already recorded with different inputs", source_ref)));
				lot_id = AffGetInt64(0, 1, NULL);
				SPI_finish();
				PG_RETURN_INT64(lot_id);
			}
		}
		/* a blocked member is awarded nothing (a replay above still answers) */
		if (blocked)
			(void) WalletRequireMember(program_id, member_id, true, NULL);
		AffExec(&ins,
				"INSERT INTO affiliate.points_lot (program_id, member_id, points, remaining, expires_at, usable_from, source_ref, reason) "
				"SELECT $1, $2, $3, $3, coalesce($5, pg_catalog.now() + coalesce(p.lot_lifetime, interval '12 months')), "
				"       pg_catalog.now(), $6, $4 "
				"  FROM (SELECT 1) one LEFT JOIN affiliate.points_policy p ON p.program_id = $1 "
				"ON CONFLICT (program_id, source_ref) DO NOTHING RETURNING id",
				6, (Oid[]) {INT8OID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID, TEXTOID},
				values, nulls, false, 1);
		if (SPI_processed == 1)
			break;
		if (attempt > 0)
			elog(ERROR, "pg_affiliate: points award \"%s\" conflicted but is not visible", source_ref);
	}
	lot_id = AffGetInt64(0, 1, NULL);
	initStringInfo(&memo);
	appendStringInfo(&memo, "{\"lot_id\": " INT64_FORMAT ", \"reason\": ", lot_id);
	escape_json(&memo, reason);
	appendStringInfoChar(&memo, '}');
	PostPoints(program_id, member_id, "points_award", "loyalty_issued", points, key, &memo);

	resetStringInfo(&memo);
	appendStringInfo(&memo, "{\"lot_id\": " INT64_FORMAT ", \"member_id\": " INT64_FORMAT
					 ", \"points\": " INT64_FORMAT ", \"reason\": ", lot_id, member_id, points);
	escape_json(&memo, reason);
	appendStringInfoString(&memo, ", \"source_ref\": ");
	if (source_ref)
		escape_json(&memo, source_ref);
	else
		appendStringInfoString(&memo, "null");
	appendStringInfoChar(&memo, '}');
	AffAudit(program_id, "award_points", AffJsonbOf(&memo));
	/* the lot counts as qualifying points: a threshold crossed upgrades at once */
	TierUpgradeNow(program_id, member_id);
	SPI_finish();
	PG_RETURN_INT64(lot_id);
}

/*
 * affiliate.deduct_points(program_id bigint, member_id bigint, points bigint,
 *     reason text, source_ref text DEFAULT NULL) RETURNS bigint
 *
 * Consumes usable lots soonest-expiring first; 23514 (nothing changes) when
 * the member has fewer usable points.  Returns the deduction id; a
 * source_ref seen before returns its deduction if the inputs match.
 * Audited.
 */
Datum
deduct_points(PG_FUNCTION_ARGS)
{
	static PlanSlot prev,
				ins;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		member_id = AffArgInt64(fcinfo, 1, "member_id");
	int64		points = AffArgInt64(fcinfo, 2, "points");
	char	   *reason = AffTextArg(fcinfo, 3, "reason", POINTS_MAX_REASON, true);
	char	   *source_ref = AffTextArg(fcinfo, 4, "source_ref", POINTS_MAX_REF, false);
	int64		usable,
				taken,
				journal_id,
				id;
	bool		blocked;
	Datum		values[6];
	char		nulls[6] = "      ";
	StringInfoData memo;

	CheckPoints(points);
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	blocked = WalletRequireMember(program_id, member_id, false, NULL);
	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(member_id);
	values[2] = Int64GetDatum(points);
	values[3] = CStringGetTextDatum(reason);
	values[4] = source_ref ? CStringGetTextDatum(source_ref) : (Datum) 0;
	nulls[4] = source_ref ? ' ' : 'n';

	/* the account lock first: a replay racing its original waits here */
	LockPoints(program_id, member_id);
	if (source_ref)
	{
		AffExec(&prev,
				"SELECT id, member_id = $2 AND points = $3 AND reason = $4 "
				"  FROM affiliate.points_deduction WHERE program_id = $1 AND source_ref = $5",
				5, (Oid[]) {INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID}, values, nulls, false, 1);
		if (SPI_processed == 1)
		{
			if (!AffGetBool(0, 2, NULL))
				ereport(ERROR,
						(errcode(ERRCODE_UNIQUE_VIOLATION),
						 errmsg("points deduction \"%s\" was already recorded with different inputs", source_ref)));
			id = AffGetInt64(0, 1, NULL);
			SPI_finish();
			PG_RETURN_INT64(id);
		}
	}
	/* a blocked member's points are frozen (a replay above still answers) */
	if (blocked)
		(void) WalletRequireMember(program_id, member_id, true, NULL);
	usable = UsablePoints(program_id, member_id);
	if (usable < points)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("member " INT64_FORMAT " has " INT64_FORMAT " usable points, fewer than " INT64_FORMAT,
						member_id, usable, points),
				 errdetail("Pending and expired points cannot be used.")));
	taken = ConsumeLots(program_id, member_id, points, false, 0);
	if (taken != points)
		elog(ERROR, "pg_affiliate: took " INT64_FORMAT " of " INT64_FORMAT " points", taken, points);

	initStringInfo(&memo);
	appendStringInfo(&memo, "{\"member_id\": " INT64_FORMAT ", \"points\": " INT64_FORMAT ", \"reason\": ",
					 member_id, points);
	escape_json(&memo, reason);
	appendStringInfoString(&memo, ", \"source_ref\": ");
	if (source_ref)
		escape_json(&memo, source_ref);
	else
		appendStringInfoString(&memo, "null");
	appendStringInfoChar(&memo, '}');
	journal_id = PostPoints(program_id, member_id, "points_deduct", "loyalty_deducted", -points, NULL, &memo);
	values[5] = Int64GetDatum(journal_id);
	AffExec(&ins,
			"INSERT INTO affiliate.points_deduction (program_id, member_id, points, reason, source_ref, journal_id) "
			"VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
			6, (Oid[]) {INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID, INT8OID}, values, nulls, false, 1);
	id = AffGetInt64(0, 1, NULL);
	AffAudit(program_id, "deduct_points", AffJsonbOf(&memo));
	SPI_finish();
	PG_RETURN_INT64(id);
}

/* ---------- the expiry job ---------- */

/*
 * affiliate.expire_points(as_of timestamptz DEFAULT now(), batch_size
 *     integer DEFAULT 10000, program_id bigint DEFAULT NULL) RETURNS bigint
 *
 * In one program, or across programs when program_id is NULL: members with lots expired by as_of and points left, up
 * to batch_size members; each member's account is locked with SKIP LOCKED
 * (a member being served is left to the next run), the lots' remainders go
 * to the system account loyalty_expired.  Returns how many lots it retired.
 */
Datum
expire_points(PG_FUNCTION_ARGS)
{
	static PlanSlot due,
				lockacc,
				retire;
	TimestampTz as_of;
	int32		batch;
	bool		one_program = !PG_ARGISNULL(2);
	int64		program_id = one_program ? PG_GETARG_INT64(2) : 0;
	int64		lots = 0;
	uint64		n,
				i;
	int64	   *progs,
			   *members;

	AffRequireArg(fcinfo, 0, "as_of");
	AffRequireArg(fcinfo, 1, "batch_size");
	as_of = PG_GETARG_TIMESTAMPTZ(0);
	batch = PG_GETARG_INT32(1);
	if (batch < 1 || batch > 1000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be between 1 and 1000000")));
	AffSpiConnect();
	AffExec(&due,
			"SELECT DISTINCT program_id, member_id FROM affiliate.points_lot "
			" WHERE remaining > 0 AND expires_at <= $1 AND ($3::bigint IS NULL OR program_id = $3) LIMIT $2",
			3, (Oid[]) {TIMESTAMPTZOID, INT4OID, INT8OID},
			(Datum[]) {TimestampTzGetDatum(as_of), Int32GetDatum(batch), Int64GetDatum(program_id)},
			one_program ? "  " : "  n", false, 0);
	n = SPI_processed;
	progs = palloc(sizeof(int64) * (n + 1));
	members = palloc(sizeof(int64) * (n + 1));
	for (i = 0; i < n; i++)
	{
		progs[i] = AffGetInt64((int) i, 1, NULL);
		members[i] = AffGetInt64((int) i, 2, NULL);
	}
	for (i = 0; i < n; i++)
	{
		int64		total = 0;
		uint64		j;
		StringInfoData memo;

		AffExec(&lockacc,
				"SELECT id FROM affiliate.account "
				" WHERE program_id = $1 AND member_id = $2 AND asset = '" POINTS_ASSET "' "
				"   AND kind = '" POINTS_KIND "' FOR NO KEY UPDATE SKIP LOCKED",
				2, (Oid[]) {INT8OID, INT8OID},
				(Datum[]) {Int64GetDatum(progs[i]), Int64GetDatum(members[i])}, NULL, false, 1);
		if (SPI_processed == 0)
			continue;			/* busy: the next run */
		(void) LedgerLockedBalance(progs[i], AffGetInt64(0, 1, NULL));
		AffExec(&retire,
				"UPDATE affiliate.points_lot SET expired_points = expired_points + remaining, remaining = 0 "
				" WHERE program_id = $1 AND member_id = $2 AND remaining > 0 AND expires_at <= $3 "
				"RETURNING expired_points",
				3, (Oid[]) {INT8OID, INT8OID, TIMESTAMPTZOID},
				(Datum[]) {Int64GetDatum(progs[i]), Int64GetDatum(members[i]), TimestampTzGetDatum(as_of)},
				NULL, false, 0);
		/* a lot expires once: expired_points was 0 before */
		for (j = 0; j < SPI_processed; j++)
			total += AffGetInt64((int) j, 1, NULL);
		lots += (int64) SPI_processed;
		if (total > 0)
		{
			initStringInfo(&memo);
			appendStringInfo(&memo, "{\"lots\": " UINT64_FORMAT "}", SPI_processed);
			PostPoints(progs[i], members[i], "points_expiry", "loyalty_expired", -total, NULL, &memo);
		}
	}
	SPI_finish();
	PG_RETURN_INT64(lots);
}
