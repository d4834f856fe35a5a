/*
 * commission.c
 *	  Commission plans, conversions (the hot path) and refunds.
 *
 * Plans
 * -----
 * A plan pays one share per level: level k of an "upline" plan goes to the
 * k-th sponsor of the buyer (nearest first), the single level of a "seller"
 * plan to the conversion's seller (a creator's 70 % revenue share, a vendor's
 * 85 % after a 15 % marketplace fee).  A share is rate_bp of the base (the
 * amount, or the profit = amount - cost), split exactly (money.c), or a flat
 * amount; optionally capped; never more than what is left of the base.  For
 * each beneficiary kind the newest plan for the conversion's product applies,
 * else the newest plan for every product; so one conversion can pay an upline
 * plan and a seller plan.  A beneficiary that is not active, or does not have
 * the plan's minimum of direct referrals, earns nothing: the share stays with
 * the platform.  A recurring plan pays only within its interval of the
 * buyer's first conversion.
 *
 * Conversions
 * -----------
 * record_conversion and record_conversions share one set-based engine: one
 * statement inserts the conversions (ON CONFLICT on external_ref: the
 * idempotency key), one reads the buyers and their materialised uplines, one
 * the beneficiaries, one inserts the commissions, and one journal moves
 * commission_expense to each beneficiary's pending account.  Every posting of
 * that journal is a credit or a debit of an account that may go negative, so
 * the ledger takes no row lock (see ledger.c); the only row lock of the hot
 * path is the key-share lock the conversion's foreign key takes on the
 * buyer's member row (nothing hot: no lock on the program, the plan, the
 * sponsors or the system accounts).  A replayed external
 * ref with the same inputs returns the original commissions; with different
 * inputs it is refused (23505).
 *
 * Refunds
 * -------
 * A refund of R out of an amount A makes every commission's reversed total
 * round_half_up(share * refunded_total / A): cumulative, so partial refunds
 * add up exactly and a full refund reverses everything.  Pending commissions
 * are reversed from pending; released ones are clawed back from available,
 * and what available cannot cover is, by the program's clawback policy,
 * either owed by the member (their "owed" account goes negative) or written
 * off.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "pg_affiliate.h"

#define PLAN_MAX_LEVELS 20
#define CONV_MAX_TEXT 200
#define CONV_MAX_BATCH 100000

PG_FUNCTION_INFO_V1(set_plan);
PG_FUNCTION_INFO_V1(record_conversion);
PG_FUNCTION_INFO_V1(record_conversions);
PG_FUNCTION_INFO_V1(refund_conversion);

typedef struct CommPlan
{
	int64		id;
	bool		seller;
	char	   *product;		/* NULL: every product */
	bool		base_profit;
	int			nlevels;
	int32	   *rates;
	int64	   *flat;
	bool	   *has_flat;
	int64	   *caps;
	bool	   *has_cap;
	bool		has_recurring;
	Interval	recurring;
	int32		min_direct;
} CommPlan;

typedef struct ConvIn
{
	char	   *ref;
	int64		buyer;
	int64		amount;
	int64		cost;
	bool		has_time;
	TimestampTz at;
	char	   *product;		/* NULL: none */
	int64		seller;			/* 0: none */
	char	   *promo;			/* promo code (record_conversion only), or NULL */
	/* filled in */
	int64		campaign_id;	/* the promo code's campaign, or 0 */
	int64		promo_owner;	/* its owner, the attributed referrer, or 0 */
	int			same_as;		/* index of an identical earlier input, or -1 */
	int64		conversion_id;
	bool		is_new;
	TimestampTz first_at;		/* the buyer's first conversion */
} ConvIn;

typedef struct MemberInfo
{
	int64		id;				/* hash key */
	bool		found;
	bool		active;
	int64		direct;			/* direct referrals (only when a plan needs it) */
	int			nupline;
	int64	   *upline;
	TimestampTz first_at;
	bool		has_first;
} MemberInfo;

typedef struct Share
{
	int			conv;			/* index into the inputs */
	const CommPlan *plan;
	int			level;
	int64		beneficiary;
	int64		amount;
} Share;

/* ---------- small helpers ---------- */

static Datum
MakeArray(Datum *elems, bool *nulls, int n, Oid elemtype)
{
	int16		len;
	bool		byval;
	char		align;
	int			dims[1];
	int			lbs[1] = {1};

	get_typlenbyvalalign(elemtype, &len, &byval, &align);
	dims[0] = n;
	if (n == 0)
		return PointerGetDatum(construct_empty_array(elemtype));
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, elemtype,
											  len, byval, align));
}

static char *
CheckedText(text *t, const char *what, int maxlen)
{
	char	   *s = text_to_cstring(t);

	if (s[0] == '\0' || strlen(s) > (size_t) maxlen)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s", what),
				 errdetail("A %s is 1 to %d bytes long.", what, maxlen)));
	return s;
}

static void
AddOverflow(int64 a, int64 b, int64 *r)
{
	if (pg_add_s64_overflow(a, b, r))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("amount out of range"),
				 errdetail("A sum of amounts does not fit in a bigint.")));
}

/* elements of a one-dimensional int8 array (NULL elements flagged) */
static int
Int64Elems(ArrayType *a, int64 **vals, bool **nulls)
{
	Datum	   *d;
	int			n;

	deconstruct_array(a, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &d, nulls, &n);
	*vals = palloc(sizeof(int64) * Max(n, 1));
	for (int i = 0; i < n; i++)
		(*vals)[i] = (*nulls)[i] ? 0 : DatumGetInt64(d[i]);
	return n;
}

/* ---------- plans ---------- */

/*
 * affiliate.set_plan(program_id bigint, name text, levels integer[],
 *                    base text DEFAULT 'profit', recurring interval DEFAULT NULL,
 *                    product text DEFAULT NULL, beneficiary text DEFAULT 'upline',
 *                    flat bigint[] DEFAULT NULL, caps bigint[] DEFAULT NULL,
 *                    qualification jsonb DEFAULT '{}')
 * RETURNS bigint
 */
