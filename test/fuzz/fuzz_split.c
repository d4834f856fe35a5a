/*
 * fuzz_split.c — libFuzzer harness for the arithmetic of affiliate.split()
 * (src/split_core.c: what AffSplit runs for affiliate.split(),
 * record_conversion and refunds inside the server).
 *
 * Input layout (missing bytes read as 0):
 *   byte 0        flags: bit 0 raw rates (else each rate is reduced so the
 *                 rates add up to at most 10000), bit 1 small amount
 *                 (amount & 0xffff), bit 2 small unit (unit & 0xff),
 *                 bits 3-4 amount override (1: 0, 2: INT64_MAX, 3: raw),
 *                 bit 5 raw mode byte (else mode % 3), bit 6 unit INT64_MAX,
 *                 bit 7 call split_core() without a SplitError
 *   bytes 1-8     amount, big-endian, as int64
 *   bytes 9-16    rounding unit, big-endian, as int64
 *   byte 17       rounding mode
 *   bytes 18-19   number of rates, big-endian (raw: as int16, else % 1001)
 *   then          the rates, 2 bytes each (raw: as int16 sign-extended)
 *
 * Properties checked (abort() on the first violation):
 *   - the status (which argument is refused, and in which order) equals
 *     that of an independent validation written here;
 *   - on success: every share is >= 0, the shares add up to at most the
 *     amount, every share is within one rounding unit of its exact value,
 *     every share is a multiple of the unit unless the shares add up to
 *     exactly the amount (the clamp), and the shares equal a reference
 *     computation (each rounded alone when those fit in the amount, else
 *     the clamped rounding of the running total) whose rounding compares
 *     2 * remainder with the divisor instead of remainder with
 *     divisor - remainder;
 *   - split_core_round_div() agrees with that reference rounding on the
 *     amount, unit and mode of the input (and a divisor from the rates),
 *     gives 0 when the divisor times the unit exceeds 128 bits, and 0
 *     (rather than a trap) outside its preconditions.
 * UndefinedBehaviorSanitizer (built with unsigned-integer-overflow too)
 * checks the "no intermediate value can overflow" claim of money.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "split_core.h"

#define CHECK(cond, ...) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "fuzz_split: property violated (%s): ", #cond); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
			abort(); \
		} \
	} while (0)

typedef struct Reader
{
	const uint8_t *data;
	size_t		size;
	size_t		pos;
} Reader;

static uint64_t
read_be(Reader *rd, int bytes)
{
	uint64_t	v = 0;

	for (int i = 0; i < bytes; i++)
	{
		v <<= 8;
		if (rd->pos < rd->size)
			v |= rd->data[rd->pos++];
	}
	return v;
}

/*
 * Reference rounding of num / den to a multiple of unit: 2 * r against d.
 * Needs d = den * unit < 2^127 (so that 2 * r cannot overflow).
 */
static split_uint128
ref_round(split_uint128 num, split_uint128 den, uint64_t unit, int mode)
{
	split_uint128 d = den * unit;
	split_uint128 q = num / d;
	split_uint128 r2 = (num % d) * 2;

	if (mode == SPLIT_ROUND_HALF_UP && r2 >= d)
		q++;
	else if (mode == SPLIT_ROUND_HALF_EVEN && (r2 > d || (r2 == d && q % 2 == 1)))
		q++;
	return q * unit;
}

