/*
 * gamification.c
 *	  Badges, leaderboards and event points (issue 9 §4 and the per-event
 *	  earning rules of §1).
 *
 *	 affiliate.set_badge_rule         admin: a badge rule (by name); audited
 *	 affiliate.set_badge_rule_active  admin: deactivate / reactivate a rule
 *	 affiliate.increment_counter      an application's usage counter
 *
 * Metrics (docs/gamification.md): referrals, earnings, points, courses and
 * counter:<name>.  The engines report each event with one call (the hooks
 * below); the event's delta is added, in the event's transaction, to the
 * member's leaderboard rows of its day, week, month (UTC) and of all time
 * (affiliate.leaderboard_entry) with INSERT ... ON CONFLICT DO UPDATE, the
 * rows of one event in key order (so two events never lock each other's rows
 * in opposite orders).  A positive delta then awards every active badge rule
 * of that metric whose threshold the member's all-time value reached and
 * that the member does not hold: INSERT ... ON CONFLICT DO NOTHING on
 * (program_id, member_id, rule_id), so a badge is awarded once whatever the
 * concurrency.  AwardBadges() is the one place a badge is awarded.
 *
 * Event points: the points_rule events signup, referral_converted and
 * course_completed become lots (usable at once, expiring after the lot
 * lifetime) times the member's tier multiplier, posted like awards, and
 * idempotent on the lot's source_ref ("<event>:<id>").  A blocked member gets
 * none (their points are frozen, docs/loyalty.md "Member status"); an
 * inactive one (no longer promoting) no referral_converted points, the others
 * as a customer.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "pg_affiliate.h"

#define BADGE_MAX_NAME 64
#define COUNTER_MAX_NAME 32
#define COUNTER_MAX_REF 200
#define GAMIFY_MAX_METRIC (8 + COUNTER_MAX_NAME)

PG_FUNCTION_INFO_V1(set_badge_rule);
PG_FUNCTION_INFO_V1(set_badge_rule_active);
PG_FUNCTION_INFO_V1(increment_counter);

/* ---------- helpers ---------- */

static Datum
ArrayOf(Datum *elems, int n, Oid type)
{
	int16		len;
	bool		byval;
	char		align;

	get_typlenbyvalalign(type, &len, &byval, &align);
	return PointerGetDatum(construct_array(elems, n, type, len, byval, align));
}

/* a counter name: ^[a-z][a-z0-9_]{0,31}$ */
static bool
ValidCounterName(const char *s)
{
	size_t		n = strlen(s);

	if (n < 1 || n > COUNTER_MAX_NAME || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* a metric: referrals, earnings, points, courses or counter:<name> (22023) */
static void
CheckMetric(const char *metric)
{
	if (strcmp(metric, "referrals") == 0 || strcmp(metric, "earnings") == 0 ||
		strcmp(metric, "points") == 0 || strcmp(metric, "courses") == 0)
		return;
	if (strncmp(metric, "counter:", 8) == 0 && ValidCounterName(metric + 8))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid metric \"%s\"", metric),
			 errhint("A metric is referrals, earnings, points, courses or counter:<name>, where the name is "
					 "a lower-case letter followed by up to 31 lower-case letters, digits or underscores.")));
}

/*
 * Whether the schema has the gamification tables: the library also serves
 * older versions of the extension (before ALTER EXTENSION UPDATE), whose
 * engines call the hooks too; there they do nothing.
 */
static bool
GamifyInstalled(void)
{
	Oid			ns = get_namespace_oid("affiliate", true);

	return OidIsValid(ns) && OidIsValid(get_relname_relid("leaderboard_entry", ns));
}

/* ---------- the core: leaderboard rows and badges ---------- */

/*
 * The statements below look rows up by the ids of arrays through LATERAL
 * subqueries with LIMIT 1 / OFFSET 0: a kept generic plan estimates an
 * unnested parameter at 10 rows and a program's rows at all of them, and
 * joins them with a hash join over every conversion (or leaderboard row) of
 * the program; the subqueries keep it to one index look-up per id.
 */

