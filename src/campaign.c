/*
 * campaign.c
 *	  Promo campaigns and promo codes (issue 10 §1, docs/campaigns.md).
 *
 *	 affiliate.create_campaign       admin: a campaign (draft) with its code; audited
 *	 affiliate.set_campaign_status   admin: the allowed status changes; audited
 *	 affiliate.advance_campaigns     job: scheduled -> active -> completed by date
 *	 affiliate.redeem_promo          a code for an order; idempotent on order_ref
 *	 affiliate.expire_promo_credits  job: take back the credits of expired grants
 *	 affiliate.issue_promo_code      a personal single-use code from a template
 *	 affiliate.set_birthday_campaign admin: the template of birthday codes; audited
 *
 * and, for notify.c, the personal promo code of a birthday
 * (AffBirthdayPromoCode, called by the daily job queue_birthdays);
 * and, for commission.c, the promo code a conversion carries (its campaign's
 * owner becomes the attributed referrer).
 *
 * A redemption takes its locks in one fixed order: (1) the order_ref, by
 * inserting the redemption row first (a second session with the same
 * order_ref waits on that insert and then replays the first's redemption),
 * (2) the member's counter row of the campaign (promo_member_use, upserted:
 * INSERT ... ON CONFLICT DO UPDATE SET used = used + 1 WHERE used < limit),
 * (3) the campaign row (UPDATE ... SET used = used + 1 WHERE used <
 * total_limit AND status = 'active' AND inside the window).  Both counters
 * are guarded updates: the limit is checked by the statement that takes the
 * use, under the row lock, never read first and written later.  A refused
 * redemption raises an error, so the whole call (the redemption row and any
 * counter already taken) is rolled back.  set_campaign_status and
 * advance_campaigns lock only campaign rows, so they cannot deadlock with a
 * redemption.
 *
 * Credits are ledger postings in asset CREDITS: promo_credits_issued (a
 * system account) -> the member's promo_credits account; at the grant's
 * expiry what is left of it (at most the member's balance) goes to the
 * system account promo_credits_expired.  verify() checks the counters
 * against the redemptions and the two system accounts against the grants.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/tuplestore.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "pg_affiliate.h"

#define CAMPAIGN_MAX_NAME 200
#define CAMPAIGN_MAX_CHANNEL 64
#define CAMPAIGN_MAX_REF 200
#define CAMPAIGN_MAX_LIMIT 1000000
#define CAMPAIGN_MAX_TRIAL_DAYS 3650
#define CAMPAIGN_CODE_DIGITS 8
#define CREDITS_ASSET "CREDITS"
#define CREDITS_KIND "promo_credits"

PG_FUNCTION_INFO_V1(create_campaign);
PG_FUNCTION_INFO_V1(set_campaign_status);
PG_FUNCTION_INFO_V1(advance_campaigns);
PG_FUNCTION_INFO_V1(redeem_promo);
PG_FUNCTION_INFO_V1(expire_promo_credits);
PG_FUNCTION_INFO_V1(issue_promo_code);
PG_FUNCTION_INFO_V1(set_birthday_campaign);

/* ---------- small helpers ---------- */

static void
CampaignNotFound(int64 campaign_id, int64 program_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("campaign " INT64_FORMAT " does not exist in program " INT64_FORMAT,
					campaign_id, program_id)));
}

static void
CodeNotFound(const char *code, int64 program_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("promo code \"%s\" does not exist in program " INT64_FORMAT, code, program_id)));
}

/*
 * A promo code as given: 3 to 32 characters, a letter or digit first, then
 * letters, digits, '-' or '_' (22023).  Codes are compared case-insensitively.
 */
static void
CheckCode(const char *code)
{
	size_t		n = strlen(code);
	bool		ok = n >= 3 && n <= 32 &&
		((code[0] >= 'A' && code[0] <= 'Z') || (code[0] >= 'a' && code[0] <= 'z') ||
		 (code[0] >= '0' && code[0] <= '9'));

	for (size_t i = 1; ok && i < n; i++)
		ok = (code[i] >= 'A' && code[i] <= 'Z') || (code[i] >= 'a' && code[i] <= 'z') ||
			(code[i] >= '0' && code[i] <= '9') || code[i] == '-' || code[i] == '_';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid promo code"),
				 errdetail("A promo code is 3 to 32 characters: a letter or a digit, then letters, digits, hyphens or underscores.")));
}

static bool
IsOfferType(const char *t)
{
	return strcmp(t, "percent_off") == 0 || strcmp(t, "amount_off") == 0 ||
		strcmp(t, "credits") == 0 || strcmp(t, "trial_days") == 0;
}

/* the value's range for an offer type */
static void
CheckValue(const char *offer_type, int64 value)
{
	int64		max = LEDGER_MAX_AMOUNT;
	const char *unit = "minor units";

	if (strcmp(offer_type, "percent_off") == 0)
	{
		max = 10000;
		unit = "basis points (10000 = 100 %)";
	}
	else if (strcmp(offer_type, "trial_days") == 0)
	{
		max = CAMPAIGN_MAX_TRIAL_DAYS;
		unit = "days";
	}
	else if (strcmp(offer_type, "credits") == 0)
		unit = "credits";
	if (value < 1 || value > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a %s value must be between 1 and " INT64_FORMAT, offer_type, max),
				 errdetail("It is given in %s.", unit)));
}

/* ---------- create_campaign ---------- */

/*
 * affiliate.create_campaign(program_id bigint, name text, offer_type text,
 *     value bigint, starts_at timestamptz DEFAULT NULL, ends_at timestamptz
 *     DEFAULT NULL, code text DEFAULT NULL, owner_id bigint DEFAULT NULL,
 *     total_limit bigint DEFAULT NULL, per_member_limit integer DEFAULT NULL,
 *     credit_expiry interval DEFAULT NULL, channel text DEFAULT NULL)
 *     RETURNS bigint
 *
 * A draft campaign; code NULL: a generated refcode-style code.  starts_at
 * NULL: now.  Returns the campaign id; audited.
 */
