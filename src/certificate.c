/*
 * certificate.c
 *	  Signing keys and course certificates: Ed25519 (libsodium crypto_sign)
 *	  signatures over a canonical text of the certified facts, public
 *	  verification, revocation and key rotation (docs/certificates.md,
 *	  docs/keys.md).
 *
 * Every program has one active signing key (affiliate.signing_key, retired_at
 * NULL) and any number of retired ones; a certificate names the key that
 * signed it, so rotation never invalidates an old certificate.  The key is
 * made when the program is created (trigger program_signing_key) and, for a
 * program that has none (a database updated from 0.4.0, a program loaded by a
 * restore), when it is first needed.
 *
 * Secret keys are readable by the extension owner only (no grant, row-level
 * security without a policy).  Without a root key they are stored in clear
 * (secret_key); with one (pg_affiliate.root_key_file) sealed (sealed_key,
 * root_key_id) with secret.c's AffSealSecret under the root key's subkey
 * AFF_SEAL_SIGNING_KEY.  A secret key is in memory only in secret.c's guarded
 * buffer (sodium_malloc) while a signature is made, and wiped right after.
 *
 * The canonical text v1 (what is signed; certificate_text() returns it):
 *   pg_affiliate certificate v1\n
 *   program: <program id>\n
 *   number: <number>\n
 *   member: <member id>\n
 *   member_external_id: <text>\n
 *   course: <course id>\n
 *   course_title: <text>\n
 *   issued_at: <UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ>\n
 *   key: <key id>\n
 * The two free-text facts are escaped (AppendEscaped: \\ \n \r), so every
 * field is one line.  Verification recomputes it from the stored row and checks the signature
 * with the named key's public key; no stored flag is trusted.
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "funcapi.h"
#include "tcop/pquery.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/portal.h"
#include "utils/timestamp.h"

#include "pg_affiliate.h"

#define PUBLIC_KEY_BYTES crypto_sign_PUBLICKEYBYTES
#define SECRET_KEY_BYTES crypto_sign_SECRETKEYBYTES
#define SIGNATURE_BYTES crypto_sign_BYTES
/* data digits of a certificate number (plus one check character) */
#define NUMBER_DIGITS 10
/* the longest number text looked up (a number is 11 characters) */
#define NUMBER_MAX_TEXT 64
#define REASON_MAX 2000

StaticAssertDecl(PUBLIC_KEY_BYTES == 32, "Ed25519 public keys are 32 bytes (signing_key checks it)");
StaticAssertDecl(SECRET_KEY_BYTES == 64, "Ed25519 secret keys are 64 bytes (signing_key checks it)");
StaticAssertDecl(SIGNATURE_BYTES == 64, "Ed25519 signatures are 64 bytes (certificate checks it)");
StaticAssertDecl(SECRET_KEY_BYTES <= AFF_SECRET_MAX_BYTES, "a signing key fits the guarded buffer");
StaticAssertDecl(AFF_SEALED_BYTES(SECRET_KEY_BYTES) == 112, "sealed signing keys are 112 bytes");

PG_FUNCTION_INFO_V1(program_signing_key);
PG_FUNCTION_INFO_V1(rotate_signing_key);
PG_FUNCTION_INFO_V1(certificate_public_key);
PG_FUNCTION_INFO_V1(verify_certificate);
PG_FUNCTION_INFO_V1(certificate_text);
PG_FUNCTION_INFO_V1(revoke_certificate);
PG_FUNCTION_INFO_V1(course_certificate);

/*
 * True when the statement being run is a COPY: rows loaded by pg_restore (or
 * psql with a plain dump).  They bring their own keys and certificates, so
 * the triggers write nothing for them (docs/reliability.md, Backups).
 */
static bool
LoadingWithCopy(void)
{
	return ActivePortal != NULL &&
		(ActivePortal->commandTag == CMDTAG_COPY || ActivePortal->commandTag == CMDTAG_COPY_FROM);
}

static bytea *
ByteaOf(const unsigned char *p, size_t len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), p, len);
	return b;
}

/* ---------- keys ---------- */

/*
 * Make a new active signing key for program_id: sealed when a root key is
 * loaded (or configured: then 55000, nothing in clear), else in clear.
 * if_none: the program may already have an active key (then nothing is
 * written and 0 is returned); otherwise a second active key is an error
 * (the caller retired the old one).  Returns the new key's id.  Inside SPI.
 */
