/*
 * ledger.c
 *	  The double-entry ledger: the one posting function every engine uses,
 *	  balance folding and checkpoints, and the append-only guard.
 *
 * Tables (sql/pg_affiliate.sql): account, journal, posting, balance_delta,
 * balance_checkpoint.
 *
 * How a posting reaches a balance
 * -------------------------------
 * A journal's postings are appended to affiliate.posting.  Then, per account
 * (net of all legs of the journal on that account):
 *
 *  - a debit of an account that must not go negative takes the account row
 *    lock (accounts locked in id order, so two journals never deadlock), folds
 *    the account's pending deltas, checks the balance and writes it; so does
 *    a credit the caller marks lock_credit (a member's own withdrawal
 *    accounts, which only the member's next step would fold);
 *  - anything else (every credit, any movement of an account allowed to go
 *    negative such as the system commission_expense account, and a debit the
 *    caller marks debit_covered because rows it holds FOR UPDATE prove the
 *    money is there) takes no lock at all: a row is appended to
 *    affiliate.balance_delta.  Popular sponsors and system accounts therefore
 *    never serialise writers.  Without any locked account, the journal, its
 *    postings and the deltas are written by one statement.
 *
 * The current balance of an account is account.balance plus its deltas.
 * affiliate.fold_balances() (a job) and every locked debit fold deltas into
 * account.balance under the row lock and, every pg_affiliate.checkpoint_interval
 * postings, write a balance checkpoint (account, at, balance = sum of the
 * postings with posted_at <= at).  A posting whose transaction commits after a
 * checkpoint that should contain it ("late": posted_at <= at) is added to that
 * checkpoint when it is folded; until then balance_at() counts it from the
 * delta table.  So balance_at() is exact and costs one index lookup plus a scan
 * bounded by the checkpoint interval and the fold lag.
 */
#include "postgres.h"

#include <sodium.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "port/pg_bswap.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "pg_affiliate.h"

/* legs of a journal posted through post_journal(); the engines may post more */
#define LEDGER_MAX_LEGS 1000
#define LEDGER_MAX_INTERNAL_LEGS 10000000
#define LEDGER_MAX_KEY 200

PG_FUNCTION_INFO_V1(post_journal);
PG_FUNCTION_INFO_V1(ensure_account);
PG_FUNCTION_INFO_V1(fold_balances);
PG_FUNCTION_INFO_V1(refuse_change);

/* one account's net movement in a journal */
typedef struct AccountNet
{
	int64		account_id;
	int64		net;
	int			nlegs;
	bool		allow_negative;
	bool		lock;			/* apply under the row lock even if a credit */
	bool		covered;		/* every debit leg is covered by the caller's locks */
} AccountNet;

static int
CompareAccountNet(const void *a, const void *b)
{
	int64		x = ((const AccountNet *) a)->account_id;
	int64		y = ((const AccountNet *) b)->account_id;

	return (x > y) - (x < y);
}

/* legs named by (system/member, asset, kind) are resolved in this order */
static int
CompareLegName(const void *a, const void *b)
{
	const LedgerLeg *x = *(LedgerLeg * const *) a;
	const LedgerLeg *y = *(LedgerLeg * const *) b;
	int			c;

	if (x->is_system != y->is_system)
		return x->is_system ? -1 : 1;
	if (!x->is_system && x->member_id != y->member_id)
		return x->member_id < y->member_id ? -1 : 1;
	c = strcmp(x->asset, y->asset);
	if (c != 0)
		return c;
	return strcmp(x->kind, y->kind);
}

static void
OverflowError(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("amount out of range"),
			 errdetail("A sum of amounts does not fit in a bigint.")));
}