Datum
create_campaign(PG_FUNCTION_ARGS)
{
	static PlanSlot ins;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	char	   *name = AffTextArg(fcinfo, 1, "name", CAMPAIGN_MAX_NAME, true);
	char	   *offer_type = AffTextArg(fcinfo, 2, "offer_type", 32, true);
	int64		value = AffArgInt64(fcinfo, 3, "value");
	bool		has_start = !PG_ARGISNULL(4);
	TimestampTz starts_at = has_start ? PG_GETARG_TIMESTAMPTZ(4) : GetCurrentTransactionStartTimestamp();
	bool		has_end = !PG_ARGISNULL(5);
	TimestampTz ends_at = has_end ? PG_GETARG_TIMESTAMPTZ(5) : 0;
	char	   *code = AffTextArg(fcinfo, 6, "code", CAMPAIGN_MAX_REF, false);
	bool		has_owner = !PG_ARGISNULL(7);
	int64		owner_id = has_owner ? PG_GETARG_INT64(7) : 0;
	bool		has_total = !PG_ARGISNULL(8);
	int64		total_limit = has_total ? PG_GETARG_INT64(8) : 0;
	bool		has_per = !PG_ARGISNULL(9);
	int32		per_member = has_per ? PG_GETARG_INT32(9) : 0;
	Interval   *expiry = PG_ARGISNULL(10) ? NULL : PG_GETARG_INTERVAL_P(10);
	char	   *channel = AffTextArg(fcinfo, 11, "channel", CAMPAIGN_MAX_CHANNEL, false);
	Datum		values[12];
	char		nulls[12];
	int64		id = 0;
	int			attempt;
	StringInfoData d;

	if (!IsOfferType(offer_type))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid offer_type \"%s\"", offer_type),
				 errhint("An offer type is percent_off, amount_off, credits or trial_days.")));
	CheckValue(offer_type, value);
	if (has_start)
		AffCheckTimeWithinYears(starts_at, "starts_at");
	if (has_end)
	{
		AffCheckTimeWithinYears(ends_at, "ends_at");
		if (ends_at <= starts_at)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("ends_at must be later than starts_at")));
	}
	if (code != NULL)
		CheckCode(code);
	if (has_total && (total_limit < 1 || total_limit > LEDGER_MAX_AMOUNT))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("total_limit must be NULL (unlimited) or between 1 and " INT64_FORMAT,
						LEDGER_MAX_AMOUNT)));
	if (has_per && (per_member < 1 || per_member > CAMPAIGN_MAX_LIMIT))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("per_member_limit must be NULL (unlimited) or between 1 and %d", CAMPAIGN_MAX_LIMIT)));
	if (expiry != NULL)
	{
		if (strcmp(offer_type, "credits") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("credit_expiry is for credits offers only")));
		if (AffIntervalOutOfRange(expiry, false))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid credit_expiry"),
					 errdetail("A credit expiry is positive and at most %d years.", AFF_MAX_YEARS)));
	}
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	if (has_owner)
		AffRequireMember(program_id, owner_id, false, "campaign owner");

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(program_id);
	values[2] = CStringGetTextDatum(name);
	values[3] = Int64GetDatum(owner_id);
	nulls[3] = has_owner ? ' ' : 'n';
	values[4] = CStringGetTextDatum(offer_type);
	values[5] = Int64GetDatum(value);
	values[6] = Int64GetDatum(total_limit);
	nulls[6] = has_total ? ' ' : 'n';
	values[7] = Int32GetDatum(per_member);
	nulls[7] = has_per ? ' ' : 'n';
	values[8] = TimestampTzGetDatum(starts_at);
	values[9] = TimestampTzGetDatum(ends_at);
	nulls[9] = has_end ? ' ' : 'n';
	values[10] = expiry ? IntervalPGetDatum(expiry) : (Datum) 0;
	nulls[10] = expiry ? ' ' : 'n';
	values[11] = channel ? CStringGetTextDatum(channel) : (Datum) 0;
	nulls[11] = channel ? ' ' : 'n';
	/* a vanity code taken is 23505; a generated one that collides is drawn again */
	for (attempt = 0; attempt < 8; attempt++)
	{
		char	   *c = code ? code : AffRefcodeFormat(AffRefcodeRandom(CAMPAIGN_CODE_DIGITS));

		values[1] = CStringGetTextDatum(c);
		AffExec(&ins,
				"INSERT INTO affiliate.campaign (program_id, code, name, owner_id, offer_type, value, "
				"  total_limit, per_member_limit, starts_at, ends_at, credit_expiry, channel) "
				"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
				"ON CONFLICT (program_id, pg_catalog.lower(code)) DO NOTHING RETURNING id",
				12, (Oid[]) {INT8OID, TEXTOID, TEXTOID, INT8OID, TEXTOID, INT8OID, INT8OID, INT4OID,
					TIMESTAMPTZOID, TIMESTAMPTZOID, INTERVALOID, TEXTOID},
				values, nulls, false, 1);
		if (SPI_processed == 1)
		{
			id = AffGetInt64(0, 1, NULL);
			code = c;
			break;
		}
		if (code != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("promo code \"%s\" is already used in program " INT64_FORMAT, code, program_id),
					 errdetail("Promo codes are unique per program whatever their case.")));
	}
	if (id == 0)
		elog(ERROR, "pg_affiliate: no free promo code after %d attempts", attempt);

	initStringInfo(&d);
	appendStringInfo(&d, "{\"campaign_id\": " INT64_FORMAT ", \"code\": ", id);
	escape_json(&d, code);
	appendStringInfoString(&d, ", \"name\": ");
	escape_json(&d, name);
	appendStringInfo(&d, ", \"offer_type\": \"%s\", \"value\": " INT64_FORMAT "}", offer_type, value);
	AffAudit(program_id, "create_campaign", AffJsonbOf(&d));
	SPI_finish();
	PG_RETURN_INT64(id);
}

/* ---------- status ---------- */

static bool
IsStatus(const char *s)
{
	return strcmp(s, "draft") == 0 || strcmp(s, "scheduled") == 0 || strcmp(s, "active") == 0 ||
		strcmp(s, "paused") == 0 || strcmp(s, "completed") == 0;
}

