/*
 * wallet.c
 *	  A member's wallet: spending from it (pay_from_wallet), admin
 *	  adjustments, and the transaction history with running balances.
 *
 * A member's wallet in one asset is five ledger accounts, shown as three
 * buckets by affiliate.balance() and affiliate.wallet_transactions():
 *
 *	 pending     = pending                (commissions on hold)
 *	 available   = available + owed       (spendable; owed <= 0 holds clawbacks
 *	                                       the member could not cover)
 *	 withdrawing = withdrawing + payable  (requested + approved withdrawals)
 *
 * Spending (a withdrawal request or a wallet payment) first repays what the
 * member owes: the journal takes amount + debt from available, credits the
 * debt back to owed and the amount to its destination.  Only postings made
 * under the member's available-account lock ever change owed (clawbacks lock
 * it too), so reading owed under that lock is exact.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "pg_affiliate.h"

#define WALLET_MAX_ROWS 10000
#define WALLET_MAX_ORDER_REF 180
#define WALLET_MAX_REASON 2000
#define WALLET_FETCH 256

PG_FUNCTION_INFO_V1(pay_from_wallet);
PG_FUNCTION_INFO_V1(adjust_balance);
PG_FUNCTION_INFO_V1(wallet_transactions);

/* ---------- shared with withdrawal.c ---------- */

/* 55000: a blocked member's balance is frozen.  hint: NULL for the default one. */
static void
RefuseBlocked(int64 member_id, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("member " INT64_FORMAT " is blocked", member_id),
			 errdetail("The balance of a blocked member is frozen: it is not withdrawn, spent or paid out."),
			 errhint("%s", hint ? hint :
					 "An admin can set the member active again with affiliate.set_member_status().")));
}

/*
 * The member must exist in the program (P0002); when spend is set, a blocked
 * member is refused (55000).  Returns whether the member is blocked.  Inside
 * SPI.
 */
bool
WalletRequireMember(int64 program_id, int64 member_id, bool spend, const char *hint)
{
	static PlanSlot slot;
	char	   *status;

	AffExec(&slot, "SELECT status FROM affiliate.member WHERE program_id = $1 AND id = $2",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id)}, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("member " INT64_FORMAT " does not exist in program " INT64_FORMAT,
						member_id, program_id)));
	status = AffGetText(0, 1);
	if (spend && strcmp(status, "blocked") == 0)
		RefuseBlocked(member_id, hint);
	return strcmp(status, "blocked") == 0;
}

/*
 * Lock the member's available account (in the program currency) and read
 * available and owed.  Inside SPI.
 */
void
WalletLockFunds(int64 program_id, int64 member_id, const char *asset, WalletFunds *f)
{
	static PlanSlot owed;

	f->available_account = LedgerAccount(program_id, false, member_id, "available", asset,
										 -1, NULL, NULL);
	f->available = LedgerLockedBalance(program_id, f->available_account);
	AffExec(&owed,
			"SELECT balance FROM affiliate.account_balances "
			"WHERE program_id = $1 AND member_id = $2 AND asset = $3 AND kind = 'owed'",
			3, (Oid[]) {INT8OID, INT8OID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id), CStringGetTextDatum(asset)},
			NULL, false, 1);
	f->owed = SPI_processed > 0 ? AffGetInt64(0, 1, NULL) : 0;
}

/*
 * The legs that spend amount from the wallet into (is_system, member, kind):
 * available gives amount + debt, owed gets the debt back.  Refuses (23514)
 * when available net of the debt is short.  legs has room for 3; returns the
 * number used and the debt repaid.
 */