/*
 * Award every active badge rule whose metric is one of the events' (with a
 * positive delta) and whose threshold the member's all-time value reached,
 * unless the member holds it.  The all-time values are the ones the
 * leaderboard upsert just returned (no look-up).  The one place a badge is
 * awarded; each award sends the badge_earned notification.  Inside SPI.
 */
static void
AwardBadges(int64 program_id, Datum members, Datum metrics, Datum values)
{
	static PlanSlot ins;

	AffExec(&ins,
			"INSERT INTO affiliate.member_badge (program_id, member_id, rule_id, value, threshold) "
			"SELECT $1, u.member_id, r.id, u.value, r.threshold "
			"  FROM ROWS FROM (pg_catalog.unnest($2::bigint[]), pg_catalog.unnest($3::text[]), "
			"                  pg_catalog.unnest($4::bigint[])) AS u(member_id, metric, value) "
			"  CROSS JOIN LATERAL (SELECT b.id, b.threshold FROM affiliate.badge_rule b "
			"        WHERE b.program_id = $1 AND b.metric = u.metric AND b.active "
			"          AND b.threshold <= u.value OFFSET 0) r "
			" ORDER BY u.member_id, r.id "
			"ON CONFLICT (program_id, member_id, rule_id) DO NOTHING "
			"RETURNING member_id, rule_id",
			4, (Oid[]) {INT8OID, INT8ARRAYOID, TEXTARRAYOID, INT8ARRAYOID},
			(Datum[]) {Int64GetDatum(program_id), members, metrics, values}, NULL, false, 0);
	/* the badges just awarded: a badge_earned message each (notify.c) */
	AffNotifyBadges(program_id, SPI_tuptable, SPI_processed);
}

/* does the program have an active badge rule?  Inside SPI. */
static bool
HasBadgeRules(int64 program_id)
{
	static PlanSlot slot;

	AffExec(&slot, "SELECT 1 FROM affiliate.badge_rule WHERE program_id = $1 AND active LIMIT 1",
			1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(program_id)}, NULL, true, 1);
	return SPI_processed > 0;
}

/*
 * Add n events (member, metric, delta, time) to the leaderboard rows of
 * their periods, then award the badges they crossed: for each (member,
 * metric) whose summed delta is positive, its new all-time value (returned
 * by the upsert) against the program's rules, when it has any.  Rows are
 * written in key order.  The period start is
 * affiliate.leaderboard_period_start() written out (a SQL function call per
 * row cost more than the upsert).  Inside SPI.
 */