/*
 * The changes an admin may make: draft -> scheduled; scheduled -> active
 * (once started) | completed; active -> paused | completed; paused ->
 * active | completed.
 */
static bool
AllowedChange(const char *from, const char *to)
{
	if (strcmp(from, "draft") == 0)
		return strcmp(to, "scheduled") == 0;
	if (strcmp(from, "scheduled") == 0)
		return strcmp(to, "active") == 0 || strcmp(to, "completed") == 0;
	if (strcmp(from, "active") == 0)
		return strcmp(to, "paused") == 0 || strcmp(to, "completed") == 0;
	if (strcmp(from, "paused") == 0)
		return strcmp(to, "active") == 0 || strcmp(to, "completed") == 0;
	return false;
}

/*
 * affiliate.set_campaign_status(program_id bigint, campaign_id bigint,
 *     status text) RETURNS text
 *
 * Returns the previous status.  22023 for an unknown status, 55000 for a
 * change the current status does not allow (and for activating before
 * starts_at or after ends_at).  Audited.
 */
Datum
set_campaign_status(PG_FUNCTION_ARGS)
{
	static PlanSlot lock,
				upd;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		campaign_id = AffArgInt64(fcinfo, 1, "campaign_id");
	char	   *status = AffTextArg(fcinfo, 2, "status", 32, true);
	char	   *old;
	bool		before_start,
				after_end;
	StringInfoData d;

	if (!IsStatus(status))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid campaign status \"%s\"", status),
				 errhint("A campaign status is draft, scheduled, active, paused or completed.")));
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	AffExec(&lock,
			"SELECT status, pg_catalog.now() < starts_at, ends_at IS NOT NULL AND pg_catalog.now() >= ends_at "
			"  FROM affiliate.campaign WHERE program_id = $1 AND id = $2 FOR NO KEY UPDATE",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(campaign_id)}, NULL, false, 1);
	if (SPI_processed == 0)
		CampaignNotFound(campaign_id, program_id);
	old = SPI_palloc(strlen(AffGetText(0, 1)) + 1);	/* outlives SPI_finish */
	strcpy(old, AffGetText(0, 1));
	before_start = AffGetBool(0, 2, NULL);
	after_end = AffGetBool(0, 3, NULL);
	if (!AllowedChange(old, status))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("campaign " INT64_FORMAT " cannot go from %s to %s", campaign_id, old, status),
				 errdetail("The changes allowed: draft to scheduled; scheduled to active or completed; active to paused or completed; paused to active or completed.")));
	if (strcmp(status, "active") == 0 && (before_start || after_end))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("campaign " INT64_FORMAT " is outside its window", campaign_id),
				 errdetail(before_start ? "It starts later; advance_campaigns() activates it at its start."
						   : "Its window has closed.")));
	AffExec(&upd,
			"UPDATE affiliate.campaign SET status = $3, updated_at = pg_catalog.now() "
			" WHERE program_id = $1 AND id = $2",
			3, (Oid[]) {INT8OID, INT8OID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(campaign_id), CStringGetTextDatum(status)},
			NULL, false, 0);
	initStringInfo(&d);
	appendStringInfo(&d, "{\"campaign_id\": " INT64_FORMAT ", \"from\": \"%s\", \"to\": \"%s\"}",
					 campaign_id, old, status);
	AffAudit(program_id, "set_campaign_status", AffJsonbOf(&d));
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(old));
}

/*
 * affiliate.advance_campaigns(as_of timestamptz DEFAULT now()) RETURNS bigint
 *
 * Every program: scheduled campaigns whose starts_at has come become active
 * (completed at once if their ends_at has passed too); active and paused
 * ones whose ends_at has come, and active ones whose total limit is used
 * up, become completed.  Campaigns locked by another session are left to
 * the next run.  Returns how many campaigns changed; each change is audited.
 */
Datum
advance_campaigns(PG_FUNCTION_ARGS)
{
	static PlanSlot move;
	TimestampTz as_of;
	uint64		n;

	AffRequireArg(fcinfo, 0, "as_of");
	as_of = PG_GETARG_TIMESTAMPTZ(0);
	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be finite")));
	AffSpiConnect();
	AffExec(&move,
			"WITH due AS ("
			"  SELECT program_id, id, status,"
			"         CASE WHEN ends_at IS NOT NULL AND ends_at <= $1 THEN 'completed'"
			"              WHEN status = 'active' AND total_limit IS NOT NULL AND used >= total_limit THEN 'completed'"
			"              WHEN status = 'scheduled' THEN 'active' END AS next"
			"    FROM affiliate.campaign"
			"   WHERE (status = 'scheduled' AND starts_at <= $1)"
			"      OR (status IN ('active', 'paused') AND ends_at IS NOT NULL AND ends_at <= $1)"
			"      OR (status = 'active' AND total_limit IS NOT NULL AND used >= total_limit)"
			"   ORDER BY program_id, id"
			"     FOR NO KEY UPDATE SKIP LOCKED)"
			" UPDATE affiliate.campaign c SET status = due.next, updated_at = pg_catalog.now()"
			"   FROM due WHERE c.program_id = due.program_id AND c.id = due.id"
			" RETURNING c.program_id, c.id, due.status, due.next",
			1, (Oid[]) {TIMESTAMPTZOID}, (Datum[]) {TimestampTzGetDatum(as_of)}, NULL, false, 0);
	n = SPI_processed;
	if (n > 0)
	{
		SPITupleTable *moved = SPI_tuptable;

		for (uint64 i = 0; i < n; i++)
		{
			StringInfoData d;
			bool		isnull;
			int64		p = DatumGetInt64(SPI_getbinval(moved->vals[i], moved->tupdesc, 1, &isnull));
			int64		id = DatumGetInt64(SPI_getbinval(moved->vals[i], moved->tupdesc, 2, &isnull));

			initStringInfo(&d);
			appendStringInfo(&d, "{\"campaign_id\": " INT64_FORMAT ", \"from\": \"%s\", \"to\": \"%s\", \"as_of\": ",
							 id, SPI_getvalue(moved->vals[i], moved->tupdesc, 3),
							 SPI_getvalue(moved->vals[i], moved->tupdesc, 4));
			escape_json(&d, timestamptz_to_str(as_of));
			appendStringInfoChar(&d, '}');
			AffAudit(p, "advance_campaign", AffJsonbOf(&d));
		}
	}
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}