int
WalletSpendLegs(const WalletFunds *f, int64 member_id, const char *asset, int64 amount,
				const char *what, LedgerLeg *legs, int64 *debt_out)
{
	int64		debt = f->owed < 0 ? -f->owed : 0;
	int64		spendable;
	int64		take;
	int			n = 0;

	if (pg_sub_s64_overflow(f->available, debt, &spendable) ||
		pg_add_s64_overflow(amount, debt, &take))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("amount out of range")));
	if (amount > spendable)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("%s of " INT64_FORMAT " exceeds the available balance of " INT64_FORMAT,
						what, amount, Max(spendable, 0)),
				 debt > 0 ?
				 errdetail("Member " INT64_FORMAT " holds " INT64_FORMAT " %s and owes " INT64_FORMAT
						   " from clawed-back commissions, which is repaid first.",
						   member_id, f->available, asset, debt) :
				 errdetail("Member " INT64_FORMAT " holds " INT64_FORMAT " %s available; commissions still on hold cannot be spent.",
						   member_id, f->available, asset),
				 errhint("Nothing was changed.")));
	memset(legs, 0, sizeof(LedgerLeg) * 3);
	legs[n].account_id = f->available_account;
	legs[n].amount = -take;
	n++;
	if (debt > 0)
	{
		legs[n].member_id = member_id;
		legs[n].kind = "owed";
		legs[n].asset = asset;
		legs[n].amount = debt;
		n++;
	}
	*debt_out = debt;
	return n;
}

/*
 * affiliate.pay_from_wallet(program_id bigint, member_id bigint, amount bigint,
 *                           order_ref text) RETURNS bigint
 *
 * available -> system revenue, idempotent on order_ref: a retry returns the
 * original journal; the same order_ref for another member or amount is 23505.
 */
Datum
pay_from_wallet(PG_FUNCTION_ARGS)
{
	static PlanSlot prior;
	int64		program_id;
	int64		member_id;
	int64		amount;
	char	   *order_ref;
	char	   *key;
	AffProgram	prog;
	WalletFunds f;
	LedgerLeg	legs[4];
	int			nlegs;
	int64		debt;
	int64		journal_id;
	bool		replayed;
	bool		blocked;
	StringInfoData memo;

	AffRequireArg(fcinfo, 0, "program_id");
	AffRequireArg(fcinfo, 1, "member_id");
	AffRequireArg(fcinfo, 2, "amount");
	program_id = PG_GETARG_INT64(0);
	member_id = PG_GETARG_INT64(1);
	amount = PG_GETARG_INT64(2);
	order_ref = AffTextArg(fcinfo, 3, "order_ref", WALLET_MAX_ORDER_REF, true);
	if (amount <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payment amount must be positive"),
				 errdetail("Amounts are in minor units of the program currency.")));
	key = psprintf("wallet_payment:%s", order_ref);

	AffLoadProgram(program_id, &prog);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	blocked = WalletRequireMember(program_id, member_id, false, NULL);

	/*
	 * The lock first, then the key: a concurrent payment of the same order
	 * has committed (or rolled back) by the time the lock is ours.  A retry
	 * returns the original payment even if the member was blocked since.
	 */
	WalletLockFunds(program_id, member_id, prog.currency, &f);
	AffExec(&prior,
			"SELECT id, (memo->>'member_id')::bigint, (memo->>'amount')::bigint "
			"FROM affiliate.journal WHERE program_id = $1 AND idempotency_key = $2 "
			"AND kind = 'wallet_payment'",
			2, (Oid[]) {INT8OID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), CStringGetTextDatum(key)}, NULL, false, 1);
	if (SPI_processed > 0)
	{
		int64		id = AffGetInt64(0, 1, NULL);
		int64		was_member = AffGetInt64(0, 2, NULL);
		int64		was_amount = AffGetInt64(0, 3, NULL);

		if (was_member != member_id || was_amount != amount)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("order \"%s\" was already paid from a wallet with other inputs", order_ref),
					 errdetail("Journal " INT64_FORMAT " paid " INT64_FORMAT " from member " INT64_FORMAT
							   "'s wallet for this order.", id, was_amount, was_member),
					 errhint("A retry repeats the same member and amount; another purchase needs its own order_ref.")));
		SPI_finish();
		PG_RETURN_INT64(id);
	}

	if (blocked)
		RefuseBlocked(member_id, NULL);
	nlegs = WalletSpendLegs(&f, member_id, prog.currency, amount, "payment", legs, &debt);
	legs[nlegs].is_system = true;
	legs[nlegs].kind = "revenue";
	legs[nlegs].asset = prog.currency;
	legs[nlegs].amount = amount;
	nlegs++;

	initStringInfo(&memo);
	appendStringInfo(&memo, "{\"member_id\": " INT64_FORMAT ", \"amount\": " INT64_FORMAT
					 ", \"debt_settled\": " INT64_FORMAT ", \"order_ref\": ",
					 member_id, amount, debt);
	escape_json(&memo, order_ref);
	appendStringInfoChar(&memo, '}');
	journal_id = LedgerPost(program_id, "wallet_payment", key, AffJsonbOf(&memo), legs, nlegs,
							&replayed);
	SPI_finish();
	PG_RETURN_INT64(journal_id);
}

