/*
 * member.c
 *	  Members, their referral codes and sponsors, clicks, and the tree.
 *
 * A member joins with an optional referral code.  The code names the sponsor;
 * without a code, a program whose attribution model is first_click or
 * last_click looks for the first or last click of the same device or IP
 * within the attribution window, and the owner of the clicked code becomes
 * the sponsor.  The member's upline (ancestors, nearest first) is
 * materialised at join, so plan evaluation and downline queries never walk
 * the tree (a GIN index on upline serves downline and team size).
 *
 * Moving a member rewrites the uplines of the whole subtree in one UPDATE.
 * Joins take a shared advisory lock of the program's tree and moves take it
 * exclusively, so a join can never copy an upline that a concurrent move is
 * rewriting.
 *
 * Device ids, IP addresses and user agents are never stored: only keyed
 * BLAKE2b hashes (libsodium crypto_generichash) with a per-program key that
 * lives in affiliate.program_secret (readable by the extension owner only)
 * and is held in sodium_malloc memory, wiped after use.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/inet.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "pg_affiliate.h"

#define MEMBER_MAX_TEXT 200
#define MEMBER_CODE_DIGITS 8
#define MEMBER_CODE_ATTEMPTS 8
/* first key of the program tree's advisory lock ("aff1") */
#define TREE_LOCK_KEY 0x61666631

PG_FUNCTION_INFO_V1(add_member);
PG_FUNCTION_INFO_V1(record_click);
PG_FUNCTION_INFO_V1(move_member);
PG_FUNCTION_INFO_V1(set_member_status);
PG_FUNCTION_INFO_V1(member_by_code);
PG_FUNCTION_INFO_V1(set_member_profile);

/* Take the program's tree lock: shared for joins, exclusive for moves. */
static void
TreeLock(int64 program_id, bool exclusive)
{
	Datum		k1 = Int32GetDatum(TREE_LOCK_KEY);
	Datum		k2 = Int32GetDatum((int32) (program_id ^ (program_id >> 32)));

	if (exclusive)
		DirectFunctionCall2(pg_advisory_xact_lock_int4, k1, k2);
	else
		DirectFunctionCall2(pg_advisory_xact_lock_shared_int4, k1, k2);
}

static char *
InetText(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return NULL;
	return DatumGetCString(DirectFunctionCall1(inet_out, PG_GETARG_DATUM(argno)));
}

/*
 * The member owning a code, or 0.  A malformed code raises 22023 with the
 * reason; an unknown one returns 0.  Must be called inside SPI.
 */
static int64
LookupCode(int64 program_id, const char *text, bool read_only)
{
	static PlanSlot slot;
	int64		code;
	char	   *detail;
	Datum		values[2];

	if (!AffRefcodeParse(text, &code, &detail))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid referral code \"%s\"", text),
				 errdetail_internal("%s", detail),
				 errhint("Referral codes are letters and digits with a check character at the end; ask the referrer to share the code again.")));
	values[0] = Int64GetDatum(program_id);
	values[1] = CStringGetTextDatum(AffRefcodeFormat(code));
	AffExec(&slot,
			"SELECT id FROM affiliate.member WHERE program_id = $1 AND code OPERATOR(affiliate.=) $2::affiliate.refcode",
			2, (Oid[]) {INT8OID, TEXTOID}, values, NULL, read_only, 1);
	return SPI_processed > 0 ? AffGetInt64(0, 1, NULL) : 0;
}

static int64
RequireCode(int64 program_id, const char *text, const char *hint)
{
	int64		id = LookupCode(program_id, text, false);

	if (id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown referral code \"%s\"", text),
				 errdetail("No member of program " INT64_FORMAT " has this code.", program_id),
				 errhint("%s", hint)));
	return id;
}

/*
 * First or last click of the same device or IP within the attribution window
 * ending now.  Sets *sponsor and *click_id, or leaves them 0.
 */