static void
ApplyEvents(int64 program_id, Datum members, Datum metrics, Datum deltas, Datum ats)
{
	static PlanSlot up;
	uint64		n;
	Datum	   *bm,
			   *bk,
			   *bv,
			   *im,
			   *ik,
			   *id;
	int			nb = 0,
				ni;

	AffExec(&up,
			"INSERT INTO affiliate.leaderboard_entry AS e "
			"  (program_id, metric, period, period_start, member_id, value) "
			"SELECT $1, u.metric, p.period, "
			"       CASE WHEN p.period = 'all' THEN '-infinity'::timestamptz "
			"            ELSE pg_catalog.date_trunc(p.period, u.at, 'UTC') END AS start, "
			"       u.member_id, pg_catalog.sum(u.delta)::bigint "
			"  FROM ROWS FROM (pg_catalog.unnest($2::bigint[]), pg_catalog.unnest($3::text[]), "
			"                  pg_catalog.unnest($4::bigint[]), pg_catalog.unnest($5::timestamptz[])) "
			"       AS u(member_id, metric, delta, at) "
			" CROSS JOIN (VALUES ('all'), ('day'), ('month'), ('week')) AS p(period) "
			" GROUP BY u.member_id, u.metric, p.period, start "
			"HAVING pg_catalog.sum(u.delta) <> 0 "
			" ORDER BY u.member_id, u.metric, p.period, start "
			"ON CONFLICT (program_id, metric, period, period_start, member_id) "
			"DO UPDATE SET value = e.value + EXCLUDED.value, updated_at = pg_catalog.now() "
			"RETURNING e.member_id, e.metric, e.value, e.period = 'all'",
			5, (Oid[]) {INT8OID, INT8ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID},
			(Datum[]) {Int64GetDatum(program_id), members, metrics, deltas, ats}, NULL, false, 0);
	n = SPI_processed;
	if (n == 0)
		return;
	deconstruct_array(DatumGetArrayTypeP(members), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &im, NULL, &ni);
	deconstruct_array(DatumGetArrayTypeP(metrics), TEXTOID, -1, false, TYPALIGN_INT, &ik, NULL, &ni);
	deconstruct_array(DatumGetArrayTypeP(deltas), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &id, NULL, &ni);
	bm = palloc(sizeof(Datum) * n);
	bk = palloc(sizeof(Datum) * n);
	bv = palloc(sizeof(Datum) * n);
	for (uint64 r = 0; r < n; r++)
	{
		int64		member;
		char	   *metric;
		int64		sum = 0;

		if (!AffGetBool(r, 4, NULL))
			continue;			/* the day, week and month rows */
		member = AffGetInt64(r, 1, NULL);
		metric = AffGetText(r, 2);
		/* only a positive event awards: the member's summed delta on it */
		for (int i = 0; i < ni; i++)
			if (DatumGetInt64(im[i]) == member && strcmp(TextDatumGetCString(ik[i]), metric) == 0)
				sum += DatumGetInt64(id[i]);
		if (sum <= 0)
			continue;
		bm[nb] = Int64GetDatum(member);
		bk[nb] = CStringGetTextDatum(metric);
		bv[nb] = Int64GetDatum(AffGetInt64(r, 3, NULL));
		nb++;
	}
	if (nb > 0 && HasBadgeRules(program_id))
		AwardBadges(program_id, ArrayOf(bm, nb, INT8OID), ArrayOf(bk, nb, TEXTOID),
					ArrayOf(bv, nb, INT8OID));
}

/*
 * One event of a member: delta (> 0 earned, < 0 taken back) on metric at
 * time at (its leaderboard periods).  Inside SPI.
 */
void
AffGamifyEvent(int64 program_id, int64 member_id, const char *metric, int64 delta, TimestampTz at)
{
	Datum		m = Int64GetDatum(member_id),
				k = CStringGetTextDatum(metric),
				d = Int64GetDatum(delta),
				t = TimestampTzGetDatum(at);

	if (!GamifyInstalled())
		return;

	if (delta == 0)
		return;
	ApplyEvents(program_id, ArrayOf(&m, 1, INT8OID), ArrayOf(&k, 1, TEXTOID),
				ArrayOf(&d, 1, INT8OID), ArrayOf(&t, 1, TIMESTAMPTZOID));
}

/* ---------- event points ---------- */

/*
 * Award the points of the program's rule for event (signup,
 * referral_converted, course_completed, birthday) to the member, as a lot
 * with source_ref ref: rule points times the member's tier multiplier,
 * usable at once, expiring after the lot lifetime.  Nothing without a rule
 * (or a rule of 0 points), for a blocked member, for an inactive one when
 * the event is referral_converted (a promoter's reward, like commissions),
 * or when the lot of ref exists (a replay).  Returns the points awarded.
 * The caller adds them to the points metric.  Inside SPI.
 */