static int64
CreateSigningKey(int64 program_id, bool if_none)
{
	static PlanSlot ins_clear,
				ins_sealed,
				ins_clear_if_none,
				ins_sealed_if_none;
	unsigned char pk[PUBLIC_KEY_BYTES];
	unsigned char *sk;
	Datum		values[4];
	bool		sealed = AffRootKeyLoaded() || AffRootKeyConfigured();

	if (sealed)
		AffRequireRootKey("Creating the signing key of a program");
	values[0] = Int64GetDatum(program_id);
	sk = AffSecretBuffer();
	crypto_sign_keypair(pk, sk);
	values[1] = PointerGetDatum(ByteaOf(pk, sizeof(pk)));
	if (sealed)
	{
		/* AffSealSecret wipes sk */
		values[2] = PointerGetDatum(AffSealSecret(AFF_SEAL_SIGNING_KEY, "signing key", program_id,
												  sk, SECRET_KEY_BYTES));
		values[3] = PointerGetDatum(AffRootKeyIdBytea());
		if (if_none)
			AffExec(&ins_sealed_if_none,
					"INSERT INTO affiliate.signing_key (program_id, public_key, sealed_key, root_key_id) "
					"VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING id",
					4, (Oid[]) {INT8OID, BYTEAOID, BYTEAOID, BYTEAOID}, values, NULL, false, 1);
		else
			AffExec(&ins_sealed,
					"INSERT INTO affiliate.signing_key (program_id, public_key, sealed_key, root_key_id) "
					"VALUES ($1, $2, $3, $4) RETURNING id",
					4, (Oid[]) {INT8OID, BYTEAOID, BYTEAOID, BYTEAOID}, values, NULL, false, 1);
	}
	else
	{
		bytea	   *clear = ByteaOf(sk, SECRET_KEY_BYTES);

		AffSecretWipe();
		values[2] = PointerGetDatum(clear);
		if (if_none)
			AffExec(&ins_clear_if_none,
					"INSERT INTO affiliate.signing_key (program_id, public_key, secret_key) "
					"VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING id",
					3, (Oid[]) {INT8OID, BYTEAOID, BYTEAOID}, values, NULL, false, 1);
		else
			AffExec(&ins_clear,
					"INSERT INTO affiliate.signing_key (program_id, public_key, secret_key) "
					"VALUES ($1, $2, $3) RETURNING id",
					3, (Oid[]) {INT8OID, BYTEAOID, BYTEAOID}, values, NULL, false, 1);
		sodium_memzero(VARDATA(clear), SECRET_KEY_BYTES);
		pfree(clear);
	}
	sodium_memzero(pk, sizeof(pk));
	if (SPI_processed == 0)
		return 0;
	return AffGetInt64(0, 1, NULL);
}

/* the id of the program's active key, made first if there is none; inside SPI */
static int64
ActiveKey(int64 program_id)
{
	static PlanSlot sel;
	Datum		values[1] = {Int64GetDatum(program_id)};

	for (int attempt = 0; attempt < 2; attempt++)
	{
		AffExec(&sel,
				"SELECT id FROM affiliate.signing_key WHERE program_id = $1 AND retired_at IS NULL",
				1, (Oid[]) {INT8OID}, values, NULL, false, 1);
		if (SPI_processed > 0)
			return AffGetInt64(0, 1, NULL);
		if (attempt == 0)
		{
			int64		id = CreateSigningKey(program_id, true);

			if (id != 0)
				return id;
		}
	}
	elog(ERROR, "pg_affiliate: could not create the signing key of program " INT64_FORMAT, program_id);
	return 0;					/* keep the compiler quiet */
}

/*
 * Sign text with key key_id of program_id into sig.  The secret key is copied
 * (or opened) into the guarded buffer, checked against the key's public key,
 * used, and wiped.  Inside SPI.
 */
