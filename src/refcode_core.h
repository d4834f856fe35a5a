/*
 * refcode_core.h
 *	  The referral code text form without PostgreSQL: parsing, formatting and
 *	  the check character of affiliate.refcode (see refcode.c for the layout
 *	  and the mathematics).
 *
 * Dependency-free C (stdint, stdbool, stddef only) so that the fuzz harness
 * test/fuzz/fuzz_refcode.c can call exactly the code the extension runs,
 * without a backend.  Nothing here allocates, throws or reads beyond the
 * terminating NUL of its input.
 */
#ifndef REFCODE_CORE_H
#define REFCODE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* data digits of a code; the text form adds one check character */
#define REFCODE_CORE_MAX_DIGITS 12
#define REFCODE_CORE_MAX_CHARS (REFCODE_CORE_MAX_DIGITS + 1)
/* bytes of a formatted code, with the terminating NUL */
#define REFCODE_CORE_TEXT_SIZE (REFCODE_CORE_MAX_CHARS + 1)

/* the 32 symbols, digit value = index */
extern const char refcode_core_alphabet[33];

typedef enum RefcodeParseStatus
{
	REFCODE_PARSE_OK,			/* code holds the value */
	REFCODE_PARSE_BAD_CHAR,		/* bad_offset: byte offset of a refused character */
	REFCODE_PARSE_BAD_LENGTH,	/* nchars: characters not counting hyphens */
	REFCODE_PARSE_BAD_CHECK		/* the check character does not match */
} RefcodeParseStatus;

typedef struct RefcodeParseResult
{
	RefcodeParseStatus status;
	uint64_t	code;			/* REFCODE_PARSE_OK: the 64-bit code */
	size_t		bad_offset;		/* REFCODE_PARSE_BAD_CHAR */
	size_t		nchars;			/* REFCODE_PARSE_BAD_LENGTH */
} RefcodeParseResult;

/* value (0..31) of one input character; -1 if it is not a code character */
extern int	refcode_core_digit_value(unsigned char c);

/* multiply a GF(2^5) element by a = x */
extern int	refcode_core_gf_mul_a(int t);

/* number of data digits in the top four bits (may be out of range) */
extern int	refcode_core_digits(uint64_t code);

/* does the 64-bit pattern follow the layout (1..12 digits, value < 32^n)? */
extern bool refcode_core_layout_valid(uint64_t code);

/*
 * Parse the NUL-terminated text str (case-insensitive, hyphens ignored, O
 * read as 0, I and L as 1).  Returns r->status; the first problem found
 * wins, in this order: a refused character, the length, the check.
 */
extern RefcodeParseStatus refcode_core_parse(const char *str, RefcodeParseResult *r);

/*
 * Write the canonical text form of code into buf (upper case, no hyphens,
 * NUL-terminated) and return its length (2..13); return 0 and write nothing
 * when code does not follow the layout.
 */
extern size_t refcode_core_format(uint64_t code, char buf[REFCODE_CORE_TEXT_SIZE]);

/*
 * The code with ndigits (1..12) data digits whose value is the low
 * 5 * ndigits bits of random; 0 (no valid code) for a bad ndigits.
 */
extern uint64_t refcode_core_make(int ndigits, uint64_t random);

#endif							/* REFCODE_CORE_H */