static int64
EventPointsLot(int64 program_id, int64 member_id, const char *event, const char *ref)
{
	static PlanSlot rule,
				ins;
	int128		p;
	int64		points;
	int64		lot_id;
	StringInfoData memo;

	AffExec(&rule,
			"SELECT r.points FROM affiliate.points_rule r "
			"  JOIN affiliate.member m ON m.program_id = r.program_id AND m.id = $2 "
			"   AND (m.status = 'active' OR (m.status = 'inactive' AND r.event <> 'referral_converted')) "
			" WHERE r.program_id = $1 AND r.event = $3 AND r.points > 0",
			3, (Oid[]) {INT8OID, INT8OID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id), CStringGetTextDatum(event)},
			NULL, false, 1);
	if (SPI_processed == 0)
		return 0;
	p = (int128) AffGetInt64(0, 1, NULL) * TierMultiplierBp(program_id, member_id) / 10000;
	points = p > LEDGER_MAX_AMOUNT ? LEDGER_MAX_AMOUNT : (int64) p;
	if (points <= 0)
		return 0;
	AffExec(&ins,
			"INSERT INTO affiliate.points_lot (program_id, member_id, points, remaining, expires_at, usable_from, source_ref, reason) "
			"SELECT $1, $2, $3, $3, pg_catalog.now() + coalesce(p.lot_lifetime, interval '12 months'), "
			"       pg_catalog.now(), $4, $5 "
			"  FROM (SELECT 1) one LEFT JOIN affiliate.points_policy p ON p.program_id = $1 "
			"ON CONFLICT (program_id, source_ref) DO NOTHING RETURNING id",
			5, (Oid[]) {INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id), Int64GetDatum(points),
				CStringGetTextDatum(ref), CStringGetTextDatum(event)}, NULL, false, 1);
	if (SPI_processed == 0)
		return 0;				/* awarded before */
	lot_id = AffGetInt64(0, 1, NULL);
	initStringInfo(&memo);
	appendStringInfo(&memo, "{\"lot_id\": " INT64_FORMAT ", \"event\": ", lot_id);
	escape_json(&memo, event);
	appendStringInfoChar(&memo, '}');
	PostPoints(program_id, member_id, "points_event", "loyalty_issued", points,
			   psprintf("points_event:%s", ref), &memo);
	return points;
}

/*
 * The points of event for the member as a lot (EventPointsLot), counted in
 * the points metric.  Returns the points awarded (0: none).  Inside SPI.
 */
int64
AffAwardEventPoints(int64 program_id, int64 member_id, const char *event, const char *ref)
{
	int64		points;

	if (!GamifyInstalled())
		return 0;
	points = EventPointsLot(program_id, member_id, event, ref);
	AffGamifyEvent(program_id, member_id, "points", points, GetCurrentTransactionStartTimestamp());
	return points;
}

/* ---------- the hooks of the engines ---------- */

/* add_member: the signup points of the new member.  Inside SPI. */
void
AffGamifySignup(int64 program_id, int64 member_id)
{
	if (!GamifyInstalled())
		return;
	(void) AffAwardEventPoints(program_id, member_id, "signup",
							   psprintf("signup:" INT64_FORMAT, member_id));
}

/*
 * record_conversion(s): the conversions just recorded (never a replay).
 * Each counts one referral for its direct referrer (conversion.referrer_id)
 * and its commissions' amounts as earnings of their beneficiaries, at the
 * conversion's occurred_at; then the referrers' referral_converted points,
 * in referrer order.  Inside SPI.
 */