static void
Sign(int64 program_id, int64 key_id, const char *text, unsigned char *sig)
{
	static PlanSlot sel;
	Datum		values[2] = {Int64GetDatum(program_id), Int64GetDatum(key_id)};
	bool		pk_null,
				clear_null,
				sealed_null,
				id_null;
	bytea	   *pk;
	Datum		clear,
				sealed,
				root_id;
	unsigned char *sk;
	int			rc;

	AffExec(&sel,
			"SELECT public_key, secret_key, sealed_key, root_key_id FROM affiliate.signing_key "
			"WHERE program_id = $1 AND id = $2",
			2, (Oid[]) {INT8OID, INT8OID}, values, NULL, false, 1);
	if (SPI_processed == 0)
		elog(ERROR, "pg_affiliate: signing key " INT64_FORMAT " of program " INT64_FORMAT " vanished",
			 key_id, program_id);
	pk = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &pk_null));
	clear = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &clear_null);
	sealed = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &sealed_null);
	root_id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &id_null);
	if (pk_null || VARSIZE_ANY_EXHDR(pk) != PUBLIC_KEY_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("malformed public key of signing key " INT64_FORMAT " of program " INT64_FORMAT,
						key_id, program_id)));

	if (!clear_null)
	{
		bytea	   *k = DatumGetByteaPP(clear);

		if (VARSIZE_ANY_EXHDR(k) != SECRET_KEY_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("malformed signing key " INT64_FORMAT " of program " INT64_FORMAT,
							key_id, program_id)));
		sk = AffSecretBuffer();
		memcpy(sk, VARDATA_ANY(k), SECRET_KEY_BYTES);
		sodium_memzero(VARDATA_ANY(k), SECRET_KEY_BYTES);
	}
	else if (!sealed_null && !id_null)
		sk = AffOpenSecret(AFF_SEAL_SIGNING_KEY, "signing key", program_id,
						   DatumGetByteaPP(sealed), DatumGetByteaPP(root_id), SECRET_KEY_BYTES);
	else
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("signing key " INT64_FORMAT " of program " INT64_FORMAT " has no secret key",
						key_id, program_id)));

	/* an Ed25519 secret key is seed || public key: it must be this row's */
	if (sodium_memcmp(sk + SECRET_KEY_BYTES - PUBLIC_KEY_BYTES, VARDATA_ANY(pk), PUBLIC_KEY_BYTES) != 0)
	{
		AffSecretWipe();
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the secret key of signing key " INT64_FORMAT " of program " INT64_FORMAT
						" does not match its public key", key_id, program_id),
				 errdetail("The stored secret key belongs to another key pair.")));
	}
	rc = crypto_sign_detached(sig, NULL, (const unsigned char *) text, strlen(text), sk);
	AffSecretWipe();
	if (rc != 0)
		elog(ERROR, "pg_affiliate: crypto_sign_detached failed");
}

/*
 * Seal every signing key still stored in clear under the loaded root key
 * (secret.c's seal_secrets calls this inside its SPI connection, after it
 * checked that the root key is loaded).  One audit row per key; returns how
 * many.  A schema without signing keys (0.4.0 before ALTER EXTENSION UPDATE)
 * has none to seal.
 */
int64
AffSealSigningKeys(void)
{
	static PlanSlot has_table,
				sel_ids,
				sel_key,
				upd;
	int64	   *pids;
	int64	   *kids;
	uint64		n;
	char	   *root_hex = AffRootKeyIdHex(AffRootKeyId());
	bytea	   *root_id = AffRootKeyIdBytea();

	AffExec(&has_table, "SELECT pg_catalog.to_regclass('affiliate.signing_key') IS NOT NULL",
			0, NULL, NULL, NULL, true, 1);
	if (!AffGetBool(0, 1, NULL))
		return 0;
	AffExec(&sel_ids,
			"SELECT program_id, id FROM affiliate.signing_key WHERE secret_key IS NOT NULL "
			"ORDER BY program_id, id FOR UPDATE",
			0, NULL, NULL, NULL, false, 0);
	n = SPI_processed;
	pids = palloc(sizeof(int64) * Max(n, 1));
	kids = palloc(sizeof(int64) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		pids[i] = AffGetInt64((int) i, 1, NULL);
		kids[i] = AffGetInt64((int) i, 2, NULL);
	}
	for (uint64 i = 0; i < n; i++)
	{
		Datum		values[4] = {Int64GetDatum(pids[i]), Int64GetDatum(kids[i])};
		bool		isnull;
		bytea	   *k;
		bytea	   *sealed;
		unsigned char *sk;
		StringInfoData detail;

		AffExec(&sel_key,
				"SELECT secret_key FROM affiliate.signing_key WHERE program_id = $1 AND id = $2",
				2, (Oid[]) {INT8OID, INT8OID}, values, NULL, false, 1);
		if (SPI_processed != 1)
			elog(ERROR, "pg_affiliate: signing key " INT64_FORMAT " vanished", kids[i]);
		k = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		if (isnull || VARSIZE_ANY_EXHDR(k) != SECRET_KEY_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("malformed signing key " INT64_FORMAT " of program " INT64_FORMAT,
							kids[i], pids[i])));
		sk = AffSecretBuffer();
		memcpy(sk, VARDATA_ANY(k), SECRET_KEY_BYTES);
		sodium_memzero(VARDATA_ANY(k), SECRET_KEY_BYTES);
		sealed = AffSealSecret(AFF_SEAL_SIGNING_KEY, "signing key", pids[i], sk, SECRET_KEY_BYTES);

		values[2] = PointerGetDatum(sealed);
		values[3] = PointerGetDatum(root_id);
		AffExec(&upd,
				"UPDATE affiliate.signing_key SET secret_key = NULL, sealed_key = $3, root_key_id = $4 "
				"WHERE program_id = $1 AND id = $2",
				4, (Oid[]) {INT8OID, INT8OID, BYTEAOID, BYTEAOID}, values, NULL, false, 0);

		initStringInfo(&detail);
		appendStringInfo(&detail, "{\"key_id\": " INT64_FORMAT ", \"root_key_id\": \"%s\"}",
						 kids[i], root_hex);
		AffAudit(pids[i], "seal_signing_key", AffJsonbOf(&detail));
	}
	return (int64) n;
}