/* ---------- redemption ---------- */

typedef struct Redemption
{
	int64		id;
	int64		campaign_id;
	char	   *offer_type;
	int64		value;
	bool		has_discount;
	int64		discount;
	int64		credits;
	bool		has_expiry;
	TimestampTz expires;
	bool		has_trial;
	int32		trial_days;
	bool		replayed;
} Redemption;

/*
 * The redemption recorded under order_ref: true and *r filled in when there
 * is one; 23505 when it was for another code, member or order amount.
 */
static bool
ReplayRedemption(int64 program_id, const char *ref, int64 campaign_id, int64 member_id,
				 bool has_amount, int64 amount, Redemption *r)
{
	static PlanSlot slot;
	bool		isnull;

	AffExec(&slot,
			"SELECT id, campaign_id, member_id, order_amount, offer_type, value, discount, credits, "
			"       credits_expire_at, trial_days "
			"  FROM affiliate.promo_redemption WHERE program_id = $1 AND order_ref = $2",
			2, (Oid[]) {INT8OID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), CStringGetTextDatum(ref)}, NULL, false, 1);
	if (SPI_processed == 0)
		return false;
	{
		int64		rec_amount = AffGetInt64(0, 4, &isnull);
		const char *field = NULL;

		if (AffGetInt64(0, 2, NULL) != campaign_id)
			field = "code";
		else if (AffGetInt64(0, 3, NULL) != member_id)
			field = "member_id";
		else if (isnull != !has_amount || (has_amount && rec_amount != amount))
			field = "order_amount";
		if (field)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("order \"%s\" already redeemed a promo code with different inputs", ref),
					 errdetail("The %s differs from the recorded redemption.", field),
					 errhint("A retried redemption must repeat the same code, member and order amount; another order needs another order_ref.")));
	}
	r->id = AffGetInt64(0, 1, NULL);
	r->campaign_id = campaign_id;
	r->offer_type = AffGetText(0, 5);
	r->value = AffGetInt64(0, 6, NULL);
	r->discount = AffGetInt64(0, 7, &isnull);
	r->has_discount = !isnull;
	r->credits = AffGetInt64(0, 8, NULL);
	r->expires = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 9, &isnull));
	r->has_expiry = !isnull;
	r->trial_days = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 10, &isnull));
	r->has_trial = !isnull;
	r->replayed = true;
	return true;
}

/* why the guarded campaign update took no use: 55000 with the reason */
static void
CampaignRefusal(int64 program_id, int64 campaign_id, const char *code)
{
	static PlanSlot slot;
	const char *why;

	AffExec(&slot,
			"SELECT status, pg_catalog.now() < starts_at, ends_at IS NOT NULL AND pg_catalog.now() >= ends_at, "
			"       total_limit IS NOT NULL AND used >= total_limit "
			"  FROM affiliate.campaign WHERE program_id = $1 AND id = $2",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(campaign_id)}, NULL, false, 1);
	if (SPI_processed == 0)
		CodeNotFound(code, program_id);
	if (strcmp(AffGetText(0, 1), "active") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("promo code \"%s\" is not active", code),
				 errdetail("Its campaign is %s.", AffGetText(0, 1))));
	if (AffGetBool(0, 2, NULL) || AffGetBool(0, 3, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("promo code \"%s\" is outside its campaign's window", code),
				 errdetail(AffGetBool(0, 2, NULL) ? "The campaign has not started yet." : "The campaign has ended.")));
	why = AffGetBool(0, 4, NULL) ? "used up" : "not available";
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("promo code \"%s\" is %s", code, why),
			 errdetail("Its campaign's total limit has been reached.")));
}

/*
 * affiliate.redeem_promo(program_id bigint, code text, member_id bigint,
 *     order_ref text, order_amount bigint DEFAULT NULL)
 *     RETURNS TABLE (redemption_id bigint, campaign_id bigint, offer_type
 *     text, value bigint, discount bigint, credits bigint, credits_expire_at
 *     timestamptz, trial_days integer, replayed boolean)
 */
