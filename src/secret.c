/*
 * secret.c
 *	  Keyed hashes of personal data: device ids, IP addresses, user agents,
 *	  payout destinations; and the per-program keys behind them.
 *
 * Such values are never stored in clear: only a keyed BLAKE2b-256 hash
 * (libsodium crypto_generichash) under a per-program key, so equal values
 * can be matched (fraud rules: one UPI id on many accounts) but not read or
 * brute-forced from a dump without the key.  The key lives in
 * affiliate.program_secret (readable by the extension owner only).
 *
 * How the key is stored depends on pg_affiliate.root_key_file:
 *   - without a root key, in clear (hash_key): whoever reads the table or a
 *     dump of it has the key;
 *   - with a root key (rootkey.c), sealed (sealed_key): crypto_secretbox
 *     (XSalsa20-Poly1305) of (program id, key) under a subkey of the root
 *     key (crypto_kdf, context "pgaffkey", subkey id SEAL_SUBKEY_ID), with a
 *     random nonce stored in front of the ciphertext, and the root key's
 *     fingerprint (root_key_id) beside it.  A dump then holds only the
 *     ciphertext; a server with another root key, or none, refuses to use
 *     the key with a clear error instead of computing wrong hashes.
 * Keys stored in clear keep working after a root key is configured;
 * affiliate.seal_secrets() seals them.
 *
 * A key is opened (or copied) into sodium_malloc memory only while a hash
 * is computed, and wiped right after.
 *
 * The sealing itself is length-generic (AffSealSecret / AffOpenSecret): the
 * signing keys of certificates (certificate.c) are sealed the same way, under
 * their own subkey of the root key (one crypto_kdf subkey id per purpose), so
 * a sealed key of one kind never opens as the other.
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "pg_affiliate.h"

/* the crypto_kdf subkey id of the root key that seals program hash keys */
#define SEAL_SUBKEY_ID AFF_SEAL_HASH_KEY

#define HASH_KEY_BYTES crypto_generichash_KEYBYTES
/* what is sealed: the program id (8 bytes, big-endian), then the secret */
#define SEALED_PLAIN_BYTES(len) (8 + (len))
/* what is stored: nonce || MAC || ciphertext */
#define SEALED_BYTES(len) AFF_SEALED_BYTES(len)

StaticAssertDecl(HASH_KEY_BYTES == 32, "program hash keys are 32 bytes (program_secret checks it)");
StaticAssertDecl(SEALED_BYTES(HASH_KEY_BYTES) == 80, "sealed keys are 80 bytes (program_secret checks it)");
StaticAssertDecl(AFF_SEALED_BYTES(0) == crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 8,
				 "AFF_SEALED_BYTES matches libsodium's sizes");
StaticAssertDecl(HASH_KEY_BYTES <= AFF_SECRET_MAX_BYTES, "a hash key fits the guarded buffer");
StaticAssertDecl(crypto_secretbox_KEYBYTES >= crypto_kdf_BYTES_MIN &&
				 crypto_secretbox_KEYBYTES <= crypto_kdf_BYTES_MAX,
				 "the sealing key is a crypto_kdf subkey");

PG_FUNCTION_INFO_V1(seal_secrets);
PG_FUNCTION_INFO_V1(root_key_id);

/* the guarded scratch memory: every secret of this file passes through it */
typedef struct SecretScratch
{
	unsigned char seal_key[crypto_secretbox_KEYBYTES];	/* subkey of the root key */
	unsigned char plain[SEALED_PLAIN_BYTES(AFF_SECRET_MAX_BYTES)];	/* program id || secret */
	unsigned char check[SEALED_PLAIN_BYTES(AFF_SECRET_MAX_BYTES)];	/* the round trip */
	unsigned char secret[AFF_SECRET_MAX_BYTES]; /* AffSecretBuffer(): a caller's key */
} SecretScratch;

#define HashKeyOf(s) ((s)->plain + 8)

static SecretScratch *scratch = NULL;

static void
Wipe(SecretScratch *s)
{
	sodium_memzero(s, sizeof(SecretScratch));
}