void
AffGamifyConversions(int64 program_id, const int64 *conversion_ids, int n)
{
	static PlanSlot events,
				referrers;
	Datum	   *ids;
	Datum		idarr;
	uint64		m;
	Datum	   *members,
			   *metrics,
			   *deltas,
			   *ats;
	int64	   *who;
	int64	   *conv;

	if (!GamifyInstalled())
		return;

	if (n <= 0)
		return;
	ids = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
		ids[i] = Int64GetDatum(conversion_ids[i]);
	idarr = ArrayOf(ids, n, INT8OID);
	AffExec(&events,
			"SELECT c.referrer_id, 'referrals'::text, 1::bigint, c.occurred_at "
			"  FROM pg_catalog.unnest($2::bigint[]) AS i(id) "
			"  CROSS JOIN LATERAL (SELECT v.referrer_id, v.occurred_at FROM affiliate.conversion v "
			"        WHERE v.program_id = $1 AND v.id = i.id LIMIT 1) c "
			" WHERE c.referrer_id IS NOT NULL "
			"UNION ALL "
			"SELECT x.beneficiary_id, 'earnings', x.amount, c.occurred_at "
			"  FROM pg_catalog.unnest($2::bigint[]) AS i(id) "
			"  CROSS JOIN LATERAL (SELECT v.occurred_at FROM affiliate.conversion v "
			"        WHERE v.program_id = $1 AND v.id = i.id LIMIT 1) c "
			"  CROSS JOIN LATERAL (SELECT y.beneficiary_id, y.amount FROM affiliate.commission y "
			"        WHERE y.program_id = $1 AND y.conversion_id = i.id AND y.amount > 0 OFFSET 0) x",
			2, (Oid[]) {INT8OID, INT8ARRAYOID},
			(Datum[]) {Int64GetDatum(program_id), idarr}, NULL, false, 0);
	m = SPI_processed;
	if (m > 0)
	{
		members = palloc(sizeof(Datum) * m);
		metrics = palloc(sizeof(Datum) * m);
		deltas = palloc(sizeof(Datum) * m);
		ats = palloc(sizeof(Datum) * m);
		for (uint64 i = 0; i < m; i++)
		{
			bool		isnull;

			members[i] = Int64GetDatum(AffGetInt64(i, 1, NULL));
			metrics[i] = CStringGetTextDatum(AffGetText(i, 2));
			deltas[i] = Int64GetDatum(AffGetInt64(i, 3, NULL));
			ats[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4, &isnull);
		}
		ApplyEvents(program_id, ArrayOf(members, m, INT8OID), ArrayOf(metrics, m, TEXTOID),
					ArrayOf(deltas, m, INT8OID), ArrayOf(ats, m, TIMESTAMPTZOID));
	}

	/* referral_converted points, referrer by referrer */
	AffExec(&referrers,
			"SELECT c.referrer_id, i.id FROM pg_catalog.unnest($2::bigint[]) AS i(id) "
			"  CROSS JOIN LATERAL (SELECT v.referrer_id FROM affiliate.conversion v "
			"        WHERE v.program_id = $1 AND v.id = i.id LIMIT 1) c "
			" WHERE c.referrer_id IS NOT NULL "
			"   AND EXISTS (SELECT 1 FROM affiliate.points_rule r WHERE r.program_id = $1 "
			"                  AND r.event = 'referral_converted' AND r.points > 0) "
			" ORDER BY c.referrer_id, i.id",
			2, (Oid[]) {INT8OID, INT8ARRAYOID},
			(Datum[]) {Int64GetDatum(program_id), idarr}, NULL, false, 0);
	m = SPI_processed;
	who = palloc(sizeof(int64) * (m + 1));
	conv = palloc(sizeof(int64) * (m + 1));
	for (uint64 i = 0; i < m; i++)
	{
		who[i] = AffGetInt64(i, 1, NULL);
		conv[i] = AffGetInt64(i, 2, NULL);
	}
	if (m == 0)
		return;
	/* a lot per conversion, then the points metric once for the batch */
	members = palloc(sizeof(Datum) * m);
	metrics = palloc(sizeof(Datum) * m);
	deltas = palloc(sizeof(Datum) * m);
	ats = palloc(sizeof(Datum) * m);
	for (uint64 i = 0; i < m; i++)
	{
		members[i] = Int64GetDatum(who[i]);
		metrics[i] = CStringGetTextDatum("points");
		deltas[i] = Int64GetDatum(EventPointsLot(program_id, who[i], "referral_converted",
												 psprintf("referral_converted:" INT64_FORMAT, conv[i])));
		ats[i] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	}
	ApplyEvents(program_id, ArrayOf(members, m, INT8OID), ArrayOf(metrics, m, TEXTOID),
				ArrayOf(deltas, m, INT8OID), ArrayOf(ats, m, TIMESTAMPTZOID));
}

/*
 * refund_conversion: the commissions commission_ids (bigint[]) of the
 * conversion were reversed by deltas (bigint[]): each beneficiary's earnings
 * go down by it, in the periods of the conversion's occurred_at.  Referral
 * counts and badges stay.  Inside SPI.
 */
