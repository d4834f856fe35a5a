/*
 * secret.c
 *	  Keyed hashes of personal data: device ids, IP addresses, user agents,
 *	  payout destinations.
 *
 * Such values are never stored in clear: only a keyed BLAKE2b-256 hash
 * (libsodium crypto_generichash) under a per-program key, so equal values
 * can be matched (fraud rules: one UPI id on many accounts) but not read or
 * brute-forced from a dump without the key.  The key lives in
 * affiliate.program_secret (readable by the extension owner only).
 */
#include "postgres.h"

#include <sodium.h>

#include "catalog/pg_type.h"
#include "utils/builtins.h"

#include "pg_affiliate.h"

/*
 * The guarded buffer keys are copied into: sodium_malloc memory (guard pages,
 * locked, never swapped), allocated once per backend because each
 * sodium_malloc/sodium_free is a handful of mmap/mprotect system calls, and
 * wiped after every use, so it holds a key only while a hash is computed.
 */
static unsigned char *
KeyBuffer(void)
{
	static unsigned char *buf = NULL;

	if (buf == NULL)
	{
		buf = sodium_malloc(crypto_generichash_KEYBYTES);
		if (buf == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of secure memory")));
		sodium_memzero(buf, crypto_generichash_KEYBYTES);
	}
	return buf;
}

/*
 * Keyed BLAKE2b-256 of (domain, value) under the program's hash key.  The key
 * is created on first use from libsodium's CSPRNG; it is copied into
 * the guarded buffer above for the computation and wiped right after it, and
 * the copy SPI returned is zeroed too.  Must be called inside an SPI connection.
 */
bytea *
AffKeyedHash(int64 program_id, const char *domain, const char *value)
{
	static PlanSlot sel,
				ins;
	Datum		values[2];
	unsigned char *key;
	bytea	   *out;
	crypto_generichash_state st;
	bool		isnull;

	values[0] = Int64GetDatum(program_id);
	for (int attempt = 0;; attempt++)
	{
		AffExec(&sel, "SELECT hash_key FROM affiliate.program_secret WHERE program_id = $1",
				1, (Oid[]) {INT8OID}, values, NULL, false, 1);
		if (SPI_processed > 0 || attempt > 0)
			break;
		{
			bytea	   *fresh = palloc(VARHDRSZ + crypto_generichash_KEYBYTES);

			SET_VARSIZE(fresh, VARHDRSZ + crypto_generichash_KEYBYTES);
			randombytes_buf(VARDATA(fresh), crypto_generichash_KEYBYTES);
			values[1] = PointerGetDatum(fresh);
			AffExec(&ins,
					"INSERT INTO affiliate.program_secret (program_id, hash_key) VALUES ($1, $2) "
					"ON CONFLICT (program_id) DO NOTHING",
					2, (Oid[]) {INT8OID, BYTEAOID}, values, NULL, false, 0);
			sodium_memzero(VARDATA(fresh), crypto_generichash_KEYBYTES);
			pfree(fresh);
		}
	}
	if (SPI_processed == 0)
		elog(ERROR, "pg_affiliate: could not create the hash key of program " INT64_FORMAT,
			 program_id);

	{
		bytea	   *k = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
													  SPI_tuptable->tupdesc, 1, &isnull));

		if (isnull || VARSIZE_ANY_EXHDR(k) != crypto_generichash_KEYBYTES)
			elog(ERROR, "pg_affiliate: malformed hash key of program " INT64_FORMAT, program_id);
		key = KeyBuffer();
		memcpy(key, VARDATA_ANY(k), crypto_generichash_KEYBYTES);
		sodium_memzero(VARDATA_ANY(k), crypto_generichash_KEYBYTES);
	}

	out = palloc(VARHDRSZ + crypto_generichash_BYTES);
	SET_VARSIZE(out, VARHDRSZ + crypto_generichash_BYTES);
	crypto_generichash_init(&st, key, crypto_generichash_KEYBYTES, crypto_generichash_BYTES);
	crypto_generichash_update(&st, (const unsigned char *) domain, strlen(domain) + 1);
	crypto_generichash_update(&st, (const unsigned char *) value, strlen(value));
	crypto_generichash_final(&st, (unsigned char *) VARDATA(out), crypto_generichash_BYTES);
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(key, crypto_generichash_KEYBYTES);
	return out;
}