Datum
redeem_promo(PG_FUNCTION_ARGS)
{
	static PlanSlot find,
				ins,
				per,
				total,
				setj;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	char	   *code = AffTextArg(fcinfo, 1, "code", CAMPAIGN_MAX_REF, true);
	int64		member_id = AffArgInt64(fcinfo, 2, "member_id");
	char	   *ref = AffTextArg(fcinfo, 3, "order_ref", CAMPAIGN_MAX_REF, true);
	bool		has_amount = !PG_ARGISNULL(4);
	int64		amount = has_amount ? PG_GETARG_INT64(4) : 0;
	Redemption	r;
	bool		isnull;
	bool		limit_null;
	int32		per_limit;
	int64		personal;
	bool		personal_null;
	Interval   *expiry = NULL;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		out[9];
	bool		onulls[9];
	Datum		values[11];
	char		nulls[11];
	MemoryContext callerctx = CurrentMemoryContext;
	char	   *offer_type;
	bool		open;
	bool		blocked;

	CheckCode(code);
	if (has_amount && (amount < 0 || amount > LEDGER_MAX_AMOUNT))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("order_amount must be between 0 and " INT64_FORMAT, LEDGER_MAX_AMOUNT)));
	InitMaterializedSRF(fcinfo, 0);
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	/* P0002 for a member not in the program; a blocked one is refused below */
	blocked = WalletRequireMember(program_id, member_id, false, NULL);
	memset(&r, 0, sizeof(r));

	AffExec(&find,
			"SELECT id, offer_type, value, per_member_limit, credit_expiry, personal_member_id, status, "
			"       pg_catalog.now() >= starts_at AND (ends_at IS NULL OR pg_catalog.now() < ends_at) "
			"  FROM affiliate.campaign WHERE program_id = $1 AND pg_catalog.lower(code) = pg_catalog.lower($2)",
			2, (Oid[]) {INT8OID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), CStringGetTextDatum(code)}, NULL, false, 1);
	if (SPI_processed == 0)
		CodeNotFound(code, program_id);
	r.campaign_id = AffGetInt64(0, 1, NULL);
	r.offer_type = AffGetText(0, 2);
	r.value = AffGetInt64(0, 3, NULL);
	per_limit = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &limit_null));
	{
		Datum		e = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull);

		if (!isnull)
			expiry = (Interval *) SPI_datumTransfer(e, false, sizeof(Interval));
	}
	personal = AffGetInt64(0, 6, &personal_null);
	open = strcmp(AffGetText(0, 7), "active") == 0 && AffGetBool(0, 8, NULL);

	/* the same order_ref again: its redemption, whatever the campaign is now */
	if (!ReplayRedemption(program_id, ref, r.campaign_id, member_id, has_amount, amount, &r))
	{
		/* a replay above still answers for a member blocked since */
		if (blocked)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("member " INT64_FORMAT " is blocked", member_id),
					 errdetail("A blocked member redeems no promo code."),
					 errhint("An admin can set the member active again with affiliate.set_member_status().")));
		if (!open)
			CampaignRefusal(program_id, r.campaign_id, code);
		if (!personal_null && personal != member_id)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("promo code \"%s\" is personal to another member", code)));

		/* what the offer gives */
		if (strcmp(r.offer_type, "percent_off") == 0 && has_amount)
		{
			r.has_discount = true;
			r.discount = AffRoundDiv((int128) amount * r.value, 10000, 1, AFF_ROUND_HALF_UP);
		}
		else if (strcmp(r.offer_type, "amount_off") == 0 && has_amount)
		{
			r.has_discount = true;
			r.discount = Min(r.value, amount);
		}
		else if (strcmp(r.offer_type, "credits") == 0)
		{
			r.credits = r.value;
			if (expiry != NULL)
			{
				r.has_expiry = true;
				r.expires = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
																	TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
																	IntervalPGetDatum(expiry)));
			}
		}
		else if (strcmp(r.offer_type, "trial_days") == 0)
		{
			r.has_trial = true;
			r.trial_days = (int32) r.value;
		}

		/* (1) the order_ref: a concurrent redemption of it makes us wait, then replay */
		memset(nulls, ' ', sizeof(nulls));
		values[0] = Int64GetDatum(program_id);
		values[1] = Int64GetDatum(r.campaign_id);
		values[2] = Int64GetDatum(member_id);
		values[3] = CStringGetTextDatum(ref);
		values[4] = Int64GetDatum(amount);
		nulls[4] = has_amount ? ' ' : 'n';
		values[5] = CStringGetTextDatum(r.offer_type);
		values[6] = Int64GetDatum(r.value);
		values[7] = Int64GetDatum(r.discount);
		nulls[7] = r.has_discount ? ' ' : 'n';
		values[8] = Int64GetDatum(r.credits);
		values[9] = TimestampTzGetDatum(r.expires);
		nulls[9] = r.has_expiry ? ' ' : 'n';
		values[10] = Int32GetDatum(r.trial_days);
		nulls[10] = r.has_trial ? ' ' : 'n';
		AffExec(&ins,
				"INSERT INTO affiliate.promo_redemption (program_id, campaign_id, member_id, order_ref, "
				"  order_amount, offer_type, value, discount, credits, credits_expire_at, trial_days) "
				"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
				"ON CONFLICT (program_id, order_ref) DO NOTHING RETURNING id",
				11, (Oid[]) {INT8OID, INT8OID, INT8OID, TEXTOID, INT8OID, TEXTOID, INT8OID, INT8OID,
					INT8OID, TIMESTAMPTZOID, INT4OID},
				values, nulls, false, 1);
		if (SPI_processed == 0)
		{
			if (!ReplayRedemption(program_id, ref, r.campaign_id, member_id, has_amount, amount, &r))
				elog(ERROR, "pg_affiliate: redemption \"%s\" conflicted but is not visible", ref);
		}
		else
		{
			r.id = AffGetInt64(0, 1, NULL);

			/* (2) the member's counter: the per-member limit, taken under its row lock */
			AffExec(&per,
					"INSERT INTO affiliate.promo_member_use AS u (program_id, campaign_id, member_id, used) "
					"VALUES ($1, $2, $3, 1) "
					"ON CONFLICT (program_id, campaign_id, member_id) DO UPDATE SET used = u.used + 1 "
					" WHERE $4::integer IS NULL OR u.used < $4 "
					"RETURNING used",
					4, (Oid[]) {INT8OID, INT8OID, INT8OID, INT4OID},
					(Datum[]) {values[0], values[1], values[2], Int32GetDatum(per_limit)},
					limit_null ? "   n" : "    ", false, 1);
			if (SPI_processed == 0)
				ereport(ERROR,
						(errcode(ERRCODE_CHECK_VIOLATION),
						 errmsg("member " INT64_FORMAT " reached the limit of promo code \"%s\" (%d per member)",
								member_id, code, per_limit)));

			/* (3) the campaign's counter: the total limit, status and window, in one guarded update */
			AffExec(&total,
					"UPDATE affiliate.campaign SET used = used + 1 "
					" WHERE program_id = $1 AND id = $2 AND status = 'active' "
					"   AND pg_catalog.now() >= starts_at AND (ends_at IS NULL OR pg_catalog.now() < ends_at) "
					"   AND (total_limit IS NULL OR used < total_limit)",
					2, (Oid[]) {INT8OID, INT8OID}, values, NULL, false, 0);
			if (SPI_processed == 0)
				CampaignRefusal(program_id, r.campaign_id, code);

			if (r.credits > 0)
			{
				LedgerLeg	legs[2];
				bool		replayed;
				StringInfoData memo;
				int64		journal_id;

				memset(legs, 0, sizeof(legs));
				legs[0].member_id = member_id;
				legs[0].kind = CREDITS_KIND;
				legs[0].asset = CREDITS_ASSET;
				legs[0].amount = r.credits;
				legs[1].is_system = true;
				legs[1].kind = "promo_credits_issued";
				legs[1].asset = CREDITS_ASSET;
				legs[1].amount = -r.credits;
				initStringInfo(&memo);
				appendStringInfo(&memo, "{\"redemption_id\": " INT64_FORMAT ", \"campaign_id\": " INT64_FORMAT
								 ", \"order_ref\": ", r.id, r.campaign_id);
				escape_json(&memo, ref);
				appendStringInfoChar(&memo, '}');
				journal_id = LedgerPost(program_id, "promo_credits", NULL, AffJsonbOf(&memo), legs, 2, &replayed);
				AffExec(&setj,
						"UPDATE affiliate.promo_redemption SET journal_id = $3 WHERE program_id = $1 AND id = $2",
						3, (Oid[]) {INT8OID, INT8OID, INT8OID},
						(Datum[]) {values[0], Int64GetDatum(r.id), Int64GetDatum(journal_id)}, NULL, false, 0);
			}
		}
	}

	offer_type = MemoryContextStrdup(callerctx, r.offer_type);
	SPI_finish();
	memset(onulls, 0, sizeof(onulls));
	out[0] = Int64GetDatum(r.id);
	out[1] = Int64GetDatum(r.campaign_id);
	out[2] = CStringGetTextDatum(offer_type);
	out[3] = Int64GetDatum(r.value);
	out[4] = Int64GetDatum(r.discount);
	onulls[4] = !r.has_discount;
	out[5] = Int64GetDatum(r.credits);
	out[6] = TimestampTzGetDatum(r.expires);
	onulls[6] = !r.has_expiry;
	out[7] = Int32GetDatum(r.trial_days);
	onulls[7] = !r.has_trial;
	out[8] = BoolGetDatum(r.replayed);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, onulls);
	return (Datum) 0;
}