/* an error between opening a key and wiping it: wipe at the abort */
static void
WipeOnAbort(XactEvent event, void *arg pg_attribute_unused())
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		Wipe(scratch);
}

static void
WipeOnSubAbort(SubXactEvent event, SubTransactionId mySubid pg_attribute_unused(),
			   SubTransactionId parentSubid pg_attribute_unused(), void *arg pg_attribute_unused())
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		Wipe(scratch);
}

/*
 * The guarded buffer keys are copied into: sodium_malloc memory (guard pages,
 * locked, never swapped), allocated once per backend because each
 * sodium_malloc/sodium_free is a handful of mmap/mprotect system calls, and
 * wiped after every use (and at every abort), so it holds a key only while
 * a hash is computed.
 */
static SecretScratch *
Scratch(void)
{
	if (scratch == NULL)
	{
		scratch = sodium_malloc(sizeof(SecretScratch));
		if (scratch == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of secure memory")));
		Wipe(scratch);
		RegisterXactCallback(WipeOnAbort, NULL);
		RegisterSubXactCallback(WipeOnSubAbort, NULL);
	}
	return scratch;
}

static void
PutProgramId(unsigned char *p, int64 program_id)
{
	uint64		v = (uint64) program_id;

	for (int i = 7; i >= 0; i--)
	{
		p[i] = (unsigned char) (v & 0xff);
		v >>= 8;
	}
}

bool
AffRootKeyConfigured(void)
{
	return affiliate_root_key_file != NULL && affiliate_root_key_file[0] != '\0';
}

#define RootKeyConfigured() AffRootKeyConfigured()

/* 55000 unless a root key is loaded; what: what needed it */
static void
RequireRootKey(SecretScratch *s, const char *what)
{
	if (AffRootKeyLoaded())
		return;
	Wipe(s);
	if (RootKeyConfigured())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_affiliate.root_key_file is set but pg_affiliate was not preloaded"),
				 errdetail("%s needs the root key, which is read only at server start from "
						   "shared_preload_libraries; no secret key is stored in clear meanwhile.", what),
				 errhint("Add pg_affiliate to shared_preload_libraries and restart the server.")));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("no root key is loaded"),
			 errdetail("%s needs the root key.", what),
			 errhint("Set pg_affiliate.root_key_file, add pg_affiliate to shared_preload_libraries "
					 "and restart the server.")));
}

void
AffRequireRootKey(const char *what)
{
	RequireRootKey(Scratch(), what);
}

/* the loaded root key's fingerprint as a bytea (palloc'd); call after AffRequireRootKey */
bytea *
AffRootKeyIdBytea(void)
{
	bytea	   *id = palloc(VARHDRSZ + AFF_ROOT_KEY_ID_BYTES);

	if (!AffRootKeyLoaded())
		elog(ERROR, "pg_affiliate: no root key is loaded");
	SET_VARSIZE(id, VARHDRSZ + AFF_ROOT_KEY_ID_BYTES);
	memcpy(VARDATA(id), AffRootKeyId(), AFF_ROOT_KEY_ID_BYTES);
	return id;
}

/*
 * Seal s->plain (program id || the len-byte secret at s->plain + 8) under
 * subkey subkey_id of the loaded root key: returns nonce || secretbox as a
 * palloc'd bytea.  Wipes the sealing key; s->plain stays.
 */
static bytea *
Seal(SecretScratch *s, uint64 subkey_id, int64 program_id, size_t len)
{
	bytea	   *out = palloc(VARHDRSZ + SEALED_BYTES(len));
	unsigned char *nonce = (unsigned char *) VARDATA(out);

	Assert(len <= AFF_SECRET_MAX_BYTES);
	SET_VARSIZE(out, VARHDRSZ + SEALED_BYTES(len));
	PutProgramId(s->plain, program_id);
	randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
	AffRootKeyDerive(subkey_id, s->seal_key, sizeof(s->seal_key));
	crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES, s->plain, SEALED_PLAIN_BYTES(len),
						  nonce, s->seal_key);
	sodium_memzero(s->seal_key, sizeof(s->seal_key));
	return out;
}