static Datum
Int64ArrayDatum(int64 *vals, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(vals[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, sizeof(int64),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * Find or create an account.  Race-free: look up; if missing, insert with
 * ON CONFLICT DO NOTHING (a concurrent creator makes us wait for its commit),
 * and look up again.  Must be called inside an SPI connection.
 */
int64
LedgerAccount(int64 program_id, bool is_system, int64 member_id,
			  const char *kind, const char *asset, int allow_negative,
			  bool *allow_negative_out, char **asset_out)
{
	static PlanSlot sel_sys,
				sel_mem,
				ins;
	static const Oid seltypes[4] = {INT8OID, TEXTOID, TEXTOID, INT8OID};
	static const Oid instypes[5] = {INT8OID, INT8OID, TEXTOID, TEXTOID, BOOLOID};
	Datum		values[5];
	char		nulls[5] = "     ";
	int64		id = 0;
	bool		found_allow;

	AffCheckKind(kind, "account kind");
	AffCheckAsset(asset);

	values[0] = Int64GetDatum(program_id);
	values[1] = CStringGetTextDatum(asset);
	values[2] = CStringGetTextDatum(kind);
	values[3] = Int64GetDatum(member_id);

	for (int attempt = 0; attempt < 2 && id == 0; attempt++)
	{
		if (is_system)
			AffExec(&sel_sys,
					"SELECT id, allow_negative FROM affiliate.account "
					"WHERE program_id = $1 AND member_id IS NULL AND asset = $2 AND kind = $3",
					3, seltypes, values, NULL, false, 1);
		else
			AffExec(&sel_mem,
					"SELECT id, allow_negative FROM affiliate.account "
					"WHERE program_id = $1 AND member_id = $4 AND asset = $2 AND kind = $3",
					4, seltypes, values, NULL, false, 1);
		if (SPI_processed > 0)
		{
			id = AffGetInt64(0, 1, NULL);
			found_allow = AffGetBool(0, 2, NULL);
			break;
		}
		if (attempt == 1)
			break;

		/*
		 * A member account needs its member.  (Before ALTER EXTENSION UPDATE
		 * to 0.2.0 the schema has no member table: then there is nothing to
		 * check.)
		 */
		if (!is_system)
		{
			static PlanSlot has,
						mem;
			bool		exists = true;

			AffExec(&has, "SELECT pg_catalog.to_regclass('affiliate.member') IS NOT NULL",
					0, NULL, NULL, NULL, false, 1);
			if (AffGetBool(0, 1, NULL))
			{
				AffExec(&mem, "SELECT 1 FROM affiliate.member WHERE program_id = $1 AND id = $4",
						4, seltypes, values, NULL, false, 1);
				exists = SPI_processed > 0;
			}
			if (!exists)
				ereport(ERROR,
						(errcode(ERRCODE_NO_DATA_FOUND),
						 errmsg("member " INT64_FORMAT " does not exist in program " INT64_FORMAT,
								member_id, program_id),
						 errhint("Add the member with affiliate.add_member() first.")));
		}
		{
			Datum		iv[5];
			bool		allow = allow_negative < 0 ? is_system : allow_negative != 0;

			iv[0] = Int64GetDatum(program_id);
			iv[1] = Int64GetDatum(member_id);
			iv[2] = CStringGetTextDatum(asset);
			iv[3] = CStringGetTextDatum(kind);
			iv[4] = BoolGetDatum(allow);
			nulls[1] = is_system ? 'n' : ' ';
			AffExec(&ins,
					"INSERT INTO affiliate.account (program_id, member_id, asset, kind, allow_negative) "
					"VALUES ($1, $2, $3, $4, $5) "
					"ON CONFLICT (program_id, member_id, asset, kind) DO NOTHING "
					"RETURNING id, allow_negative",
					5, instypes, iv, nulls, false, 1);
			if (SPI_processed > 0)
			{
				id = AffGetInt64(0, 1, NULL);
				found_allow = AffGetBool(0, 2, NULL);
			}
		}
	}
	if (id == 0)
		elog(ERROR, "pg_affiliate: could not find or create account");

	if (allow_negative >= 0 && found_allow != (allow_negative != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("account " INT64_FORMAT " exists with allow_negative = %s",
						id, found_allow ? "true" : "false"),
				 errdetail("allow_negative is set when an account is created and is not changed by a later lookup.")));
	if (allow_negative_out)
		*allow_negative_out = found_allow;
	if (asset_out)
		*asset_out = pstrdup(asset);
	return id;
}

/*
 * Look up the accounts of named legs in one statement (the legs of a
 * conversion: commission_expense and each beneficiary's pending account).
 * Sets account_id and allow_negative of the legs whose account exists; the
 * others are left at 0 for LedgerAccount to create, in the caller's order.
 */
static void
FindAccounts(int64 program_id, LedgerLeg **named, int nnamed)
{
	static PlanSlot slot;
	Datum	   *idx;
	Datum	   *members;
	bool	   *mnulls;
	Datum	   *assets;
	Datum	   *kinds;
	int			dims[1];
	int			lbs[1] = {1};

	if (nnamed == 0)
		return;
	idx = palloc(sizeof(Datum) * nnamed);
	members = palloc(sizeof(Datum) * nnamed);
	mnulls = palloc(sizeof(bool) * nnamed);
	assets = palloc(sizeof(Datum) * nnamed);
	kinds = palloc(sizeof(Datum) * nnamed);
	for (int i = 0; i < nnamed; i++)
	{
		idx[i] = Int64GetDatum(i);
		members[i] = Int64GetDatum(named[i]->member_id);
		mnulls[i] = named[i]->is_system;
		assets[i] = CStringGetTextDatum(named[i]->asset);
		kinds[i] = CStringGetTextDatum(named[i]->kind);
	}
	dims[0] = nnamed;
	AffExec(&slot,
			"SELECT l.i, a.id, a.allow_negative "
			"FROM ROWS FROM (pg_catalog.unnest($2::bigint[]), pg_catalog.unnest($3::bigint[]), "
			"  pg_catalog.unnest($4::text[]), pg_catalog.unnest($5::text[])) AS l(i, member, asset, kind) "
			"JOIN affiliate.account a ON a.program_id = $1 AND a.member_id = l.member "
			"  AND a.asset = l.asset AND a.kind = l.kind "
			"UNION ALL "
			"SELECT l.i, a.id, a.allow_negative "
			"FROM ROWS FROM (pg_catalog.unnest($2::bigint[]), pg_catalog.unnest($3::bigint[]), "
			"  pg_catalog.unnest($4::text[]), pg_catalog.unnest($5::text[])) AS l(i, member, asset, kind) "
			"JOIN affiliate.account a ON a.program_id = $1 AND a.member_id IS NULL AND l.member IS NULL "
			"  AND a.asset = l.asset AND a.kind = l.kind",
			5, (Oid[]) {INT8OID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID},
			(Datum[]) {Int64GetDatum(program_id),
				PointerGetDatum(construct_array(idx, nnamed, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE)),
				PointerGetDatum(construct_md_array(members, mnulls, 1, dims, lbs, INT8OID, 8,
												   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE)),
				PointerGetDatum(construct_array(assets, nnamed, TEXTOID, -1, false, TYPALIGN_INT)),
			PointerGetDatum(construct_array(kinds, nnamed, TEXTOID, -1, false, TYPALIGN_INT))},
			NULL, false, 0);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		int			i = (int) AffGetInt64((int) r, 1, NULL);

		named[i]->account_id = AffGetInt64((int) r, 2, NULL);
		named[i]->allow_negative = AffGetBool((int) r, 3, NULL);
	}
}

/* Resolve a leg given by account id: its asset and overdraft rule. */
static void
ResolveAccountId(int64 program_id, LedgerLeg *leg, int legno)
{
	static PlanSlot slot;
	static const Oid types[2] = {INT8OID, INT8OID};
	Datum		values[2];

	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(leg->account_id);
	AffExec(&slot,
			"SELECT asset, allow_negative FROM affiliate.account WHERE program_id = $1 AND id = $2",
			2, types, values, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("account " INT64_FORMAT " does not exist in program " INT64_FORMAT,
						leg->account_id, program_id),
				 errdetail("Leg %d names an account that is not in this program.", legno)));
	leg->resolved_asset = AffGetText(0, 1);
	leg->allow_negative = AffGetBool(0, 2, NULL);
}

/*
 * Store a folded balance; every checkpoint_interval postings, also write a
 * checkpoint.  The checkpoint time is read from the clock after the fold, so
 * it is at or after the posted_at of every posting folded so far.
 */
static void
StoreBalance(int64 program_id, int64 account_id, int64 balance, int64 since,
			 bool has_checkpoint, TimestampTz checkpoint_at)
{
	static PlanSlot upd,
				cp;
	static const Oid types[5] = {INT8OID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID};
	Datum		values[5];
	char		nulls[5] = "     ";

	if (since >= affiliate_checkpoint_interval)
	{
		TimestampTz at = GetCurrentTimestamp();

		if (has_checkpoint && at <= checkpoint_at)
			at = checkpoint_at + 1;
		values[0] = Int64GetDatum(program_id);
		values[1] = Int64GetDatum(account_id);
		values[2] = Int64GetDatum(balance);
		values[3] = TimestampTzGetDatum(at);
		AffExec(&cp,
				"INSERT INTO affiliate.balance_checkpoint (program_id, account_id, balance, at) "
				"VALUES ($1, $2, $3, $4)",
				4, (Oid[]) {INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID}, values, NULL, false, 0);
		since = 0;
		has_checkpoint = true;
		checkpoint_at = at;
	}
	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(account_id);
	values[2] = Int64GetDatum(balance);
	values[3] = Int64GetDatum(since);
	values[4] = TimestampTzGetDatum(checkpoint_at);
	if (!has_checkpoint)
		nulls[4] = 'n';
	AffExec(&upd,
			"UPDATE affiliate.account SET balance = $3, since_checkpoint = $4, checkpoint_at = $5 "
			"WHERE program_id = $1 AND id = $2",
			5, types, values, nulls, false, 0);
}

/* The row of a locked account. */
typedef struct LockedAccount
{
	int64		balance;
	int64		since;
	bool		has_checkpoint;
	TimestampTz checkpoint_at;
	bool		is_system;
	int64		member_id;
	char	   *kind;
	char	   *asset;
} LockedAccount;

/*
 * Lock an account row (FOR NO KEY UPDATE, or SKIP LOCKED) and fold its
 * deltas, in one statement: the deltas are deleted only once the lock is
 * ours (the DELETE joins the locked row).  Returns false when the row is
 * missing or (skip_locked) locked by someone else.  *folded is the sum of the
 * folded deltas, *count their number.
 *
 * The statement's snapshot is taken before a lock wait: a credit committed
 * while we waited stays a delta (folded next time), so a balance read here
 * can only be low, never high; debits are applied to the row itself, which
 * the lock re-reads at its latest version.
 *
 * Deltas posted at or before the account's latest checkpoint ("late": their
 * transaction committed after that checkpoint was taken) are returned as two
 * arrays and added to the checkpoints they belong to by a second statement.
 * It must be a second one: a checkpoint written by the transaction we waited
 * for is not in the first statement's snapshot, only in the next one's (and
 * no other checkpoint of the account can appear while we hold its lock).
 */
#define LOCK_AND_FOLD(lockclause) \
	"WITH a AS MATERIALIZED (" \
	"  SELECT balance, since_checkpoint, checkpoint_at, member_id, kind, asset " \
	"  FROM affiliate.account WHERE program_id = $1 AND id = $2 " lockclause "), " \
	"d AS (" \
	"  DELETE FROM affiliate.balance_delta x USING a " \
	"  WHERE x.program_id = $1 AND x.account_id = $2 " \
	"  RETURNING x.amount, x.posted_at), " \
	"late AS (" \
	"  SELECT pg_catalog.array_agg(d.posted_at) AS posted_at, pg_catalog.array_agg(d.amount) AS amount " \
	"  FROM d CROSS JOIN a WHERE d.posted_at <= a.checkpoint_at) " \
	"SELECT a.balance, a.since_checkpoint, a.checkpoint_at, a.member_id, a.kind, a.asset, " \
	"  (SELECT coalesce(pg_catalog.sum(d.amount), 0)::bigint FROM d), " \
	"  (SELECT pg_catalog.count(*) FROM d), late.posted_at, late.amount " \
	"FROM a CROSS JOIN late"

static bool
LockAndFold(int64 program_id, int64 account_id, bool skip_locked, LockedAccount *a,
			int64 *folded, int64 *count)
{
	static PlanSlot wait,
				skip,
				late;
	static const Oid types[2] = {INT8OID, INT8OID};
	Datum		values[4];
	bool		isnull;
	Datum		late_at;
	Datum		late_amount;

	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(account_id);
	if (skip_locked)
		AffExec(&skip, LOCK_AND_FOLD("FOR NO KEY UPDATE SKIP LOCKED"),
				2, types, values, NULL, false, 1);
	else
		AffExec(&wait, LOCK_AND_FOLD("FOR NO KEY UPDATE"),
				2, types, values, NULL, false, 1);
	if (SPI_processed == 0)
		return false;
	a->balance = AffGetInt64(0, 1, NULL);
	a->since = AffGetInt64(0, 2, NULL);
	a->checkpoint_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 3, &isnull));
	a->has_checkpoint = !isnull;
	a->member_id = AffGetInt64(0, 4, &a->is_system);
	a->kind = AffGetText(0, 5);
	a->asset = AffGetText(0, 6);
	*folded = AffGetInt64(0, 7, NULL);
	*count = AffGetInt64(0, 8, NULL);
	late_at = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 9, &isnull);
	if (isnull)
		return true;
	/* copied out of the tuple table before the next statement runs */
	late_at = PointerGetDatum(DatumGetArrayTypePCopy(late_at));
	late_amount = PointerGetDatum(DatumGetArrayTypePCopy(
		SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 10, &isnull)));
	values[2] = late_at;
	values[3] = late_amount;
	AffExec(&late,
			"UPDATE affiliate.balance_checkpoint c SET balance = c.balance + l.amount "
			"FROM (SELECT c2.at, pg_catalog.sum(x.amount)::bigint AS amount "
			"        FROM affiliate.balance_checkpoint c2 "
			"        JOIN ROWS FROM (pg_catalog.unnest($3::pg_catalog.timestamptz[]), "
			"                        pg_catalog.unnest($4::bigint[])) x (posted_at, amount) "
			"          ON x.posted_at <= c2.at "
			"       WHERE c2.program_id = $1 AND c2.account_id = $2 "
			"       GROUP BY c2.at) l "
			"WHERE c.program_id = $1 AND c.account_id = $2 AND c.at = l.at",
			4, (Oid[]) {INT8OID, INT8OID, TIMESTAMPTZARRAYOID, INT8ARRAYOID}, values, NULL, false, 0);
	return true;
}