/*
 * Trigger (AFTER INSERT ON affiliate.program FOR EACH ROW): the new
 * program's signing key.  Not for rows loaded with COPY (a restore brings
 * the keys), and not when pg_affiliate.root_key_file is set but the library
 * was not preloaded (nothing is stored in clear then; the key is made when
 * first needed, which needs the root key).
 */
Datum
program_signing_key(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	bool		isnull;
	int64		program_id;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		elog(ERROR, "pg_affiliate: program_signing_key must run AFTER INSERT FOR EACH ROW");
	if (LoadingWithCopy() || (AffRootKeyConfigured() && !AffRootKeyLoaded()))
		return PointerGetDatum(NULL);

	program_id = DatumGetInt64(heap_getattr(trigdata->tg_trigtuple,
											SPI_fnumber(trigdata->tg_relation->rd_att, "id"),
											trigdata->tg_relation->rd_att, &isnull));
	if (isnull)
		elog(ERROR, "pg_affiliate: a program without an id");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	(void) CreateSigningKey(program_id, true);
	SPI_finish();
	return PointerGetDatum(NULL);
}

/*
 * affiliate.rotate_signing_key(program_id bigint) RETURNS bigint -- the new
 * key's id.  The active key is retired (it still verifies what it signed);
 * the new key signs from now on.  Audited.
 */
Datum
rotate_signing_key(PG_FUNCTION_ARGS)
{
	static PlanSlot lock,
				retire;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	Datum		values[1] = {Int64GetDatum(program_id)};
	int64		old_id = 0;
	bool		had_key;
	int64		new_id;
	StringInfoData detail;

	AffRequireProgram(program_id, NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	/* rotations of one program, one at a time (FK checks take KEY SHARE: not blocked) */
	AffExec(&lock, "SELECT 1 FROM affiliate.program WHERE id = $1 FOR NO KEY UPDATE",
			1, (Oid[]) {INT8OID}, values, NULL, false, 1);
	AffExec(&retire,
			"UPDATE affiliate.signing_key SET retired_at = pg_catalog.now() "
			"WHERE program_id = $1 AND retired_at IS NULL RETURNING id",
			1, (Oid[]) {INT8OID}, values, NULL, false, 0);
	had_key = SPI_processed > 0;
	if (had_key)
		old_id = AffGetInt64(0, 1, NULL);
	new_id = CreateSigningKey(program_id, false);

	initStringInfo(&detail);
	if (had_key)
		appendStringInfo(&detail, "{\"old_key_id\": " INT64_FORMAT ", \"new_key_id\": " INT64_FORMAT "}",
						 old_id, new_id);
	else
		appendStringInfo(&detail, "{\"old_key_id\": null, \"new_key_id\": " INT64_FORMAT "}", new_id);
	AffAudit(program_id, "rotate_signing_key", AffJsonbOf(&detail));
	SPI_finish();
	PG_RETURN_INT64(new_id);
}

/*
 * affiliate.certificate_public_key(program_id bigint) RETURNS TABLE (key_id
 * bigint, algorithm text, public_key bytea, public_key_base64 text,
 * created_at timestamptz, retired_at timestamptz) -- every key of the
 * program, oldest first (a program without one gets its key first).
 */
Datum
certificate_public_key(PG_FUNCTION_ARGS)
{
	static PlanSlot sel;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	Datum		values[1] = {Int64GetDatum(program_id)};

	AffRequireProgram(program_id, NULL);
	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	(void) ActiveKey(program_id);
	AffExec(&sel,
			"SELECT id, 'ed25519'::text, public_key, pg_catalog.encode(public_key, 'base64'), "
			"       created_at, retired_at "
			"FROM affiliate.signing_key WHERE program_id = $1 ORDER BY id",
			1, (Oid[]) {INT8OID}, values, NULL, false, 0);
	for (uint64 r = 0; r < SPI_processed; r++)
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[r]);
	SPI_finish();
	return (Datum) 0;
}

/* ---------- certificates ---------- */

/* issued_at as the canonical text writes it; false when it cannot be */
static bool
FormatIssuedAt(TimestampTz at, StringInfo out)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(at) || timestamp2tm(at, NULL, &tm, &fsec, NULL, NULL) != 0 ||
		tm.tm_year < 1 || tm.tm_year > 9999)
		return false;
	appendStringInfo(out, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
					 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
	return true;
}

/* the facts a certificate certifies */
typedef struct CertFacts
{
	int64		program_id;
	char	   *number;
	int64		member_id;
	char	   *member_external_id;
	int64		course_id;
	char	   *course_title;
	TimestampTz issued_at;
	int64		key_id;
} CertFacts;