void
AffGamifyRefund(int64 program_id, int64 conversion_id, Datum commission_ids, Datum deltas)
{
	static PlanSlot events;
	uint64		m;
	Datum	   *members,
			   *metrics,
			   *ds,
			   *ats;

	if (!GamifyInstalled())
		return;

	AffExec(&events,
			"SELECT x.beneficiary_id, -u.delta, c.occurred_at "
			"  FROM ROWS FROM (pg_catalog.unnest($3::bigint[]), pg_catalog.unnest($4::bigint[])) AS u(id, delta) "
			"  CROSS JOIN LATERAL (SELECT y.beneficiary_id FROM affiliate.commission y "
			"        WHERE y.program_id = $1 AND y.id = u.id LIMIT 1) x "
			"  CROSS JOIN (SELECT v.occurred_at FROM affiliate.conversion v "
			"        WHERE v.program_id = $1 AND v.id = $2) c "
			" WHERE u.delta > 0",
			4, (Oid[]) {INT8OID, INT8OID, INT8ARRAYOID, INT8ARRAYOID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(conversion_id), commission_ids, deltas},
			NULL, false, 0);
	m = SPI_processed;
	if (m == 0)
		return;
	members = palloc(sizeof(Datum) * m);
	metrics = palloc(sizeof(Datum) * m);
	ds = palloc(sizeof(Datum) * m);
	ats = palloc(sizeof(Datum) * m);
	for (uint64 i = 0; i < m; i++)
	{
		bool		isnull;

		members[i] = Int64GetDatum(AffGetInt64(i, 1, NULL));
		metrics[i] = CStringGetTextDatum("earnings");
		ds[i] = Int64GetDatum(AffGetInt64(i, 2, NULL));
		ats[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull);
	}
	ApplyEvents(program_id, ArrayOf(members, m, INT8OID), ArrayOf(metrics, m, TEXTOID),
				ArrayOf(ds, m, INT8OID), ArrayOf(ats, m, TIMESTAMPTZOID));
}

/*
 * refund_bill: due points of the bill were taken back (whatever was
 * actually taken: the shortfall too): the member's points metric goes down
 * by due in the periods of the bill's occurred_at.  Inside SPI.
 */
void
AffGamifyBillRefund(int64 program_id, int64 bill_id, int64 due)
{
	static PlanSlot bill;
	bool		isnull;

	if (!GamifyInstalled())
		return;

	if (due <= 0)
		return;
	AffExec(&bill,
			"SELECT member_id, occurred_at FROM affiliate.points_bill WHERE program_id = $1 AND id = $2",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(bill_id)}, NULL, false, 1);
	if (SPI_processed == 0)
		return;
	AffGamifyEvent(program_id, AffGetInt64(0, 1, NULL), "points", -due,
				   DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)));
}

/*
 * A certificate was issued: the member completed the course.  One more
 * course completed, and the course_completed points.  Inside SPI.
 */
void
AffGamifyCourseCompleted(int64 program_id, int64 member_id, int64 course_id)
{
	if (!GamifyInstalled())
		return;
	AffGamifyEvent(program_id, member_id, "courses", 1, GetCurrentTransactionStartTimestamp());
	(void) AffAwardEventPoints(program_id, member_id, "course_completed",
							   psprintf("course_completed:" INT64_FORMAT ":" INT64_FORMAT,
										course_id, member_id));
}

/* ---------- SQL functions ---------- */

/*
 * affiliate.set_badge_rule(program_id bigint, name text, metric text,
 *     threshold bigint, level text) RETURNS bigint
 *
 * Creates the rule or changes (and reactivates) the one of that name;
 * returns its id.  Badges already awarded stay.  Audited.
 */
