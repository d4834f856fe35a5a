/*
 * program.c
 *	  Programs and their typed, validated settings.
 *
 * Settings come in as jsonb; every key is known and typed, and a bad key or
 * value is refused with 22023 naming it.  They are stored as typed columns of
 * affiliate.program (so the hot paths read them without parsing) and shown as
 * jsonb by affiliate.program_settings().
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "pg_affiliate.h"

typedef struct ProgramSettings
{
	Datum		hold_period;	/* interval */
	int64		min_withdrawal;
	int64		rounding_unit;
	const char *rounding;
	const char *attribution;
	Datum		attribution_window; /* interval */
	const char *clawback;
	/* fraud rule thresholds (fraud.c, docs/fraud.md) */
	int32		fraud_device_members;
	int32		fraud_ip_members;
	int32		fraud_burst_signups;
	Datum		fraud_burst_window; /* interval */
	int32		fraud_low_conversion_referrals;
	int32		fraud_low_conversion_ratio; /* basis points of the median */
} ProgramSettings;

static const char *const rounding_modes[] = {"half_up", "half_even", "down", NULL};
static const char *const attribution_models[] = {"sponsor", "first_click", "last_click", NULL};
static const char *const clawback_policies[] = {"negative", "write_off", NULL};

static const char *const known_keys =
"hold_period, min_withdrawal, rounding_unit, rounding, attribution, attribution_window, clawback, "
"fraud_device_members, fraud_ip_members, fraud_burst_signups, fraud_burst_window, "
"fraud_low_conversion_referrals, fraud_low_conversion_ratio";

/* the largest member count a fraud threshold takes */
#define FRAUD_MAX_COUNT 1000000

PG_FUNCTION_INFO_V1(create_program);
PG_FUNCTION_INFO_V1(update_program_settings);

static void
DefaultSettings(ProgramSettings *s)
{
	s->hold_period = DirectFunctionCall3(interval_in, CStringGetDatum("24 hours"),
										 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	s->min_withdrawal = 0;
	s->rounding_unit = 1;
	s->rounding = "half_up";
	s->attribution = "sponsor";
	s->attribution_window = DirectFunctionCall3(interval_in, CStringGetDatum("30 days"),
												ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	s->clawback = "negative";
	s->fraud_device_members = 3;
	s->fraud_ip_members = 10;
	s->fraud_burst_signups = 20;
	s->fraud_burst_window = DirectFunctionCall3(interval_in, CStringGetDatum("10 minutes"),
												ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	s->fraud_low_conversion_referrals = 20;
	s->fraud_low_conversion_ratio = 2500;
}

static void
BadSetting(const char *key, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for setting \"%s\"", key),
			 errdetail("%s", detail)));
}

/*
 * Parse an interval setting.  interval_in reports its own error codes; the
 * error is caught (interval_in holds no resources, only memory) and raised
 * again as 22023 naming the setting.
 */
static Datum
ParseInterval(const char *key, JsonbValue *v, bool allow_zero)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	char	   *s;
	Datum		result = (Datum) 0;
	Interval	zero;
	int			cmp;

	if (v->type != jbvString)
		BadSetting(key, "An interval is expected as a JSON string, for example \"24 hours\".");
	s = pnstrdup(v->val.string.val, v->val.string.len);

	PG_TRY();
	{
		result = DirectFunctionCall3(interval_in, CStringGetDatum(s),
									 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for setting \"%s\"", key),
				 errdetail("%s", edata->message)));
	}
	PG_END_TRY();

	memset(&zero, 0, sizeof(zero));
	cmp = DatumGetInt32(DirectFunctionCall2(interval_cmp, result, IntervalPGetDatum(&zero)));
	if (cmp < 0 || (cmp == 0 && !allow_zero))
		BadSetting(key, allow_zero ? "The interval must not be negative."
				   : "The interval must be positive.");
	if (AffIntervalTooLong(DatumGetIntervalP(result)))
		BadSetting(key, psprintf("The interval must not be longer than %d years.", AFF_MAX_YEARS));
	return result;
}

/* longer than AFF_MAX_YEARS (months count 30 days, as interval_cmp does) */
bool
AffIntervalTooLong(const Interval *iv)
{
	Interval	limit;

	memset(&limit, 0, sizeof(limit));
	limit.month = AFF_MAX_YEARS * MONTHS_PER_YEAR;
	return DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(iv),
											 IntervalPGetDatum(&limit))) > 0;
}

