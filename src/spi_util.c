/*
 * spi_util.c
 *	  Kept SPI plans, result accessors, caller identity, JSON field helpers
 *	  and identifier checks shared by every engine.
 */
#include "postgres.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "pg_affiliate.h"

/*
 * Prepare the statement of a call site once per backend and keep the plan.
 * Statements are fully schema-qualified and bound by parameters only: no
 * caller text is ever spliced into SQL.
 */
SPIPlanPtr
AffPlan(PlanSlot *slot, const char *sql, int nargs, const Oid *argtypes)
{
	if (slot->plan != NULL && ++slot->uses >= slot->replan_at)
	{
		/* the data may have grown since: let the planner look again */
		SPI_freeplan(slot->plan);
		slot->plan = NULL;
		slot->replan_at = Min(slot->replan_at * 4, 100000);
	}
	if (slot->plan == NULL)
	{
		/*
		 * Generic plans: every statement of the engines is an index look-up
		 * or a set-based write whose plan does not depend on the values, and
		 * a custom plan per call (what the plan cache picks for array
		 * parameters) spent over a quarter of record_conversion's time in
		 * the planner (make bench, perf).
		 */
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, (Oid *) argtypes,
											  CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "pg_affiliate: SPI_prepare failed (%s) for: %s",
				 SPI_result_code_string(SPI_result), sql);
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "pg_affiliate: SPI_keepplan failed");
		slot->plan = plan;
		slot->uses = 0;
		if (slot->replan_at == 0)
			slot->replan_at = 100;
	}
	return slot->plan;
}

/* Execute a kept plan; returns the SPI result code (errors on failure). */
int
AffExec(PlanSlot *slot, const char *sql, int nargs, const Oid *argtypes,
		Datum *values, const char *nulls, bool read_only, long count)
{
	SPIPlanPtr	plan = AffPlan(slot, sql, nargs, argtypes);
	int			rc = SPI_execute_plan(plan, values, nulls, read_only, count);

	if (rc < 0)
		elog(ERROR, "pg_affiliate: SPI_execute_plan failed (%s) for: %s",
			 SPI_result_code_string(rc), sql);
	return rc;
}

int64
AffGetInt64(int row, int col, bool *isnull)
{
	bool		nul;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &nul);

	if (isnull)
		*isnull = nul;
	return nul ? 0 : DatumGetInt64(d);
}

bool
AffGetBool(int row, int col, bool *isnull)
{
	bool		nul;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &nul);

	if (isnull)
		*isnull = nul;
	return nul ? false : DatumGetBool(d);
}

/* text of a column, palloc'd in the current (SPI) context; NULL if null */
char *
AffGetText(int row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

/*
 * The role the caller acts as: the outer user (SET ROLE is honoured,
 * SECURITY DEFINER is not, so a definer function still names its caller).
 */
char *
AffDbRole(void)
{
	return GetUserNameFromId(GetOuterUserId(), false);
}

/*
 * The actor written to audit rows: the JWT "sub" claim when the call comes
 * through PostgREST (request.jwt.claims), else the database role.  A "sub"
 * that is there but is no string or number of 1 to AFF_MAX_SUB characters
 * is refused (42501): the audit row must name who acted.
 */
char *
AffActor(void)
{
	const char *claims = GetConfigOption("request.jwt.claims", true, false);

	if (claims != NULL && claims[0] == '{')
	{
		Jsonb	   *jb;
		JsonbValue *sub;
		char	   *s = NULL;

		jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(claims)));
		sub = AffJsonbField(jb, "sub");
		if (sub == NULL || sub->type == jbvNull)
			return AffDbRole();
		if (sub->type == jbvString)
			s = pnstrdup(sub->val.string.val, sub->val.string.len);
		else if (sub->type == jbvNumeric)
			s = DatumGetCString(DirectFunctionCall1(numeric_out,
													NumericGetDatum(sub->val.numeric)));
		if (s == NULL || s[0] == '\0' || strlen(s) > AFF_MAX_SUB)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("the request's \"sub\" claim cannot name the actor"),
					 errdetail("The \"sub\" claim must be a string or a number of 1 to %d characters.",
							   AFF_MAX_SUB)));
		return s;
	}
	return AffDbRole();
}