static void
AttributedClick(const AffProgram *prog, bytea *device_hash, bytea *ip_hash,
				int64 *sponsor, int64 *click_id)
{
	static PlanSlot first,
				last;
	Datum		values[5];
	char		nulls[5] = "     ";
	const char *sql_first =
		"SELECT c.id, c.member_id FROM affiliate.click c "
		"WHERE c.program_id = $1 AND (c.device_hash = $2 OR c.ip_hash = $3) "
		"  AND c.at > pg_catalog.now() - $4 AND c.at <= pg_catalog.now() "
		"ORDER BY c.at, c.id LIMIT 1";
	const char *sql_last =
		"SELECT c.id, c.member_id FROM affiliate.click c "
		"WHERE c.program_id = $1 AND (c.device_hash = $2 OR c.ip_hash = $3) "
		"  AND c.at > pg_catalog.now() - $4 AND c.at <= pg_catalog.now() "
		"ORDER BY c.at DESC, c.id DESC LIMIT 1";
	static const Oid types[4] = {INT8OID, BYTEAOID, BYTEAOID, INTERVALOID};

	values[0] = Int64GetDatum(prog->id);
	values[1] = device_hash ? PointerGetDatum(device_hash) : (Datum) 0;
	nulls[1] = device_hash ? ' ' : 'n';
	values[2] = ip_hash ? PointerGetDatum(ip_hash) : (Datum) 0;
	nulls[2] = ip_hash ? ' ' : 'n';
	values[3] = IntervalPGetDatum(&prog->attribution_window);
	if (prog->attribution == AFF_ATTR_FIRST_CLICK)
		AffExec(&first, sql_first, 4, types, values, nulls, false, 1);
	else
		AffExec(&last, sql_last, 4, types, values, nulls, false, 1);
	if (SPI_processed > 0)
	{
		*click_id = AffGetInt64(0, 1, NULL);
		*sponsor = AffGetInt64(0, 2, NULL);
	}
}

/* 23505 when the program already has a member with this external id. */
static void
RefuseDuplicate(PlanSlot *dup, int64 program_id, const char *external_id, Datum *values)
{
	AffExec(dup, "SELECT id FROM affiliate.member WHERE program_id = $1 AND external_id = $2",
			2, (Oid[]) {INT8OID, TEXTOID}, values, NULL, false, 1);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("member \"%s\" already exists in program " INT64_FORMAT,
						external_id, program_id),
				 errdetail("Member " INT64_FORMAT " has this external id.", AffGetInt64(0, 1, NULL)),
				 errhint("Look the member up instead of adding it again.")));
}

/*
 * After a conflict that was neither the external id nor the code: the new
 * member's id itself is taken, because the identity sequence is behind the
 * table (a restore without the sequence, a setval by hand, rows inserted
 * with explicit ids).  Drawing codes again would not help.
 */
static void
RefuseIdConflict(int64 program_id, Datum code)
{
	static PlanSlot taken;

	AffExec(&taken,
			"SELECT 1 FROM affiliate.member WHERE program_id = $1 AND code OPERATOR(affiliate.=) $2::affiliate.refcode",
			2, (Oid[]) {INT8OID, TEXTOID}, (Datum[]) {Int64GetDatum(program_id), code},
			NULL, true, 1);
	if (SPI_processed > 0)
		return;					/* the code was taken: draw another */
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("the next member id is already taken"),
			 errdetail("The sequence affiliate.member_id_seq is behind the ids in affiliate.member."),
			 errhint("Move it past them: SELECT setval('affiliate.member_id_seq', (SELECT max(id) FROM affiliate.member));")));
}

/*
 * affiliate.add_member(program_id bigint, external_id text,
 *                      referral_code text DEFAULT NULL,
 *                      device_id text DEFAULT NULL, ip inet DEFAULT NULL)
 * RETURNS bigint
 */