/*
 * An interval outside 0 (exclusive unless allow_zero) .. AFF_MAX_YEARS: the
 * range of every lifetime, window and grace period a setting takes.
 */
bool
AffIntervalOutOfRange(const Interval *iv, bool allow_zero)
{
	Interval	zero;
	int			cmp;

	memset(&zero, 0, sizeof(zero));
	cmp = DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(iv),
											IntervalPGetDatum(&zero)));
	return cmp < 0 || (cmp == 0 && !allow_zero) || AffIntervalTooLong(iv);
}

/* a time argument (name): finite and within AFF_MAX_YEARS of now (22023) */
void
AffCheckTimeWithinYears(TimestampTz at, const char *name)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	int64		span = (int64) AFF_MAX_YEARS * DAYS_PER_YEAR * USECS_PER_DAY;

	if (TIMESTAMP_NOT_FINITE(at) || at < now - span || at > now + span)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite time within %d years of now", name, AFF_MAX_YEARS)));
}

/*
 * An order's occurred_at: finite and within AFF_MAX_YEARS of now (its hold
 * and attribution windows are added to it).  batch_index > 0 names the
 * conversion of a batch.
 */
void
AffCheckOccurredAt(TimestampTz at, int batch_index)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	int64		span = (int64) AFF_MAX_YEARS * DAYS_PER_YEAR * USECS_PER_DAY;
	char	   *which = batch_index > 0 ? psprintf("conversion %d of the batch: ", batch_index) : "";

	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%soccurred_at must be a finite time", which)));
	if (at < now - span || at > now + span)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%soccurred_at must lie within %d years of now", which, AFF_MAX_YEARS),
				 errdetail("It is %s.", timestamptz_to_str(at))));
}

static const char *
ParseChoice(const char *key, JsonbValue *v, const char *const *choices)
{
	char	   *s;
	StringInfoData names;

	if (v->type == jbvString)
	{
		s = pnstrdup(v->val.string.val, v->val.string.len);
		for (int i = 0; choices[i]; i++)
			if (strcmp(s, choices[i]) == 0)
				return choices[i];
	}
	initStringInfo(&names);
	for (int i = 0; choices[i]; i++)
		appendStringInfo(&names, "%s%s", i ? ", " : "", choices[i]);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for setting \"%s\"", key),
			 errdetail("Expected one of: %s.", names.data)));
	return NULL;				/* keep compiler quiet */
}

static int64
ParseMinor(const char *key, JsonbValue *v, int64 min)
{
	int64		r;

	if (v->type != jbvNumeric)
		BadSetting(key, "An integer amount in minor units is expected as a JSON number.");
	r = AffJsonbInt64(v, psprintf("setting \"%s\"", key), true);
	if (r < min)
		BadSetting(key, psprintf("The value must be at least " INT64_FORMAT ".", min));
	return r;
}

/* an integer setting between min and max */
static int32
ParseCount(const char *key, JsonbValue *v, int32 min, int32 max)
{
	int64		r;

	if (v->type != jbvNumeric)
		BadSetting(key, "An integer is expected as a JSON number.");
	r = AffJsonbInt64(v, psprintf("setting \"%s\"", key), true);
	if (r < min || r > max)
		BadSetting(key, psprintf("The value must be between %d and %d.", min, max));
	return (int32) r;
}