/*
 * affiliate.adjust_balance(program_id bigint, member_id bigint, amount bigint,
 *                          reason text) RETURNS bigint
 *
 * Admin: member available +amount, system adjustments -amount; audited.  A
 * debit larger than the available balance is refused by the ledger (23514).
 */
Datum
adjust_balance(PG_FUNCTION_ARGS)
{
	int64		program_id;
	int64		member_id;
	int64		amount;
	char	   *reason;
	AffProgram	prog;
	LedgerLeg	legs[2];
	int64		journal_id;
	bool		replayed;
	StringInfoData memo;

	AffRequireArg(fcinfo, 0, "program_id");
	AffRequireArg(fcinfo, 1, "member_id");
	AffRequireArg(fcinfo, 2, "amount");
	program_id = PG_GETARG_INT64(0);
	member_id = PG_GETARG_INT64(1);
	amount = PG_GETARG_INT64(2);
	reason = AffTextArg(fcinfo, 3, "reason", WALLET_MAX_REASON, true);
	if (amount == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("adjustment amount must be non-zero"),
				 errdetail("A positive amount credits the member's available balance, a negative one debits it.")));
	if (amount > LEDGER_MAX_AMOUNT || amount < -LEDGER_MAX_AMOUNT)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("adjustment amount " INT64_FORMAT " is out of range", amount),
				 errdetail("An adjustment moves at most " INT64_FORMAT " minor units either way.",
						   LEDGER_MAX_AMOUNT)));

	AffLoadProgram(program_id, &prog);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	WalletRequireMember(program_id, member_id, false, NULL);

	memset(legs, 0, sizeof(legs));
	legs[0].member_id = member_id;
	legs[0].kind = "available";
	legs[0].asset = prog.currency;
	legs[0].amount = amount;
	legs[1].is_system = true;
	legs[1].kind = "adjustments";
	legs[1].asset = prog.currency;
	legs[1].amount = -amount;

	initStringInfo(&memo);
	appendStringInfo(&memo, "{\"member_id\": " INT64_FORMAT ", \"amount\": " INT64_FORMAT
					 ", \"reason\": ", member_id, amount);
	escape_json(&memo, reason);
	appendStringInfoChar(&memo, '}');
	journal_id = LedgerPost(program_id, "adjustment", NULL, AffJsonbOf(&memo), legs, 2, &replayed);

	resetStringInfo(&memo);
	appendStringInfo(&memo, "{\"journal_id\": " INT64_FORMAT ", \"member_id\": " INT64_FORMAT
					 ", \"amount\": " INT64_FORMAT ", \"asset\": ", journal_id, member_id, amount);
	escape_json(&memo, prog.currency);
	appendStringInfoString(&memo, ", \"reason\": ");
	escape_json(&memo, reason);
	appendStringInfoChar(&memo, '}');
	AffAudit(program_id, "adjust_balance", AffJsonbOf(&memo));
	SPI_finish();
	PG_RETURN_INT64(journal_id);
}

/* ---------- history ---------- */

/* the three buckets of a wallet */
#define B_PENDING 0
#define B_AVAILABLE 1
#define B_WITHDRAWING 2

