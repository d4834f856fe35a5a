/*
 * fuzz_refcode.c — libFuzzer harness for the referral code text form
 * (src/refcode_core.c: what refcode_in, refcode_out, refcode_is_valid and
 * refcode_error run inside the server).
 *
 * The input, up to its first NUL byte, is parsed as a code.  Properties
 * checked (abort() on the first violation, which libFuzzer reports as a
 * crash and saves the input):
 *
 *   1. the verdict (valid, refused character at a byte offset, wrong
 *      length, wrong check character) equals that of an independent
 *      reference parser written here, whose check character is computed
 *      with a general GF(2^5) multiplication;
 *   2. a valid text formats back to its canonical form (upper case, no
 *      hyphens, O -> 0, I/L -> 1), and that form parses to the same code;
 *   3. for a valid text, every single substitution of a character by another
 *      symbol, every adjacent transposition and every jump transposition
 *      (two apart) of different symbols is refused with a wrong check;
 *   4. the first 8 bytes as a 64-bit code: formatting succeeds exactly for
 *      codes that follow the layout, and then parsing gives the code back;
 *      refcode_core_make() gives a valid code for 1..12 digits only.
 *
 * AddressSanitizer checks every read of the input: the harness copies it
 * into a buffer of exactly its length plus the NUL.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refcode_core.h"

#define CHECK(cond, ...) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "fuzz_refcode: property violated (%s): ", #cond); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
			abort(); \
		} \
	} while (0)

static const char symbols[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* reference: value of a character, written as a lookup rather than a scan */
static int
ref_value(unsigned char c)
{
	static int	table[256];
	static int	ready;

	if (!ready)
	{
		for (int i = 0; i < 256; i++)
			table[i] = -1;
		for (int i = 0; i < 32; i++)
		{
			table[(unsigned char) symbols[i]] = i;
			if (symbols[i] >= 'A' && symbols[i] <= 'Z')
				table[(unsigned char) (symbols[i] - 'A' + 'a')] = i;
		}
		table['O'] = table['o'] = 0;
		table['I'] = table['i'] = table['L'] = table['l'] = 1;
		ready = 1;
	}
	return table[c];
}

/* reference: product in GF(2^5) = GF(2)[x] / (x^5 + x^2 + 1) */
static int
gf_mul(int a, int b)
{
	int			p = 0;

	for (int i = 0; i < 5; i++)
		if (b & (1 << i))
			p ^= a << i;
	for (int i = 8; i >= 5; i--)
		if (p & (1 << i))
			p ^= 0x25 << (i - 5);
	return p;
}

/* reference: a^k with a = x (2) */
static int
gf_pow_a(int k)
{
	int			p = 1;

	while (k-- > 0)
		p = gf_mul(p, 2);
	return p;
}

typedef struct RefVerdict
{
	RefcodeParseStatus status;
	size_t		bad_offset;
	size_t		nchars;
	uint64_t	code;
	char		canonical[REFCODE_CORE_TEXT_SIZE];
} RefVerdict;

static void
ref_parse(const char *s, size_t len, RefVerdict *v)
{
	int			d[REFCODE_CORE_MAX_CHARS];
	size_t		m = 0;
	int			sum = 0;

	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < len; i++)
	{
		int			x;

		if (s[i] == '-')
			continue;
		x = ref_value((unsigned char) s[i]);
		if (x < 0)
		{
			v->status = REFCODE_PARSE_BAD_CHAR;
			v->bad_offset = i;
			return;
		}
		if (m < REFCODE_CORE_MAX_CHARS)
			d[m] = x;
		m++;
	}
	if (m < 2 || m > REFCODE_CORE_MAX_CHARS)
	{
		v->status = REFCODE_PARSE_BAD_LENGTH;
		v->nchars = m;
		return;
	}
	/* T = sum of a^(m-k) * d_k must be 0 (k = 1..m) */
	for (size_t k = 1; k <= m; k++)
		sum ^= gf_mul(gf_pow_a((int) (m - k)), d[k - 1]);
	if (sum != 0)
	{
		v->status = REFCODE_PARSE_BAD_CHECK;
		return;
	}
	v->status = REFCODE_PARSE_OK;
	for (size_t k = 0; k + 1 < m; k++)
		v->code = v->code * 32 + (uint64_t) d[k];
	v->code |= (uint64_t) (m - 1) << 60;
	for (size_t k = 0; k < m; k++)
		v->canonical[k] = symbols[d[k]];
	v->canonical[m] = '\0';
}

/* parse a text that must be refused for its check character */
static void
expect_bad_check(const char *text, const char *why)
{
	RefcodeParseResult r;

	refcode_core_parse(text, &r);
	CHECK(r.status == REFCODE_PARSE_BAD_CHECK, "%s \"%s\" gave status %d", why, text, (int) r.status);
}