Datum
set_badge_rule(PG_FUNCTION_ARGS)
{
	static PlanSlot up;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	char	   *name = AffTextArg(fcinfo, 1, "name", BADGE_MAX_NAME, true);
	char	   *metric = AffTextArg(fcinfo, 2, "metric", GAMIFY_MAX_METRIC, true);
	int64		threshold = AffArgInt64(fcinfo, 3, "threshold");
	char	   *level = AffTextArg(fcinfo, 4, "level", 16, true);
	int64		id;
	StringInfoData memo;

	CheckMetric(metric);
	if (threshold < 1 || threshold > LEDGER_MAX_AMOUNT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("threshold must be between 1 and " INT64_FORMAT, LEDGER_MAX_AMOUNT)));
	if (strcmp(level, "bronze") != 0 && strcmp(level, "silver") != 0 &&
		strcmp(level, "gold") != 0 && strcmp(level, "platinum") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid badge level \"%s\"", level),
				 errhint("A level is bronze, silver, gold or platinum.")));
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	AffExec(&up,
			"INSERT INTO affiliate.badge_rule (program_id, name, metric, threshold, level) "
			"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (program_id, name) DO UPDATE "
			"SET metric = EXCLUDED.metric, threshold = EXCLUDED.threshold, level = EXCLUDED.level, "
			"    active = true, updated_at = pg_catalog.now() "
			"RETURNING id",
			5, (Oid[]) {INT8OID, TEXTOID, TEXTOID, INT8OID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), CStringGetTextDatum(name), CStringGetTextDatum(metric),
				Int64GetDatum(threshold), CStringGetTextDatum(level)}, NULL, false, 1);
	id = AffGetInt64(0, 1, NULL);
	initStringInfo(&memo);
	appendStringInfo(&memo, "{\"rule_id\": " INT64_FORMAT ", \"name\": ", id);
	escape_json(&memo, name);
	appendStringInfoString(&memo, ", \"metric\": ");
	escape_json(&memo, metric);
	appendStringInfo(&memo, ", \"threshold\": " INT64_FORMAT ", \"level\": ", threshold);
	escape_json(&memo, level);
	appendStringInfoChar(&memo, '}');
	AffAudit(program_id, "set_badge_rule", AffJsonbOf(&memo));
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * affiliate.set_badge_rule_active(program_id bigint, name text, active
 *     boolean) RETURNS void
 *
 * An inactive rule awards nothing; badges already awarded stay.  Audited
 * when it changes something.
 */