/* Apply every key of a settings object over *s; unknown keys are refused. */
static void
ParseSettings(Jsonb *settings, ProgramSettings *s)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	if (settings == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(settings) || JB_ROOT_IS_SCALAR(settings))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("program settings must be a JSON object"),
				 errdetail("Known settings: %s.", known_keys)));

	it = JsonbIteratorInit(&settings->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		if (v.type == jbvNull)
			BadSetting(key, "A setting cannot be null; leave it out to keep its current value.");

		if (strcmp(key, "hold_period") == 0)
			s->hold_period = ParseInterval(key, &v, true);
		else if (strcmp(key, "attribution_window") == 0)
			s->attribution_window = ParseInterval(key, &v, false);
		else if (strcmp(key, "min_withdrawal") == 0)
			s->min_withdrawal = ParseMinor(key, &v, 0);
		else if (strcmp(key, "rounding_unit") == 0)
			s->rounding_unit = ParseMinor(key, &v, 1);
		else if (strcmp(key, "rounding") == 0)
			s->rounding = ParseChoice(key, &v, rounding_modes);
		else if (strcmp(key, "attribution") == 0)
			s->attribution = ParseChoice(key, &v, attribution_models);
		else if (strcmp(key, "clawback") == 0)
			s->clawback = ParseChoice(key, &v, clawback_policies);
		else if (strcmp(key, "fraud_device_members") == 0)
			s->fraud_device_members = ParseCount(key, &v, 1, FRAUD_MAX_COUNT);
		else if (strcmp(key, "fraud_ip_members") == 0)
			s->fraud_ip_members = ParseCount(key, &v, 1, FRAUD_MAX_COUNT);
		else if (strcmp(key, "fraud_burst_signups") == 0)
			s->fraud_burst_signups = ParseCount(key, &v, 1, FRAUD_MAX_COUNT);
		else if (strcmp(key, "fraud_burst_window") == 0)
			s->fraud_burst_window = ParseInterval(key, &v, false);
		else if (strcmp(key, "fraud_low_conversion_referrals") == 0)
			s->fraud_low_conversion_referrals = ParseCount(key, &v, 1, FRAUD_MAX_COUNT);
		else if (strcmp(key, "fraud_low_conversion_ratio") == 0)
			s->fraud_low_conversion_ratio = ParseCount(key, &v, 0, 10000);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown setting \"%s\"", key),
					 errdetail("Known settings: %s.", known_keys)));
	}
}

/* Parameter array for the INSERT/UPDATE: $2..$14 are the settings. */
static void
SettingsValues(const ProgramSettings *s, Datum *values)
{
	values[0] = s->hold_period;
	values[1] = Int64GetDatum(s->min_withdrawal);
	values[2] = Int64GetDatum(s->rounding_unit);
	values[3] = CStringGetTextDatum(s->rounding);
	values[4] = CStringGetTextDatum(s->attribution);
	values[5] = s->attribution_window;
	values[6] = CStringGetTextDatum(s->clawback);
	values[7] = Int32GetDatum(s->fraud_device_members);
	values[8] = Int32GetDatum(s->fraud_ip_members);
	values[9] = Int32GetDatum(s->fraud_burst_signups);
	values[10] = s->fraud_burst_window;
	values[11] = Int32GetDatum(s->fraud_low_conversion_referrals);
	values[12] = Int32GetDatum(s->fraud_low_conversion_ratio);
}

static char *
NormaliseCurrency(text *t)
{
	char	   *c = text_to_cstring(t);

	if (strlen(c) == 3)
		for (int i = 0; i < 3; i++)
			if (c[i] >= 'a' && c[i] <= 'z')
				c[i] = c[i] - 'a' + 'A';
	if (strlen(c) != 3 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' ||
		c[2] < 'A' || c[2] > 'Z')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid currency \"%s\"", text_to_cstring(t)),
				 errdetail("A currency is a three-letter ISO 4217 code, for example INR or USD.")));
	return c;
}

/*
 * affiliate.create_program(name text, currency text, settings jsonb DEFAULT '{}')
 * RETURNS bigint
 */