Datum
set_plan(PG_FUNCTION_ARGS)
{
	static PlanSlot ins,
				detail;
	static const Oid types[10] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	INT4ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INTERVALOID, INT4OID};
	int64		program_id;
	char	   *name;
	ArrayType  *levels;
	char	   *base;
	char	   *product = NULL;
	char	   *beneficiary;
	int			nlevels;
	int32	   *rates;
	Datum	   *rd;
	bool	   *rnulls;
	int64		sum = 0;
	int32		min_direct = 0;
	Datum		values[10];
	char		nulls[10] = "          ";
	int64		id;
	bool		isnull;

	AffRequireArg(fcinfo, 0, "program_id");
	AffRequireArg(fcinfo, 1, "name");
	AffRequireArg(fcinfo, 2, "levels");
	AffRequireArg(fcinfo, 3, "base");
	AffRequireArg(fcinfo, 6, "beneficiary");
	program_id = PG_GETARG_INT64(0);
	name = CheckedText(PG_GETARG_TEXT_PP(1), "plan name", CONV_MAX_TEXT);
	levels = PG_GETARG_ARRAYTYPE_P(2);
	base = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (!PG_ARGISNULL(5))
		product = CheckedText(PG_GETARG_TEXT_PP(5), "product", CONV_MAX_TEXT);
	beneficiary = text_to_cstring(PG_GETARG_TEXT_PP(6));

	if (strcmp(base, "amount") != 0 && strcmp(base, "profit") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid plan base \"%s\"", base),
				 errhint("A plan pays a share of the \"amount\" or of the \"profit\" (amount minus cost).")));
	if (strcmp(beneficiary, "upline") != 0 && strcmp(beneficiary, "seller") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid plan beneficiary \"%s\"", beneficiary),
				 errhint("An \"upline\" plan pays the buyer's sponsors by level; a \"seller\" plan pays the conversion's seller.")));
	if (ARR_NDIM(levels) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("levels must be a one-dimensional array")));
	deconstruct_array(levels, INT4OID, 4, true, TYPALIGN_INT, &rd, &rnulls, &nlevels);
	if (nlevels > PLAN_MAX_LEVELS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a plan has at most %d levels, not %d", PLAN_MAX_LEVELS, nlevels)));
	if (strcmp(beneficiary, "seller") == 0 && nlevels > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a seller plan has one level, not %d", nlevels),
				 errdetail("The one level is the seller's share, for example {7000} for a 70/30 revenue share; {} stops paying.")));
	rates = palloc(sizeof(int32) * Max(nlevels, 1));
	for (int i = 0; i < nlevels; i++)
	{
		if (rnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("level %d of the plan is null", i + 1),
					 errhint("Use 0 for a level that pays only a flat amount or nothing.")));
		rates[i] = DatumGetInt32(rd[i]);
		if (rates[i] < 0 || rates[i] > 10000)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("level %d rate %d is out of range", i + 1, rates[i]),
					 errdetail("Rates are basis points of the base, 0 to 10000 (100 %%).")));
		sum += rates[i];
	}
	if (sum > 10000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("plan rates add up to " INT64_FORMAT " basis points", sum),
				 errdetail("The levels of a plan can pay at most 10000 basis points (100 %%) of the base.")));

	/* flat amounts and caps: one per level, NULL elements mean none */
	for (int arg = 7; arg <= 8; arg++)
	{
		int64	   *v;
		bool	   *vn;
		int			n;
		const char *what = arg == 7 ? "flat" : "caps";

		if (PG_ARGISNULL(arg))
			continue;
		if (ARR_NDIM(PG_GETARG_ARRAYTYPE_P(arg)) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be a one-dimensional array", what)));
		n = Int64Elems(PG_GETARG_ARRAYTYPE_P(arg), &v, &vn);
		if (n != nlevels)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s has %d elements but the plan has %d levels", what, n, nlevels),
					 errhint("Give one element per level; NULL for a level without one.")));
		for (int i = 0; i < n; i++)
			if (!vn[i] && v[i] < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s of level %d is negative", what, i + 1),
						 errdetail("Amounts are non-negative minor units.")));
	}
	if (!PG_ARGISNULL(4))
	{
		Interval   *r = PG_GETARG_INTERVAL_P(4);

		if (r->month < 0 || r->day < 0 || r->time < 0 ||
			(r->month == 0 && r->day == 0 && r->time == 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("recurring must be a positive interval"),
					 errdetail("A recurring plan pays within this interval of the buyer's first conversion, for example '3 months'.")));
		if (AffIntervalTooLong(r))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("recurring must not be longer than %d years", AFF_MAX_YEARS),
					 errdetail("A recurring plan pays within this interval of the buyer's first conversion, for example '3 months'.")));
	}
	if (!PG_ARGISNULL(9))
	{
		Jsonb	   *q = PG_GETARG_JSONB_P(9);
		JsonbIterator *it;
		JsonbValue	v;
		JsonbIteratorToken tok;

		if (!JB_ROOT_IS_OBJECT(q))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("qualification must be a JSON object"),
					 errdetail("For example {\"min_direct\": 2}.")));
		it = JsonbIteratorInit(&q->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			char	   *key;

			if (tok != WJB_KEY)
				continue;
			key = pnstrdup(v.val.string.val, v.val.string.len);
			if (strcmp(key, "min_direct") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown qualification \"%s\"", key),
						 errhint("Known qualifications: min_direct (direct referrals a beneficiary needs to earn).")));
			tok = JsonbIteratorNext(&it, &v, true);
			{
				int64		m = AffJsonbInt64(&v, "min_direct", true);

				if (m < 0 || m > PG_INT32_MAX)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("min_direct must be between 0 and %d", PG_INT32_MAX)));
				min_direct = (int32) m;
			}
		}
	}

	AffRequireProgram(program_id, NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	values[0] = Int64GetDatum(program_id);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(beneficiary);
	values[3] = product ? CStringGetTextDatum(product) : (Datum) 0;
	nulls[3] = product ? ' ' : 'n';
	values[4] = CStringGetTextDatum(base);
	values[5] = PointerGetDatum(levels);
	values[6] = PG_ARGISNULL(7) ? (Datum) 0 : PG_GETARG_DATUM(7);
	nulls[6] = PG_ARGISNULL(7) ? 'n' : ' ';
	values[7] = PG_ARGISNULL(8) ? (Datum) 0 : PG_GETARG_DATUM(8);
	nulls[7] = PG_ARGISNULL(8) ? 'n' : ' ';
	values[8] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	nulls[8] = PG_ARGISNULL(4) ? 'n' : ' ';
	values[9] = Int32GetDatum(min_direct);
	AffExec(&ins,
			"INSERT INTO affiliate.plan (program_id, name, beneficiary, product, base, rates_bp, "
			"  flat, caps, recurring, min_direct) "
			"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
			10, types, values, nulls, false, 1);
	id = AffGetInt64(0, 1, NULL);

	values[1] = Int64GetDatum(id);
	AffExec(&detail,
			"SELECT pg_catalog.to_jsonb(p) - 'program_id' FROM affiliate.plan p "
			"WHERE p.program_id = $1 AND p.id = $2",
			2, (Oid[]) {INT8OID, INT8OID}, values, NULL, false, 1);
	AffAudit(program_id, "set_plan",
			 DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	SPI_finish();
	PG_RETURN_INT64(id);
}

/* a program's plans as the settings cache keeps them */
typedef struct CachedPlans
{
	int			nplans;
	CommPlan   *plans;
} CachedPlans;

/* a deep copy of plans in the current memory context */
static CommPlan *
CopyPlans(const CommPlan *src, int n)
{
	CommPlan   *dst = palloc(sizeof(CommPlan) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		int			k = Max(src[i].nlevels, 1);

		dst[i] = src[i];
		dst[i].product = src[i].product ? pstrdup(src[i].product) : NULL;
		dst[i].rates = palloc(sizeof(int32) * k);
		memcpy(dst[i].rates, src[i].rates, sizeof(int32) * src[i].nlevels);
		dst[i].flat = palloc(sizeof(int64) * k);
		memcpy(dst[i].flat, src[i].flat, sizeof(int64) * src[i].nlevels);
		dst[i].caps = palloc(sizeof(int64) * k);
		memcpy(dst[i].caps, src[i].caps, sizeof(int64) * src[i].nlevels);
		dst[i].has_flat = palloc(sizeof(bool) * k);
		memcpy(dst[i].has_flat, src[i].has_flat, sizeof(bool) * src[i].nlevels);
		dst[i].has_cap = palloc(sizeof(bool) * k);
		memcpy(dst[i].has_cap, src[i].has_cap, sizeof(bool) * src[i].nlevels);
	}
	return dst;
}

static CommPlan *ReadPlans(int64 program_id, int *nplans);

/*
 * The newest plan per (beneficiary kind, product) of a program, from the
 * per-backend settings cache (settings_cache.c) or read and cached.  Inside
 * SPI.
 */
static CommPlan *
LoadPlans(int64 program_id, int *nplans)
{
	CachedPlans *cached = AffCacheGet(AFF_CACHE_PLANS, program_id);
	CommPlan   *plans;

	if (cached != NULL)
	{
		*nplans = cached->nplans;
		return CopyPlans(cached->plans, cached->nplans);
	}
	plans = ReadPlans(program_id, nplans);
	{
		MemoryContext old = MemoryContextSwitchTo(AffCacheContext());
		CachedPlans *keep = palloc(sizeof(CachedPlans));

		keep->nplans = *nplans;
		keep->plans = CopyPlans(plans, *nplans);
		MemoryContextSwitchTo(old);
		AffCachePut(AFF_CACHE_PLANS, program_id, keep);
	}
	return plans;
}

static CommPlan *
ReadPlans(int64 program_id, int *nplans)
{
	static PlanSlot slot;
	Datum		values[1];
	CommPlan	   *plans;

	values[0] = Int64GetDatum(program_id);
	AffExec(&slot,
			"SELECT DISTINCT ON (beneficiary, product) id, beneficiary = 'seller', product, "
			"  base = 'profit', rates_bp, flat, caps, recurring, min_direct "
			"FROM affiliate.plan WHERE program_id = $1 "
			"ORDER BY beneficiary, product, id DESC",
			1, (Oid[]) {INT8OID}, values, NULL, false, 0);
	*nplans = (int) SPI_processed;
	plans = palloc0(sizeof(CommPlan) * Max(*nplans, 1));
	for (int i = 0; i < *nplans; i++)
	{
		CommPlan	   *p = &plans[i];
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		dv;
		Datum	   *rd;
		bool	   *rn;

		p->id = AffGetInt64(i, 1, NULL);
		p->seller = AffGetBool(i, 2, NULL);
		p->product = AffGetText(i, 3);
		p->base_profit = AffGetBool(i, 4, NULL);
		dv = SPI_getbinval(tup, desc, 5, &isnull);
		deconstruct_array(DatumGetArrayTypeP(dv), INT4OID, 4, true, TYPALIGN_INT,
						  &rd, &rn, &p->nlevels);
		p->rates = palloc(sizeof(int32) * Max(p->nlevels, 1));
		for (int k = 0; k < p->nlevels; k++)
			p->rates[k] = DatumGetInt32(rd[k]);
		p->has_flat = palloc0(sizeof(bool) * Max(p->nlevels, 1));
		p->has_cap = palloc0(sizeof(bool) * Max(p->nlevels, 1));
		p->flat = palloc0(sizeof(int64) * Max(p->nlevels, 1));
		p->caps = palloc0(sizeof(int64) * Max(p->nlevels, 1));
		dv = SPI_getbinval(tup, desc, 6, &isnull);
		if (!isnull)
		{
			int64	   *v;
			bool	   *vn;
			int			n = Int64Elems(DatumGetArrayTypeP(dv), &v, &vn);

			for (int k = 0; k < n && k < p->nlevels; k++)
			{
				p->has_flat[k] = !vn[k];
				p->flat[k] = v[k];
			}
		}
		dv = SPI_getbinval(tup, desc, 7, &isnull);
		if (!isnull)
		{
			int64	   *v;
			bool	   *vn;
			int			n = Int64Elems(DatumGetArrayTypeP(dv), &v, &vn);

			for (int k = 0; k < n && k < p->nlevels; k++)
			{
				p->has_cap[k] = !vn[k];
				p->caps[k] = v[k];
			}
		}
		dv = SPI_getbinval(tup, desc, 8, &isnull);
		p->has_recurring = !isnull;
		if (!isnull)
			p->recurring = *DatumGetIntervalP(dv);
		p->min_direct = DatumGetInt32(SPI_getbinval(tup, desc, 9, &isnull));
	}
	return plans;
}

/* the plan of a beneficiary kind for a product: product-specific first */
static const CommPlan *
ChoosePlan(const CommPlan *plans, int nplans, bool seller, const char *product)
{
	const CommPlan *general = NULL;

	for (int i = 0; i < nplans; i++)
	{
		if (plans[i].seller != seller)
			continue;
		if (plans[i].product == NULL)
			general = &plans[i];
		else if (product != NULL && strcmp(plans[i].product, product) == 0)
			return &plans[i];
	}
	return general;
}

/* ---------- conversions ---------- */

static HTAB *
NewMemberTable(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(MemberInfo);
	ctl.hcxt = CurrentMemoryContext;
	return hash_create("pg_affiliate members", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static MemberInfo *
Member(HTAB *members, int64 id, bool create)
{
	bool		found;
	MemberInfo *m = hash_search(members, &id, create ? HASH_ENTER : HASH_FIND, &found);

	if (create && !found)
	{
		memset(((char *) m) + sizeof(int64), 0, sizeof(MemberInfo) - sizeof(int64));
	}
	return m;
}

static void
ValidateInput(ConvIn *c, int index)
{
	char		where[64];

	if (index >= 0)
		snprintf(where, sizeof(where), "conversion %d of the batch: ", index + 1);
	else
		where[0] = '\0';
	if (c->ref == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%sexternal_ref must not be null", where)));
	if (c->ref[0] == '\0' || strlen(c->ref) > CONV_MAX_TEXT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%sinvalid external_ref", where),
				 errdetail("An external ref (the order id) is 1 to %d bytes long.", CONV_MAX_TEXT)));
	if (c->amount < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%samount must not be negative", where),
				 errdetail("Conversion \"%s\" has amount " INT64_FORMAT "; a refund is recorded with affiliate.refund_conversion().",
						   c->ref, c->amount)));
	if (c->cost < 0 || c->cost > c->amount)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%scost must be between 0 and the amount", where),
				 errdetail("Conversion \"%s\" has amount " INT64_FORMAT " and cost " INT64_FORMAT ".",
						   c->ref, c->amount, c->cost)));
	if (c->product != NULL && (c->product[0] == '\0' || strlen(c->product) > CONV_MAX_TEXT))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%sinvalid product", where),
				 errdetail("A product is 1 to %d bytes long.", CONV_MAX_TEXT)));
}

