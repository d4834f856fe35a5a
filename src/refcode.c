/*
 * refcode.c
 *	  The affiliate.refcode type: referral, affiliate and promo codes.
 *
 * On disk a code is 8 bytes, passed by value: the top 4 bits hold the number
 * n of data digits (1..REFCODE_MAX_DIGITS), the low 60 bits the value
 * (< 32^n).  The digit count is part of the code, so leading zero digits are
 * significant: "00AB" and "AB" are different codes.  Codes compare as
 * unsigned 64-bit integers, that is by digit count, then by value.
 *
 * Text form
 * ---------
 * The n data digits in Crockford base32 (0123456789ABCDEFGHJKMNPQRSTVWXYZ,
 * most significant first), then one check character from the same alphabet.
 * Output is upper case without hyphens.  Input is case-insensitive, ignores
 * hyphens anywhere, reads O as 0 and I and L as 1; U and every other
 * character are refused.  Without hyphens a code has 2..13 characters.
 *
 * The check character
 * -------------------
 * Digits are elements of the field GF(2^5) = GF(2)[x] / (x^5 + x^2 + 1); add
 * is XOR, and a = x (the element 2) is neither 0 nor 1.  The check runs
 *
 *		t = 0;  for each digit d:  t = a*t + d
 *
 * over the data digits and appends c = a*t.  A text is valid when the same
 * recurrence over the data digits and the check character ends with t = 0.
 * (This is a Damm-style check: x o y = a*x + y is a quasigroup.)  Unrolled,
 * the final t of digits d_1..d_m (d_m the check character) is
 *
 *		T = sum over k of a^(m-k) * d_k,
 *
 * and the check character makes T = 0.  Then:
 *
 *	- a single substitution d_k -> d_k + e (e != 0) changes T by
 *	  a^(m-k) * e, which is not 0 in a field: every mistyped character,
 *	  the check character included, is caught;
 *	- swapping adjacent x = d_k and y = d_(k+1) (x != y) changes T by
 *	  a^(m-k-1) * (a*x + y + a*y + x) = a^(m-k-1) * (a + 1) * (x + y), not 0
 *	  because a != 1: every adjacent transposition is caught, also one of
 *	  the last data digit with the check character;
 *	- swapping x and y two apart changes T by a^j * (a + 1)^2 * (x + y),
 *	  also not 0: jump transpositions are caught as well.
 *
 * Other errors (two wrong characters, a character left out or added) slip
 * through with probability about 1/32.
 *
 * The text form itself (parsing, formatting, the check character) is plain C
 * without PostgreSQL in refcode_core.c, so that test/fuzz/fuzz_refcode.c
 * exercises the very code the server runs; this file adds the messages and
 * the SQL interface.  Parsing lives in AffRefcodeParse alone (it never
 * throws on bad input); the type's input function reports its verdict as a
 * soft error where the server has them (PostgreSQL 16+: pg_input_is_valid),
 * and refcode_is_valid() and refcode_error() give the same answer on every
 * version.  New codes come from libsodium's CSPRNG; callers that insert them
 * retry on a collision.
 */
#include "postgres.h"

#include <sodium.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/sortsupport.h"

#include "pg_affiliate.h"
#include "refcode_core.h"

#define REFCODE_MAX_CHARS (REFCODE_MAX_DIGITS + 1)	/* with the check character */
#define REFCODE_NEW_MIN_DIGITS 4
#define REFCODE_NEW_MAX_DIGITS REFCODE_MAX_DIGITS

StaticAssertDecl(REFCODE_MAX_DIGITS == REFCODE_CORE_MAX_DIGITS,
				 "refcode.c and refcode_core.c must agree on the digit count");

PG_FUNCTION_INFO_V1(refcode_in);
PG_FUNCTION_INFO_V1(refcode_out);
PG_FUNCTION_INFO_V1(refcode_recv);
PG_FUNCTION_INFO_V1(refcode_send);
PG_FUNCTION_INFO_V1(refcode_eq);
PG_FUNCTION_INFO_V1(refcode_ne);
PG_FUNCTION_INFO_V1(refcode_lt);
PG_FUNCTION_INFO_V1(refcode_le);
PG_FUNCTION_INFO_V1(refcode_gt);
PG_FUNCTION_INFO_V1(refcode_ge);
PG_FUNCTION_INFO_V1(refcode_cmp);
PG_FUNCTION_INFO_V1(refcode_sortsupport);
PG_FUNCTION_INFO_V1(refcode_hash);
PG_FUNCTION_INFO_V1(refcode_hash_extended);
PG_FUNCTION_INFO_V1(refcode_is_valid);
PG_FUNCTION_INFO_V1(refcode_error);
PG_FUNCTION_INFO_V1(new_refcode);