JsonbValue *
AffJsonbContainerField(JsonbContainer *c, const char *key)
{
	return getKeyJsonValueFromContainer(c, key, strlen(key), NULL);
}

/* value of a top-level key of a jsonb object, or NULL */
JsonbValue *
AffJsonbField(Jsonb *jb, const char *key)
{
	if (jb == NULL || !JB_ROOT_IS_OBJECT(jb))
		return NULL;
	return AffJsonbContainerField(&jb->root, key);
}

/*
 * A JSON number that must be an integer within bigint.  "what" names the
 * field in the error.
 */
int64
AffJsonbInt64(JsonbValue *v, const char *what, bool range_is_invalid)
{
	char	   *s;
	char	   *end;
	long long	r;

	if (v == NULL || v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be an integer", what),
				 errdetail("A JSON number without a fraction is expected.")));
	s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	errno = 0;
	r = strtoll(s, &end, 10);
	if (*end != '\0' || end == s)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be an integer", what),
				 errdetail("The value %s has a fraction or an exponent.", s)));
	if (errno == ERANGE)
		ereport(ERROR,
				(errcode(range_is_invalid ? ERRCODE_INVALID_PARAMETER_VALUE
						 : ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s is out of range", what),
				 errdetail("The value %s does not fit in a bigint.", s)));
	return (int64) r;
}

char *
AffJsonbString(JsonbValue *v, const char *what)
{
	if (v == NULL || v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a string", what)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* account and journal kinds: [a-z][a-z0-9_]{0,62} */
void
AffCheckKind(const char *kind, const char *what)
{
	size_t		n = kind ? strlen(kind) : 0;
	bool		ok = n >= 1 && n <= 63 && kind[0] >= 'a' && kind[0] <= 'z';

	for (size_t i = 1; ok && i < n; i++)
		ok = (kind[i] >= 'a' && kind[i] <= 'z') ||
			(kind[i] >= '0' && kind[i] <= '9') || kind[i] == '_';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s \"%s\"", what, kind ? kind : ""),
				 errdetail("Kinds are 1 to 63 characters: a lower-case letter, then lower-case letters, digits or underscores.")));
}

/* assets: an ISO currency code or a unit such as POINTS: [A-Z][A-Z0-9_]{1,15} */
void
AffCheckAsset(const char *asset)
{
	size_t		n = asset ? strlen(asset) : 0;
	bool		ok = n >= 2 && n <= 16 && asset[0] >= 'A' && asset[0] <= 'Z';

	for (size_t i = 1; ok && i < n; i++)
		ok = (asset[i] >= 'A' && asset[i] <= 'Z') ||
			(asset[i] >= '0' && asset[i] <= '9') || asset[i] == '_';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid asset \"%s\"", asset ? asset : ""),
				 errdetail("An asset is 2 to 16 characters: an upper-case letter, then upper-case letters, digits or underscores (for example INR, POINTS, CREDITS).")));
}

/*
 * A text argument of 1..maxlen bytes: 22023 when empty or longer; when NULL,
 * 22004 if required, else NULL is returned.
 */
char *
AffTextArg(FunctionCallInfo fcinfo, int argno, const char *name, int maxlen, bool required)
{
	char	   *s;

	if (PG_ARGISNULL(argno))
	{
		if (required)
			AffRequireArg(fcinfo, argno, name);
		return NULL;
	}
	s = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (s[0] == '\0' || strlen(s) > (size_t) maxlen)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s", name),
				 errdetail("The %s must be 1 to %d bytes long.", name, maxlen)));
	return s;
}

/* jsonb from JSON text built by the caller */
Jsonb *
AffJsonbOf(StringInfo s)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s->data)));
}

/* 22004 when argument argno of a SQL-callable function is NULL */
void
AffRequireArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
}

/* a bigint argument that must not be NULL (22004 naming it) */
int64
AffArgInt64(FunctionCallInfo fcinfo, int argno, const char *name)
{
	AffRequireArg(fcinfo, argno, name);
	return PG_GETARG_INT64(argno);
}

void
AffSpiConnect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
}