/*
 * A free-text fact, escaped so that the text has one line per field whatever
 * the fact holds: backslash as \\, line feed as \n, carriage return as \r.
 * (Without it, a title holding "\ncourse: 7" could make two different sets
 * of facts read as the same text.)
 */
static void
AppendEscaped(StringInfo s, const char *v)
{
	for (; *v; v++)
	{
		if (*v == '\\')
			appendStringInfoString(s, "\\\\");
		else if (*v == '\n')
			appendStringInfoString(s, "\\n");
		else if (*v == '\r')
			appendStringInfoString(s, "\\r");
		else
			appendStringInfoChar(s, *v);
	}
}

/* the canonical text v1 of f (palloc'd); NULL when issued_at cannot be written */
static char *
CanonicalText(const CertFacts *f)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s,
					 "pg_affiliate certificate v1\n"
					 "program: " INT64_FORMAT "\n"
					 "number: %s\n"
					 "member: " INT64_FORMAT "\n"
					 "member_external_id: ",
					 f->program_id, f->number, f->member_id);
	AppendEscaped(&s, f->member_external_id);
	appendStringInfo(&s, "\ncourse: " INT64_FORMAT "\ncourse_title: ", f->course_id);
	AppendEscaped(&s, f->course_title);
	appendStringInfoString(&s, "\nissued_at: ");
	if (!FormatIssuedAt(f->issued_at, &s))
		return NULL;
	appendStringInfo(&s, "\nkey: " INT64_FORMAT "\n", f->key_id);
	return s.data;
}

/*
 * A number as typed by a person (lower case, I/L for 1, O for 0, dashes) in
 * its stored form; NULL when it is no certificate number at all.
 */
static char *
NormaliseNumber(const char *typed)
{
	int64		code;
	char	   *detail;

	if (!AffRefcodeParse(typed, &code, &detail))
		return NULL;
	return AffRefcodeFormat(code);
}

/* a stored certificate, with the public key of the key it names */
typedef struct StoredCert
{
	CertFacts	f;
	bytea	   *signature;
	bytea	   *public_key;		/* NULL: the key is missing */
	bool		revoked;
	TimestampTz revoked_at;
	char	   *revoke_reason;
} StoredCert;

/*
 * Read certificate number (normalised) of program_id into *c, in the
 * caller's memory context; false when there is none.  Inside SPI.
 */
static bool
ReadCert(int64 program_id, const char *number, StoredCert *c, MemoryContext cxt, bool for_update)
{
	static PlanSlot sel,
				sel_upd;
	Datum		values[2];
	HeapTuple	t;
	TupleDesc	d;
	bool		isnull;
	MemoryContext spi;
	const char *sql_select =
		"SELECT c.number, c.member_id, c.member_external_id, c.course_id, c.course_title, "
		"       c.issued_at, c.key_id, c.signature, k.public_key, c.revoked_at, c.revoke_reason "
		"FROM affiliate.certificate c "
		"LEFT JOIN affiliate.signing_key k ON k.program_id = c.program_id AND k.id = c.key_id "
		"WHERE c.program_id = $1 AND c.number = $2";

	values[0] = Int64GetDatum(program_id);
	values[1] = CStringGetTextDatum(number);
	if (for_update)
		AffExec(&sel_upd,
				"SELECT c.number, c.member_id, c.member_external_id, c.course_id, c.course_title, "
				"       c.issued_at, c.key_id, c.signature, NULL::bytea, c.revoked_at, c.revoke_reason "
				"FROM affiliate.certificate c WHERE c.program_id = $1 AND c.number = $2 FOR UPDATE",
				2, (Oid[]) {INT8OID, TEXTOID}, values, NULL, false, 1);
	else
		AffExec(&sel, sql_select, 2, (Oid[]) {INT8OID, TEXTOID}, values, NULL, true, 1);
	if (SPI_processed == 0)
		return false;
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	spi = MemoryContextSwitchTo(cxt);
	c->f.program_id = program_id;
	c->f.number = SPI_getvalue(t, d, 1);
	c->f.member_id = DatumGetInt64(SPI_getbinval(t, d, 2, &isnull));
	c->f.member_external_id = SPI_getvalue(t, d, 3);
	c->f.course_id = DatumGetInt64(SPI_getbinval(t, d, 4, &isnull));
	c->f.course_title = SPI_getvalue(t, d, 5);
	c->f.issued_at = DatumGetTimestampTz(SPI_getbinval(t, d, 6, &isnull));
	c->f.key_id = DatumGetInt64(SPI_getbinval(t, d, 7, &isnull));
	c->signature = DatumGetByteaPCopy(SPI_getbinval(t, d, 8, &isnull));
	{
		Datum		pk = SPI_getbinval(t, d, 9, &isnull);

		c->public_key = isnull ? NULL : DatumGetByteaPCopy(pk);
	}
	{
		Datum		at = SPI_getbinval(t, d, 10, &isnull);

		c->revoked = !isnull;
		c->revoked_at = isnull ? 0 : DatumGetTimestampTz(at);
	}
	c->revoke_reason = SPI_getvalue(t, d, 11);
	MemoryContextSwitchTo(spi);
	return true;
}