/*
 * affiliate.expire_promo_credits(as_of timestamptz DEFAULT now(), batch_size
 *     integer DEFAULT 10000) RETURNS bigint
 *
 * Every program: up to batch_size credit grants whose expiry has come
 * (skipping grants locked by another session), soonest first: what is left
 * of each goes to the system account promo_credits_expired, and the grant is
 * marked expired (once).  Credits the member spent are taken from the
 * soonest-expiring grants first: a grant gives back at most the member's
 * promo_credits balance less the credits of their grants not due yet.
 * Returns the number of grants expired.
 */
Datum
expire_promo_credits(PG_FUNCTION_ARGS)
{
	static PlanSlot due,
				keep,
				mark;
	TimestampTz as_of;
	int32		batch;
	uint64		n;
	int64	   *progs,
			   *ids,
			   *members,
			   *credits;

	AffRequireArg(fcinfo, 0, "as_of");
	AffRequireArg(fcinfo, 1, "batch_size");
	as_of = PG_GETARG_TIMESTAMPTZ(0);
	batch = PG_GETARG_INT32(1);
	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be finite")));
	if (batch < 1 || batch > 1000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be between 1 and 1000000")));
	AffSpiConnect();
	AffExec(&due,
			"SELECT program_id, id, member_id, credits FROM affiliate.promo_redemption "
			" WHERE credits > 0 AND credits_expired_at IS NULL AND credits_expire_at <= $1 "
			" ORDER BY program_id, member_id, credits_expire_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
			2, (Oid[]) {TIMESTAMPTZOID, INT4OID},
			(Datum[]) {TimestampTzGetDatum(as_of), Int32GetDatum(batch)}, NULL, false, 0);
	n = SPI_processed;
	progs = palloc(sizeof(int64) * (n + 1));
	ids = palloc(sizeof(int64) * (n + 1));
	members = palloc(sizeof(int64) * (n + 1));
	credits = palloc(sizeof(int64) * (n + 1));
	for (uint64 i = 0; i < n; i++)
	{
		progs[i] = AffGetInt64((int) i, 1, NULL);
		ids[i] = AffGetInt64((int) i, 2, NULL);
		members[i] = AffGetInt64((int) i, 3, NULL);
		credits[i] = AffGetInt64((int) i, 4, NULL);
	}
	for (uint64 i = 0; i < n; i++)
	{
		int64		account = LedgerAccount(progs[i], false, members[i], CREDITS_KIND, CREDITS_ASSET,
											-1, NULL, NULL);
		int64		balance = LedgerLockedBalance(progs[i], account);
		int64		kept,
					take;

		/* the credits of the member's grants not due yet are not taken */
		AffExec(&keep,
				"SELECT coalesce(pg_catalog.sum(credits), 0)::bigint FROM affiliate.promo_redemption "
				" WHERE program_id = $1 AND member_id = $2 AND credits > 0 AND credits_expired_at IS NULL "
				"   AND (credits_expire_at IS NULL OR credits_expire_at > $3)",
				3, (Oid[]) {INT8OID, INT8OID, TIMESTAMPTZOID},
				(Datum[]) {Int64GetDatum(progs[i]), Int64GetDatum(members[i]), TimestampTzGetDatum(as_of)},
				NULL, false, 1);
		kept = AffGetInt64(0, 1, NULL);
		take = Min(credits[i], Max(balance - kept, 0));

		if (take > 0)
		{
			LedgerLeg	legs[2];
			bool		replayed;
			StringInfoData memo;

			memset(legs, 0, sizeof(legs));
			legs[0].account_id = account;
			legs[0].amount = -take;
			legs[1].is_system = true;
			legs[1].kind = "promo_credits_expired";
			legs[1].asset = CREDITS_ASSET;
			legs[1].amount = take;
			initStringInfo(&memo);
			appendStringInfo(&memo, "{\"redemption_id\": " INT64_FORMAT ", \"credits\": " INT64_FORMAT "}",
							 ids[i], take);
			LedgerPost(progs[i], "promo_credits_expiry", NULL, AffJsonbOf(&memo), legs, 2, &replayed);
		}
		AffExec(&mark,
				"UPDATE affiliate.promo_redemption SET credits_expired = $3, credits_expired_at = $4 "
				" WHERE program_id = $1 AND id = $2",
				4, (Oid[]) {INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID},
				(Datum[]) {Int64GetDatum(progs[i]), Int64GetDatum(ids[i]), Int64GetDatum(take),
					TimestampTzGetDatum(as_of)}, NULL, false, 0);
	}
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}

/*
 * affiliate.issue_promo_code(program_id bigint, campaign_id bigint,
 *     member_id bigint, source_ref text) RETURNS text
 *
 * A personal code for one member, from a template campaign (any status but
 * completed): the same offer, owner and channel, one use, active at once for
 * as long as the template's window lasts (no end if the template has none).
 * Idempotent on (template, source_ref): the same call returns the same code;
 * the source_ref used for another member is 23505.
 */
Datum
issue_promo_code(PG_FUNCTION_ARGS)
{
	static PlanSlot tmpl,
				prev,
				ins;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		campaign_id = AffArgInt64(fcinfo, 1, "campaign_id");
	int64		member_id = AffArgInt64(fcinfo, 2, "member_id");
	char	   *ref = AffTextArg(fcinfo, 3, "source_ref", CAMPAIGN_MAX_REF, true);
	char	   *code = NULL;
	Datum		values[4];
	StringInfoData d;
	MemoryContext callerctx = CurrentMemoryContext;

	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	AffRequireMember(program_id, member_id, false, "holder of the personal code");
	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(campaign_id);
	values[2] = Int64GetDatum(member_id);
	values[3] = CStringGetTextDatum(ref);
	/* the template, locked: issues of one template serialise (and replay) */
	AffExec(&tmpl,
			"SELECT status FROM affiliate.campaign WHERE program_id = $1 AND id = $2 FOR NO KEY UPDATE",
			2, (Oid[]) {INT8OID, INT8OID}, values, NULL, false, 1);
	if (SPI_processed == 0)
		CampaignNotFound(campaign_id, program_id);
	if (strcmp(AffGetText(0, 1), "completed") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("campaign " INT64_FORMAT " is completed", campaign_id),
				 errdetail("Personal codes are issued from a campaign that is not completed.")));
	AffExec(&prev,
			"SELECT code, personal_member_id = $3 FROM affiliate.campaign "
			" WHERE program_id = $1 AND template_id = $2 AND source_ref = $4",
			4, (Oid[]) {INT8OID, INT8OID, INT8OID, TEXTOID}, values, NULL, false, 1);
	if (SPI_processed == 1)
	{
		if (!AffGetBool(0, 2, NULL))
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("personal code \"%s\" was already issued to another member", ref),
					 errhint("Each source_ref names one personal code of the template.")));
		code = AffGetText(0, 1);
	}
	else
	{
		for (int attempt = 0; attempt < 8 && code == NULL; attempt++)
		{
			char	   *c = AffRefcodeFormat(AffRefcodeRandom(CAMPAIGN_CODE_DIGITS));

			AffExec(&ins,
					"INSERT INTO affiliate.campaign (program_id, code, name, owner_id, offer_type, value, "
					"  total_limit, per_member_limit, starts_at, ends_at, credit_expiry, channel, status, "
					"  template_id, personal_member_id, source_ref) "
					"SELECT t.program_id, $5, t.name, t.owner_id, t.offer_type, t.value, 1, 1, pg_catalog.now(), "
					"       pg_catalog.now() + (t.ends_at - t.starts_at), t.credit_expiry, t.channel, 'active', "
					"       t.id, $3, $4 "
					"  FROM affiliate.campaign t WHERE t.program_id = $1 AND t.id = $2 "
					"ON CONFLICT (program_id, pg_catalog.lower(code)) DO NOTHING RETURNING code",
					5, (Oid[]) {INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID},
					(Datum[]) {values[0], values[1], values[2], values[3], CStringGetTextDatum(c)},
					NULL, false, 1);
			if (SPI_processed == 1)
				code = c;
		}
		if (code == NULL)
			elog(ERROR, "pg_affiliate: no free promo code after 8 attempts");
		initStringInfo(&d);
		appendStringInfo(&d, "{\"template_id\": " INT64_FORMAT ", \"member_id\": " INT64_FORMAT ", \"code\": ",
						 campaign_id, member_id);
		escape_json(&d, code);
		appendStringInfoString(&d, ", \"source_ref\": ");
		escape_json(&d, ref);
		appendStringInfoChar(&d, '}');
		AffAudit(program_id, "issue_promo_code", AffJsonbOf(&d));
	}
	code = MemoryContextStrdup(callerctx, code);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(code));
}