/* one journal's net effect on one asset of the wallet */
typedef struct WalletEntry
{
	int64		journal_id;
	TimestampTz at;
	int			asset;			/* index into the member's assets */
	int64		d[3];			/* change per bucket */
	int64		after[3];		/* balances after the entry */
} WalletEntry;

typedef struct EntryKey
{
	int64		journal_id;
	int			index;
} EntryKey;

static int
CompareEntryNewest(const void *a, const void *b)
{
	const WalletEntry *x = a;
	const WalletEntry *y = b;

	if (x->at != y->at)
		return x->at > y->at ? -1 : 1;
	if (x->journal_id != y->journal_id)
		return x->journal_id > y->journal_id ? -1 : 1;
	return x->asset - y->asset;
}

static bool
EntryMoves(const WalletEntry *e)
{
	return e->d[0] != 0 || e->d[1] != 0 || e->d[2] != 0;
}

static void
AddChecked(int64 *acc, int64 v)
{
	if (pg_add_s64_overflow(*acc, v, acc))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("amount out of range")));
}

/*
 * The newest journals (at least max_rows that move money, all of their
 * posting time) of one asset of the wallet, read newest first through a
 * merge of the accounts' posting indexes, so a member with millions of
 * postings costs no more than one with a hundred.
 */
static int
CollectAsset(int64 program_id, const int64 *accounts, TimestampTz since, int max_rows,
			 int asset, WalletEntry **entries, int *nentries, int *cap)
{
	static SPIPlanPtr plan = NULL;
	static const char *sql =
		"SELECT s.journal_id, s.posted_at, s.bucket, s.amount FROM ("
		" (SELECT p.journal_id, p.posted_at, 0 AS bucket, p.amount FROM affiliate.posting p"
		"   WHERE p.program_id = $1 AND p.account_id = $2 AND p.posted_at >= $7"
		"   ORDER BY p.posted_at DESC)"
		" UNION ALL"
		" (SELECT p.journal_id, p.posted_at, 1, p.amount FROM affiliate.posting p"
		"   WHERE p.program_id = $1 AND p.account_id = $3 AND p.posted_at >= $7"
		"   ORDER BY p.posted_at DESC)"
		" UNION ALL"
		" (SELECT p.journal_id, p.posted_at, 1, p.amount FROM affiliate.posting p"
		"   WHERE p.program_id = $1 AND p.account_id = $4 AND p.posted_at >= $7"
		"   ORDER BY p.posted_at DESC)"
		" UNION ALL"
		" (SELECT p.journal_id, p.posted_at, 2, p.amount FROM affiliate.posting p"
		"   WHERE p.program_id = $1 AND p.account_id = $5 AND p.posted_at >= $7"
		"   ORDER BY p.posted_at DESC)"
		" UNION ALL"
		" (SELECT p.journal_id, p.posted_at, 2, p.amount FROM affiliate.posting p"
		"   WHERE p.program_id = $1 AND p.account_id = $6 AND p.posted_at >= $7"
		"   ORDER BY p.posted_at DESC)"
		") s ORDER BY s.posted_at DESC";
	static const Oid types[7] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID,
	TIMESTAMPTZOID};
	Datum		values[7];
	Portal		portal;
	HASHCTL		ctl;
	HTAB	   *seen;
	int			first = *nentries;
	int			group_start = *nentries;
	int			moving = 0;
	TimestampTz group_at = 0;
	bool		done = false;

	if (plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare_cursor(sql, 7, (Oid *) types, CURSOR_OPT_FAST_PLAN);

		if (p == NULL)
			elog(ERROR, "pg_affiliate: SPI_prepare_cursor failed: %s",
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "pg_affiliate: SPI_keepplan failed");
		plan = p;
	}
	values[0] = Int64GetDatum(program_id);
	for (int i = 0; i < 5; i++)
		values[i + 1] = Int64GetDatum(accounts[i]);
	values[6] = TimestampTzGetDatum(since);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(EntryKey);
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("pg_affiliate wallet journals", 256, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	portal = SPI_cursor_open(NULL, plan, values, NULL, true);
	while (!done)
	{
		SPI_cursor_fetch(portal, true, WALLET_FETCH);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed && !done; r++)
		{
			int64		journal_id = AffGetInt64((int) r, 1, NULL);
			bool		isnull;
			TimestampTz at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[r],
															   SPI_tuptable->tupdesc, 2,
															   &isnull));
			int			bucket = (int) AffGetInt64((int) r, 3, NULL);
			int64		amount = AffGetInt64((int) r, 4, NULL);
			EntryKey   *k;
			bool		found;

			if (at != group_at || group_start == *nentries)
			{
				/* every journal newer than this posting is complete */
				for (int i = group_start; i < *nentries; i++)
					if (EntryMoves(&(*entries)[i]))
						moving++;
				if (moving >= max_rows)
				{
					done = true;
					break;
				}
				group_start = *nentries;
				group_at = at;
			}
			k = hash_search(seen, &journal_id, HASH_ENTER, &found);
			if (!found)
			{
				if (*nentries == *cap)
				{
					*cap *= 2;
					*entries = repalloc_huge(*entries, sizeof(WalletEntry) * *cap);
				}
				k->index = (*nentries)++;
				memset(&(*entries)[k->index], 0, sizeof(WalletEntry));
				(*entries)[k->index].journal_id = journal_id;
				(*entries)[k->index].at = at;
				(*entries)[k->index].asset = asset;
			}
			AddChecked(&(*entries)[k->index].d[bucket], amount);
		}
	}
	SPI_cursor_close(portal);
	hash_destroy(seen);

	/* keep the entries that move money */
	{
		int			n = first;

		for (int i = first; i < *nentries; i++)
			if (EntryMoves(&(*entries)[i]))
				(*entries)[n++] = (*entries)[i];
		*nentries = n;
	}
	return *nentries - first;
}