/*
 * Debit (or net-debit) an account that must not go negative: lock, fold,
 * check, write.  The journal's postings on this account are applied here, not
 * through deltas.
 */
static void
ApplyLocked(int64 program_id, AccountNet *an, TimestampTz posted_at)
{
	static PlanSlot fix;
	LockedAccount a;
	int64		folded_count;
	int64		folded;
	int64		balance;
	int64		after;

	if (!LockAndFold(program_id, an->account_id, false, &a, &folded, &folded_count))
		elog(ERROR, "pg_affiliate: account " INT64_FORMAT " vanished", an->account_id);
	if (pg_add_s64_overflow(a.balance, folded, &balance) ||
		pg_add_s64_overflow(balance, an->net, &after))
		OverflowError();

	if (after < 0)
	{
		char	   *owner = a.is_system ? pstrdup("system")
			: psprintf("member " INT64_FORMAT, a.member_id);

		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("insufficient funds in account " INT64_FORMAT, an->account_id),
				 errdetail("Account " INT64_FORMAT " (%s, kind %s, asset %s) holds " INT64_FORMAT
						   " and the journal takes " INT64_FORMAT ": short by " INT64_FORMAT ".",
						   an->account_id, owner, a.kind, a.asset, balance, -an->net, -after),
				 errhint("The account does not allow a negative balance; nothing was posted.")));
	}

	/* our own postings are late for any checkpoint taken since our start */
	if (a.has_checkpoint && posted_at <= a.checkpoint_at)
	{
		Datum		values[4];

		values[0] = Int64GetDatum(program_id);
		values[1] = Int64GetDatum(an->account_id);
		values[2] = Int64GetDatum(an->net);
		values[3] = TimestampTzGetDatum(posted_at);
		AffExec(&fix,
				"UPDATE affiliate.balance_checkpoint SET balance = balance + $3 "
				"WHERE program_id = $1 AND account_id = $2 AND at >= $4",
				4, (Oid[]) {INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID}, values, NULL, false, 0);
	}
	StoreBalance(program_id, an->account_id, after, a.since + folded_count + an->nlegs,
				 a.has_checkpoint, a.checkpoint_at);
}