/*
 * Open the sealed secret (len bytes; what names it: "hash key", "signing
 * key") of program_id into dst (SEALED_PLAIN_BYTES(len), guarded).  key_id
 * is the fingerprint stored with it.  Every refusal wipes s first.
 */
static void
Open(SecretScratch *s, uint64 subkey_id, const char *what, unsigned char *dst, int64 program_id,
	 bytea *sealed, bytea *key_id, size_t len)
{
	const unsigned char *loaded;
	unsigned char expect[8];
	const unsigned char *nonce;
	int			rc;

	Assert(len <= AFF_SECRET_MAX_BYTES);
	if (VARSIZE_ANY_EXHDR(sealed) != SEALED_BYTES(len) || VARSIZE_ANY_EXHDR(key_id) != AFF_ROOT_KEY_ID_BYTES)
	{
		Wipe(s);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("malformed sealed %s of program " INT64_FORMAT, what, program_id)));
	}
	if (!AffRootKeyLoaded())
	{
		char	   *id = AffRootKeyIdHex((unsigned char *) VARDATA_ANY(key_id));

		Wipe(s);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the %s of program " INT64_FORMAT " is sealed, but no root key is loaded",
						what, program_id),
				 errdetail("%s", RootKeyConfigured()
						   ? "pg_affiliate.root_key_file is set, but pg_affiliate was not in shared_preload_libraries at server start."
						   : "pg_affiliate.root_key_file is not set."),
				 errhint("Configure the root key with id %s (pg_affiliate.root_key_file, pg_affiliate in "
						 "shared_preload_libraries) and restart the server.", id)));
	}
	loaded = AffRootKeyId();
	if (sodium_memcmp(loaded, VARDATA_ANY(key_id), AFF_ROOT_KEY_ID_BYTES) != 0)
	{
		char	   *want = AffRootKeyIdHex((unsigned char *) VARDATA_ANY(key_id));
		char	   *have = AffRootKeyIdHex(loaded);

		Wipe(s);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the %s of program " INT64_FORMAT " was sealed with another root key",
						what, program_id),
				 errdetail("It was sealed with root key %s; the server loaded root key %s.", want, have),
				 errhint("Point pg_affiliate.root_key_file at the key file with id %s and restart the server.",
						 want)));
	}

	nonce = (const unsigned char *) VARDATA_ANY(sealed);
	AffRootKeyDerive(subkey_id, s->seal_key, sizeof(s->seal_key));
	rc = crypto_secretbox_open_easy(dst, nonce + crypto_secretbox_NONCEBYTES,
									SEALED_BYTES(len) - crypto_secretbox_NONCEBYTES, nonce, s->seal_key);
	sodium_memzero(s->seal_key, sizeof(s->seal_key));
	PutProgramId(expect, program_id);
	if (rc != 0 || sodium_memcmp(dst, expect, 8) != 0)
	{
		Wipe(s);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the sealed %s of program " INT64_FORMAT " does not open", what, program_id),
				 errdetail("%s", rc != 0
						   ? "It fails authentication under the root key it names: the stored value was altered."
						   : "It is the sealed key of another program.")));
	}
}

/*
 * Seal len bytes (at most AFF_SECRET_MAX_BYTES) of secret, bound to
 * program_id, under subkey subkey_id of the loaded root key (55000 without
 * one; what names the secret).  The result is opened again and compared
 * before it is returned.  Returns nonce || secretbox (AFF_SEALED_BYTES(len)),
 * palloc'd.  Wipes the guarded scratch, AffSecretBuffer() included.
 */