/* the signature of a stored certificate checks against its key */
static bool
SignatureValid(const StoredCert *c)
{
	char	   *text = CanonicalText(&c->f);

	if (text == NULL || c->public_key == NULL ||
		VARSIZE_ANY_EXHDR(c->public_key) != PUBLIC_KEY_BYTES ||
		VARSIZE_ANY_EXHDR(c->signature) != SIGNATURE_BYTES)
		return false;
	return crypto_sign_verify_detached((const unsigned char *) VARDATA_ANY(c->signature),
									   (const unsigned char *) text, strlen(text),
									   (const unsigned char *) VARDATA_ANY(c->public_key)) == 0;
}

/*
 * The number of the member's certificate for the course, or NULL.  Inside
 * SPI; the result is palloc'd in the SPI context.
 */
char *
AffCertificateFor(int64 program_id, int64 member_id, int64 course_id)
{
	static PlanSlot sel;
	Datum		values[3] = {Int64GetDatum(program_id), Int64GetDatum(member_id), Int64GetDatum(course_id)};

	AffExec(&sel,
			"SELECT number FROM affiliate.certificate "
			"WHERE program_id = $1 AND member_id = $2 AND course_id = $3",
			3, (Oid[]) {INT8OID, INT8OID, INT8OID}, values, NULL, false, 1);
	if (SPI_processed == 0)
		return NULL;
	return AffGetText(0, 1);
}

/*
 * Issue the member's certificate for the course unless there is one: the
 * facts as they are now (the member's external id, the course's title), a
 * new number, now() as issued_at, signed with the program's active key.
 * Returns the number (the existing one if there was one).  Does not check
 * that the course is complete: the trigger does.  Inside SPI.
 */
char *
AffIssueCertificate(int64 program_id, int64 member_id, int64 course_id)
{
	static PlanSlot sel_facts,
				ins;
	char	   *existing;
	CertFacts	f;
	Datum		values[9];

	existing = AffCertificateFor(program_id, member_id, course_id);
	if (existing != NULL)
		return existing;

	/* the facts as they are now: the member's external id, the course's title */
	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(member_id);
	values[2] = Int64GetDatum(course_id);
	AffExec(&sel_facts,
			"SELECT (SELECT external_id FROM affiliate.member WHERE program_id = $1 AND id = $2), "
			"       (SELECT title FROM affiliate.course WHERE program_id = $1 AND id = $3)",
			3, (Oid[]) {INT8OID, INT8OID, INT8OID}, values, NULL, false, 1);
	f.member_external_id = AffGetText(0, 1);
	f.course_title = AffGetText(0, 2);
	if (f.member_external_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("member " INT64_FORMAT " does not exist in program " INT64_FORMAT,
						member_id, program_id)));
	if (f.course_title == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("course " INT64_FORMAT " does not exist in program " INT64_FORMAT,
						course_id, program_id)));

	f.program_id = program_id;
	f.member_id = member_id;
	f.course_id = course_id;
	f.issued_at = GetCurrentTransactionStartTimestamp();
	f.key_id = ActiveKey(program_id);

	/* a new number collides with another certificate's once in 2^50 */
	for (int attempt = 0; attempt < 8; attempt++)
	{
		unsigned char sig[SIGNATURE_BYTES];
		char	   *text;

		f.number = AffRefcodeFormat(AffRefcodeRandom(NUMBER_DIGITS));
		text = CanonicalText(&f);
		if (text == NULL)
			elog(ERROR, "pg_affiliate: the time of issue cannot be written");
		Sign(program_id, f.key_id, text, sig);

		values[0] = Int64GetDatum(program_id);
		values[1] = CStringGetTextDatum(f.number);
		values[2] = Int64GetDatum(member_id);
		values[3] = Int64GetDatum(course_id);
		values[4] = CStringGetTextDatum(f.member_external_id);
		values[5] = CStringGetTextDatum(f.course_title);
		values[6] = TimestampTzGetDatum(f.issued_at);
		values[7] = Int64GetDatum(f.key_id);
		values[8] = PointerGetDatum(ByteaOf(sig, sizeof(sig)));
		AffExec(&ins,
				"INSERT INTO affiliate.certificate (program_id, number, member_id, course_id, "
				"  member_external_id, course_title, issued_at, key_id, signature) "
				"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING number",
				9, (Oid[]) {INT8OID, TEXTOID, INT8OID, INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID,
				INT8OID, BYTEAOID}, values, NULL, false, 1);
		if (SPI_processed > 0)
		{
			AffNotifyCertificate(program_id, f.number);
			AffGamifyCourseCompleted(program_id, member_id, course_id);
			return f.number;
		}
		/* another transaction issued it first, or the number was taken */
		existing = AffCertificateFor(program_id, member_id, course_id);
		if (existing != NULL)
			return existing;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("no unique certificate number found for member " INT64_FORMAT " in program " INT64_FORMAT,
					member_id, program_id)));
	return NULL;				/* keep the compiler quiet */
}