/*
 * Lock an account row (FOR NO KEY UPDATE), fold its pending deltas and return
 * its exact current balance.  The lock is held to the end of the transaction,
 * so a later LedgerPost in it sees the same balance.  Callers that lock
 * several accounts must do so in account id order.  Inside SPI.
 */
int64
LedgerLockedBalance(int64 program_id, int64 account_id)
{
	LockedAccount a;
	int64		folded_count;
	int64		folded;
	int64		balance;

	if (!LockAndFold(program_id, account_id, false, &a, &folded, &folded_count))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("account " INT64_FORMAT " does not exist in program " INT64_FORMAT,
						account_id, program_id)));
	if (pg_add_s64_overflow(a.balance, folded, &balance))
		OverflowError();
	if (folded_count > 0)
		StoreBalance(program_id, account_id, balance, a.since + folded_count,
					 a.has_checkpoint, a.checkpoint_at);
	return balance;
}

/*
 * Write an account row this transaction has locked without changing it, so
 * that a REPEATABLE READ or SERIALIZABLE transaction that locks it later gets
 * a serialization failure instead of acting on a snapshot from before our
 * commit (a row lock alone does not conflict that way).  Used when a
 * decision taken under the lock (a clawback posting to owed) is one that
 * later readers of the locked row must see.
 */