bytea *
AffSealSecret(uint64 subkey_id, const char *what, int64 program_id,
			  const unsigned char *secret, size_t len)
{
	SecretScratch *s = Scratch();
	bytea	   *sealed;
	bytea	   *key_id;

	if (len > AFF_SECRET_MAX_BYTES)
		elog(ERROR, "pg_affiliate: a secret of %zu bytes cannot be sealed", len);
	RequireRootKey(s, what);
	key_id = AffRootKeyIdBytea();
	memmove(s->plain + 8, secret, len);
	sealed = Seal(s, subkey_id, program_id, len);
	Open(s, subkey_id, what, s->check, program_id, sealed, key_id, len);
	if (sodium_memcmp(s->check, s->plain, SEALED_PLAIN_BYTES(len)) != 0)
	{
		Wipe(s);
		elog(ERROR, "pg_affiliate: the sealed %s of program " INT64_FORMAT " does not open to itself",
			 what, program_id);
	}
	Wipe(s);
	return sealed;
}

/*
 * Open a secret sealed by AffSealSecret (len bytes; root_key_id: the
 * fingerprint stored with it) into the guarded buffer AffSecretBuffer()
 * and return it.  The caller wipes it (AffSecretWipe) as soon as it is done;
 * an abort wipes it too.  Refusals: 55000 (no root key, another root key),
 * XX001 (malformed, altered, another program's).
 */
unsigned char *
AffOpenSecret(uint64 subkey_id, const char *what, int64 program_id,
			  bytea *sealed, bytea *root_key_id, size_t len)
{
	SecretScratch *s = Scratch();

	if (len > AFF_SECRET_MAX_BYTES)
		elog(ERROR, "pg_affiliate: a secret of %zu bytes cannot be opened", len);
	Open(s, subkey_id, what, s->plain, program_id, sealed, root_key_id, len);
	memcpy(s->secret, s->plain + 8, len);
	sodium_memzero(s->plain, sizeof(s->plain));
	return s->secret;
}

/* the guarded buffer (AFF_SECRET_MAX_BYTES of sodium_malloc memory) */
unsigned char *
AffSecretBuffer(void)
{
	return Scratch()->secret;
}

/* wipe every secret this backend holds in guarded memory */
void
AffSecretWipe(void)
{
	if (scratch != NULL)
		Wipe(scratch);
}

/*
 * Create the program's key (clear or sealed); a concurrent creator may win.
 * can_seal: program_secret has the columns of sealed keys (0.4.0 on; the
 * library also serves a 0.3.0 schema until ALTER EXTENSION UPDATE).
 */
static void
CreateKey(int64 program_id, bool can_seal)
{
	static PlanSlot ins_clear,
				ins_sealed;
	SecretScratch *s = Scratch();
	Datum		values[3];

	values[0] = Int64GetDatum(program_id);
	if (AffRootKeyLoaded() || RootKeyConfigured())
	{
		bytea	   *sealed;
		bytea	   *id = palloc(VARHDRSZ + AFF_ROOT_KEY_ID_BYTES);

		RequireRootKey(s, "Creating the hash key of a program");
		if (!can_seal)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the installed version of pg_affiliate cannot store sealed keys"),
					 errdetail("A root key is loaded, so new hash keys are sealed; affiliate.program_secret "
							   "gets the columns for them in version 0.4.0."),
					 errhint("Run ALTER EXTENSION pg_affiliate UPDATE.")));
		randombytes_buf(HashKeyOf(s), HASH_KEY_BYTES);
		sealed = Seal(s, SEAL_SUBKEY_ID, program_id, HASH_KEY_BYTES);
		Wipe(s);
		SET_VARSIZE(id, VARHDRSZ + AFF_ROOT_KEY_ID_BYTES);
		memcpy(VARDATA(id), AffRootKeyId(), AFF_ROOT_KEY_ID_BYTES);
		values[1] = PointerGetDatum(sealed);
		values[2] = PointerGetDatum(id);
		AffExec(&ins_sealed,
				"INSERT INTO affiliate.program_secret (program_id, sealed_key, root_key_id) "
				"VALUES ($1, $2, $3) ON CONFLICT (program_id) DO NOTHING",
				3, (Oid[]) {INT8OID, BYTEAOID, BYTEAOID}, values, NULL, false, 0);
	}
	else
	{
		bytea	   *fresh = palloc(VARHDRSZ + HASH_KEY_BYTES);

		SET_VARSIZE(fresh, VARHDRSZ + HASH_KEY_BYTES);
		randombytes_buf(VARDATA(fresh), HASH_KEY_BYTES);
		values[1] = PointerGetDatum(fresh);
		AffExec(&ins_clear,
				"INSERT INTO affiliate.program_secret (program_id, hash_key) VALUES ($1, $2) "
				"ON CONFLICT (program_id) DO NOTHING",
				2, (Oid[]) {INT8OID, BYTEAOID}, values, NULL, false, 0);
		sodium_memzero(VARDATA(fresh), HASH_KEY_BYTES);
		pfree(fresh);
	}
}