Datum
add_member(PG_FUNCTION_ARGS)
{
	static PlanSlot dup,
				ins;
	static const Oid types[8] = {INT8OID, TEXTOID, TEXTOID, INT8OID, INT8OID,
	BYTEAOID, BYTEAOID, TEXTOID};
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	char	   *external_id;
	char	   *referral_code = AffTextArg(fcinfo, 2, "referral code", MEMBER_MAX_TEXT, false);
	char	   *device_id = AffTextArg(fcinfo, 3, "device id", MEMBER_MAX_TEXT, false);
	char	   *ip = InetText(fcinfo, 4);
	AffProgram	prog;
	bytea	   *device_hash = NULL;
	bytea	   *ip_hash = NULL;
	int64		sponsor = 0;
	int64		click_id = 0;
	int64		id = 0;
	Datum		values[8];
	char		nulls[8] = "        ";

	AffRequireArg(fcinfo, 1, "external_id");
	external_id = AffTextArg(fcinfo, 1, "external id", MEMBER_MAX_TEXT, false);

	AffLoadProgram(program_id, &prog);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	TreeLock(program_id, false);

	values[0] = Int64GetDatum(program_id);
	values[1] = CStringGetTextDatum(external_id);

	if (device_id)
		device_hash = AffKeyedHash(program_id, "device", device_id);
	if (ip)
		ip_hash = AffKeyedHash(program_id, "ip", ip);

	if (referral_code)
		sponsor = RequireCode(program_id, referral_code,
							  "Check the code, or add the member without a referral code.");
	else if (prog.attribution != AFF_ATTR_SPONSOR && (device_hash || ip_hash))
		AttributedClick(&prog, device_hash, ip_hash, &sponsor, &click_id);

	/*
	 * Share-lock the sponsor: under REPEATABLE READ or SERIALIZABLE, a move
	 * committed since our snapshot makes this fail with 40001 instead of
	 * copying a stale upline (under READ COMMITTED the tree lock suffices).
	 */
	if (sponsor && IsolationUsesXactSnapshot())
	{
		static PlanSlot share;
		Datum		sv[2];

		sv[0] = Int64GetDatum(program_id);
		sv[1] = Int64GetDatum(sponsor);
		AffExec(&share, "SELECT 1 FROM affiliate.member WHERE program_id = $1 AND id = $2 FOR SHARE",
				2, (Oid[]) {INT8OID, INT8OID}, sv, NULL, false, 1);
	}

	values[3] = Int64GetDatum(sponsor);
	nulls[3] = sponsor ? ' ' : 'n';
	values[4] = Int64GetDatum(click_id);
	nulls[4] = click_id ? ' ' : 'n';
	values[5] = device_hash ? PointerGetDatum(device_hash) : (Datum) 0;
	nulls[5] = device_hash ? ' ' : 'n';
	values[6] = ip_hash ? PointerGetDatum(ip_hash) : (Datum) 0;
	nulls[6] = ip_hash ? ' ' : 'n';

	/*
	 * The member and its accounts in one statement; the accounts exist from
	 * the start, so that conversions never race to create them ("owed" may
	 * go negative: it holds what a member owes after a clawback larger than
	 * their available balance).  A conflict is either the external id
	 * (refused below, after the attempt that found it taken) or, rarely, the
	 * random code (drawn again).
	 */
	values[7] = CStringGetTextDatum(prog.currency);
	for (int attempt = 0; attempt < MEMBER_CODE_ATTEMPTS && id == 0; attempt++)
	{
		values[2] = CStringGetTextDatum(AffRefcodeFormat(AffRefcodeRandom(MEMBER_CODE_DIGITS)));
		AffExec(&ins,
				"WITH m AS ("
				"  INSERT INTO affiliate.member (program_id, external_id, code, sponsor_id, upline, "
				"    click_id, device_hash, ip_hash) "
				"  SELECT $1, $2, $3::affiliate.refcode, $4, "
				"    CASE WHEN $4 IS NULL THEN '{}'::bigint[] ELSE ("
				"      SELECT pg_catalog.array_prepend(s.id, s.upline) FROM affiliate.member s "
				"      WHERE s.program_id = $1 AND s.id = $4) END, "
				"    $5, $6, $7 "
				"  ON CONFLICT DO NOTHING RETURNING id), "
				"a AS ("
				"  INSERT INTO affiliate.account (program_id, member_id, asset, kind, allow_negative) "
				"  SELECT $1, m.id, $8, k.kind, k.neg FROM m, "
				"    (VALUES ('pending', false), ('available', false), ('owed', true)) AS k(kind, neg)) "
				"SELECT id FROM m",
				8, types, values, nulls, false, 0);
		if (SPI_processed > 0)
			id = AffGetInt64(0, 1, NULL);
		else
		{
			RefuseDuplicate(&dup, program_id, external_id, values);
			RefuseIdConflict(program_id, values[2]);
		}
	}
	if (id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("could not generate a unique referral code"),
				 errdetail("%d random codes in a row were taken.", MEMBER_CODE_ATTEMPTS)));
	FraudOnJoin(program_id, id, device_hash != NULL || ip_hash != NULL);

	AffNotifyReferralJoined(program_id, id);
	AffGamifySignup(program_id, id);
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * affiliate.record_click(program_id bigint, code text, channel text DEFAULT NULL,
 *                        ip inet DEFAULT NULL, user_agent text DEFAULT NULL,
 *                        at timestamptz DEFAULT now(), device_id text DEFAULT NULL,
 *                        landing_page text DEFAULT NULL)
 * RETURNS bigint
 */