void
LedgerTouchAccount(int64 program_id, int64 account_id)
{
	static PlanSlot slot;

	AffExec(&slot,
			"UPDATE affiliate.account SET balance = balance WHERE program_id = $1 AND id = $2",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(account_id)}, NULL, false, 0);
}

/* BLAKE2b-256 over the canonical form of a journal request. */
static bytea *
RequestHash(const char *kind, LedgerLeg *legs, int nlegs, Jsonb *memo)
{
	crypto_generichash_state st;
	bytea	   *h = palloc(VARHDRSZ + crypto_generichash_BYTES);

	crypto_generichash_init(&st, NULL, 0, crypto_generichash_BYTES);
	crypto_generichash_update(&st, (const unsigned char *) kind, strlen(kind) + 1);
	for (int i = 0; i < nlegs; i++)
	{
		uint64		v[2];

		v[0] = pg_hton64((uint64) legs[i].account_id);
		v[1] = pg_hton64((uint64) legs[i].amount);
		crypto_generichash_update(&st, (const unsigned char *) v, sizeof(v));
	}
	if (memo != NULL)
	{
		char	   *m = JsonbToCString(NULL, &memo->root, VARSIZE(memo));

		crypto_generichash_update(&st, (const unsigned char *) "M", 1);
		crypto_generichash_update(&st, (const unsigned char *) m, strlen(m));
	}
	crypto_generichash_final(&st, (unsigned char *) VARDATA(h), crypto_generichash_BYTES);
	SET_VARSIZE(h, VARHDRSZ + crypto_generichash_BYTES);
	return h;
}