static bool
SameText(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* which field of a replayed conversion differs, or NULL */
static const char *
Difference(const ConvIn *a, const ConvIn *b)
{
	if (a->buyer != b->buyer)
		return "buyer_id";
	if (a->amount != b->amount)
		return "amount";
	if (a->cost != b->cost)
		return "cost";
	if (a->has_time && b->has_time && a->at != b->at)
		return "occurred_at";
	if (!SameText(a->product, b->product))
		return "product";
	if (a->seller != b->seller)
		return "seller_id";
	return NULL;
}

static void
RefusedReplay(const char *ref, const char *field)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("conversion \"%s\" was already recorded with different inputs", ref),
			 errdetail("The %s differs from the recorded conversion.", field),
			 errhint("A retried webhook must repeat the same inputs; a new order needs a new external_ref.")));
}

static int
CompareRefIndex(const void *a, const void *b, void *arg)
{
	ConvIn	   *in = (ConvIn *) arg;
	int			x = *(const int *) a;
	int			y = *(const int *) b;
	int			c = strcmp(in[x].ref, in[y].ref);

	return c != 0 ? c : (x > y) - (x < y);
}

/* Mark identical repeats inside a batch; refuse different ones. */
static void
DedupeBatch(ConvIn *in, int n)
{
	int		   *order = palloc(sizeof(int) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		order[i] = i;
		in[i].same_as = -1;
	}
	qsort_arg(order, n, sizeof(int), CompareRefIndex, in);
	for (int i = 1; i < n; i++)
	{
		ConvIn	   *prev = &in[order[i - 1]];
		ConvIn	   *cur = &in[order[i]];

		if (strcmp(prev->ref, cur->ref) == 0)
		{
			const char *field = Difference(cur, prev);

			if (field == NULL && cur->has_time != prev->has_time)
				field = "occurred_at";
			if (field != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_UNIQUE_VIOLATION),
						 errmsg("conversion \"%s\" appears twice in the batch with different inputs",
								cur->ref),
						 errdetail("The %s differs between its two rows.", field),
						 errhint("Each order appears once; identical repeats are recorded once.")));
			cur->same_as = prev->same_as >= 0 ? prev->same_as : order[i - 1];
		}
	}
}

/*
 * Read buyers (status, upline) and sellers; refuse unknown ones.  With
 * uplevels > 0 the same statement also reads the status of the buyers'
 * first uplevels sponsors (the possible beneficiaries), so plan evaluation
 * needs no second look-up.
 */
static void
LoadBuyersAndSellers(int64 program_id, ConvIn *in, int n, HTAB *members, int uplevels)
{
	static PlanSlot slot,
				with_upline;
	Datum	   *ids = palloc(sizeof(Datum) * Max(2 * n, 1));
	int			nids = 0;
	Datum		values[3];

	for (int i = 0; i < n; i++)
	{
		if (in[i].same_as >= 0)
			continue;
		ids[nids++] = Int64GetDatum(in[i].buyer);
		if (in[i].seller)
			ids[nids++] = Int64GetDatum(in[i].seller);
	}
	values[0] = Int64GetDatum(program_id);
	values[1] = MakeArray(ids, NULL, nids, INT8OID);
	values[2] = Int32GetDatum(uplevels);
	if (uplevels > 0)
		AffExec(&with_upline,
				"SELECT m.id, m.status = 'active', m.upline FROM affiliate.member m "
				"WHERE m.program_id = $1 AND m.id = ANY ($2) "
				"UNION ALL "
				"SELECT a.id, a.status = 'active', NULL FROM affiliate.member m "
				"JOIN affiliate.member a ON a.program_id = m.program_id "
				"  AND a.id = ANY (m.upline[1:$3]) "
				"WHERE m.program_id = $1 AND m.id = ANY ($2)",
				3, (Oid[]) {INT8OID, INT8ARRAYOID, INT4OID}, values, NULL, false, 0);
	else
		AffExec(&slot,
				"SELECT m.id, m.status = 'active', m.upline FROM affiliate.member m "
				"WHERE m.program_id = $1 AND m.id = ANY ($2)",
				2, (Oid[]) {INT8OID, INT8ARRAYOID}, values, NULL, false, 0);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		MemberInfo *m = Member(members, AffGetInt64(r, 1, NULL), true);
		bool		isnull;
		bool	   *un;
		Datum		up = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3, &isnull);

		m->found = true;
		m->active = AffGetBool(r, 2, NULL);
		if (!isnull)
			m->nupline = Int64Elems(DatumGetArrayTypeP(up), &m->upline, &un);
	}
	for (int i = 0; i < n; i++)
	{
		MemberInfo *m;

		if (in[i].same_as >= 0)
			continue;
		m = Member(members, in[i].buyer, false);
		if (m == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("member " INT64_FORMAT " does not exist in program " INT64_FORMAT,
							in[i].buyer, program_id),
					 errdetail("Conversion \"%s\" names it as the buyer.", in[i].ref),
					 errhint("Add the buyer with affiliate.add_member() first.")));
		if (in[i].seller && Member(members, in[i].seller, false) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("member " INT64_FORMAT " does not exist in program " INT64_FORMAT,
							in[i].seller, program_id),
					 errdetail("Conversion \"%s\" names it as the seller.", in[i].ref)));
	}
}