Datum
record_click(PG_FUNCTION_ARGS)
{
	static PlanSlot ins;
	static const Oid types[8] = {INT8OID, INT8OID, TEXTOID, TEXTOID, BYTEAOID, BYTEAOID,
	BYTEAOID, TIMESTAMPTZOID};
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	char	   *code;
	char	   *channel = AffTextArg(fcinfo, 2, "channel", MEMBER_MAX_TEXT, false);
	char	   *ip = InetText(fcinfo, 3);
	char	   *user_agent = AffTextArg(fcinfo, 4, "user agent", 2000, false);
	char	   *device_id = AffTextArg(fcinfo, 6, "device id", MEMBER_MAX_TEXT, false);
	char	   *landing = AffTextArg(fcinfo, 7, "landing page", 2000, false);
	bytea	   *h;
	int64		owner;
	Datum		values[8];
	char		nulls[8] = "        ";

	AffRequireArg(fcinfo, 1, "code");
	if (PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("at must not be null"),
				 errhint("Leave it out to record the click at the current time.")));
	code = AffTextArg(fcinfo, 1, "referral code", MEMBER_MAX_TEXT, false);

	AffRequireProgram(program_id, NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	owner = RequireCode(program_id, code,
						"The link carries a code no member of this program owns; it may be from another program or mistyped in the URL.");

	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(owner);
	values[2] = channel ? CStringGetTextDatum(channel) : (Datum) 0;
	nulls[2] = channel ? ' ' : 'n';
	values[3] = landing ? CStringGetTextDatum(landing) : (Datum) 0;
	nulls[3] = landing ? ' ' : 'n';
	h = device_id ? AffKeyedHash(program_id, "device", device_id) : NULL;
	values[4] = PointerGetDatum(h);
	nulls[4] = h ? ' ' : 'n';
	h = ip ? AffKeyedHash(program_id, "ip", ip) : NULL;
	values[5] = PointerGetDatum(h);
	nulls[5] = h ? ' ' : 'n';
	h = user_agent ? AffKeyedHash(program_id, "user_agent", user_agent) : NULL;
	values[6] = PointerGetDatum(h);
	nulls[6] = h ? ' ' : 'n';
	values[7] = PG_GETARG_DATUM(5);
	AffExec(&ins,
			"INSERT INTO affiliate.click (program_id, member_id, channel, landing_page, "
			"  device_hash, ip_hash, ua_hash, at) "
			"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
			8, types, values, nulls, false, 1);
	{
		int64		id = AffGetInt64(0, 1, NULL);

		SPI_finish();
		PG_RETURN_INT64(id);
	}
}

