/*
 * money.c
 *	  Exact splitting of an amount into shares by rates in basis points
 *	  (DESIGN §4.1), and the SQL function affiliate.split().
 *
 * Money is a bigint of minor units (paise, cents, points).  A rate is in
 * basis points: 10000 bp = 100 %.  A split of amount A >= 0 by rates
 * r_1..r_n (each 0..10000, sum <= 10000) to a rounding unit u >= 1 gives one
 * share per rate.  All arithmetic is in 128-bit integers: A * r_i and every
 * running sum of such products are at most A * 10000 < 2^77, and a rounded
 * value exceeds its exact value by less than u < 2^63, so no intermediate
 * value can overflow; every share is at most A, so every result fits in a
 * bigint.
 *
 * Rounding
 * --------
 * R(x) rounds x >= 0 to a multiple of u:
 *	 half_up	to the nearest multiple, ties away from zero (up: x >= 0);
 *	 half_even	to the nearest multiple, ties to the even multiple of u;
 *	 down		to the multiple at or below x (truncation toward zero).
 * R is monotone: x <= y implies R(x) <= R(y).  Its error R(x) - x lies in
 * [-u/2, u/2] for the two half modes and in (-u, 0] for down.
 *
 * The algorithm
 * -------------
 * Let e_i = A * r_i / 10000 be the exact (rational) value of share i.
 *
 * 1. Round each share on its own: s_i = R(e_i).  If sum(s_i) <= A, these
 *	  are the shares: each is the plain rounding of its exact value, which is
 *	  what a member expects to see on a statement.
 *
 * 2. Otherwise (possible only when rounding up adds more than the rates
 *	  leave over: the rates add up to nearly 100 % and several shares round
 *	  up, or the unit is large next to the amount) round the running total
 *	  instead, clamped to the amount.  With C_k = e_1 + .. + e_k,
 *	  C_0 = 0 and R'(C) = min(R(C), A):
 *
 *		  s_k = R'(C_k) - R'(C_{k-1})
 *
 * Why step 2 is correct:
 *	- C_k is non-decreasing in k and R' is monotone, so every s_k >= 0.
 *	- The shares telescope: sum(s_k) = R'(C_n) <= A.
 *	- C_k <= C_n <= A for every k.  The error d(C) = R'(C) - C therefore
 *	  stays within [-u/2, u/2] (half modes) or (-u, 0] (down): where R(C) <= A
 *	  it is R's own error, and where the clamp applies, C <= A < R(C) <=
 *	  C + u/2, so 0 <= d(C) <= u/2.  Hence s_k - e_k = d(C_k) - d(C_{k-1})
 *	  lies within [-u, u]: every share is within one rounding unit of its
 *	  exact value.
 *	- Every share is a multiple of u, except at the point where the clamp
 *	  first bites: that share is A - R(C_{k-1}), the shares after it are 0,
 *	  and the shares then add up to exactly A.  (down never clamps.)
 *
 * In both cases the shares never add up to more than A, and the remainder
 * A - sum(shares) is the platform's: share + remainder = amount, exactly.
 *
 * The arithmetic itself is plain C without PostgreSQL in split_core.c (so
 * that test/fuzz/fuzz_split.c exercises the very code the server runs);
 * this file adds the argument handling and the error messages.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "pg_affiliate.h"
#include "split_core.h"

/* 100 % in basis points */
#define AFF_BP_WHOLE	SPLIT_BP_WHOLE
/* at most this many rates in one split */
#define AFF_MAX_RATES	SPLIT_MAX_RATES

StaticAssertDecl((int) AFF_ROUND_HALF_UP == (int) SPLIT_ROUND_HALF_UP &&
				 (int) AFF_ROUND_HALF_EVEN == (int) SPLIT_ROUND_HALF_EVEN &&
				 (int) AFF_ROUND_DOWN == (int) SPLIT_ROUND_DOWN,
				 "AffRounding and SplitRounding must agree");

PG_FUNCTION_INFO_V1(affiliate_split);

static void
CheckRoundingUnit(int64 unit)
{
	if (unit < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rounding unit must be at least 1"),
				 errdetail("The rounding unit is " INT64_FORMAT "; shares are rounded to whole multiples of it, in minor units.",
						   unit)));
}

static void
CheckRoundingMode(AffRounding mode)
{
	if (mode != AFF_ROUND_HALF_UP && mode != AFF_ROUND_HALF_EVEN &&
		mode != AFF_ROUND_DOWN)
		elog(ERROR, "pg_affiliate: unknown rounding mode %d", (int) mode);
}

/*
 * Round num/den (num >= 0, den > 0) to a multiple of unit (>= 1).  Raises
 * 22003 when the rounded value does not fit in a bigint.
 */
int64
AffRoundDiv(int128 num, int128 den, int64 unit, AffRounding mode)
{
	uint128		v;

	if (num < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot round a negative amount"),
				 errdetail("Only amounts of zero or more are rounded.")));
	if (den <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rounding divisor must be positive"),
				 errdetail("An amount is rounded after dividing it by a positive number.")));
	CheckRoundingUnit(unit);
	CheckRoundingMode(mode);

	v = split_core_round_div((uint128) num, (uint128) den, (uint64) unit, (int) mode);
	if (v > (uint128) PG_INT64_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("amount out of range"),
				 errdetail("The rounded amount does not fit in a bigint.")));
	return (int64) v;
}

