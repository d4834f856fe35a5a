/*
 * refcode_core.c
 *	  Parsing and formatting of referral codes without PostgreSQL (see
 *	  refcode_core.h; the layout and the check character are described in
 *	  refcode.c).  Compiled into the extension and into the fuzz harness.
 */
#include "refcode_core.h"

#include <string.h>

#define REFCODE_VALUE_BITS 60
#define REFCODE_VALUE_MASK ((UINT64_C(1) << REFCODE_VALUE_BITS) - 1)

/* GF(2^5) reduction: x^5 = x^2 + 1 */
#define REFCODE_GF_POLY 0x25

const char	refcode_core_alphabet[33] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int
refcode_core_gf_mul_a(int t)
{
	t <<= 1;
	if (t & 0x20)
		t ^= REFCODE_GF_POLY;
	return t;
}

int
refcode_core_digit_value(unsigned char c)
{
	const char *hit;

	if (c >= 'a' && c <= 'z')
		c -= 'a' - 'A';
	if (c == 'O')
		return 0;
	if (c == 'I' || c == 'L')
		return 1;
	/* 32, not 33: the terminating NUL is not a digit */
	hit = memchr(refcode_core_alphabet, c, 32);
	return hit ? (int) (hit - refcode_core_alphabet) : -1;
}

int
refcode_core_digits(uint64_t code)
{
	return (int) (code >> REFCODE_VALUE_BITS);
}

bool
refcode_core_layout_valid(uint64_t code)
{
	int			n = refcode_core_digits(code);

	if (n < 1 || n > REFCODE_CORE_MAX_DIGITS)
		return false;
	return (code & REFCODE_VALUE_MASK) >> (5 * n) == 0;
}

RefcodeParseStatus
refcode_core_parse(const char *str, RefcodeParseResult *r)
{
	int			digits[REFCODE_CORE_MAX_CHARS];
	size_t		nchars = 0;
	size_t		ndigits;
	uint64_t	value = 0;
	int			t = 0;

	r->code = 0;
	r->bad_offset = 0;
	r->nchars = 0;
	for (const char *p = str; *p; p++)
	{
		int			d;

		if (*p == '-')
			continue;
		d = refcode_core_digit_value((unsigned char) *p);
		if (d < 0)
		{
			r->bad_offset = (size_t) (p - str);
			return r->status = REFCODE_PARSE_BAD_CHAR;
		}
		/* count every character, keep only as many as a code can have */
		if (nchars < REFCODE_CORE_MAX_CHARS)
			digits[nchars] = d;
		nchars++;
	}

	if (nchars < 2 || nchars > REFCODE_CORE_MAX_CHARS)
	{
		r->nchars = nchars;
		return r->status = REFCODE_PARSE_BAD_LENGTH;
	}

	for (size_t i = 0; i < nchars; i++)
		t = refcode_core_gf_mul_a(t) ^ digits[i];
	if (t != 0)
		return r->status = REFCODE_PARSE_BAD_CHECK;

	ndigits = nchars - 1;
	for (size_t i = 0; i < ndigits; i++)
		value = (value << 5) | (uint64_t) digits[i];
	r->code = ((uint64_t) ndigits << REFCODE_VALUE_BITS) | value;
	return r->status = REFCODE_PARSE_OK;
}

size_t
refcode_core_format(uint64_t code, char buf[REFCODE_CORE_TEXT_SIZE])
{
	int			n;
	int			t = 0;

	if (!refcode_core_layout_valid(code))
		return 0;
	n = refcode_core_digits(code);
	for (int i = 0; i < n; i++)
	{
		int			d = (int) ((code >> (5 * (n - 1 - i))) & 31);

		buf[i] = refcode_core_alphabet[d];
		t = refcode_core_gf_mul_a(t) ^ d;
	}
	buf[n] = refcode_core_alphabet[refcode_core_gf_mul_a(t)];
	buf[n + 1] = '\0';
	return (size_t) n + 1;
}

uint64_t
refcode_core_make(int ndigits, uint64_t random)
{
	if (ndigits < 1 || ndigits > REFCODE_CORE_MAX_DIGITS)
		return 0;
	/* 32^n is a power of two: masking uniform random bits stays uniform */
	random &= (UINT64_C(1) << (5 * ndigits)) - 1;
	return ((uint64_t) ndigits << REFCODE_VALUE_BITS) | random;
}