/*
 * affiliate.move_member(program_id bigint, member_id bigint, new_sponsor_id bigint)
 * RETURNS bigint -- members whose upline was rewritten (the member and its subtree)
 */
Datum
move_member(PG_FUNCTION_ARGS)
{
	static PlanSlot lock,
				sponsor,
				upd;
	static const Oid types[3] = {INT8OID, INT8OID, INT8OID};
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		member_id = AffArgInt64(fcinfo, 1, "member_id");
	bool		to_root = PG_ARGISNULL(2);	/* NULL: the member becomes a root */
	int64		new_sponsor = to_root ? 0 : PG_GETARG_INT64(2);
	int64		old_sponsor;
	bool		old_null;
	int64		moved;
	Datum		values[3];
	char		nulls[3] = "   ";
	JsonbParseState *st = NULL;

	/*
	 * The rewrite must see every member that joined before the tree lock was
	 * granted: a transaction snapshot taken earlier would miss them.
	 */
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("move_member needs READ COMMITTED"),
				 errdetail("Under REPEATABLE READ or SERIALIZABLE the move could miss members that joined while it waited for the tree lock."),
				 errhint("Run it in its own READ COMMITTED transaction.")));
	AffRequireProgram(program_id, NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	TreeLock(program_id, true);

	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(member_id);
	values[2] = Int64GetDatum(new_sponsor);
	nulls[2] = to_root ? 'n' : ' ';
	AffExec(&lock,
			"SELECT sponsor_id FROM affiliate.member WHERE program_id = $1 AND id = $2 FOR UPDATE",
			2, types, values, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("member " INT64_FORMAT " does not exist in program " INT64_FORMAT,
						member_id, program_id)));
	old_sponsor = AffGetInt64(0, 1, &old_null);

	if (!to_root)
	{
		bool		in_subtree;

		if (new_sponsor == member_id)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("a member cannot sponsor themselves"),
					 errdetail("Member " INT64_FORMAT " was named as its own new sponsor.", member_id)));
		AffExec(&sponsor,
				"SELECT upline @> ARRAY[$2] FROM affiliate.member WHERE program_id = $1 AND id = $3",
				3, types, values, nulls, false, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("member " INT64_FORMAT " does not exist in program " INT64_FORMAT,
							new_sponsor, program_id),
					 errdetail("The new sponsor must be a member of the same program.")));
		in_subtree = AffGetBool(0, 1, NULL);
		if (in_subtree)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("moving member " INT64_FORMAT " under member " INT64_FORMAT " would create a cycle",
							member_id, new_sponsor),
					 errdetail("Member " INT64_FORMAT " is in the referral tree below member " INT64_FORMAT ".",
							   new_sponsor, member_id),
					 errhint("Move member " INT64_FORMAT " elsewhere first.", new_sponsor)));
	}
	if ((old_null && to_root) || (!old_null && !to_root && old_sponsor == new_sponsor))
	{
		SPI_finish();
		PG_RETURN_INT64(0);
	}

	/*
	 * One statement: the member gets [new sponsor] || new sponsor's upline;
	 * each descendant keeps its upline up to and including the member, then
	 * the member's new upline.
	 */
	AffExec(&upd,
			"WITH n AS ("
			"  SELECT CASE WHEN $3 IS NULL THEN '{}'::bigint[] ELSE ("
			"    SELECT pg_catalog.array_prepend(s.id, s.upline) FROM affiliate.member s "
			"    WHERE s.program_id = $1 AND s.id = $3) END AS up) "
			"UPDATE affiliate.member m SET "
			"  sponsor_id = CASE WHEN m.id = $2 THEN $3 ELSE m.sponsor_id END, "
			"  upline = CASE WHEN m.id = $2 THEN n.up "
			"    ELSE m.upline[1:pg_catalog.array_position(m.upline, $2)] || n.up END "
			"FROM n "
			"WHERE m.program_id = $1 AND (m.id = $2 OR m.upline @> ARRAY[$2])",
			3, types, values, nulls, false, 0);
	moved = (int64) SPI_processed;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	{
		JsonbValue	k,
					v;

		k.type = jbvString;
		v.type = jbvNumeric;
		k.val.string.val = "member_id";
		k.val.string.len = strlen(k.val.string.val);
		pushJsonbValue(&st, WJB_KEY, &k);
		v.val.numeric = int64_to_numeric(member_id);
		pushJsonbValue(&st, WJB_VALUE, &v);
		k.val.string.val = "old_sponsor_id";
		k.val.string.len = strlen(k.val.string.val);
		pushJsonbValue(&st, WJB_KEY, &k);
		if (old_null)
			v.type = jbvNull;
		else
			v.val.numeric = int64_to_numeric(old_sponsor);
		pushJsonbValue(&st, WJB_VALUE, &v);
		k.val.string.val = "new_sponsor_id";
		k.val.string.len = strlen(k.val.string.val);
		pushJsonbValue(&st, WJB_KEY, &k);
		v.type = to_root ? jbvNull : jbvNumeric;
		if (!to_root)
			v.val.numeric = int64_to_numeric(new_sponsor);
		pushJsonbValue(&st, WJB_VALUE, &v);
		k.val.string.val = "rewritten";
		k.val.string.len = strlen(k.val.string.val);
		pushJsonbValue(&st, WJB_KEY, &k);
		v.type = jbvNumeric;
		v.val.numeric = int64_to_numeric(moved);
		pushJsonbValue(&st, WJB_VALUE, &v);
	}
	AffAudit(program_id, "move_member",
			 JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL)));
	SPI_finish();
	PG_RETURN_INT64(moved);
}