/*
 * Insert the conversions that are new; mark the replayed ones and check that
 * they repeat the recorded inputs.
 */
static void
InsertConversions(int64 program_id, ConvIn *in, int n, TimestampTz now)
{
	static PlanSlot ins,
				sel;
	static const Oid types[8] = {INT8OID, TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID,
	INT8ARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID, INT8ARRAYOID};
	Datum	   *refs = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *buyers = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *amounts = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *costs = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *times = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *products = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *pnulls = palloc(sizeof(bool) * Max(n, 1));
	Datum	   *sellers = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *snulls = palloc(sizeof(bool) * Max(n, 1));
	int		   *idx = palloc(sizeof(int) * Max(n, 1));
	int			m = 0;
	Datum		values[8];
	HTAB	   *byref;
	HASHCTL		ctl;
	int			missing = 0;

	for (int i = 0; i < n; i++)
	{
		if (in[i].same_as >= 0)
			continue;
		idx[m] = i;
		refs[m] = CStringGetTextDatum(in[i].ref);
		buyers[m] = Int64GetDatum(in[i].buyer);
		amounts[m] = Int64GetDatum(in[i].amount);
		costs[m] = Int64GetDatum(in[i].cost);
		times[m] = TimestampTzGetDatum(in[i].has_time ? in[i].at : now);
		products[m] = in[i].product ? CStringGetTextDatum(in[i].product) : (Datum) 0;
		pnulls[m] = in[i].product == NULL;
		sellers[m] = Int64GetDatum(in[i].seller);
		snulls[m] = in[i].seller == 0;
		m++;
	}
	values[0] = Int64GetDatum(program_id);
	values[1] = MakeArray(refs, NULL, m, TEXTOID);
	values[2] = MakeArray(buyers, NULL, m, INT8OID);
	values[3] = MakeArray(amounts, NULL, m, INT8OID);
	values[4] = MakeArray(costs, NULL, m, INT8OID);
	values[5] = MakeArray(times, NULL, m, TIMESTAMPTZOID);
	values[6] = MakeArray(products, pnulls, m, TEXTOID);
	values[7] = MakeArray(sellers, snulls, m, INT8OID);
	AffExec(&ins,
			"INSERT INTO affiliate.conversion (program_id, external_ref, buyer_id, referrer_id, "
			"  seller_id, product, amount, cost, occurred_at) "
			"SELECT $1, u.ref, u.buyer, "
			"  (SELECT b.upline[1] FROM affiliate.member b WHERE b.program_id = $1 AND b.id = u.buyer), "
			"  u.seller, u.product, u.amount, u.cost, u.at "
			"FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), "
			"  pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7), "
			"  pg_catalog.unnest($8)) WITH ORDINALITY "
			"  AS u(ref, buyer, amount, cost, at, product, seller, n) "
			"ORDER BY u.n "
			"ON CONFLICT (program_id, external_ref) DO NOTHING "
			"RETURNING id, external_ref",
			8, types, values, NULL, false, 0);

	ctl.keysize = CONV_MAX_TEXT + 1;
	ctl.entrysize = ctl.keysize + sizeof(int64);
	ctl.hcxt = CurrentMemoryContext;
	byref = hash_create("pg_affiliate conversions", Max(SPI_processed, 16), &ctl,
						HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		char	   *ref = AffGetText(r, 2);
		char	   *e = hash_search(byref, ref, HASH_ENTER, NULL);
		int64		id = AffGetInt64(r, 1, NULL);

		memcpy(e + CONV_MAX_TEXT + 1, &id, sizeof(int64));
	}
	for (int k = 0; k < m; k++)
	{
		ConvIn	   *c = &in[idx[k]];
		char	   *e = hash_search(byref, c->ref, HASH_FIND, NULL);

		if (e != NULL)
		{
			memcpy(&c->conversion_id, e + CONV_MAX_TEXT + 1, sizeof(int64));
			c->is_new = true;
			if (!c->has_time)
			{
				c->has_time = true;
				c->at = now;
			}
		}
		else
			refs[missing++] = CStringGetTextDatum(c->ref);
	}
	if (missing == 0)
		return;

	/* replays: the recorded conversions must carry the same inputs */
	values[1] = MakeArray(refs, NULL, missing, TEXTOID);
	AffExec(&sel,
			"SELECT id, external_ref, buyer_id, amount, cost, occurred_at, product, seller_id "
			"FROM affiliate.conversion WHERE program_id = $1 AND external_ref = ANY ($2)",
			2, types, values, NULL, false, 0);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		ConvIn		rec;
		char	   *ref = AffGetText(r, 2);
		bool		isnull;

		memset(&rec, 0, sizeof(rec));
		rec.buyer = AffGetInt64(r, 3, NULL);
		rec.amount = AffGetInt64(r, 4, NULL);
		rec.cost = AffGetInt64(r, 5, NULL);
		rec.has_time = true;
		rec.at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc,
												   6, &isnull));
		rec.product = AffGetText(r, 7);
		rec.seller = AffGetInt64(r, 8, NULL);
		for (int k = 0; k < m; k++)
		{
			ConvIn	   *c = &in[idx[k]];
			const char *field;

			if (c->is_new || strcmp(c->ref, ref) != 0)
				continue;
			field = Difference(c, &rec);
			if (field != NULL)
				RefusedReplay(c->ref, field);
			c->conversion_id = AffGetInt64(r, 1, NULL);
		}
	}
	for (int k = 0; k < m; k++)
		if (in[idx[k]].conversion_id == 0)
			elog(ERROR, "pg_affiliate: conversion \"%s\" conflicted but is not visible",
				 in[idx[k]].ref);
}

/* The first conversion time of each buyer with a new conversion.  Inside SPI. */
static void
LoadFirstConversions(int64 program_id, ConvIn *in, int n, HTAB *members)
{
	static PlanSlot slot;
	Datum	   *ids = palloc(sizeof(Datum) * Max(n, 1));
	int			nids = 0;
	Datum		values[2];

	for (int i = 0; i < n; i++)
		if (in[i].is_new)
			ids[nids++] = Int64GetDatum(in[i].buyer);
	values[0] = Int64GetDatum(program_id);
	values[1] = MakeArray(ids, NULL, nids, INT8OID);
	AffExec(&slot,
			"SELECT buyer_id, pg_catalog.min(occurred_at) FROM affiliate.conversion "
			"WHERE program_id = $1 AND buyer_id = ANY ($2) GROUP BY buyer_id",
			2, (Oid[]) {INT8OID, INT8ARRAYOID}, values, NULL, false, 0);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		MemberInfo *m = Member(members, AffGetInt64(r, 1, NULL), true);
		bool		isnull;

		m->first_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[r],
														SPI_tuptable->tupdesc, 2, &isnull));
		m->has_first = !isnull;
	}
}