static inline int
RefcodeDigits(uint64 code)
{
	return refcode_core_digits(code);
}

static inline bool
RefcodeLayoutValid(uint64 code)
{
	return refcode_core_layout_valid(code);
}

static inline int
RefcodeCmp(uint64 a, uint64 b)
{
	if (a < b)
		return -1;
	return a > b ? 1 : 0;
}

/* the reason sentence for a character that may not appear in a code */
static char *
BadCharDetail(const char *p, int position)
{
	unsigned char c = (unsigned char) *p;
	int			len;

	if (c == 'U' || c == 'u')
		return psprintf("The letter \"%c\" at position %d is not used in referral codes.",
						c, position);
	if (c >= 0x20 && c < 0x7f)
		return psprintf("The character \"%c\" at position %d is not allowed: a referral code has "
						"only digits, letters other than U, and hyphens.", c, position);
	if (c < 0x80)
		return psprintf("The control character U+%04X at position %d is not allowed in a referral code.",
						c, position);
	len = pg_mblen(p);
	len = (int) strnlen(p, len);
	if (pg_verifymbstr(p, len, true))
		return psprintf("The character \"%.*s\" at position %d is not allowed: a referral code has "
						"only digits, letters other than U, and hyphens.", len, p, position);
	return psprintf("The byte 0x%02X at position %d is not allowed in a referral code.",
					c, position);
}

bool
AffRefcodeParse(const char *str, int64 *code, char **detail)
{
	RefcodeParseResult r;

	*detail = NULL;
	switch (refcode_core_parse(str, &r))
	{
		case REFCODE_PARSE_OK:
			*code = (int64) r.code;
			return true;
		case REFCODE_PARSE_BAD_CHAR:
			/* everything before it is ASCII: byte offset = character offset */
			*detail = BadCharDetail(str + r.bad_offset, (int) r.bad_offset + 1);
			return false;
		case REFCODE_PARSE_BAD_LENGTH:
			*detail = psprintf("A referral code has 2 to %d characters not counting hyphens "
							   "(1 to %d data digits and a check character), but this one has %d.",
							   REFCODE_MAX_CHARS, REFCODE_MAX_DIGITS, (int) r.nchars);
			return false;
		case REFCODE_PARSE_BAD_CHECK:
			*detail = pstrdup("The check character does not match: a character is mistyped "
							  "or two adjacent characters are swapped.");
			return false;
	}
	elog(ERROR, "pg_affiliate: unknown referral code parse status %d", (int) r.status);
	pg_unreachable();
}

char *
AffRefcodeFormat(int64 code)
{
	uint64		c = (uint64) code;
	char	   *buf;

	if (!RefcodeLayoutValid(c))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid referral code value %016llX", (unsigned long long) c),
				 errdetail("A referral code holds 1 to %d data digits in its top four bits "
						   "and a value below 32 to the power of the digit count.",
						   REFCODE_MAX_DIGITS)));

	buf = palloc(REFCODE_CORE_TEXT_SIZE);
	if (refcode_core_format(c, buf) == 0)
		elog(ERROR, "pg_affiliate: could not format referral code %016llX", (unsigned long long) c);
	return buf;
}

int64
AffRefcodeRandom(int ndigits)
{
	uint64		value;

	if (ndigits < 1 || ndigits > REFCODE_MAX_DIGITS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid number of referral code digits: %d", ndigits),
				 errdetail("A referral code has 1 to %d data digits.", REFCODE_MAX_DIGITS)));

	randombytes_buf(&value, sizeof(value));
	return (int64) refcode_core_make(ndigits, value);
}

/* ---------- I/O ---------- */

Datum
refcode_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	int64		code;
	char	   *detail;

	if (!AffRefcodeParse(str, &code, &detail))
	{
#if PG_VERSION_NUM >= 160000
		ereturn(fcinfo->context, (Datum) 0,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid referral code: \"%s\"", str),
				 errdetail("%s", detail)));
#else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid referral code: \"%s\"", str),
				 errdetail("%s", detail)));
#endif
	}
	PG_RETURN_INT64(code);
}