/* column col of the first row of the SPI result, by name; absent: null */
static Datum
Column(const char *name, bool *isnull)
{
	int			col = SPI_fnumber(SPI_tuptable->tupdesc, name);

	*isnull = true;
	if (col <= 0)
		return (Datum) 0;
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull);
}

/*
 * Keyed BLAKE2b-256 of (domain, value) under the program's hash key.  The key
 * is created on first use from libsodium's CSPRNG; it is copied (or opened)
 * into the guarded buffer above for the computation and wiped right after
 * it, and a clear copy SPI returned is zeroed too.  Must be called inside an
 * SPI connection.
 */
bytea *
AffKeyedHash(int64 program_id, const char *domain, const char *value)
{
	static PlanSlot sel;
	Datum		values[1];
	SecretScratch *s;
	bytea	   *out;
	crypto_generichash_state st;
	bool		clear_null,
				sealed_null,
				id_null;
	Datum		clear,
				sealed,
				id;

	values[0] = Int64GetDatum(program_id);
	for (int attempt = 0;; attempt++)
	{
		/*
		 * SELECT *: the columns are looked up by name, so the same plan
		 * serves the 0.3.0 table (hash_key only) and the 0.4.0 one.
		 */
		AffExec(&sel,
				"SELECT * FROM affiliate.program_secret WHERE program_id = $1",
				1, (Oid[]) {INT8OID}, values, NULL, false, 1);
		if (SPI_processed > 0 || attempt > 0)
			break;
		CreateKey(program_id, SPI_fnumber(SPI_tuptable->tupdesc, "sealed_key") > 0);
	}
	if (SPI_processed == 0)
		elog(ERROR, "pg_affiliate: could not create the hash key of program " INT64_FORMAT,
			 program_id);

	/* everything that may fail on memory is allocated before a key is out */
	out = palloc(VARHDRSZ + crypto_generichash_BYTES);
	SET_VARSIZE(out, VARHDRSZ + crypto_generichash_BYTES);
	clear = Column("hash_key", &clear_null);
	sealed = Column("sealed_key", &sealed_null);
	id = Column("root_key_id", &id_null);

	s = Scratch();
	if (!clear_null)
	{
		bytea	   *k = DatumGetByteaPP(clear);

		if (VARSIZE_ANY_EXHDR(k) != HASH_KEY_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("malformed hash key of program " INT64_FORMAT, program_id)));
		memcpy(HashKeyOf(s), VARDATA_ANY(k), HASH_KEY_BYTES);
		sodium_memzero(VARDATA_ANY(k), HASH_KEY_BYTES);
	}
	else if (!sealed_null && !id_null)
		Open(s, SEAL_SUBKEY_ID, "hash key", s->plain, program_id, DatumGetByteaPP(sealed),
			 DatumGetByteaPP(id), HASH_KEY_BYTES);
	else
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("program " INT64_FORMAT " has no usable hash key", program_id)));

	crypto_generichash_init(&st, HashKeyOf(s), HASH_KEY_BYTES, crypto_generichash_BYTES);
	crypto_generichash_update(&st, (const unsigned char *) domain, strlen(domain) + 1);
	crypto_generichash_update(&st, (const unsigned char *) value, strlen(value));
	crypto_generichash_final(&st, (unsigned char *) VARDATA(out), crypto_generichash_BYTES);
	sodium_memzero(&st, sizeof(st));
	Wipe(s);
	return out;
}