/* Status (and, if asked, direct referral counts) of the beneficiaries. */
static void
LoadBeneficiaries(int64 program_id, Datum *ids, int nids, bool need_direct, HTAB *members)
{
	static PlanSlot plain,
				direct;
	Datum		values[2];

	values[0] = Int64GetDatum(program_id);
	values[1] = MakeArray(ids, NULL, nids, INT8OID);
	if (need_direct)
		AffExec(&direct,
				"SELECT m.id, m.status = 'active', "
				"  (SELECT pg_catalog.count(*) FROM affiliate.member d "
				"   WHERE d.program_id = $1 AND d.sponsor_id = m.id) "
				"FROM affiliate.member m WHERE m.program_id = $1 AND m.id = ANY ($2)",
				2, (Oid[]) {INT8OID, INT8ARRAYOID}, values, NULL, false, 0);
	else
		AffExec(&plain,
				"SELECT m.id, m.status = 'active', 0::bigint "
				"FROM affiliate.member m WHERE m.program_id = $1 AND m.id = ANY ($2)",
				2, (Oid[]) {INT8OID, INT8ARRAYOID}, values, NULL, false, 0);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		MemberInfo *m = Member(members, AffGetInt64(r, 1, NULL), true);

		m->found = true;
		m->active = AffGetBool(r, 2, NULL);
		m->direct = AffGetInt64(r, 3, NULL);
	}
}

/*
 * The shares of one plan for one conversion (before qualification): level k
 * gets its flat amount or its exact split share, then its cap, and never more
 * than what is left of the base.
 */
static void
PlanShares(const AffProgram *prog, const CommPlan *p, int64 base, int64 *shares)
{
	int64		left = base;

	AffSplit(base, p->rates, p->nlevels, prog->rounding_unit, (AffRounding) prog->rounding,
			 shares);
	for (int k = 0; k < p->nlevels; k++)
	{
		int64		s = p->has_flat[k] ? p->flat[k] : shares[k];

		if (p->has_cap[k] && s > p->caps[k])
			s = p->caps[k];
		if (s > left)
			s = left;
		shares[k] = s;
		left -= s;
	}
}

static bool
Qualifies(HTAB *members, const CommPlan *p, int64 id)
{
	MemberInfo *m = Member(members, id, false);

	return m != NULL && m->found && m->active && m->direct >= p->min_direct;
}

static bool
WithinRecurring(HTAB *members, const CommPlan *p, const ConvIn *c)
{
	MemberInfo *b;
	TimestampTz until;

	if (!p->has_recurring)
		return true;
	b = Member(members, c->buyer, false);
	if (b == NULL || !b->has_first)
		return true;
	until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													TimestampTzGetDatum(b->first_at),
													IntervalPGetDatum(&p->recurring)));
	return c->at < until;
}

/* Evaluate the plans of every new conversion; returns the shares. */
static Share *
EvaluatePlans(const AffProgram *prog, const CommPlan *plans, int nplans, ConvIn *in, int n,
			  HTAB *members, int *nshares)
{
	bool		need_direct = false;
	bool		need_first = false;
	int			maxlevels = 0;
	Datum	   *ids;
	int			nids = 0;
	Share	   *out;
	int			cap = 16;

	*nshares = 0;
	if (nplans == 0)
		return NULL;
	for (int i = 0; i < nplans; i++)
	{
		need_direct |= plans[i].min_direct > 0;
		need_first |= plans[i].has_recurring;
		if (!plans[i].seller)
			maxlevels = Max(maxlevels, plans[i].nlevels);
	}
	if (need_first)
		LoadFirstConversions(prog->id, in, n, members);

	/* every possible beneficiary, read once */
	ids = palloc(sizeof(Datum) * Max(n * (maxlevels + 1), 1));
	for (int i = 0; i < n; i++)
	{
		MemberInfo *b;

		if (!in[i].is_new)
			continue;
		b = Member(members, in[i].buyer, false);
		for (int k = 0; k < maxlevels && k < b->nupline; k++)
		{
			MemberInfo *u = Member(members, b->upline[k], false);

			/* read with the buyers already, unless a plan counts referrals */
			if (need_direct || u == NULL || !u->found)
				ids[nids++] = Int64GetDatum(b->upline[k]);
		}
		if (in[i].seller && need_direct)
			ids[nids++] = Int64GetDatum(in[i].seller);
	}
	if (nids > 0)
		LoadBeneficiaries(prog->id, ids, nids, need_direct, members);

	out = palloc(sizeof(Share) * cap);
	for (int i = 0; i < n; i++)
	{
		ConvIn	   *c = &in[i];
		MemberInfo *b;
		int64		total = 0;

		if (!c->is_new)
			continue;
		b = Member(members, c->buyer, false);
		for (int kind = 0; kind < 2; kind++)
		{
			const CommPlan *p = ChoosePlan(plans, nplans, kind == 1, c->product);
			int64	   *shares;
			int64		base;

			if (p == NULL || p->nlevels == 0 || !WithinRecurring(members, p, c))
				continue;
			if (p->seller && c->seller == 0)
				continue;
			base = p->base_profit ? c->amount - c->cost : c->amount;
			shares = palloc(sizeof(int64) * p->nlevels);
			PlanShares(prog, p, base, shares);
			for (int k = 0; k < p->nlevels; k++)
			{
				int64		who;

				if (shares[k] <= 0)
					continue;
				if (p->seller)
					who = c->seller;
				else if (k < b->nupline)
					who = b->upline[k];
				else
					break;
				if (!Qualifies(members, p, who))
					continue;	/* the share stays with the platform */
				if (*nshares == cap)
				{
					cap *= 2;
					out = repalloc(out, sizeof(Share) * cap);
				}
				out[*nshares].conv = i;
				out[*nshares].plan = p;
				out[*nshares].level = k + 1;
				out[*nshares].beneficiary = who;
				out[*nshares].amount = shares[k];
				(*nshares)++;
				AddOverflow(total, shares[k], &total);
			}
		}
		if (total > c->amount)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("commissions of conversion \"%s\" exceed its amount", c->ref),
					 errdetail("The plans pay " INT64_FORMAT " out of an amount of " INT64_FORMAT ".",
							   total, c->amount),
					 errhint("Lower the rates of the plans that apply together (an upline plan and a seller plan).")));
	}
	return out;
}

/*
 * The conversion journal (commission_expense -> pending of each beneficiary,
 * one leg per beneficiary) and the commission rows, which go into the result
 * tuplestore.
 */