Datum
refcode_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(AffRefcodeFormat(PG_GETARG_INT64(0)));
}

/* binary form: the 8 bytes, big-endian */
Datum
refcode_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	uint64		code = (uint64) pq_getmsgint64(buf);

	if (!RefcodeLayoutValid(code))
	{
		int			n = RefcodeDigits(code);

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid referral code in binary input: %016llX", (unsigned long long) code),
				 (n < 1 || n > REFCODE_MAX_DIGITS) ?
				 errdetail("The top four bits give %d data digits; a referral code has 1 to %d.",
						   n, REFCODE_MAX_DIGITS) :
				 errdetail("A referral code with %d data digits has a value below 2^%d.",
						   n, 5 * n)));
	}
	PG_RETURN_INT64((int64) code);
}

Datum
refcode_send(PG_FUNCTION_ARGS)
{
	int64		code = PG_GETARG_INT64(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, code);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---------- comparison: as unsigned 64-bit integers ---------- */

#define REFCODE_ARG(n) ((uint64) PG_GETARG_INT64(n))

Datum
refcode_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(REFCODE_ARG(0) == REFCODE_ARG(1));
}

Datum
refcode_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(REFCODE_ARG(0) != REFCODE_ARG(1));
}

Datum
refcode_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(REFCODE_ARG(0) < REFCODE_ARG(1));
}

Datum
refcode_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(REFCODE_ARG(0) <= REFCODE_ARG(1));
}

Datum
refcode_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(REFCODE_ARG(0) > REFCODE_ARG(1));
}

Datum
refcode_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(REFCODE_ARG(0) >= REFCODE_ARG(1));
}

Datum
refcode_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(RefcodeCmp(REFCODE_ARG(0), REFCODE_ARG(1)));
}

#if SIZEOF_DATUM < 8
static int
RefcodeFastCmp(Datum x, Datum y, SortSupport ssup)
{
	return RefcodeCmp((uint64) DatumGetInt64(x), (uint64) DatumGetInt64(y));
}
#endif

Datum
refcode_sortsupport(PG_FUNCTION_ARGS)
{
	SortSupport ssup = (SortSupport) PG_GETARG_POINTER(0);

#if SIZEOF_DATUM >= 8
	/* the Datum is the code itself; the sorter has a fast path for this */
	ssup->comparator = ssup_datum_unsigned_cmp;
#else
	ssup->comparator = RefcodeFastCmp;
#endif
	PG_RETURN_VOID();
}

/* ---------- hashing, consistent with equality ---------- */

static inline uint32
RefcodeFold(uint64 code)
{
	return (uint32) code ^ (uint32) (code >> 32);
}

Datum
refcode_hash(PG_FUNCTION_ARGS)
{
	return hash_uint32(RefcodeFold(REFCODE_ARG(0)));
}

Datum
refcode_hash_extended(PG_FUNCTION_ARGS)
{
	return hash_uint32_extended(RefcodeFold(REFCODE_ARG(0)), (uint64) PG_GETARG_INT64(1));
}

/* ---------- validation without an error (for PostgreSQL 15 callers) ---------- */

Datum
refcode_is_valid(PG_FUNCTION_ARGS)
{
	int64		code;
	char	   *detail;

	PG_RETURN_BOOL(AffRefcodeParse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &code, &detail));
}

Datum
refcode_error(PG_FUNCTION_ARGS)
{
	int64		code;
	char	   *detail;

	if (AffRefcodeParse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &code, &detail))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(detail));
}

/* ---------- generation ---------- */

Datum
new_refcode(PG_FUNCTION_ARGS)
{
	int32		digits;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("digits must not be null"),
				 errdetail("A new referral code has %d to %d data digits; the default is 8.",
						   REFCODE_NEW_MIN_DIGITS, REFCODE_NEW_MAX_DIGITS)));
	digits = PG_GETARG_INT32(0);
	if (digits < REFCODE_NEW_MIN_DIGITS || digits > REFCODE_NEW_MAX_DIGITS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("digits must be between %d and %d, not %d",
						REFCODE_NEW_MIN_DIGITS, REFCODE_NEW_MAX_DIGITS, digits),
				 errdetail("A new referral code has %d to %d data digits of 5 random bits each; "
						   "the default of 8 digits gives 40 bits.",
						   REFCODE_NEW_MIN_DIGITS, REFCODE_NEW_MAX_DIGITS)));
	PG_RETURN_INT64(AffRefcodeRandom(digits));
}