/* the label of a history entry */
static const char *
EntryKind(const char *journal_kind, const WalletEntry *e)
{
	if (strcmp(journal_kind, "conversion") == 0)
		return "commission_earned";
	if (strcmp(journal_kind, "release") == 0)
		return "commission_released";
	if (strcmp(journal_kind, "refund") == 0)
		return e->d[B_AVAILABLE] != 0 ? "commission_clawed_back" : "commission_reversed";
	if (strcmp(journal_kind, "withdrawal_request") == 0)
		return "withdrawal_requested";
	if (strcmp(journal_kind, "withdrawal_paid") == 0)
		return "withdrawal_paid";
	if (strcmp(journal_kind, "withdrawal_reject") == 0 ||
		strcmp(journal_kind, "withdrawal_fail") == 0 ||
		strcmp(journal_kind, "withdrawal_cancel") == 0)
		return "withdrawal_returned";
	if (strcmp(journal_kind, "wallet_payment") == 0)
		return "wallet_purchase";
	return journal_kind;
}

/*
 * affiliate.wallet_transactions(program_id bigint, member_id bigint,
 *                               since timestamptz DEFAULT NULL,
 *                               max_rows integer DEFAULT 100)
 * RETURNS TABLE (at, journal_id, kind, asset, amount, pending_balance,
 *                available_balance, withdrawing_balance, reference, withdrawal_id)
 *
 * Everything is read in the caller's snapshot (read-only SPI), so the
 * running balances agree with the postings listed.
 */