int64
LedgerPost(int64 program_id, const char *journal_kind, const char *idempotency_key,
		   Jsonb *memo, LedgerLeg *legs, int nlegs, bool *replayed)
{
	static PlanSlot jins,
				jall,
				jsel,
				pins;
	static const Oid jtypes[8] = {INT8OID, TEXTOID, TEXTOID, BYTEAOID, JSONBOID, TIMESTAMPTZOID,
	INT8ARRAYOID, INT8ARRAYOID};
	static const Oid ptypes[6] = {INT8OID, INT8OID, INT8ARRAYOID, INT8ARRAYOID,
	TIMESTAMPTZOID, INT8ARRAYOID};
	char	   *currency;
	LedgerLeg **named;
	int			nnamed = 0;
	AccountNet *nets;
	int			nnets = 0;
	int64	   *ids;
	int64	   *amounts;
	int64	   *locked;
	int			nlocked = 0;
	int64		journal_id;
	bytea	   *hash;
	TimestampTz posted_at = GetCurrentTransactionStartTimestamp();
	Datum		values[8];
	char		nulls[8] = "        ";
	bool		any_locked = false;

	*replayed = false;
	AffCheckKind(journal_kind, "journal kind");
	if (nlegs < 2 || nlegs > LEDGER_MAX_INTERNAL_LEGS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a journal needs 2 to %d legs, not %d", LEDGER_MAX_INTERNAL_LEGS, nlegs),
				 errdetail("Every journal moves value from at least one account to another.")));
	if (idempotency_key != NULL &&
		(idempotency_key[0] == '\0' || strlen(idempotency_key) > LEDGER_MAX_KEY))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid idempotency key"),
				 errdetail("An idempotency key is 1 to %d bytes.", LEDGER_MAX_KEY)));
	for (int i = 0; i < nlegs; i++)
	{
		if (legs[i].amount == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("leg %d has a zero amount", i + 1),
					 errdetail("Every leg moves a non-zero amount in minor units.")));
		if (legs[i].amount > LEDGER_MAX_AMOUNT || legs[i].amount < -LEDGER_MAX_AMOUNT)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("leg %d moves " INT64_FORMAT ", more than a leg may move", i + 1,
							legs[i].amount),
					 errdetail("A leg moves at most " INT64_FORMAT " minor units either way, which keeps every balance far from the bigint limit.",
							   LEDGER_MAX_AMOUNT)));
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");

	AffRequireProgram(program_id, &currency);

	/* resolve accounts: by id, then by name in a fixed order (no deadlock) */
	named = palloc(sizeof(LedgerLeg *) * nlegs);
	for (int i = 0; i < nlegs; i++)
	{
		if (legs[i].account_id > 0)
			ResolveAccountId(program_id, &legs[i], i + 1);
		else
		{
			if (legs[i].asset == NULL)
				legs[i].asset = currency;
			AffCheckKind(legs[i].kind, "account kind");
			AffCheckAsset(legs[i].asset);
			named[nnamed++] = &legs[i];
		}
	}
	if (nnamed > 1)
		qsort(named, nnamed, sizeof(LedgerLeg *), CompareLegName);
	FindAccounts(program_id, named, nnamed);
	for (int i = 0; i < nnamed; i++)
	{
		LedgerLeg  *l = named[i];

		if (l->account_id == 0)
			l->account_id = LedgerAccount(program_id, l->is_system, l->member_id, l->kind,
										  l->asset, -1, &l->allow_negative, NULL);
		l->resolved_asset = l->asset;
	}

	/* the legs of each asset sum to zero */
	for (int i = 0; i < nlegs; i++)
	{
		int64		sum = 0;
		bool		first = true;

		for (int j = 0; j < i && first; j++)
			if (strcmp(legs[j].resolved_asset, legs[i].resolved_asset) == 0)
				first = false;
		if (!first)
			continue;
		for (int j = i; j < nlegs; j++)
			if (strcmp(legs[j].resolved_asset, legs[i].resolved_asset) == 0 &&
				pg_add_s64_overflow(sum, legs[j].amount, &sum))
				OverflowError();
		if (sum != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("journal does not balance"),
					 errdetail("The legs in asset %s sum to " INT64_FORMAT "; the legs of each asset must sum to zero.",
							   legs[i].resolved_asset, sum)));
	}

	/* net per account, in account id order */
	nets = palloc(sizeof(AccountNet) * nlegs);
	for (int i = 0; i < nlegs; i++)
	{
		nets[i].account_id = legs[i].account_id;
		nets[i].net = legs[i].amount;
		nets[i].nlegs = 1;
		nets[i].allow_negative = legs[i].allow_negative;
		nets[i].lock = legs[i].lock_credit;
		nets[i].covered = legs[i].amount > 0 || legs[i].debit_covered;
	}
	qsort(nets, nlegs, sizeof(AccountNet), CompareAccountNet);
	for (int i = 0; i < nlegs; i++)
	{
		if (nnets > 0 && nets[nnets - 1].account_id == nets[i].account_id)
		{
			if (pg_add_s64_overflow(nets[nnets - 1].net, nets[i].net, &nets[nnets - 1].net))
				OverflowError();
			nets[nnets - 1].nlegs++;
			nets[nnets - 1].lock |= nets[i].lock;
			nets[nnets - 1].covered &= nets[i].covered;
		}
		else
			nets[nnets++] = nets[i];
	}

	/*
	 * Debits of accounts that must stay non-negative, and movements the
	 * caller wants applied directly (a member's own withdrawal accounts,
	 * which nobody else writes: a delta would only be folded by the next
	 * step), are applied under the row lock, in id order.
	 */
	for (int i = 0; i < nnets; i++)
		nets[i].lock = (nets[i].net < 0 && !nets[i].allow_negative && !nets[i].covered) ||
			(nets[i].lock && nets[i].net != 0);
	for (int i = 0; i < nnets; i++)
		any_locked |= nets[i].lock;

	hash = RequestHash(journal_kind, legs, nlegs, memo);
	ids = palloc(sizeof(int64) * nlegs);
	amounts = palloc(sizeof(int64) * nlegs);
	for (int i = 0; i < nlegs; i++)
	{
		ids[i] = legs[i].account_id;
		amounts[i] = legs[i].amount;
	}
	values[0] = Int64GetDatum(program_id);
	values[1] = CStringGetTextDatum(journal_kind);
	values[2] = idempotency_key ? CStringGetTextDatum(idempotency_key) : (Datum) 0;
	nulls[2] = idempotency_key ? ' ' : 'n';
	values[3] = PointerGetDatum(hash);
	values[4] = memo ? JsonbPGetDatum(memo) : (Datum) 0;
	nulls[4] = memo ? ' ' : 'n';
	values[5] = TimestampTzGetDatum(posted_at);
	values[6] = Int64ArrayDatum(ids, nlegs);
	values[7] = Int64ArrayDatum(amounts, nlegs);

	/*
	 * The journal row claims the idempotency key.  When no account needs a
	 * lock (a conversion, a release), the journal, its postings and their
	 * deltas are one statement.
	 */
	if (!any_locked)
		AffExec(&jall,
				"WITH j AS ("
				"  INSERT INTO affiliate.journal (program_id, kind, idempotency_key, request_hash, memo, posted_at) "
				"  VALUES ($1, $2, $3, $4, $5, $6) "
				"  ON CONFLICT (program_id, idempotency_key) DO NOTHING RETURNING id), "
				"p AS ("
				"  INSERT INTO affiliate.posting (program_id, journal_id, account_id, amount, posted_at) "
				"  SELECT $1, j.id, u.account_id, u.amount, $6 "
				"  FROM j, ROWS FROM (pg_catalog.unnest($7::bigint[]), pg_catalog.unnest($8::bigint[])) "
				"       WITH ORDINALITY AS u(account_id, amount, n) "
				"  ORDER BY u.n "
				"  RETURNING id, account_id, amount), "
				"d AS ("
				"  INSERT INTO affiliate.balance_delta (program_id, account_id, posting_id, amount, posted_at) "
				"  SELECT $1, p.account_id, p.id, p.amount, $6 FROM p) "
				"SELECT id FROM j",
				8, jtypes, values, nulls, false, 0);
	else
		AffExec(&jins,
				"INSERT INTO affiliate.journal (program_id, kind, idempotency_key, request_hash, memo, posted_at) "
				"VALUES ($1, $2, $3, $4, $5, $6) "
				"ON CONFLICT (program_id, idempotency_key) DO NOTHING RETURNING id",
				6, jtypes, values, nulls, false, 0);
	if (SPI_processed == 0)
	{
		bool		same;

		AffExec(&jsel,
				"SELECT id, request_hash = $4 FROM affiliate.journal "
				"WHERE program_id = $1 AND idempotency_key = $3",
				6, jtypes, values, nulls, false, 1);
		if (SPI_processed == 0)
			elog(ERROR, "pg_affiliate: idempotency key conflict without a visible journal");
		journal_id = AffGetInt64(0, 1, NULL);
		same = AffGetBool(0, 2, NULL);
		if (!same)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("idempotency key \"%s\" was already used with different inputs",
							idempotency_key),
					 errdetail("Journal " INT64_FORMAT " was posted with this key; a retry must repeat the same kind, legs (in the same order) and memo.",
							   journal_id)));
		SPI_finish();
		*replayed = true;
		return journal_id;
	}
	journal_id = AffGetInt64(0, 1, NULL);
	if (!any_locked)
	{
		SPI_finish();
		return journal_id;
	}

	locked = palloc(sizeof(int64) * nnets);
	for (int i = 0; i < nnets; i++)
		if (nets[i].lock)
		{
			ApplyLocked(program_id, &nets[i], posted_at);
			locked[nlocked++] = nets[i].account_id;
		}

	/* the postings, and a delta for every account not applied above */
	{
		Datum		pv[6];

		pv[0] = Int64GetDatum(program_id);
		pv[1] = Int64GetDatum(journal_id);
		pv[2] = values[6];
		pv[3] = values[7];
		pv[4] = TimestampTzGetDatum(posted_at);
		pv[5] = Int64ArrayDatum(locked, nlocked);
		AffExec(&pins,
				"WITH p AS ("
				"  INSERT INTO affiliate.posting (program_id, journal_id, account_id, amount, posted_at) "
				"  SELECT $1, $2, u.account_id, u.amount, $5 "
				"  FROM ROWS FROM (pg_catalog.unnest($3::bigint[]), pg_catalog.unnest($4::bigint[])) "
				"       WITH ORDINALITY AS u(account_id, amount, n) "
				"  ORDER BY u.n "
				"  RETURNING id, account_id, amount) "
				"INSERT INTO affiliate.balance_delta (program_id, account_id, posting_id, amount, posted_at) "
				"SELECT $1, p.account_id, p.id, p.amount, $5 FROM p "
				"WHERE p.account_id <> ALL ($6::bigint[])",
				6, ptypes, pv, NULL, false, 0);
	}

	SPI_finish();
	return journal_id;
}