static char *
u128_str(split_uint128 v, char *buf)
{
	char		tmp[48];
	int			n = 0;

	do
	{
		tmp[n++] = (char) ('0' + (int) (v % 10));
		v /= 10;
	} while (v > 0);
	for (int i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return buf;
}

static SplitStatus
ref_status(int64_t base, const int32_t *rates, int n, int64_t unit, int mode,
		   int *bad_index, int64_t *total)
{
	int64_t		sum = 0;

	if (base < 0)
		return SPLIT_NEGATIVE_AMOUNT;
	if (n < 0)
		return SPLIT_NEGATIVE_COUNT;
	if (n > 1000)
		return SPLIT_TOO_MANY_RATES;
	if (unit <= 0)
		return SPLIT_BAD_UNIT;
	if (mode != 0 && mode != 1 && mode != 2)
		return SPLIT_BAD_MODE;
	for (int i = 0; i < n; i++)
	{
		if (rates[i] < 0 || rates[i] > 10000)
		{
			*bad_index = i;
			return SPLIT_RATE_OUT_OF_RANGE;
		}
		sum += rates[i];
	}
	*total = sum;
	return sum > 10000 ? SPLIT_RATES_OVER_WHOLE : SPLIT_OK;
}

static void
check_shares(int64_t base, const int32_t *rates, int n, int64_t unit, int mode,
			 const int64_t *shares)
{
	split_uint128 alone_sum = 0;
	split_int128 sum = 0;
	split_int128 cumulative = 0;
	int64_t		previous = 0;
	int			not_multiple = 0;
	char		b1[48];

	/* the reference result */
	for (int i = 0; i < n; i++)
		alone_sum += ref_round((split_uint128) base * (split_uint128) rates[i], 10000, (uint64_t) unit, mode);

	for (int i = 0; i < n; i++)
	{
		split_int128 exact10000 = (split_int128) base * rates[i];	/* 10000 * exact share */
		split_int128 diff = (split_int128) shares[i] * 10000 - exact10000;
		int64_t		expected;

		CHECK(shares[i] >= 0 && shares[i] <= base, "share %d = %lld of %lld", i + 1,
			  (long long) shares[i], (long long) base);
		CHECK(diff <= (split_int128) unit * 10000 && -diff <= (split_int128) unit * 10000,
			  "share %d = %lld is more than a unit %lld from %lld * %d / 10000", i + 1,
			  (long long) shares[i], (long long) unit, (long long) base, (int) rates[i]);
		if (shares[i] % unit != 0)
			not_multiple++;
		sum += shares[i];

		if (alone_sum <= (split_uint128) base)
			expected = (int64_t) ref_round((split_uint128) exact10000, 10000, (uint64_t) unit, mode);
		else
		{
			split_uint128 c;
			int64_t		clamped;

			cumulative += exact10000;
			c = ref_round((split_uint128) cumulative, 10000, (uint64_t) unit, mode);
			clamped = c > (split_uint128) base ? base : (int64_t) c;
			expected = clamped - previous;
			previous = clamped;
		}
		CHECK(shares[i] == expected,
			  "split(%lld, rate %d of %d = %d bp, unit %lld, mode %d): share %lld, reference %lld (alone sum %s)",
			  (long long) base, i + 1, n, (int) rates[i], (long long) unit, mode,
			  (long long) shares[i], (long long) expected, u128_str(alone_sum, b1));
	}
	CHECK(sum <= base, "shares add up to more than %lld", (long long) base);
	CHECK(not_multiple == 0 || (not_multiple == 1 && sum == base),
		  "%d shares are not multiples of %lld and they add up to %lld of %lld", not_multiple,
		  (long long) unit, (long long) sum, (long long) base);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Reader		rd = {data, size, 0};
	unsigned	flags = (unsigned) read_be(&rd, 1);
	int64_t		base = (int64_t) read_be(&rd, 8);
	int64_t		unit = (int64_t) read_be(&rd, 8);
	int			mode_byte = (int) read_be(&rd, 1);
	uint16_t	n_raw = (uint16_t) read_be(&rd, 2);
	int			n;
	int			mode;
	int32_t    *rates;
	int64_t    *shares;
	SplitError	err = {-1, -1};
	SplitStatus status;
	SplitStatus expected;
	int			bad_index = -1;
	int64_t		total = -1;

	if (flags & 2)
		base &= 0xffff;
	switch ((flags >> 3) & 3)
	{
		case 1:
			base = 0;
			break;
		case 2:
			base = INT64_MAX;
			break;
		default:
			break;
	}
	if (flags & 4)
		unit &= 0xff;
	if (flags & 64)
		unit = INT64_MAX;
	/* raw mode bytes 0..255 reach the invalid ones, also as a signed char */
	mode = (flags & 32) ? (int) (int8_t) mode_byte : mode_byte % 3;
	/* raw: as int16, so that a negative count is tried too */
	n = (flags & 1) ? (int) (int16_t) n_raw : (int) (n_raw % 1001);

	/* exactly n elements, so that AddressSanitizer sees any access past them */
	rates = malloc(sizeof(int32_t) * (size_t) (n > 0 ? n : 1));
	shares = malloc(sizeof(int64_t) * (size_t) (n > 0 ? n : 1));
	if (rates == NULL || shares == NULL)
	{
		free(rates);
		free(shares);
		return 0;
	}
	{
		int32_t		left = 10000;

		for (int i = 0; i < n; i++)
		{
			uint16_t	raw = (uint16_t) read_be(&rd, 2);

			if (flags & 1)
				rates[i] = (int16_t) raw;
			else
			{
				rates[i] = (int32_t) (raw % (uint32_t) (left + 1));
				left -= rates[i];
			}
		}
	}

	/* flags bit 7: no SplitError (the core must not need one) */
	status = split_core(base, rates, n, unit, mode, shares, (flags & 128) ? NULL : &err);
	expected = ref_status(base, rates, n, unit, mode, &bad_index, &total);
	CHECK(status == expected, "status %d, reference %d", (int) status, (int) expected);
	if (status == SPLIT_RATE_OUT_OF_RANGE && !(flags & 128))
		CHECK(err.rate_index == bad_index, "bad rate %d, reference %d", err.rate_index, bad_index);
	if (status == SPLIT_RATES_OVER_WHOLE && !(flags & 128))
		CHECK(err.total_bp == total, "total %lld, reference %lld", (long long) err.total_bp, (long long) total);
	if (status == SPLIT_OK)
		check_shares(base, rates, n, unit, mode, shares);

	/* the rounding alone, with a divisor taken from the first rate */
	if (base >= 0 && unit >= 1 && split_core_mode_valid(mode))
	{
		split_uint128 den = (n > 0 && rates[0] > 0) ? (split_uint128) rates[0] : 1;
		split_uint128 num = (split_uint128) base * (split_uint128) (n > 1 ? (uint16_t) rates[1] : 1);
		split_uint128 got = split_core_round_div(num, den, (uint64_t) unit, mode);
		split_uint128 want = ref_round(num, den, (uint64_t) unit, mode);
		char		b1[48];
		char		b2[48];
		char		b3[48];

		CHECK(got == want, "round_div(%s / %d, unit %lld, mode %d) = %s, reference %s",
			  u128_str(num, b1), (int) den, (long long) unit, mode, u128_str(got, b2),
			  u128_str(want, b3));

		/*
		 * A divisor den * unit beyond 128 bits exceeds 2 * num: below half
		 * a unit, 0 in every mode.
		 */
		if (unit > 1)
		{
			split_uint128 huge = (~(split_uint128) 0) / (uint64_t) unit + 1;

			got = split_core_round_div(num, huge, (uint64_t) unit, mode);
			CHECK(got == 0, "round_div(%s / 2^128-ish, unit %lld) = %s", u128_str(num, b1),
				  (long long) unit, u128_str(got, b2));
		}
		/* outside the preconditions the result is 0, never a trap */
		CHECK(split_core_round_div(num, 0, (uint64_t) unit, mode) == 0, "division by 0 gave a value");
		CHECK(split_core_round_div(num, den, 0, mode) == 0, "unit 0 gave a value");
		CHECK(split_core_round_div(num, den, (uint64_t) unit, mode_byte + 3) == 0, "a bad mode gave a value");
		CHECK(split_core_round_div(~(split_uint128) 0, den, (uint64_t) unit, mode) == 0,
			  "a numerator of 2^128 - 1 gave a value");
	}

	free(rates);
	free(shares);
	return 0;
}