Datum
create_program(PG_FUNCTION_ARGS)
{
	static PlanSlot ins,
				ins_before_fraud,
				detail;
	static const Oid types[15] = {TEXTOID, TEXTOID, INTERVALOID, INT8OID, INT8OID,
		TEXTOID, TEXTOID, INTERVALOID, TEXTOID,
	INT4OID, INT4OID, INT4OID, INTERVALOID, INT4OID, INT4OID};
	Datum		values[15];
	ProgramSettings s;
	char	   *name;
	char	   *currency;
	Jsonb	   *settings;
	int64		id;
	char	   *p;
	bool		isnull;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("program name and currency must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	for (p = name; *p == ' ' || *p == '\t'; p++)
		;
	if (*p == '\0' || strlen(name) > 200)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid program name"),
				 errdetail("A program name is 1 to 200 characters and not blank.")));
	currency = NormaliseCurrency(PG_GETARG_TEXT_PP(1));
	settings = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);

	DefaultSettings(&s);
	ParseSettings(settings, &s);

	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(currency);
	SettingsValues(&s, values + 2);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	/* the fraud settings exist from 0.6.0 on (the library serves older schemas) */
	if (FraudSchemaReady())
		AffExec(&ins,
				"INSERT INTO affiliate.program (name, currency, hold_period, min_withdrawal, "
				"  rounding_unit, rounding, attribution, attribution_window, clawback, "
				"  fraud_device_members, fraud_ip_members, fraud_burst_signups, fraud_burst_window, "
				"  fraud_low_conversion_referrals, fraud_low_conversion_ratio) "
				"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
				15, types, values, NULL, false, 1);
	else
		AffExec(&ins_before_fraud,
				"INSERT INTO affiliate.program (name, currency, hold_period, min_withdrawal, "
				"  rounding_unit, rounding, attribution, attribution_window, clawback) "
				"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
				9, types, values, NULL, false, 1);
	id = AffGetInt64(0, 1, NULL);

	values[0] = Int64GetDatum(id);
	AffExec(&detail,
			"SELECT pg_catalog.jsonb_build_object('name', name, 'currency', currency, "
			"  'settings', affiliate.program_settings(id)) "
			"FROM affiliate.program WHERE id = $1",
			1, (Oid[]) {INT8OID}, values, NULL, false, 1);
	AffAudit(id, "create_program",
			 DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * affiliate.update_program_settings(program_id bigint, settings jsonb)
 * RETURNS jsonb -- the program's settings after the change
 */
Datum
update_program_settings(PG_FUNCTION_ARGS)
{
	static PlanSlot sel,
				upd,
				upd_before_fraud,
				diff;
	static const Oid seltypes[1] = {INT8OID};
	static const Oid updtypes[14] = {INT8OID, INTERVALOID, INT8OID, INT8OID,
		TEXTOID, TEXTOID, INTERVALOID, TEXTOID,
	INT4OID, INT4OID, INT4OID, INTERVALOID, INT4OID, INT4OID};
	static const Oid difftypes[2] = {JSONBOID, JSONBOID};
	Datum		values[14];
	Datum		dv[2];
	ProgramSettings s;
	int64		program_id;
	Jsonb	   *settings;
	Jsonb	   *old;
	Jsonb	   *new;
	Jsonb	   *detail;
	Jsonb	   *result;
	bool		isnull;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("program_id must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("settings must not be null"),
				 errhint("Pass '{}' to change nothing.")));
	program_id = PG_GETARG_INT64(0);
	settings = PG_GETARG_JSONB_P(1);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");

	values[0] = Int64GetDatum(program_id);
	AffExec(&sel,
			"SELECT affiliate.program_settings(id) FROM affiliate.program "
			"WHERE id = $1 FOR NO KEY UPDATE",
			1, seltypes, values, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("program " INT64_FORMAT " does not exist", program_id)));
	old = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	old = DatumGetJsonbPCopy(JsonbPGetDatum(old));

	DefaultSettings(&s);
	ParseSettings(old, &s);
	ParseSettings(settings, &s);

	SettingsValues(&s, values + 1);
	if (FraudSchemaReady())
		AffExec(&upd,
				"UPDATE affiliate.program SET hold_period = $2, min_withdrawal = $3, "
				"  rounding_unit = $4, rounding = $5, attribution = $6, "
				"  attribution_window = $7, clawback = $8, "
				"  fraud_device_members = $9, fraud_ip_members = $10, fraud_burst_signups = $11, "
				"  fraud_burst_window = $12, fraud_low_conversion_referrals = $13, "
				"  fraud_low_conversion_ratio = $14 "
				"WHERE id = $1",
				14, updtypes, values, NULL, false, 0);
	else
		AffExec(&upd_before_fraud,
				"UPDATE affiliate.program SET hold_period = $2, min_withdrawal = $3, "
				"  rounding_unit = $4, rounding = $5, attribution = $6, "
				"  attribution_window = $7, clawback = $8 "
				"WHERE id = $1",
				8, updtypes, values, NULL, false, 0);
	AffExec(&sel,
			"SELECT affiliate.program_settings(id) FROM affiliate.program "
			"WHERE id = $1 FOR NO KEY UPDATE",
			1, seltypes, values, NULL, false, 1);
	new = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	dv[0] = JsonbPGetDatum(old);
	dv[1] = JsonbPGetDatum(new);
	AffExec(&diff,
			"SELECT pg_catalog.jsonb_build_object('changed', coalesce(pg_catalog.jsonb_object_agg("
			"  n.key, pg_catalog.jsonb_build_object('old', o.value, 'new', n.value)), '{}')) "
			"FROM pg_catalog.jsonb_each($2) n JOIN pg_catalog.jsonb_each($1) o ON o.key = n.key "
			"WHERE o.value IS DISTINCT FROM n.value",
			2, difftypes, dv, NULL, false, 1);
	detail = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	AffAudit(program_id, "update_program_settings", detail);

	result = (Jsonb *) SPI_palloc(VARSIZE(new));
	memcpy(result, new, VARSIZE(new));
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}

