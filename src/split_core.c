/*
 * split_core.c
 *	  The arithmetic of affiliate.split() without PostgreSQL (see
 *	  split_core.h; the algorithm and why it is correct are in money.c).
 *	  Compiled into the extension and into the fuzz harness.
 */
#include "split_core.h"

#define SPLIT_UINT128_MAX (~(split_uint128) 0)

bool
split_core_mode_valid(int mode)
{
	return mode == SPLIT_ROUND_HALF_UP || mode == SPLIT_ROUND_HALF_EVEN ||
		mode == SPLIT_ROUND_DOWN;
}

split_uint128
split_core_round_div(split_uint128 num, split_uint128 den, uint64_t unit, int mode)
{
	split_uint128 d;
	split_uint128 q;
	split_uint128 r;

	if (den == 0 || unit < 1 || num > SPLIT_UINT128_MAX / 2 || !split_core_mode_valid(mode))
		return 0;

	/*
	 * d = den * unit is the divisor that counts units.  If it does not fit,
	 * d > 2^128 > 2 * num: the value is below half a unit and rounds to 0 in
	 * every mode.
	 */
	if (den > SPLIT_UINT128_MAX / unit)
		return 0;
	d = den * unit;
	q = num / d;
	r = num % d;

	/* compare r with d/2 as r against d - r: no overflow, no halving */
	switch (mode)
	{
		case SPLIT_ROUND_HALF_UP:
			if (r >= d - r)
				q++;
			break;
		case SPLIT_ROUND_HALF_EVEN:
			if (r > d - r || (r == d - r && (q & 1) != 0))
				q++;
			break;
		default:				/* SPLIT_ROUND_DOWN */
			break;
	}
	return q * unit;
}

SplitStatus
split_core(int64_t base, const int32_t *rates_bp, int n, int64_t unit,
		   int mode, int64_t *shares, SplitError *err)
{
	int64_t		total_bp = 0;
	split_uint128 rounded_sum = 0;
	split_int128 cumulative;
	int64_t		previous;
	int			i;

	if (base < 0)
		return SPLIT_NEGATIVE_AMOUNT;
	if (n < 0)
		return SPLIT_NEGATIVE_COUNT;
	if (n > SPLIT_MAX_RATES)
		return SPLIT_TOO_MANY_RATES;
	if (unit < 1)
		return SPLIT_BAD_UNIT;
	if (!split_core_mode_valid(mode))
		return SPLIT_BAD_MODE;
	for (i = 0; i < n; i++)
	{
		if (rates_bp[i] < 0 || rates_bp[i] > SPLIT_BP_WHOLE)
		{
			if (err)
				err->rate_index = i;
			return SPLIT_RATE_OUT_OF_RANGE;
		}
		total_bp += rates_bp[i];
	}
	if (total_bp > SPLIT_BP_WHOLE)
	{
		if (err)
			err->total_bp = total_bp;
		return SPLIT_RATES_OVER_WHOLE;
	}

	/*
	 * 1. Each share rounded on its own.  A share that rounds above base
	 * (possible with a unit larger than the amount) is clamped so that it
	 * can be stored; its rounded value still counts in full, which sends the
	 * split to step 2.  (rounded_sum cannot overflow: at most 1000 shares,
	 * each at most base + unit < 2^64.)
	 */
	for (i = 0; i < n; i++)
	{
		split_uint128 s;

		s = split_core_round_div((split_uint128) ((split_int128) base * rates_bp[i]),
								 SPLIT_BP_WHOLE, (uint64_t) unit, mode);
		rounded_sum += s;
		shares[i] = s > (split_uint128) base ? base : (int64_t) s;
	}
	if (rounded_sum <= (split_uint128) base)
		return SPLIT_OK;

	/* 2. Cumulative rounding, clamped to base. */
	cumulative = 0;
	previous = 0;
	for (i = 0; i < n; i++)
	{
		split_uint128 c;
		int64_t		clamped;

		cumulative += (split_int128) base * rates_bp[i];
		c = split_core_round_div((split_uint128) cumulative, SPLIT_BP_WHOLE,
								 (uint64_t) unit, mode);
		clamped = c > (split_uint128) base ? base : (int64_t) c;
		shares[i] = clamped - previous;
		previous = clamped;
	}
	return SPLIT_OK;
}