/* ---------- conversions carrying a promo code (commission.c) ---------- */

/*
 * The campaign of a promo code and its owner (0: none); P0002 when the code
 * names no campaign of the program.  Inside SPI.
 */
void
AffPromoResolve(int64 program_id, const char *code, int64 *campaign_id, int64 *owner_id)
{
	static PlanSlot slot;
	bool		isnull;

	CheckCode(code);
	AffExec(&slot,
			"SELECT id, owner_id FROM affiliate.campaign "
			" WHERE program_id = $1 AND pg_catalog.lower(code) = pg_catalog.lower($2)",
			2, (Oid[]) {INT8OID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), CStringGetTextDatum(code)}, NULL, false, 1);
	if (SPI_processed == 0)
		CodeNotFound(code, program_id);
	*campaign_id = AffGetInt64(0, 1, NULL);
	*owner_id = AffGetInt64(0, 2, &isnull);
	if (isnull)
		*owner_id = 0;
}

/*
 * After a single conversion is recorded: link a new conversion to its
 * campaign (and make the owner its referrer), or check that a replayed one
 * carries the same code (23505 otherwise).  Inside SPI.
 */
void
AffPromoRecord(int64 program_id, int64 conversion_id, bool is_new, int64 campaign_id,
			   int64 referrer_id, const char *ref)
{
	static PlanSlot link,
				setref,
				prev;

	if (is_new)
	{
		if (campaign_id == 0)
			return;
		AffExec(&link,
				"INSERT INTO affiliate.campaign_conversion (program_id, campaign_id, conversion_id) "
				"VALUES ($1, $2, $3)",
				3, (Oid[]) {INT8OID, INT8OID, INT8OID},
				(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(campaign_id), Int64GetDatum(conversion_id)},
				NULL, false, 0);
		if (referrer_id != 0)
			AffExec(&setref,
					"UPDATE affiliate.conversion SET referrer_id = $3 WHERE program_id = $1 AND id = $2",
					3, (Oid[]) {INT8OID, INT8OID, INT8OID},
					(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(conversion_id), Int64GetDatum(referrer_id)},
					NULL, false, 0);
		return;
	}
	AffExec(&prev,
			"SELECT campaign_id FROM affiliate.campaign_conversion WHERE program_id = $1 AND conversion_id = $2",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(conversion_id)}, NULL, false, 1);
	if ((SPI_processed == 0 ? 0 : AffGetInt64(0, 1, NULL)) != campaign_id)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("conversion \"%s\" was already recorded with different inputs", ref),
				 errdetail("The promo_code differs from the recorded conversion."),
				 errhint("A retried webhook must repeat the same inputs; a new order needs a new external_ref.")));
}