/*
 * affiliate.seal_secrets(): seal every hash key and every signing key still
 * stored in clear under the loaded root key (55000 without one), one audit
 * row per key; returns how many were sealed.  Each sealed key is opened again and
 * compared with the clear one before the clear one is replaced.  Hashes do
 * not change: the key is the same, only its storage is.
 */
Datum
seal_secrets(PG_FUNCTION_ARGS)
{
	static PlanSlot sel_ids,
				sel_key,
				upd;
	SecretScratch *s = Scratch();
	int64	   *ids;
	uint64		n;
	bytea	   *key_id;
	char	   *key_id_hex;

	RequireRootKey(s, "Sealing the hash keys");
	key_id = palloc(VARHDRSZ + AFF_ROOT_KEY_ID_BYTES);
	SET_VARSIZE(key_id, VARHDRSZ + AFF_ROOT_KEY_ID_BYTES);
	memcpy(VARDATA(key_id), AffRootKeyId(), AFF_ROOT_KEY_ID_BYTES);
	key_id_hex = AffRootKeyIdHex(AffRootKeyId());

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	AffExec(&sel_ids,
			"SELECT program_id FROM affiliate.program_secret WHERE hash_key IS NOT NULL "
			"ORDER BY program_id FOR UPDATE",
			0, NULL, NULL, NULL, false, 0);
	n = SPI_processed;
	ids = palloc(sizeof(int64) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
		ids[i] = AffGetInt64((int) i, 1, NULL);

	for (uint64 i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		isnull;
		bytea	   *k;
		bytea	   *sealed;
		StringInfoData detail;

		values[0] = Int64GetDatum(ids[i]);
		AffExec(&sel_key,
				"SELECT hash_key FROM affiliate.program_secret WHERE program_id = $1",
				1, (Oid[]) {INT8OID}, values, NULL, false, 1);
		if (SPI_processed != 1)
			elog(ERROR, "pg_affiliate: the hash key of program " INT64_FORMAT " vanished", ids[i]);
		k = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		if (isnull || VARSIZE_ANY_EXHDR(k) != HASH_KEY_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("malformed hash key of program " INT64_FORMAT, ids[i])));
		memcpy(HashKeyOf(s), VARDATA_ANY(k), HASH_KEY_BYTES);
		sodium_memzero(VARDATA_ANY(k), HASH_KEY_BYTES);

		sealed = Seal(s, SEAL_SUBKEY_ID, ids[i], HASH_KEY_BYTES);
		Open(s, SEAL_SUBKEY_ID, "hash key", s->check, ids[i], sealed, key_id, HASH_KEY_BYTES);
		if (sodium_memcmp(s->check, s->plain, SEALED_PLAIN_BYTES(HASH_KEY_BYTES)) != 0)
		{
			Wipe(s);
			elog(ERROR, "pg_affiliate: the sealed hash key of program " INT64_FORMAT " does not open to itself",
				 ids[i]);
		}
		Wipe(s);

		values[1] = PointerGetDatum(sealed);
		values[2] = PointerGetDatum(key_id);
		AffExec(&upd,
				"UPDATE affiliate.program_secret SET hash_key = NULL, sealed_key = $2, root_key_id = $3 "
				"WHERE program_id = $1",
				3, (Oid[]) {INT8OID, BYTEAOID, BYTEAOID}, values, NULL, false, 0);

		initStringInfo(&detail);
		appendStringInfo(&detail, "{\"root_key_id\": \"%s\"}", key_id_hex);
		AffAudit(ids[i], "seal_secret", AffJsonbOf(&detail));
	}
	/* and the signing keys of certificates (certificate.c) */
	n += (uint64) AffSealSigningKeys();
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}

/* affiliate.root_key_id(): the loaded root key's fingerprint, or NULL */
Datum
root_key_id(PG_FUNCTION_ARGS)
{
	if (!AffRootKeyLoaded())
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(AffRootKeyIdHex(AffRootKeyId())));
}