static void
WriteCommissions(const AffProgram *prog, ConvIn *in, Share *shares, int nshares,
				 bool single, Tuplestorestate *ts)
{
	static PlanSlot ins;
	static const Oid types[9] = {INT8OID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID,
	INT4ARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID, INTERVALOID, INT8OID};
	LedgerLeg  *legs = palloc0(sizeof(LedgerLeg) * (nshares + 1));
	int			nlegs = 1;
	int64		total = 0;
	HTAB	   *leg_of;
	HASHCTL		ctl;
	int64		journal_id;
	bool		replayed;
	StringInfoData memo;
	char		key[64];
	Datum	   *conv = palloc(sizeof(Datum) * nshares);
	Datum	   *plan = palloc(sizeof(Datum) * nshares);
	Datum	   *who = palloc(sizeof(Datum) * nshares);
	Datum	   *level = palloc(sizeof(Datum) * nshares);
	Datum	   *amount = palloc(sizeof(Datum) * nshares);
	Datum	   *at = palloc(sizeof(Datum) * nshares);
	Datum		values[9];

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(int64) + sizeof(int);
	ctl.hcxt = CurrentMemoryContext;
	leg_of = hash_create("pg_affiliate legs", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (int i = 0; i < nshares; i++)
	{
		bool		found;
		char	   *e = hash_search(leg_of, &shares[i].beneficiary, HASH_ENTER, &found);
		int			l;

		if (!found)
		{
			l = nlegs++;
			memcpy(e + sizeof(int64), &l, sizeof(int));
			legs[l].member_id = shares[i].beneficiary;
			legs[l].kind = "pending";
			legs[l].asset = prog->currency;
		}
		else
			memcpy(&l, e + sizeof(int64), sizeof(int));
		AddOverflow(legs[l].amount, shares[i].amount, &legs[l].amount);
		AddOverflow(total, shares[i].amount, &total);
	}
	legs[0].is_system = true;
	legs[0].kind = "commission_expense";
	legs[0].asset = prog->currency;
	legs[0].amount = -total;

	initStringInfo(&memo);
	if (single)
	{
		appendStringInfo(&memo, "{\"conversion_id\": " INT64_FORMAT ", \"external_ref\": ",
						 in[shares[0].conv].conversion_id);
		escape_json(&memo, in[shares[0].conv].ref);
		appendStringInfoChar(&memo, '}');
		snprintf(key, sizeof(key), "conversion:" INT64_FORMAT, in[shares[0].conv].conversion_id);
	}
	else
		appendStringInfo(&memo, "{\"commissions\": %d}", nshares);
	journal_id = LedgerPost(prog->id, "conversion", single ? key : NULL, AffJsonbOf(&memo),
							legs, nlegs, &replayed);

	for (int i = 0; i < nshares; i++)
	{
		conv[i] = Int64GetDatum(in[shares[i].conv].conversion_id);
		plan[i] = Int64GetDatum(shares[i].plan->id);
		who[i] = Int64GetDatum(shares[i].beneficiary);
		level[i] = Int32GetDatum(shares[i].level);
		amount[i] = Int64GetDatum(shares[i].amount);
		at[i] = TimestampTzGetDatum(in[shares[i].conv].at);
	}
	values[0] = Int64GetDatum(prog->id);
	values[1] = MakeArray(conv, NULL, nshares, INT8OID);
	values[2] = MakeArray(plan, NULL, nshares, INT8OID);
	values[3] = MakeArray(who, NULL, nshares, INT8OID);
	values[4] = MakeArray(level, NULL, nshares, INT4OID);
	values[5] = MakeArray(amount, NULL, nshares, INT8OID);
	values[6] = MakeArray(at, NULL, nshares, TIMESTAMPTZOID);
	values[7] = IntervalPGetDatum(&prog->hold_period);
	values[8] = Int64GetDatum(journal_id);
	AffExec(&ins,
			"INSERT INTO affiliate.commission (program_id, conversion_id, plan_id, beneficiary_id, "
			"  level, amount, hold_until, journal_id) "
			"SELECT $1, u.conversion_id, u.plan_id, u.beneficiary_id, u.level, u.amount, u.at + $8, $9 "
			"FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), "
			"  pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7)) WITH ORDINALITY "
			"  AS u(conversion_id, plan_id, beneficiary_id, level, amount, at, n) "
			"ORDER BY u.n "
			"RETURNING *",
			9, types, values, NULL, false, 0);
	AffNotifyCommissionRows(SPI_tuptable, SPI_processed, AFF_EV_COMMISSION_EARNED);
	for (uint64 r = 0; r < SPI_processed; r++)
		tuplestore_puttuple(ts, SPI_tuptable->vals[r]);
	FraudOnConversion(prog->id, values[1], values[3]);
}

/* The commissions of replayed conversions, into the result. */
static void
ReturnExisting(int64 program_id, ConvIn *in, int n, Tuplestorestate *ts)
{
	static PlanSlot slot;
	Datum	   *ids = palloc(sizeof(Datum) * Max(n, 1));
	int			nids = 0;
	Datum		values[2];

	for (int i = 0; i < n; i++)
		if (in[i].same_as < 0 && !in[i].is_new)
			ids[nids++] = Int64GetDatum(in[i].conversion_id);
	if (nids == 0)
		return;
	values[0] = Int64GetDatum(program_id);
	values[1] = MakeArray(ids, NULL, nids, INT8OID);
	AffExec(&slot,
			"SELECT * FROM affiliate.commission WHERE program_id = $1 AND conversion_id = ANY ($2) "
			"ORDER BY id",
			2, (Oid[]) {INT8OID, INT8ARRAYOID}, values, NULL, false, 0);
	for (uint64 r = 0; r < SPI_processed; r++)
		tuplestore_puttuple(ts, SPI_tuptable->vals[r]);
}

/*
 * A conversion carrying a promo code whose campaign has an owner (not the
 * buyer): the owner is the attributed referrer, so the buyer's upline for
 * this conversion is the owner followed by the owner's upline (cut where it
 * reaches the buyer: nobody earns on their own order).  docs/campaigns.md.
 */
static void
PromoAttribution(int64 program_id, ConvIn *c, HTAB *members)
{
	static PlanSlot slot;
	MemberInfo *b;
	int64	   *ups = NULL;
	bool	   *un;
	bool		isnull;
	int			n = 0;
	Datum		up;

	AffPromoResolve(program_id, c->promo, &c->campaign_id, &c->promo_owner);
	if (c->promo_owner == 0 || c->promo_owner == c->buyer)
	{
		c->promo_owner = 0;
		return;
	}
	AffExec(&slot, "SELECT upline FROM affiliate.member WHERE program_id = $1 AND id = $2",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(c->promo_owner)}, NULL, false, 1);
	if (SPI_processed == 0)
		elog(ERROR, "pg_affiliate: the owner of campaign " INT64_FORMAT " is not a member", c->campaign_id);
	up = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		n = Int64Elems(DatumGetArrayTypeP(up), &ups, &un);
	b = Member(members, c->buyer, false);
	b->upline = palloc(sizeof(int64) * (n + 1));
	b->upline[0] = c->promo_owner;
	b->nupline = 1;
	for (int k = 0; k < n && ups[k] != c->buyer; k++)
		b->upline[b->nupline++] = ups[k];
}

/* The engine behind record_conversion and record_conversions. */
static void
RecordConversions(FunctionCallInfo fcinfo, int64 program_id, ConvIn *in, int n, bool single)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AffProgram	prog;
	HTAB	   *members;
	Share	   *shares;
	int			nshares;
	CommPlan   *plans;
	int			nplans;
	int			uplevels = 0;
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	for (int i = 0; i < n; i++)
		ValidateInput(&in[i], single ? -1 : i);
	DedupeBatch(in, n);

	InitMaterializedSRF(fcinfo, 0);
	AffLoadProgram(program_id, &prog);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");

	members = NewMemberTable();
	plans = LoadPlans(program_id, &nplans);
	for (int i = 0; i < nplans; i++)
		if (!plans[i].seller && plans[i].min_direct == 0)
			uplevels = Max(uplevels, plans[i].nlevels);
	LoadBuyersAndSellers(program_id, in, n, members, uplevels);
	if (single && in[0].promo != NULL)
		PromoAttribution(program_id, &in[0], members);
	InsertConversions(program_id, in, n, now);
	if (single)
		AffPromoRecord(program_id, in[0].conversion_id, in[0].is_new, in[0].campaign_id,
					   in[0].promo_owner, in[0].ref);
	shares = EvaluatePlans(&prog, plans, nplans, in, n, members, &nshares);
	if (nshares > 0)
		WriteCommissions(&prog, in, shares, nshares, single, rsinfo->setResult);
	ReturnExisting(program_id, in, n, rsinfo->setResult);
	{
		/* leaderboards, badges and event points of the new conversions */
		int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
		int			m = 0;

		for (int i = 0; i < n; i++)
			if (in[i].is_new)
				ids[m++] = in[i].conversion_id;
		AffGamifyConversions(program_id, ids, m);
	}
	SPI_finish();
}

/*
 * A seller id given as 0: no member has it (0 stands for "no seller" only
 * inside this file; NULL is how a caller says so).
 */
static void
RefuseSellerZero(int64 program_id, const char *ref)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("member 0 does not exist in program " INT64_FORMAT, program_id),
			 errdetail("Conversion \"%s\" names it as the seller.", ref ? ref : ""),
			 errhint("Pass NULL for a conversion without a seller.")));
}

/*
 * affiliate.record_conversion(program_id bigint, external_ref text, buyer_id bigint,
 *                             amount bigint, cost bigint DEFAULT 0,
 *                             occurred_at timestamptz DEFAULT NULL,
 *                             product text DEFAULT NULL, seller_id bigint DEFAULT NULL,
 *                             promo_code text DEFAULT NULL)
 * RETURNS SETOF affiliate.commission
 */
Datum
record_conversion(PG_FUNCTION_ARGS)
{
	ConvIn		c;

	AffRequireArg(fcinfo, 0, "program_id");
	AffRequireArg(fcinfo, 1, "external_ref");
	AffRequireArg(fcinfo, 2, "buyer_id");
	AffRequireArg(fcinfo, 3, "amount");
	AffRequireArg(fcinfo, 4, "cost");
	memset(&c, 0, sizeof(c));
	c.ref = text_to_cstring(PG_GETARG_TEXT_PP(1));
	c.buyer = PG_GETARG_INT64(2);
	c.amount = PG_GETARG_INT64(3);
	c.cost = PG_GETARG_INT64(4);
	c.has_time = !PG_ARGISNULL(5);
	c.at = c.has_time ? PG_GETARG_TIMESTAMPTZ(5) : 0;
	c.product = PG_ARGISNULL(6) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(6));
	c.seller = PG_ARGISNULL(7) ? 0 : PG_GETARG_INT64(7);
	/* promo_code (0.6.0; the 0.5.0 definition has no ninth argument) */
	c.promo = PG_NARGS() > 8 && !PG_ARGISNULL(8) ? text_to_cstring(PG_GETARG_TEXT_PP(8)) : NULL;
	if (!PG_ARGISNULL(7) && c.seller == 0)
		RefuseSellerZero(PG_GETARG_INT64(0), c.ref);
	if (c.has_time)
		AffCheckOccurredAt(c.at, 0);
	RecordConversions(fcinfo, PG_GETARG_INT64(0), &c, 1, true);
	return (Datum) 0;
}