/*
 * affiliate.set_member_status(program_id bigint, member_id bigint, status text,
 *                             reason text DEFAULT NULL)
 * RETURNS text -- the previous status
 */
Datum
set_member_status(PG_FUNCTION_ARGS)
{
	static PlanSlot upd,
				detail;
	static const Oid types[4] = {INT8OID, INT8OID, TEXTOID, TEXTOID};
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		member_id = AffArgInt64(fcinfo, 1, "member_id");
	char	   *status;
	char	   *reason = AffTextArg(fcinfo, 3, "reason", 2000, false);
	Datum		values[4];
	char		nulls[4] = "   ";
	text	   *old;
	bool		isnull;
	MemoryContext outer = CurrentMemoryContext;

	AffRequireArg(fcinfo, 2, "status");
	status = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (strcmp(status, "active") != 0 && strcmp(status, "inactive") != 0 &&
		strcmp(status, "blocked") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid member status \"%s\"", status),
				 errhint("A member is active, inactive or blocked.")));

	AffRequireProgram(program_id, NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(member_id);
	values[2] = CStringGetTextDatum(status);
	values[3] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[3] = reason ? ' ' : 'n';
	AffExec(&upd,
			"UPDATE affiliate.member m SET status = $3 "
			"FROM (SELECT id, status FROM affiliate.member "
			"      WHERE program_id = $1 AND id = $2 FOR UPDATE) o "
			"WHERE m.program_id = $1 AND m.id = o.id RETURNING o.status",
			3, types, values, nulls, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("member " INT64_FORMAT " does not exist in program " INT64_FORMAT,
						member_id, program_id)));
	{
		MemoryContext spi = MemoryContextSwitchTo(outer);

		old = DatumGetTextPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		MemoryContextSwitchTo(spi);
	}
	values[2] = PointerGetDatum(old);
	values[3] = CStringGetTextDatum(status);
	AffExec(&detail,
			"SELECT pg_catalog.jsonb_build_object('member_id', $2, 'old_status', $3::text, "
			"  'new_status', $4::text, 'reason', $5::text)",
			5, (Oid[]) {INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID},
			(Datum[]) {values[0], values[1], values[2], values[3],
				reason ? CStringGetTextDatum(reason) : (Datum) 0},
			reason ? "     " : "    n", false, 1);
	AffAudit(program_id, "set_member_status",
			 DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	SPI_finish();
	PG_RETURN_TEXT_P(old);
}