/* ---------- SQL-callable functions ---------- */

/* Parse one leg object of affiliate.post_journal's legs array. */
static void
ParseLeg(JsonbContainer *obj, LedgerLeg *leg, int legno)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	bool		has_amount = false;
	bool		has_member = false;

	memset(leg, 0, sizeof(*leg));
	leg->is_system = true;
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		if (strcmp(key, "amount") == 0)
		{
			leg->amount = AffJsonbInt64(&v, psprintf("leg %d: amount", legno), false);
			has_amount = true;
		}
		else if (strcmp(key, "account") == 0)
		{
			leg->account_id = AffJsonbInt64(&v, psprintf("leg %d: account", legno), true);
			if (leg->account_id <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("leg %d: account must be a positive id", legno)));
		}
		else if (strcmp(key, "member") == 0)
		{
			has_member = true;
			if (v.type != jbvNull)
			{
				leg->member_id = AffJsonbInt64(&v, psprintf("leg %d: member", legno), true);
				leg->is_system = false;
			}
		}
		else if (strcmp(key, "kind") == 0)
			leg->kind = AffJsonbString(&v, psprintf("leg %d: kind", legno));
		else if (strcmp(key, "asset") == 0)
			leg->asset = AffJsonbString(&v, psprintf("leg %d: asset", legno));
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("leg %d: unknown key \"%s\"", legno, key),
					 errdetail("A leg has \"amount\" and either \"account\" or \"kind\" with optional \"member\" and \"asset\".")));
	}
	if (!has_amount)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("leg %d has no amount", legno)));
	if (leg->account_id > 0 && (leg->kind || leg->asset || has_member))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("leg %d names an account both by id and by kind", legno),
				 errdetail("Give either \"account\" or \"kind\" (with optional \"member\" and \"asset\").")));
	if (leg->account_id == 0 && leg->kind == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("leg %d names no account", legno),
				 errdetail("Give either \"account\" or \"kind\" (with optional \"member\" and \"asset\").")));
}

/*
 * affiliate.post_journal(program_id bigint, kind text, legs jsonb,
 *                        idempotency_key text DEFAULT NULL, memo jsonb DEFAULT NULL)
 * RETURNS bigint
 *
 * The SQL face of LedgerPost, for manual adjustments by an admin (audited).
 */