/* ---------- birthday promo codes (notify.c's daily job) ---------- */

/*
 * affiliate.set_birthday_campaign(program_id bigint, campaign_id bigint)
 *     RETURNS void
 *
 * The template campaign of the program's birthday codes (birthday_policy);
 * NULL turns birthday codes off.  The campaign must exist in the program
 * (P0002), must not itself be a personal code (22023) and must not be
 * completed (55000).  Audited, with the previous campaign.
 */
Datum
set_birthday_campaign(PG_FUNCTION_ARGS)
{
	static PlanSlot camp,
				prev,
				put,
				del;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	bool		off = PG_ARGISNULL(1);
	int64		campaign_id = off ? 0 : PG_GETARG_INT64(1);
	int64		previous = 0;
	StringInfoData d;

	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	if (!off)
	{
		AffExec(&camp,
				"SELECT status, template_id IS NOT NULL OR personal_member_id IS NOT NULL "
				"  FROM affiliate.campaign WHERE program_id = $1 AND id = $2 FOR KEY SHARE",
				2, (Oid[]) {INT8OID, INT8OID},
				(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(campaign_id)}, NULL, false, 1);
		if (SPI_processed == 0)
			CampaignNotFound(campaign_id, program_id);
		if (AffGetBool(0, 2, NULL))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("campaign " INT64_FORMAT " is a personal code", campaign_id),
					 errdetail("Birthday codes are issued from a template campaign, not from a personal code.")));
		if (strcmp(AffGetText(0, 1), "completed") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("campaign " INT64_FORMAT " is completed", campaign_id),
					 errdetail("Personal codes are issued from a campaign that is not completed.")));
	}
	/* the previous campaign, locked: changes of one program's policy serialise */
	AffExec(&prev,
			"SELECT campaign_id FROM affiliate.birthday_policy WHERE program_id = $1 FOR UPDATE",
			1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(program_id)}, NULL, false, 1);
	if (SPI_processed == 1)
		previous = AffGetInt64(0, 1, NULL);
	if (off)
		AffExec(&del, "DELETE FROM affiliate.birthday_policy WHERE program_id = $1",
				1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(program_id)}, NULL, false, 0);
	else
		AffExec(&put,
				"INSERT INTO affiliate.birthday_policy (program_id, campaign_id) VALUES ($1, $2) "
				"ON CONFLICT (program_id) DO UPDATE SET campaign_id = EXCLUDED.campaign_id, "
				"  updated_at = pg_catalog.now()",
				2, (Oid[]) {INT8OID, INT8OID},
				(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(campaign_id)}, NULL, false, 0);
	initStringInfo(&d);
	appendStringInfoString(&d, "{\"campaign_id\": ");
	if (off)
		appendStringInfoString(&d, "null");
	else
		appendStringInfo(&d, INT64_FORMAT, campaign_id);
	appendStringInfoString(&d, ", \"previous\": ");
	if (previous == 0)
		appendStringInfoString(&d, "null");
	else
		appendStringInfo(&d, INT64_FORMAT, previous);
	appendStringInfoChar(&d, '}');
	AffAudit(program_id, "set_birthday_campaign", AffJsonbOf(&d));
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * The personal promo code of a birthday, or NULL.  Inside SPI.
 *
 * When the program has a birthday campaign (birthday_policy), issue a code
 * from it with affiliate.issue_promo_code to the member (a child's birthday:
 * to the parent member), source_ref 'birthday:<member>:<year>' or
 * 'birthday:child:<child>:<year>' (idempotent: a second call returns the
 * same code).  The template is locked first (FOR NO KEY UPDATE, as
 * issue_promo_code does), so its status cannot change before the code is
 * issued; a template that is no longer usable gives no code instead of
 * failing the job: paused, completed, or scheduled/active with its window
 * ended (advance_campaigns is about to complete it).  A draft template
 * never ends: it is a pure template, its window only the length of the
 * codes' validity.
 */
char *
AffBirthdayPromoCode(int64 program_id, int64 member_id, int64 child_id, int year)
{
	static PlanSlot tmpl,
				issue;
	int64		campaign_id;
	char	   *ref;

	AffExec(&tmpl,
			"SELECT c.id, c.status IN ('paused', 'completed') "
			"       OR (c.status IN ('scheduled', 'active') AND c.ends_at IS NOT NULL "
			"           AND c.ends_at <= pg_catalog.now()) "
			"  FROM affiliate.birthday_policy p "
			"  JOIN affiliate.campaign c ON c.program_id = p.program_id AND c.id = p.campaign_id "
			" WHERE p.program_id = $1 FOR NO KEY UPDATE OF c",
			1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(program_id)}, NULL, false, 1);
	if (SPI_processed == 0 || AffGetBool(0, 2, NULL))
		return NULL;
	campaign_id = AffGetInt64(0, 1, NULL);
	ref = child_id != 0
		? psprintf("birthday:child:" INT64_FORMAT ":%d", child_id, year)
		: psprintf("birthday:" INT64_FORMAT ":%d", member_id, year);
	AffExec(&issue, "SELECT affiliate.issue_promo_code($1, $2, $3, $4)",
			4, (Oid[]) {INT8OID, INT8OID, INT8OID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(campaign_id), Int64GetDatum(member_id),
			CStringGetTextDatum(ref)}, NULL, false, 1);
	return AffGetText(0, 1);
}