/*
 * affiliate.member_by_code(program_id bigint, code text) RETURNS bigint
 */
Datum
member_by_code(PG_FUNCTION_ARGS)
{
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	char	   *code;
	int64		id;

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	code = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	id = LookupCode(program_id, code, true);
	SPI_finish();
	if (id == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(id);
}

/* the longest display name, in characters */
#define AFF_MAX_DISPLAY_NAME 100

/*
 * affiliate.set_member_profile(program_id bigint, member_id bigint,
 *                              display_name text, birth_date date)
 * RETURNS void -- NULL clears a field
 */
Datum
set_member_profile(PG_FUNCTION_ARGS)
{
	static PlanSlot upd;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		member_id = AffArgInt64(fcinfo, 1, "member_id");
	char	   *name = NULL;
	DateADT		birth = 0;
	bool		has_birth = !PG_ARGISNULL(3);

	if (!PG_ARGISNULL(2))
	{
		text	   *t = PG_GETARG_TEXT_PP(2);
		int			len = pg_mbstrlen_with_len(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));

		name = text_to_cstring(t);
		if (len < 1 || len > AFF_MAX_DISPLAY_NAME)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("display_name must be 1 to %d characters long", AFF_MAX_DISPLAY_NAME),
					 errhint("Pass NULL to clear the display name.")));
		for (const char *c = name; *c; c++)
			if ((unsigned char) *c < 0x20 || *c == 0x7f)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("display_name must not contain control characters"),
						 errdetail("Display names appear on leaderboards and in messages.")));
	}
	if (has_birth)
	{
		DateADT		today = GetSQLCurrentDate();
		DateADT		earliest = date2j(1900, 1, 1) - POSTGRES_EPOCH_JDATE;

		birth = PG_GETARG_DATEADT(3);
		if (DATE_NOT_FINITE(birth) || birth < earliest || birth > today)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("birth_date must lie between 1900-01-01 and today"),
					 errhint("Pass NULL to clear the birth date.")));
	}

	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	AffExec(&upd,
			"UPDATE affiliate.member SET display_name = $3, birth_date = $4 "
			"WHERE program_id = $1 AND id = $2",
			4, (Oid[]) {INT8OID, INT8OID, TEXTOID, DATEOID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id),
				name ? CStringGetTextDatum(name) : (Datum) 0, DateADTGetDatum(birth)},
			(char[]) {' ', ' ', name ? ' ' : 'n', has_birth ? ' ' : 'n'}, false, 0);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("member " INT64_FORMAT " does not exist in program " INT64_FORMAT,
						member_id, program_id)));
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * The member must exist in the program: P0002 otherwise, with a detail
 * naming the role the caller gave it (NULL: none).  lock: FOR NO KEY UPDATE,
 * so the member cannot be removed or re-keyed under the caller.  Inside SPI.
 */
void
AffRequireMember(int64 program_id, int64 member_id, bool lock, const char *role)
{
	static PlanSlot plain,
				locking;

	AffExec(lock ? &locking : &plain,
			lock ? "SELECT 1 FROM affiliate.member WHERE program_id = $1 AND id = $2 FOR NO KEY UPDATE"
			: "SELECT 1 FROM affiliate.member WHERE program_id = $1 AND id = $2",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id)}, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("member " INT64_FORMAT " does not exist in program " INT64_FORMAT,
						member_id, program_id),
				 role ? errdetail("It is named as the %s.", role) : 0));
}