/*
 * affiliate.record_conversions(program_id bigint, conversions affiliate.conversion_input[])
 * RETURNS SETOF affiliate.commission
 */
Datum
record_conversions(PG_FUNCTION_ARGS)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *enulls;
	int			n;
	ConvIn	   *in;
	Oid			elemtype;
	int16		len;
	bool		byval;
	char		align;

	AffRequireArg(fcinfo, 0, "program_id");
	AffRequireArg(fcinfo, 1, "conversions");
	arr = PG_GETARG_ARRAYTYPE_P(1);
	elemtype = ARR_ELEMTYPE(arr);
	get_typlenbyvalalign(elemtype, &len, &byval, &align);
	deconstruct_array(arr, elemtype, len, byval, align, &elems, &enulls, &n);
	if (n > CONV_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a batch holds at most %d conversions, not %d", CONV_MAX_BATCH, n),
				 errhint("Import in several calls; each call is all or nothing.")));
	in = palloc0(sizeof(ConvIn) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTupleHeader t;
		bool		isnull;
		Datum		d;

		if (enulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("conversion %d of the batch is null", i + 1)));
		t = DatumGetHeapTupleHeader(elems[i]);
		d = GetAttributeByNum(t, 1, &isnull);
		in[i].ref = isnull ? NULL : TextDatumGetCString(d);
		d = GetAttributeByNum(t, 2, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("conversion %d of the batch: buyer_id must not be null", i + 1)));
		in[i].buyer = DatumGetInt64(d);
		d = GetAttributeByNum(t, 3, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("conversion %d of the batch: amount must not be null", i + 1)));
		in[i].amount = DatumGetInt64(d);
		d = GetAttributeByNum(t, 4, &isnull);
		in[i].cost = isnull ? 0 : DatumGetInt64(d);
		d = GetAttributeByNum(t, 5, &isnull);
		in[i].has_time = !isnull;
		in[i].at = isnull ? 0 : DatumGetTimestampTz(d);
		if (in[i].has_time)
			AffCheckOccurredAt(in[i].at, i + 1);
		d = GetAttributeByNum(t, 6, &isnull);
		in[i].product = isnull ? NULL : TextDatumGetCString(d);
		d = GetAttributeByNum(t, 7, &isnull);
		in[i].seller = isnull ? 0 : DatumGetInt64(d);
		if (!isnull && in[i].seller == 0)
			RefuseSellerZero(PG_GETARG_INT64(0), in[i].ref);
	}
	RecordConversions(fcinfo, PG_GETARG_INT64(0), in, n, false);
	return (Datum) 0;
}

/* ---------- refunds ---------- */

typedef struct Reversal
{
	int64		commission_id;
	int64		beneficiary;
	int64		amount;
	int64		reversed;		/* before this refund */
	int64		released;		/* 0: not released */
	int64		delta;			/* reversed by this refund */
	int64		available_account;
	int64		take;			/* clawed from available */
	int64		rest;			/* owed, or written off */
} Reversal;

static int
CompareAvailable(const void *a, const void *b)
{
	int64		x = (*(Reversal *const *) a)->available_account;
	int64		y = (*(Reversal *const *) b)->available_account;

	return (x > y) - (x < y);
}

static void
ReturnCommissionsOf(int64 program_id, int64 conversion_id, Tuplestorestate *ts)
{
	static PlanSlot slot;
	Datum		values[2];

	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(conversion_id);
	AffExec(&slot,
			"SELECT * FROM affiliate.commission WHERE program_id = $1 AND conversion_id = $2 "
			"ORDER BY id",
			2, (Oid[]) {INT8OID, INT8OID}, values, NULL, false, 0);
	for (uint64 r = 0; r < SPI_processed; r++)
		tuplestore_puttuple(ts, SPI_tuptable->vals[r]);
}

/*
 * affiliate.refund_conversion(program_id bigint, external_ref text,
 *                             reason text DEFAULT NULL, amount bigint DEFAULT NULL,
 *                             refund_ref text DEFAULT NULL)
 * RETURNS SETOF affiliate.commission
 */