Datum
wallet_transactions(PG_FUNCTION_ARGS)
{
	static PlanSlot check,
				accounts,
				journals;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		program_id;
	int64		member_id;
	TimestampTz since = DT_NOBEGIN;
	int32		max_rows;
	int			nassets = 0;
	char	  **assets;
	int64	   *acc;			/* 5 accounts per asset */
	int64	   *current;		/* 3 balances per asset */
	WalletEntry *entries;
	int			nentries = 0;
	int			cap = 64;
	int			nout;
	Datum	   *jids;
	MemoryContext cxt = CurrentMemoryContext;

	AffRequireArg(fcinfo, 0, "program_id");
	AffRequireArg(fcinfo, 1, "member_id");
	AffRequireArg(fcinfo, 3, "max_rows");
	program_id = PG_GETARG_INT64(0);
	member_id = PG_GETARG_INT64(1);
	if (!PG_ARGISNULL(2))
		since = PG_GETARG_TIMESTAMPTZ(2);
	max_rows = PG_GETARG_INT32(3);
	if (max_rows < 1 || max_rows > WALLET_MAX_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be between 1 and %d", WALLET_MAX_ROWS),
				 errhint("Page back through older entries with since, or read affiliate.posting directly.")));

	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");

	AffExec(&check,
			"SELECT EXISTS (SELECT 1 FROM affiliate.program WHERE id = $1), "
			"       EXISTS (SELECT 1 FROM affiliate.member WHERE program_id = $1 AND id = $2)",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id)}, NULL, true, 1);
	if (!AffGetBool(0, 1, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("program " INT64_FORMAT " does not exist", program_id)));
	if (!AffGetBool(0, 2, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("member " INT64_FORMAT " does not exist in program " INT64_FORMAT,
						member_id, program_id)));

	/* the wallet's accounts and current balances, one row per asset */
	AffExec(&accounts,
			"SELECT b.asset, "
			"  coalesce(max(b.account_id) FILTER (WHERE b.kind = 'pending'), 0), "
			"  coalesce(max(b.account_id) FILTER (WHERE b.kind = 'available'), 0), "
			"  coalesce(max(b.account_id) FILTER (WHERE b.kind = 'owed'), 0), "
			"  coalesce(max(b.account_id) FILTER (WHERE b.kind = 'withdrawing'), 0), "
			"  coalesce(max(b.account_id) FILTER (WHERE b.kind = 'payable'), 0), "
			"  coalesce(sum(b.balance) FILTER (WHERE b.kind = 'pending'), 0)::bigint, "
			"  coalesce(sum(b.balance) FILTER (WHERE b.kind IN ('available', 'owed')), 0)::bigint, "
			"  coalesce(sum(b.balance) FILTER (WHERE b.kind IN ('withdrawing', 'payable')), 0)::bigint "
			"FROM affiliate.account_balances b "
			"WHERE b.program_id = $1 AND b.member_id = $2 "
			"  AND b.kind IN ('pending', 'available', 'owed', 'withdrawing', 'payable') "
			"GROUP BY b.asset ORDER BY b.asset",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id)}, NULL, true, 0);
	nassets = (int) SPI_processed;
	assets = MemoryContextAlloc(cxt, sizeof(char *) * Max(nassets, 1));
	acc = MemoryContextAlloc(cxt, sizeof(int64) * 5 * Max(nassets, 1));
	current = MemoryContextAlloc(cxt, sizeof(int64) * 3 * Max(nassets, 1));
	for (int a = 0; a < nassets; a++)
	{
		assets[a] = MemoryContextStrdup(cxt, AffGetText(a, 1));
		for (int k = 0; k < 5; k++)
			acc[a * 5 + k] = AffGetInt64(a, 2 + k, NULL);
		for (int k = 0; k < 3; k++)
			current[a * 3 + k] = AffGetInt64(a, 7 + k, NULL);
	}

	entries = MemoryContextAlloc(cxt, sizeof(WalletEntry) * cap);
	for (int a = 0; a < nassets; a++)
	{
		int			start = nentries;
		int			n = CollectAsset(program_id, &acc[a * 5], since, max_rows, a,
									 &entries, &nentries, &cap);
		int64		run[3];

		/* running balances: newest first, from the current balances back */
		qsort(&entries[start], n, sizeof(WalletEntry), CompareEntryNewest);
		memcpy(run, &current[a * 3], sizeof(run));
		for (int i = start; i < nentries; i++)
		{
			memcpy(entries[i].after, run, sizeof(run));
			for (int k = 0; k < 3; k++)
				if (pg_sub_s64_overflow(run[k], entries[i].d[k], &run[k]))
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("amount out of range")));
		}
	}
	qsort(entries, nentries, sizeof(WalletEntry), CompareEntryNewest);
	nout = Min(nentries, max_rows);

	/* labels and references of the journals listed */
	jids = palloc(sizeof(Datum) * Max(nout, 1));
	for (int i = 0; i < nout; i++)
		jids[i] = Int64GetDatum(entries[i].journal_id);
	AffExec(&journals,
			"SELECT j.id, j.kind, "
			"  CASE j.kind "
			"    WHEN 'conversion' THEN j.memo->>'external_ref' "
			"    WHEN 'refund' THEN (SELECT v.external_ref FROM affiliate.conversion v "
			"                         WHERE v.program_id = j.program_id "
			"                           AND (j.memo->>'conversion_id') ~ '^[0-9]{1,18}$' "
			"                           AND v.id = (j.memo->>'conversion_id')::bigint) "
			"    WHEN 'wallet_payment' THEN j.memo->>'order_ref' "
			"    WHEN 'adjustment' THEN j.memo->>'reason' "
			"    WHEN 'withdrawal_paid' THEN w.provider_ref "
			"    WHEN 'withdrawal_reject' THEN w.reason "
			"    WHEN 'withdrawal_fail' THEN w.reason "
			"    WHEN 'withdrawal_cancel' THEN 'cancelled' "
			"  END, w.id "
			"FROM affiliate.journal j "
			"LEFT JOIN affiliate.withdrawal w ON j.kind LIKE 'withdrawal\\_%' "
			"  AND (j.memo->>'withdrawal_id') ~ '^[0-9]{1,18}$' "
			"  AND w.program_id = j.program_id AND w.id = (j.memo->>'withdrawal_id')::bigint "
			"WHERE j.program_id = $1 AND j.id = ANY ($2) "
			"ORDER BY j.id",
			2, (Oid[]) {INT8OID, INT8ARRAYOID},
			(Datum[]) {Int64GetDatum(program_id),
				PointerGetDatum(construct_array(jids, nout, INT8OID, sizeof(int64),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE))},
			NULL, true, 0);

	for (int i = 0; i < nout; i++)
	{
		WalletEntry *e = &entries[i];
		Datum		values[10];
		bool		nulls[10] = {false};
		uint64		lo = 0,
					hi = SPI_processed;
		const char *jkind = "?";
		char	   *ref = NULL;
		bool		wnull = true;
		int64		wid = 0;

		/* the journal rows are sorted by id */
		while (lo < hi)
		{
			uint64		mid = (lo + hi) / 2;
			int64		id = AffGetInt64((int) mid, 1, NULL);

			if (id == e->journal_id)
			{
				jkind = AffGetText((int) mid, 2);
				ref = AffGetText((int) mid, 3);
				wid = AffGetInt64((int) mid, 4, &wnull);
				break;
			}
			if (id < e->journal_id)
				lo = mid + 1;
			else
				hi = mid;
		}

		values[0] = TimestampTzGetDatum(e->at);
		values[1] = Int64GetDatum(e->journal_id);
		values[2] = CStringGetTextDatum(EntryKind(jkind, e));
		values[3] = CStringGetTextDatum(assets[e->asset]);
		values[4] = Int64GetDatum(e->d[B_AVAILABLE] != 0 ? e->d[B_AVAILABLE]
								  : e->d[B_PENDING] != 0 ? e->d[B_PENDING]
								  : e->d[B_WITHDRAWING]);
		values[5] = Int64GetDatum(e->after[B_PENDING]);
		values[6] = Int64GetDatum(e->after[B_AVAILABLE]);
		values[7] = Int64GetDatum(e->after[B_WITHDRAWING]);
		if (ref != NULL)
			values[8] = CStringGetTextDatum(ref);
		else
			nulls[8] = true;
		values[9] = Int64GetDatum(wid);
		nulls[9] = wnull;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