/* the number argument in stored form; NULL when it cannot be a number */
static char *
NumberArg(FunctionCallInfo fcinfo, int argno)
{
	char	   *typed = AffTextArg(fcinfo, argno, "certificate number", NUMBER_MAX_TEXT, true);

	return NormaliseNumber(typed);
}

/*
 * affiliate.verify_certificate(program_id bigint, number text) RETURNS TABLE
 * (valid boolean, status text, number text, member_external_id text,
 * course_title text, issued_at timestamptz, key_id bigint, revoked_at
 * timestamptz, revoke_reason text) -- one row.  status: 'valid', 'revoked'
 * (the signature checks, and the certificate was revoked), 'invalid' (the
 * signature does not check: the row was altered; no fact is shown) or
 * 'not_found'.
 */
Datum
verify_certificate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	char	   *number = NumberArg(fcinfo, 1);
	char	   *typed = text_to_cstring(PG_GETARG_TEXT_PP(1));
	MemoryContext outer = CurrentMemoryContext;
	StoredCert	c;
	bool		found = false;
	Datum		values[9];
	bool		nulls[9] = {false, false, false, true, true, true, true, true, true};
	const char *status;

	AffRequireProgram(program_id, NULL);
	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	if (number != NULL)
		found = ReadCert(program_id, number, &c, outer, false);
	SPI_finish();

	if (!found)
		status = "not_found";
	else if (!SignatureValid(&c))
		status = "invalid";
	else
		status = c.revoked ? "revoked" : "valid";

	values[0] = BoolGetDatum(strcmp(status, "valid") == 0);
	values[1] = CStringGetTextDatum(status);
	values[2] = CStringGetTextDatum(found ? c.f.number : typed);
	if (found && strcmp(status, "invalid") != 0)
	{
		values[3] = CStringGetTextDatum(c.f.member_external_id);
		values[4] = CStringGetTextDatum(c.f.course_title);
		values[5] = TimestampTzGetDatum(c.f.issued_at);
		values[6] = Int64GetDatum(c.f.key_id);
		nulls[3] = nulls[4] = nulls[5] = nulls[6] = false;
		if (c.revoked)
		{
			values[7] = TimestampTzGetDatum(c.revoked_at);
			nulls[7] = false;
			if (c.revoke_reason != NULL)
			{
				values[8] = CStringGetTextDatum(c.revoke_reason);
				nulls[8] = false;
			}
		}
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* P0002 for an unknown certificate */
static void
CertMissing(int64 program_id, const char *typed)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("certificate \"%s\" does not exist in program " INT64_FORMAT, typed, program_id)));
}

/*
 * affiliate.certificate_text(program_id bigint, number text) RETURNS text --
 * the canonical text of the stored row (what its signature must cover), for
 * verification without the database (docs/keys.md).
 */
Datum
certificate_text(PG_FUNCTION_ARGS)
{
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	char	   *number = NumberArg(fcinfo, 1);
	char	   *typed = text_to_cstring(PG_GETARG_TEXT_PP(1));
	MemoryContext outer = CurrentMemoryContext;
	StoredCert	c;
	bool		found = false;
	char	   *text;

	AffRequireProgram(program_id, NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	if (number != NULL)
		found = ReadCert(program_id, number, &c, outer, false);
	SPI_finish();
	if (!found)
		CertMissing(program_id, typed);
	text = CanonicalText(&c.f);
	if (text == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("certificate \"%s\" of program " INT64_FORMAT " has an issue time that cannot be written",
						c.f.number, program_id)));
	PG_RETURN_TEXT_P(cstring_to_text(text));
}

/*
 * affiliate.revoke_certificate(program_id bigint, number text, reason text)
 * RETURNS timestamptz -- when it was revoked.  Audited.  Revoking twice:
 * 55000; unknown: P0002.  The signature stays: verification says 'revoked'.
 */