Datum
refund_conversion(PG_FUNCTION_ARGS)
{
	static PlanSlot conv_lock,
				prior,
				comm_lock,
				upd_comm,
				upd_conv,
				ins_refund;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		program_id;
	char	   *ref;
	char	   *reason = NULL;
	char	   *refund_ref;
	bool		full;
	int64		want = 0;
	AffProgram	prog;
	int64		conversion_id;
	int64		conv_amount;
	int64		refunded;
	int64		refund;
	int64		new_refunded;
	Reversal   *rv;
	int			nrv;
	Reversal  **claw;
	int			nclaw = 0;
	LedgerLeg  *legs;
	int			nlegs = 0;
	int64		recovered = 0;
	int64		written_off = 0;
	int64		journal_id = 0;
	Datum		values[9];
	char		nulls[9] = "         ";

	AffRequireArg(fcinfo, 0, "program_id");
	AffRequireArg(fcinfo, 1, "external_ref");
	program_id = PG_GETARG_INT64(0);
	ref = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (!PG_ARGISNULL(2))
	{
		reason = text_to_cstring(PG_GETARG_TEXT_PP(2));
		if (strlen(reason) > 2000)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("refund reason is too long"),
					 errdetail("A reason is at most 2000 bytes.")));
	}
	full = PG_ARGISNULL(3);
	if (!full)
	{
		want = PG_GETARG_INT64(3);
		if (want <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("refund amount must be positive"),
					 errhint("Leave the amount out to refund the whole order.")));
	}
	if (!PG_ARGISNULL(4))
		refund_ref = CheckedText(PG_GETARG_TEXT_PP(4), "refund ref", CONV_MAX_TEXT);
	else if (full)
		refund_ref = "full";
	else
		refund_ref = psprintf("amount:" INT64_FORMAT, want);

	InitMaterializedSRF(fcinfo, 0);
	AffLoadProgram(program_id, &prog);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");

	/* the conversion row is the refund's lock: refunds of one order queue */
	values[0] = Int64GetDatum(program_id);
	values[1] = CStringGetTextDatum(ref);
	AffExec(&conv_lock,
			"SELECT id, amount, refunded FROM affiliate.conversion "
			"WHERE program_id = $1 AND external_ref = $2 FOR UPDATE",
			2, (Oid[]) {INT8OID, TEXTOID}, values, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("conversion \"%s\" does not exist in program " INT64_FORMAT, ref, program_id)));
	conversion_id = AffGetInt64(0, 1, NULL);
	conv_amount = AffGetInt64(0, 2, NULL);
	refunded = AffGetInt64(0, 3, NULL);

	/* a retry of the same refund returns the commissions as they are */
	values[1] = Int64GetDatum(conversion_id);
	values[2] = CStringGetTextDatum(refund_ref);
	AffExec(&prior,
			"SELECT amount, full_refund FROM affiliate.refund "
			"WHERE program_id = $1 AND conversion_id = $2 AND refund_ref = $3",
			3, (Oid[]) {INT8OID, INT8OID, TEXTOID}, values, NULL, false, 1);
	if (SPI_processed > 0)
	{
		int64		was = AffGetInt64(0, 1, NULL);
		bool		was_full = AffGetBool(0, 2, NULL);

		if (full != was_full)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("refund \"%s\" of conversion \"%s\" was already recorded as a %s refund",
							refund_ref, ref, was_full ? "full" : "partial"),
					 errhint("A retry repeats the same amount (or leaves it out again); another refund needs its own refund_ref.")));
		if (!full && was != want)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("refund \"%s\" of conversion \"%s\" was already recorded with amount " INT64_FORMAT,
							refund_ref, ref, was),
					 errhint("A different partial refund needs its own refund_ref.")));
		ReturnCommissionsOf(program_id, conversion_id, rsinfo->setResult);
		SPI_finish();
		return (Datum) 0;
	}

	refund = full ? conv_amount - refunded : want;
	if (refund > conv_amount - refunded)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("refund of " INT64_FORMAT " exceeds what is left of conversion \"%s\"", refund, ref),
				 errdetail("The order was " INT64_FORMAT " and " INT64_FORMAT " of it is already refunded.",
						   conv_amount, refunded)));
	if (refund == 0)
	{
		/* a full refund of an order that is already fully refunded */
		ReturnCommissionsOf(program_id, conversion_id, rsinfo->setResult);
		SPI_finish();
		return (Datum) 0;
	}
	new_refunded = refunded + refund;

	/* lock the commissions (in id order) and work out each reversal */
	AffExec(&comm_lock,
			"SELECT c.id, c.beneficiary_id, c.amount, c.reversed, c.released, a.id "
			"FROM affiliate.commission c "
			"LEFT JOIN affiliate.account a ON a.program_id = c.program_id "
			"  AND a.member_id = c.beneficiary_id AND a.asset = $3 AND a.kind = 'available' "
			"WHERE c.program_id = $1 AND c.conversion_id = $2 "
			"ORDER BY c.id FOR UPDATE OF c",
			3, (Oid[]) {INT8OID, INT8OID, TEXTOID},
			(Datum[]) {values[0], values[1], CStringGetTextDatum(prog.currency)}, NULL, false, 0);
	nrv = (int) SPI_processed;
	rv = palloc0(sizeof(Reversal) * Max(nrv, 1));
	claw = palloc(sizeof(Reversal *) * Max(nrv, 1));
	for (int i = 0; i < nrv; i++)
	{
		int64		target;

		rv[i].commission_id = AffGetInt64(i, 1, NULL);
		rv[i].beneficiary = AffGetInt64(i, 2, NULL);
		rv[i].amount = AffGetInt64(i, 3, NULL);
		rv[i].reversed = AffGetInt64(i, 4, NULL);
		rv[i].released = AffGetInt64(i, 5, NULL);
		rv[i].available_account = AffGetInt64(i, 6, NULL);
		target = new_refunded == conv_amount ? rv[i].amount
			: Min(AffRoundDiv((int128) rv[i].amount * new_refunded, conv_amount,
							  prog.rounding_unit, (AffRounding) prog.rounding),
				  rv[i].amount);
		rv[i].delta = Max(target - rv[i].reversed, 0);
		if (rv[i].delta > 0 && rv[i].released > 0)
			claw[nclaw++] = &rv[i];
	}

	/* clawbacks: lock the available accounts in id order, take what is there */
	qsort(claw, nclaw, sizeof(Reversal *), CompareAvailable);
	for (int i = 0; i < nclaw; i++)
	{
		Reversal   *r = claw[i];
		int64		bal = LedgerLockedBalance(program_id, r->available_account);

		/* earlier clawbacks of the same member in this refund came first */
		for (int j = 0; j < i; j++)
			if (claw[j]->available_account == r->available_account)
				bal -= claw[j]->take;
		r->take = Min(r->delta, Max(bal, 0));
		r->rest = r->delta - r->take;
		/* owed changes only under this lock; spenders read it under it too */
		if (r->rest > 0 && r->take == 0 && prog.clawback_negative)
			LedgerTouchAccount(program_id, r->available_account);
	}

	legs = palloc0(sizeof(LedgerLeg) * (2 * nrv + 1));
	nlegs = 1;
	for (int i = 0; i < nrv; i++)
	{
		Reversal   *r = &rv[i];

		if (r->delta == 0)
			continue;
		if (r->released == 0)
		{
			legs[nlegs].member_id = r->beneficiary;
			legs[nlegs].kind = "pending";
			legs[nlegs].asset = prog.currency;
			legs[nlegs].amount = -r->delta;
			/* covered: the pending commission is locked FOR UPDATE above */
			legs[nlegs].debit_covered = true;
			nlegs++;
			AddOverflow(recovered, r->delta, &recovered);
			continue;
		}
		if (r->take > 0)
		{
			legs[nlegs].account_id = r->available_account;
			legs[nlegs].amount = -r->take;
			nlegs++;
			AddOverflow(recovered, r->take, &recovered);
		}
		if (r->rest > 0 && prog.clawback_negative)
		{
			legs[nlegs].member_id = r->beneficiary;
			legs[nlegs].kind = "owed";
			legs[nlegs].asset = prog.currency;
			legs[nlegs].amount = -r->rest;
			nlegs++;
			AddOverflow(recovered, r->rest, &recovered);
		}
		else if (r->rest > 0)
			AddOverflow(written_off, r->rest, &written_off);
	}
	if (recovered > 0)
	{
		StringInfoData memo;
		bool		replayed;

		legs[0].is_system = true;
		legs[0].kind = "commission_expense";
		legs[0].asset = prog.currency;
		legs[0].amount = recovered;
		initStringInfo(&memo);
		appendStringInfo(&memo, "{\"conversion_id\": " INT64_FORMAT ", \"refund\": " INT64_FORMAT
						 ", \"written_off\": " INT64_FORMAT ", \"refund_ref\": ",
						 conversion_id, refund, written_off);
		escape_json(&memo, refund_ref);
		appendStringInfoChar(&memo, '}');
		journal_id = LedgerPost(program_id, "refund", NULL, AffJsonbOf(&memo),
								legs, nlegs, &replayed);
	}

	/* commission rows */
	if (nrv > 0)
	{
		Datum	   *ids = palloc(sizeof(Datum) * nrv);
		Datum	   *deltas = palloc(sizeof(Datum) * nrv);
		Datum	   *woff = palloc(sizeof(Datum) * nrv);
		int			m = 0;

		for (int i = 0; i < nrv; i++)
		{
			if (rv[i].delta == 0)
				continue;
			ids[m] = Int64GetDatum(rv[i].commission_id);
			deltas[m] = Int64GetDatum(rv[i].delta);
			woff[m] = Int64GetDatum(prog.clawback_negative ? 0 : rv[i].rest);
			m++;
		}
		values[1] = MakeArray(ids, NULL, m, INT8OID);
		values[2] = MakeArray(deltas, NULL, m, INT8OID);
		values[3] = MakeArray(woff, NULL, m, INT8OID);
		AffExec(&upd_comm,
				"UPDATE affiliate.commission c SET "
				"  reversed = c.reversed + u.delta, "
				"  written_off = c.written_off + u.woff, "
				"  status = CASE WHEN c.reversed + u.delta < c.amount THEN c.status "
				"                WHEN c.released IS NULL THEN 'reversed' ELSE 'clawed_back' END "
				"FROM ROWS FROM (pg_catalog.unnest($2::bigint[]), pg_catalog.unnest($3::bigint[]), "
				"  pg_catalog.unnest($4::bigint[])) AS u(id, delta, woff) "
				"WHERE c.program_id = $1 AND c.id = u.id",
				4, (Oid[]) {INT8OID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID},
				values, NULL, false, 0);
		AffGamifyRefund(program_id, conversion_id, values[1], values[2]);
	}

	values[1] = Int64GetDatum(conversion_id);
	values[2] = Int64GetDatum(new_refunded);
	AffExec(&upd_conv,
			"UPDATE affiliate.conversion SET refunded = $3, "
			"  status = CASE WHEN $3 = amount THEN 'refunded' ELSE 'partially_refunded' END "
			"WHERE program_id = $1 AND id = $2",
			3, (Oid[]) {INT8OID, INT8OID, INT8OID}, values, NULL, false, 0);

	values[2] = CStringGetTextDatum(refund_ref);
	values[3] = Int64GetDatum(refund);
	values[4] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[4] = reason ? ' ' : 'n';
	values[5] = Int64GetDatum(journal_id);
	nulls[5] = journal_id ? ' ' : 'n';
	values[6] = Int64GetDatum(written_off);
	values[7] = BoolGetDatum(full);
	AffExec(&ins_refund,
			"INSERT INTO affiliate.refund (program_id, conversion_id, refund_ref, amount, reason, "
			"  journal_id, written_off, full_refund) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			8, (Oid[]) {INT8OID, INT8OID, TEXTOID, INT8OID, TEXTOID, INT8OID, INT8OID, BOOLOID},
			values, nulls, false, 0);

	ReturnCommissionsOf(program_id, conversion_id, rsinfo->setResult);
	SPI_finish();
	return (Datum) 0;
}