static void
ProgramMissing(int64 program_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("program " INT64_FORMAT " does not exist", program_id),
			 errhint("Create it with affiliate.create_program().")));
}

/*
 * Check that a program exists; optionally return its currency (palloc'd in
 * the caller's context).  Raises P0002 otherwise.
 */
void
AffRequireProgram(int64 program_id, char **currency_out)
{
	static PlanSlot slot;
	static const Oid types[1] = {INT8OID};
	Datum		values[1];
	MemoryContext cxt = CurrentMemoryContext;

	AffProgram *cached = AffCacheGet(AFF_CACHE_PROGRAM, program_id);

	/* the settings cache (settings_cache.c) knows the programs read so far */
	if (cached != NULL)
	{
		if (currency_out)
			*currency_out = pstrdup(cached->currency);
		return;
	}
	values[0] = Int64GetDatum(program_id);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	AffExec(&slot, "SELECT currency FROM affiliate.program WHERE id = $1",
			1, types, values, NULL, false, 1);
	if (SPI_processed == 0)
		ProgramMissing(program_id);
	if (currency_out)
		*currency_out = MemoryContextStrdup(cxt, AffGetText(0, 1));
	SPI_finish();
}

/*
 * Load a program's typed settings into *p (allocated in the caller's
 * context).  Raises P0002 for an unknown program.
 */
void
AffLoadProgram(int64 program_id, AffProgram *p)
{
	static PlanSlot slot;
	static const Oid types[1] = {INT8OID};
	Datum		values[1];
	MemoryContext cxt = CurrentMemoryContext;
	bool		isnull;
	char	   *s;

	{
		AffProgram *cached = AffCacheGet(AFF_CACHE_PROGRAM, program_id);

		if (cached != NULL)
		{
			*p = *cached;
			p->currency = MemoryContextStrdup(cxt, cached->currency);
			return;
		}
	}
	values[0] = Int64GetDatum(program_id);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	AffExec(&slot,
			"SELECT currency, hold_period, min_withdrawal, rounding_unit, rounding, "
			"  attribution, attribution_window, clawback "
			"FROM affiliate.program WHERE id = $1",
			1, types, values, NULL, false, 1);
	if (SPI_processed == 0)
		ProgramMissing(program_id);
	p->id = program_id;
	p->currency = MemoryContextStrdup(cxt, AffGetText(0, 1));
	p->hold_period = *DatumGetIntervalP(SPI_getbinval(SPI_tuptable->vals[0],
													  SPI_tuptable->tupdesc, 2, &isnull));
	p->min_withdrawal = AffGetInt64(0, 3, NULL);
	p->rounding_unit = AffGetInt64(0, 4, NULL);
	p->rounding = (int) AffParseRounding(AffGetText(0, 5));
	s = AffGetText(0, 6);
	p->attribution = strcmp(s, "first_click") == 0 ? AFF_ATTR_FIRST_CLICK
		: strcmp(s, "last_click") == 0 ? AFF_ATTR_LAST_CLICK : AFF_ATTR_SPONSOR;
	p->attribution_window = *DatumGetIntervalP(SPI_getbinval(SPI_tuptable->vals[0],
															 SPI_tuptable->tupdesc, 7, &isnull));
	p->clawback_negative = strcmp(AffGetText(0, 8), "negative") == 0;
	SPI_finish();
	{
		MemoryContext old = MemoryContextSwitchTo(AffCacheContext());
		AffProgram *keep = palloc(sizeof(AffProgram));

		*keep = *p;
		keep->currency = pstrdup(p->currency);
		MemoryContextSwitchTo(old);
		AffCachePut(AFF_CACHE_PROGRAM, program_id, keep);
	}
}