Datum
revoke_certificate(PG_FUNCTION_ARGS)
{
	static PlanSlot upd,
				detail;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	char	   *number = NumberArg(fcinfo, 1);
	char	   *typed = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *reason = AffTextArg(fcinfo, 2, "reason", REASON_MAX, true);
	MemoryContext outer = CurrentMemoryContext;
	StoredCert	c;
	bool		found = false;
	TimestampTz at = GetCurrentTransactionStartTimestamp();
	bool		isnull;

	AffRequireProgram(program_id, NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	if (number != NULL)
		found = ReadCert(program_id, number, &c, outer, true);
	if (!found)
		CertMissing(program_id, typed);
	if (c.revoked)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("certificate \"%s\" of program " INT64_FORMAT " is already revoked",
						c.f.number, program_id),
				 errdetail("It was revoked at %s.", timestamptz_to_str(c.revoked_at))));
	AffExec(&upd,
			"UPDATE affiliate.certificate SET revoked_at = $3, revoke_reason = $4 "
			"WHERE program_id = $1 AND number = $2",
			4, (Oid[]) {INT8OID, TEXTOID, TIMESTAMPTZOID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), CStringGetTextDatum(c.f.number),
				TimestampTzGetDatum(at), CStringGetTextDatum(reason)},
			NULL, false, 0);

	AffExec(&detail,
			"SELECT pg_catalog.jsonb_build_object('number', $1::text, 'member_id', $2::bigint, "
			"  'course_id', $3::bigint, 'reason', $4::text)",
			4, (Oid[]) {TEXTOID, INT8OID, INT8OID, TEXTOID},
			(Datum[]) {CStringGetTextDatum(c.f.number), Int64GetDatum(c.f.member_id),
				Int64GetDatum(c.f.course_id), CStringGetTextDatum(reason)},
			NULL, true, 1);
	AffAudit(program_id, "revoke_certificate",
			 DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	SPI_finish();
	PG_RETURN_TIMESTAMPTZ(at);
}

/* a bigint column of the trigger's new row, by name */
static int64
NewInt64(TriggerData *td, const char *name, bool *isnull)
{
	TupleDesc	desc = td->tg_relation->rd_att;
	HeapTuple	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	int			col = SPI_fnumber(desc, name);

	if (col <= 0)
		elog(ERROR, "pg_affiliate: course_certificate: %s has no column %s",
			 RelationGetRelationName(td->tg_relation), name);
	return DatumGetInt64(heap_getattr(row, col, desc, isnull));
}

/*
 * Trigger (AFTER INSERT OR UPDATE ON affiliate.topic_progress and
 * affiliate.assessment FOR EACH ROW): when a completed topic or a passed
 * assessment completes the course (AffCourseComplete, course.c) and the
 * member has no certificate for it, issue one, in the same transaction.
 * record_progress and record_assessment lock the member's enrollment first,
 * so two calls of one member on one course run one after the other: the
 * second sees the first's progress, and one certificate is issued.  Rows
 * loaded with COPY (a restore) issue nothing: the certificates come with
 * them.
 */
Datum
course_certificate(PG_FUNCTION_ARGS)
{
	static PlanSlot module_course;
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	row;
	bool		isnull;
	int64		program_id,
				member_id,
				course_id;
	const char *rel;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || TRIGGER_FIRED_BY_DELETE(td->tg_event))
		elog(ERROR, "pg_affiliate: course_certificate must run AFTER INSERT OR UPDATE FOR EACH ROW");
	if (LoadingWithCopy())
		return PointerGetDatum(NULL);

	desc = td->tg_relation->rd_att;
	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	rel = RelationGetRelationName(td->tg_relation);
	if (strcmp(rel, "topic_progress") == 0)
	{
		/* only a completed topic can complete a course */
		(void) heap_getattr(row, SPI_fnumber(desc, "completed_at"), desc, &isnull);
		if (isnull)
			return PointerGetDatum(NULL);
	}
	else if (strcmp(rel, "assessment") == 0)
	{
		Datum		passed = heap_getattr(row, SPI_fnumber(desc, "passed"), desc, &isnull);

		if (isnull || !DatumGetBool(passed))
			return PointerGetDatum(NULL);
	}
	else
		elog(ERROR, "pg_affiliate: course_certificate does not handle table %s", rel);

	program_id = NewInt64(td, "program_id", &isnull);
	member_id = NewInt64(td, "member_id", &isnull);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	if (strcmp(rel, "topic_progress") == 0)
		course_id = NewInt64(td, "course_id", &isnull);
	else
	{
		int64		module_id = NewInt64(td, "module_id", &isnull);

		AffExec(&module_course,
				"SELECT course_id FROM affiliate.course_module WHERE program_id = $1 AND id = $2",
				2, (Oid[]) {INT8OID, INT8OID},
				(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(module_id)}, NULL, false, 1);
		if (SPI_processed == 0)
			elog(ERROR, "pg_affiliate: module " INT64_FORMAT " of program " INT64_FORMAT " vanished",
				 module_id, program_id);
		course_id = AffGetInt64(0, 1, NULL);
	}
	if (AffCertificateFor(program_id, member_id, course_id) == NULL &&
		AffCourseComplete(program_id, member_id, course_id))
		(void) AffIssueCertificate(program_id, member_id, course_id);
	SPI_finish();
	return PointerGetDatum(NULL);
}