/* 'half_up' | 'half_even' | 'down'; 22023 for anything else */
AffRounding
AffParseRounding(const char *name)
{
	if (strcmp(name, "half_up") == 0)
		return AFF_ROUND_HALF_UP;
	if (strcmp(name, "half_even") == 0)
		return AFF_ROUND_HALF_EVEN;
	if (strcmp(name, "down") == 0)
		return AFF_ROUND_DOWN;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown rounding mode \"%s\"", name),
			 errhint("Use half_up, half_even or down.")));
	pg_unreachable();
}

/*
 * Split base by rates_bp[0..n-1] into shares[0..n-1] (see the file header;
 * the arithmetic is split_core() in split_core.c).  Raises 22023 on bad
 * input.
 */
void
AffSplit(int64 base, const int32 *rates_bp, int n, int64 unit,
		 AffRounding mode, int64 *shares)
{
	SplitError	err = {0};

	switch (split_core(base, rates_bp, n, unit, (int) mode, shares, &err))
	{
		case SPLIT_OK:
			return;
		case SPLIT_NEGATIVE_AMOUNT:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("amount must not be negative"),
					 errdetail("The amount is " INT64_FORMAT "; only an amount of zero or more minor units can be split.",
							   base)));
			break;
		case SPLIT_NEGATIVE_COUNT:
			elog(ERROR, "pg_affiliate: negative number of rates %d", n);
			break;
		case SPLIT_TOO_MANY_RATES:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("too many rates"),
					 errdetail("%d rates were given; at most %d can be split at once.",
							   n, AFF_MAX_RATES)));
			break;
		case SPLIT_BAD_UNIT:
			CheckRoundingUnit(unit);
			break;
		case SPLIT_BAD_MODE:
			CheckRoundingMode(mode);
			break;
		case SPLIT_RATE_OUT_OF_RANGE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rate %d is out of range", err.rate_index + 1),
					 errdetail("Rate %d is %d basis points; a rate is from 0 to 10000 basis points (0 %% to 100 %%).",
							   err.rate_index + 1, rates_bp[err.rate_index])));
			break;
		case SPLIT_RATES_OVER_WHOLE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rates add up to more than 100 %%"),
					 errdetail("The rates add up to " INT64_FORMAT " basis points; at most 10000 (100 %%) can be split.",
							   err.total_bp)));
			break;
	}
	/* every status above returned or raised an error */
	elog(ERROR, "pg_affiliate: split failed without a reason");
}

/*
 * affiliate.split(amount bigint, rates_bp integer[], rounding_unit bigint
 *				   DEFAULT 1, rounding text DEFAULT 'half_up') RETURNS bigint[]
 *
 * One share per rate, in the order of the rates.  Not strict: a NULL
 * argument is refused with 22004 naming it.
 */
Datum
affiliate_split(PG_FUNCTION_ARGS)
{
	int64		amount;
	ArrayType  *rates;
	int64		unit;
	AffRounding mode;
	int			nitems;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int32	   *rates_bp;
	int64	   *shares;
	Datum	   *out;
	int			i;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("amount must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rates_bp must not be null"),
				 errhint("Pass '{}' to split nothing.")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rounding_unit must not be null"),
				 errhint("Pass 1 to round to whole minor units.")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rounding must not be null"),
				 errhint("Use half_up, half_even or down.")));

	amount = PG_GETARG_INT64(0);
	rates = PG_GETARG_ARRAYTYPE_P(1);
	unit = PG_GETARG_INT64(2);
	mode = AffParseRounding(text_to_cstring(PG_GETARG_TEXT_PP(3)));

	if (ARR_NDIM(rates) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rates_bp must be a one-dimensional array"),
				 errdetail("The array has %d dimensions; give one rate per share.",
						   ARR_NDIM(rates))));
	nitems = ArrayGetNItems(ARR_NDIM(rates), ARR_DIMS(rates));
	if (nitems > AFF_MAX_RATES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too many rates"),
				 errdetail("%d rates were given; at most %d can be split at once.",
						   nitems, AFF_MAX_RATES)));

	Assert(ARR_ELEMTYPE(rates) == INT4OID);
	deconstruct_array(rates, INT4OID, sizeof(int32), true, TYPALIGN_INT,
					  &elems, &nulls, &n);
	rates_bp = palloc(sizeof(int32) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("rates_bp must not contain nulls"),
					 errdetail("Rate %d is null.", i + 1)));
		rates_bp[i] = DatumGetInt32(elems[i]);
	}

	shares = palloc(sizeof(int64) * Max(n, 1));
	AffSplit(amount, rates_bp, n, unit, mode, shares);

	if (n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(INT8OID));
	out = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
		out[i] = Int64GetDatum(shares[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, n, INT8OID, sizeof(int64),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