static void
check_error_detection(const char *canon)
{
	size_t		m = strlen(canon);
	char		buf[REFCODE_CORE_TEXT_SIZE];

	/* every single substitution */
	for (size_t k = 0; k < m; k++)
	{
		for (int s = 0; s < 32; s++)
		{
			if (symbols[s] == canon[k])
				continue;
			memcpy(buf, canon, m + 1);
			buf[k] = symbols[s];
			expect_bad_check(buf, "substitution");
		}
	}
	/* adjacent and jump transpositions of different symbols */
	for (size_t gap = 1; gap <= 2; gap++)
	{
		for (size_t k = 0; k + gap < m; k++)
		{
			if (canon[k] == canon[k + gap])
				continue;
			memcpy(buf, canon, m + 1);
			buf[k] = canon[k + gap];
			buf[k + gap] = canon[k];
			expect_bad_check(buf, gap == 1 ? "adjacent transposition" : "jump transposition");
		}
	}
}

static void
check_code_bits(const uint8_t *data, size_t size)
{
	uint64_t	code = 0;
	char		text[REFCODE_CORE_TEXT_SIZE];
	size_t		len;
	int			n;

	if (size < 8)
		return;
	for (int i = 0; i < 8; i++)
		code = code << 8 | data[i];
	n = (int) (code >> 60);

	len = refcode_core_format(code, text);
	if (refcode_core_layout_valid(code))
	{
		RefcodeParseResult r;

		CHECK(n >= 1 && n <= REFCODE_CORE_MAX_DIGITS && (code & ((UINT64_C(1) << 60) - 1)) >> (5 * n) == 0,
			  "layout_valid accepted %016llX", (unsigned long long) code);
		CHECK(len == (size_t) n + 1 && strlen(text) == len, "format(%016llX) has length %zu",
			  (unsigned long long) code, len);
		refcode_core_parse(text, &r);
		CHECK(r.status == REFCODE_PARSE_OK && r.code == code, "parse(format(%016llX)) = \"%s\" status %d code %016llX",
			  (unsigned long long) code, text, (int) r.status, (unsigned long long) r.code);
	}
	else
		CHECK(len == 0, "format accepted the invalid code %016llX", (unsigned long long) code);

	/* making a code from random bits */
	for (int digits = -1; digits <= REFCODE_CORE_MAX_DIGITS + 2; digits++)
	{
		uint64_t	made = refcode_core_make(digits, code);

		if (digits >= 1 && digits <= REFCODE_CORE_MAX_DIGITS)
			CHECK(refcode_core_layout_valid(made) && refcode_core_digits(made) == digits &&
				  (made & ((UINT64_C(1) << 60) - 1)) == (code & ((UINT64_C(1) << (5 * digits)) - 1)),
				  "make(%d, %016llX) = %016llX", digits, (unsigned long long) code,
				  (unsigned long long) made);
		else
			CHECK(made == 0, "make(%d) = %016llX", digits, (unsigned long long) made);
	}
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t		len = nul ? (size_t) (nul - data) : size;
	char	   *str = malloc(len + 1);
	RefcodeParseResult r;
	RefVerdict	v;

	if (str == NULL)
		return 0;
	memcpy(str, data, len);
	str[len] = '\0';

	refcode_core_parse(str, &r);
	ref_parse(str, len, &v);
	CHECK(r.status == v.status, "status %d, reference %d", (int) r.status, (int) v.status);
	switch (r.status)
	{
		case REFCODE_PARSE_BAD_CHAR:
			CHECK(r.bad_offset == v.bad_offset, "bad offset %zu, reference %zu", r.bad_offset, v.bad_offset);
			break;
		case REFCODE_PARSE_BAD_LENGTH:
			CHECK(r.nchars == v.nchars, "nchars %zu, reference %zu", r.nchars, v.nchars);
			break;
		case REFCODE_PARSE_BAD_CHECK:
			break;
		case REFCODE_PARSE_OK:
			{
				char		text[REFCODE_CORE_TEXT_SIZE];
				RefcodeParseResult again;
				size_t		tlen;

				CHECK(r.code == v.code, "code %016llX, reference %016llX",
					  (unsigned long long) r.code, (unsigned long long) v.code);
				CHECK(refcode_core_layout_valid(r.code), "parsed an invalid layout %016llX",
					  (unsigned long long) r.code);
				tlen = refcode_core_format(r.code, text);
				CHECK(tlen == strlen(v.canonical) && strcmp(text, v.canonical) == 0,
					  "format gave \"%s\", canonical form \"%s\"", text, v.canonical);
				refcode_core_parse(text, &again);
				CHECK(again.status == REFCODE_PARSE_OK && again.code == r.code,
					  "round trip of \"%s\" failed", text);
				check_error_detection(text);
			}
			break;
		default:
			CHECK(0, "unknown status %d", (int) r.status);
	}

	check_code_bits(data, size);
	free(str);
	return 0;
}