Datum
post_journal(PG_FUNCTION_ARGS)
{
	int64		program_id;
	char	   *kind;
	Jsonb	   *legsj;
	char	   *key;
	Jsonb	   *memo;
	LedgerLeg  *legs;
	int			nlegs = 0;
	int64		journal_id;
	bool		replayed;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	AffRequireArg(fcinfo, 0, "program_id");
	AffRequireArg(fcinfo, 1, "kind");
	AffRequireArg(fcinfo, 2, "legs");
	program_id = PG_GETARG_INT64(0);
	kind = text_to_cstring(PG_GETARG_TEXT_PP(1));
	legsj = PG_GETARG_JSONB_P(2);
	key = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	memo = PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4);

	if (!JB_ROOT_IS_ARRAY(legsj) || JB_ROOT_IS_SCALAR(legsj))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("legs must be a JSON array of objects"),
				 errdetail("For example [{\"member\": 7, \"kind\": \"available\", \"amount\": 500}, {\"kind\": \"revenue\", \"amount\": -500}].")));
	legs = palloc0(sizeof(LedgerLeg) * Max(JB_ROOT_COUNT(legsj), 1));
	it = JsonbIteratorInit(&legsj->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("leg %d is not a JSON object", nlegs + 1)));
		ParseLeg(v.val.binary.data, &legs[nlegs], nlegs + 1);
		nlegs++;
	}

	if (nlegs < 2 || nlegs > LEDGER_MAX_LEGS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a journal needs 2 to %d legs, not %d", LEDGER_MAX_LEGS, nlegs),
				 errdetail("Every journal moves value from at least one account to another.")));
	journal_id = LedgerPost(program_id, kind, key, memo, legs, nlegs, &replayed);
	if (!replayed)
	{
		StringInfoData d;

		initStringInfo(&d);
		appendStringInfo(&d, "{\"journal_id\": " INT64_FORMAT ", \"kind\": ", journal_id);
		escape_json(&d, kind);
		appendStringInfo(&d, ", \"legs\": %s}",
						 JsonbToCString(NULL, &legsj->root, VARSIZE(legsj)));
		AffAudit(program_id, "post_journal",
				 DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(d.data))));
	}
	PG_RETURN_INT64(journal_id);
}

/*
 * affiliate.ensure_account(program_id bigint, member_id bigint, kind text,
 *                          asset text DEFAULT NULL, allow_negative boolean DEFAULT NULL)
 * RETURNS bigint
 */
Datum
ensure_account(PG_FUNCTION_ARGS)
{
	int64		program_id;
	char	   *currency;
	char	   *kind;
	char	   *asset;
	int64		id;

	AffRequireArg(fcinfo, 0, "program_id");
	AffRequireArg(fcinfo, 2, "kind");
	program_id = PG_GETARG_INT64(0);
	kind = text_to_cstring(PG_GETARG_TEXT_PP(2));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	AffRequireProgram(program_id, &currency);
	asset = PG_ARGISNULL(3) ? currency : text_to_cstring(PG_GETARG_TEXT_PP(3));
	id = LedgerAccount(program_id, PG_ARGISNULL(1), PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1),
					   kind, asset, PG_ARGISNULL(4) ? -1 : (int) PG_GETARG_BOOL(4), NULL, NULL);
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * affiliate.fold_balances(program_id bigint DEFAULT NULL, max_accounts int DEFAULT 10000)
 * RETURNS bigint -- postings folded
 *
 * The fold job.  Accounts locked by a running debit or another fold are
 * skipped (the debit folds them itself), so fold runs never wait and credits
 * never wait for a fold; a debit of an account that a fold holds waits until
 * the fold's transaction ends (keep fold runs short: max_accounts).
 */
Datum
fold_balances(PG_FUNCTION_ARGS)
{
	static PlanSlot list;
	static const Oid types[2] = {INT8OID, INT4OID};
	Datum		values[2];
	char		nulls[2] = "  ";
	int			max_accounts = PG_ARGISNULL(1) ? 10000 : PG_GETARG_INT32(1);
	int64		total = 0;
	int			n;
	int64	   *progs;
	int64	   *accts;

	if (max_accounts < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_accounts must be at least 1")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	values[0] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	nulls[0] = PG_ARGISNULL(0) ? 'n' : ' ';
	values[1] = Int32GetDatum(max_accounts);
	AffExec(&list,
			"SELECT DISTINCT program_id, account_id FROM affiliate.balance_delta "
			"WHERE $1 IS NULL OR program_id = $1 "
			"ORDER BY program_id, account_id LIMIT $2",
			2, types, values, nulls, false, 0);
	n = (int) SPI_processed;
	progs = palloc(sizeof(int64) * Max(n, 1));
	accts = palloc(sizeof(int64) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		progs[i] = AffGetInt64(i, 1, NULL);
		accts[i] = AffGetInt64(i, 2, NULL);
	}
	for (int i = 0; i < n; i++)
	{
		LockedAccount a;
		int64		count;
		int64		folded;
		int64		balance;

		if (!LockAndFold(progs[i], accts[i], true, &a, &folded, &count))
			continue;
		if (count == 0)
			continue;
		if (pg_add_s64_overflow(a.balance, folded, &balance))
			OverflowError();
		StoreBalance(progs[i], accts[i], balance, a.since + count,
					 a.has_checkpoint, a.checkpoint_at);
		total += count;
	}
	SPI_finish();
	PG_RETURN_INT64(total);
}

/* Trigger: journals, postings and the audit log are append-only. */
Datum
refuse_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *op;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "refuse_change: not called as a trigger");
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		op = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		op = "DELETE";
	else if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		op = "TRUNCATE";
	else
		op = "this change";
	if (strcmp(RelationGetRelationName(trigdata->tg_relation), "audit_log") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_RESTRICT_VIOLATION),
				 errmsg("affiliate.audit_log is append-only"),
				 errdetail("%s is refused: the audit log keeps every admin action as it was written.", op)));
	ereport(ERROR,
			(errcode(ERRCODE_RESTRICT_VIOLATION),
			 errmsg("affiliate.%s is append-only", RelationGetRelationName(trigdata->tg_relation)),
			 errdetail("%s is refused: the ledger never changes what it has written.", op),
			 errhint("Correct a journal by posting a reversing journal.")));
	PG_RETURN_NULL();
}