Datum
set_badge_rule_active(PG_FUNCTION_ARGS)
{
	static PlanSlot upd,
				sel;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	char	   *name = AffTextArg(fcinfo, 1, "name", BADGE_MAX_NAME, true);
	bool		active;
	Datum		values[3];
	StringInfoData memo;

	AffRequireArg(fcinfo, 2, "active");
	active = PG_GETARG_BOOL(2);
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	values[0] = Int64GetDatum(program_id);
	values[1] = CStringGetTextDatum(name);
	values[2] = BoolGetDatum(active);
	AffExec(&sel, "SELECT id FROM affiliate.badge_rule WHERE program_id = $1 AND name = $2 FOR UPDATE",
			2, (Oid[]) {INT8OID, TEXTOID}, values, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("badge rule \"%s\" does not exist in program " INT64_FORMAT, name, program_id)));
	AffExec(&upd,
			"UPDATE affiliate.badge_rule SET active = $3, updated_at = pg_catalog.now() "
			" WHERE program_id = $1 AND name = $2 AND active <> $3 RETURNING id",
			3, (Oid[]) {INT8OID, TEXTOID, BOOLOID}, values, NULL, false, 1);
	if (SPI_processed == 1)
	{
		initStringInfo(&memo);
		appendStringInfo(&memo, "{\"rule_id\": " INT64_FORMAT ", \"name\": ", AffGetInt64(0, 1, NULL));
		escape_json(&memo, name);
		appendStringInfo(&memo, ", \"active\": %s}", active ? "true" : "false");
		AffAudit(program_id, "set_badge_rule_active", AffJsonbOf(&memo));
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * affiliate.increment_counter(program_id bigint, member_id bigint, counter
 *     text, by bigint DEFAULT 1, source_ref text DEFAULT NULL) RETURNS bigint
 *
 * Adds by (1 to 10^15) to the member's counter (metric counter:<counter>)
 * and returns its new all-time total.  Idempotent on source_ref: the same
 * member, counter and by return the total recorded then; different: 23505.
 */
Datum
increment_counter(PG_FUNCTION_ARGS)
{
	static PlanSlot prev,
				ins,
				total,
				settotal;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		member_id = AffArgInt64(fcinfo, 1, "member_id");
	char	   *counter = AffTextArg(fcinfo, 2, "counter", COUNTER_MAX_NAME, true);
	int64		by = AffArgInt64(fcinfo, 3, "by");
	char	   *source_ref = AffTextArg(fcinfo, 4, "source_ref", COUNTER_MAX_REF, false);
	char	   *metric;
	int64		id = 0;
	int64		result;
	Datum		values[5];

	if (!ValidCounterName(counter))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid counter name \"%s\"", counter),
				 errhint("A counter name is a lower-case letter followed by up to 31 lower-case letters, digits or underscores.")));
	if (by < 1 || by > LEDGER_MAX_AMOUNT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("by must be between 1 and " INT64_FORMAT, LEDGER_MAX_AMOUNT)));
	metric = psprintf("counter:%s", counter);
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	AffRequireMember(program_id, member_id, false, NULL);
	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(member_id);
	values[2] = CStringGetTextDatum(counter);
	values[3] = Int64GetDatum(by);
	values[4] = source_ref ? CStringGetTextDatum(source_ref) : (Datum) 0;

	if (source_ref)
	{
		/*
		 * The increment row first (ON CONFLICT DO NOTHING): a retry racing
		 * its original waits for it here, then replays it.
		 */
		for (int attempt = 0; id == 0; attempt++)
		{
			AffExec(&ins,
					"INSERT INTO affiliate.counter_increment (program_id, member_id, counter, amount, source_ref) "
					"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (program_id, source_ref) DO NOTHING RETURNING id",
					5, (Oid[]) {INT8OID, INT8OID, TEXTOID, INT8OID, TEXTOID}, values, NULL, false, 1);
			if (SPI_processed == 1)
			{
				id = AffGetInt64(0, 1, NULL);
				break;
			}
			AffExec(&prev,
					"SELECT member_id = $2 AND counter = $3 AND amount = $4, total "
					"  FROM affiliate.counter_increment WHERE program_id = $1 AND source_ref = $5",
					5, (Oid[]) {INT8OID, INT8OID, TEXTOID, INT8OID, TEXTOID}, values, NULL, false, 1);
			if (SPI_processed == 1)
			{
				if (!AffGetBool(0, 1, NULL))
					ereport(ERROR,
							(errcode(ERRCODE_UNIQUE_VIOLATION),
							 errmsg("counter increment \"%s\" was already recorded with different inputs", source_ref),
							 errhint("A retried increment repeats the same member, counter and amount.")));
				result = AffGetInt64(0, 2, NULL);
				SPI_finish();
				PG_RETURN_INT64(result);
			}
			if (attempt > 0)
				elog(ERROR, "pg_affiliate: counter increment \"%s\" conflicted but is not visible", source_ref);
		}
	}
	AffGamifyEvent(program_id, member_id, metric, by, GetCurrentTransactionStartTimestamp());
	AffExec(&total,
			"SELECT value FROM affiliate.leaderboard_entry "
			" WHERE program_id = $1 AND metric = $2 AND period = 'all' AND period_start = '-infinity' "
			"   AND member_id = $3",
			3, (Oid[]) {INT8OID, TEXTOID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), CStringGetTextDatum(metric), Int64GetDatum(member_id)},
			NULL, false, 1);
	if (SPI_processed != 1)
		elog(ERROR, "pg_affiliate: counter %s of member " INT64_FORMAT " has no total", metric, member_id);
	result = AffGetInt64(0, 1, NULL);
	if (id != 0)
		AffExec(&settotal, "UPDATE affiliate.counter_increment SET total = $3 WHERE program_id = $1 AND id = $2",
				3, (Oid[]) {INT8OID, INT8OID, INT8OID},
				(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(id), Int64GetDatum(result)}, NULL, false, 0);
	SPI_finish();
	PG_RETURN_INT64(result);
}
