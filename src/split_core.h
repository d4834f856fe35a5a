/*
 * split_core.h
 *	  The arithmetic of affiliate.split() without PostgreSQL: an amount split
 *	  by rates in basis points into shares that never add up to more than the
 *	  amount (the algorithm and its proof are in money.c).
 *
 * Dependency-free C (stdint, stdbool only; 128-bit integers as the compiler
 * provides them, as in the rest of the extension) so that the fuzz harness
 * test/fuzz/fuzz_split.c runs exactly the code the server runs.  Nothing
 * here allocates or throws: every problem is a status the caller turns into
 * its error message.
 */
#ifndef SPLIT_CORE_H
#define SPLIT_CORE_H

#include <stdbool.h>
#include <stdint.h>

#ifndef __SIZEOF_INT128__
#error "split_core needs a compiler with 128-bit integers"
#endif

typedef __int128 split_int128;
typedef unsigned __int128 split_uint128;

/* 100 % in basis points */
#define SPLIT_BP_WHOLE	10000
/* at most this many rates in one split */
#define SPLIT_MAX_RATES	1000

/* the same values as AffRounding in pg_affiliate.h */
typedef enum SplitRounding
{
	SPLIT_ROUND_HALF_UP = 0,
	SPLIT_ROUND_HALF_EVEN = 1,
	SPLIT_ROUND_DOWN = 2
} SplitRounding;

typedef enum SplitStatus
{
	SPLIT_OK,
	SPLIT_NEGATIVE_AMOUNT,		/* base < 0 */
	SPLIT_NEGATIVE_COUNT,		/* n < 0 */
	SPLIT_TOO_MANY_RATES,		/* n > SPLIT_MAX_RATES */
	SPLIT_BAD_UNIT,				/* unit < 1 */
	SPLIT_BAD_MODE,				/* not a SplitRounding */
	SPLIT_RATE_OUT_OF_RANGE,	/* rates_bp[rate_index] outside 0..10000 */
	SPLIT_RATES_OVER_WHOLE		/* the rates add up to total_bp > 10000 */
} SplitStatus;

typedef struct SplitError
{
	int			rate_index;		/* SPLIT_RATE_OUT_OF_RANGE: 0-based */
	int64_t		total_bp;		/* SPLIT_RATES_OVER_WHOLE */
} SplitError;

/* is mode one of the three rounding modes? */
extern bool split_core_mode_valid(int mode);

/*
 * num / den rounded to a multiple of unit by mode.  Requires den > 0,
 * unit >= 1, num <= 2^127 - 1 and a valid mode (0 is returned otherwise).
 * The result is at most num / den + unit < 2^128.
 */
extern split_uint128 split_core_round_div(split_uint128 num, split_uint128 den,
										  uint64_t unit, int mode);

/*
 * Split base by rates_bp[0..n-1] into shares[0..n-1], rounded to multiples
 * of unit by mode.  On SPLIT_OK every share is >= 0, within one unit of its
 * exact value, and the shares add up to at most base.  Anything else leaves
 * shares untouched and fills *err where the status says so (err may be
 * NULL).  The checks run in the order of the SplitStatus values.
 */
extern SplitStatus split_core(int64_t base, const int32_t *rates_bp, int n,
							  int64_t unit, int mode, int64_t *shares,
							  SplitError *err);

#endif							/* SPLIT_CORE_H */
