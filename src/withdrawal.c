/*
 * withdrawal.c
 *	  The withdrawal state machine.
 *
 *	  requested --approve--> approved --complete--> paid
 *	      |                      |
 *	      +--reject--> rejected  +--fail--> failed
 *	      |
 *	      +--cancel--> cancelled   (by the member, while still requested)
 *
 * Each step is one journal and one audit row, in the caller's transaction:
 *
 *	 request   available -> withdrawing   (after repaying what the member owes)
 *	 approve   withdrawing -> payable
 *	 reject    withdrawing -> available
 *	 complete  payable -> system payouts  (with the provider's transaction id)
 *	 fail      payable -> available
 *	 cancel    withdrawing -> available
 *
 * A step locks the withdrawal row first (FOR UPDATE), then the ledger locks
 * the member's accounts in id order; a request locks the member's available
 * account only.  So two steps on one withdrawal queue, and the second sees
 * the state the first left: approve racing reject has exactly one winner,
 * and the loser gets an error naming both states.  Completing a paid
 * withdrawal again with the same provider_ref is a no-op.
 *
 * Payout destinations are never stored in clear: a keyed hash (secret.c) of
 * the normalised destination, for matching, and a masked form for display.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "pg_affiliate.h"

#define WD_MAX_DESTINATION 200
#define WD_MAX_METHOD 32
#define WD_MAX_REASON 2000
#define WD_MAX_PROVIDER_REF 200
/* first key of the provider_ref advisory lock ("aff2") */
#define PROVIDER_REF_LOCK_KEY 0x61666632

PG_FUNCTION_INFO_V1(request_withdrawal);
PG_FUNCTION_INFO_V1(approve_withdrawal);
PG_FUNCTION_INFO_V1(reject_withdrawal);
PG_FUNCTION_INFO_V1(complete_withdrawal);
PG_FUNCTION_INFO_V1(fail_withdrawal);
PG_FUNCTION_INFO_V1(cancel_withdrawal);

typedef enum WdStep
{
	WD_APPROVE,
	WD_REJECT,
	WD_COMPLETE,
	WD_FAIL,
	WD_CANCEL
} WdStep;

/* one transition of the state machine and its money movement */
typedef struct WdTransition
{
	const char *action;			/* audit action and SQL function */
	const char *from;
	const char *to;
	const char *journal_kind;
	const char *debit_kind;		/* member account emptied */
	const char *credit_kind;	/* account filled */
	bool		credit_system;	/* the credit goes to a system account */
	const char *update_sql;		/* $1 program, $2 withdrawal, $3 reason or provider_ref */
} WdTransition;

static const WdTransition transitions[] = {
	[WD_APPROVE] = {"approve_withdrawal", "requested", "approved", "withdrawal_approve",
		"withdrawing", "payable", false,
		"UPDATE affiliate.withdrawal SET status = 'approved', decided_at = pg_catalog.now() "
	"WHERE program_id = $1 AND id = $2 RETURNING *"},
	[WD_REJECT] = {"reject_withdrawal", "requested", "rejected", "withdrawal_reject",
		"withdrawing", "available", false,
		"UPDATE affiliate.withdrawal SET status = 'rejected', decided_at = pg_catalog.now(), reason = $3 "
	"WHERE program_id = $1 AND id = $2 RETURNING *"},
	[WD_COMPLETE] = {"complete_withdrawal", "approved", "paid", "withdrawal_paid",
		"payable", "payouts", true,
		"UPDATE affiliate.withdrawal SET status = 'paid', paid_at = pg_catalog.now(), provider_ref = $3 "
	"WHERE program_id = $1 AND id = $2 RETURNING *"},
	[WD_FAIL] = {"fail_withdrawal", "approved", "failed", "withdrawal_fail",
		"payable", "available", false,
		"UPDATE affiliate.withdrawal SET status = 'failed', failed_at = pg_catalog.now(), reason = $3 "
	"WHERE program_id = $1 AND id = $2 RETURNING *"},
	[WD_CANCEL] = {"cancel_withdrawal", "requested", "cancelled", "withdrawal_cancel",
		"withdrawing", "available", false,
		"UPDATE affiliate.withdrawal SET status = 'cancelled', decided_at = pg_catalog.now() "
	"WHERE program_id = $1 AND id = $2 RETURNING *"},
};

/*
 * The normalised destination: ASCII without white space, lower case (UPI ids,
 * e-mail addresses and account numbers compare this way).  22023 for anything
 * else.
 */
static char *
NormaliseDestination(const char *in)
{
	size_t		len = strlen(in);
	char	   *out = palloc(len + 1);
	size_t		n = 0;
	bool		too_long = false;

	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) in[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (n == WD_MAX_DESTINATION)
		{
			too_long = true;	/* refused below */
			break;
		}
		if (c < 0x21 || c > 0x7e)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid payout destination"),
					 errdetail("A destination (UPI id, account number, e-mail) is printable ASCII.")));
		out[n++] = (c >= 'A' && c <= 'Z') ? (char) (c + ('a' - 'A')) : (char) c;
	}
	out[n] = '\0';
	if (n == 0 || too_long)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid payout destination"),
				 errdetail("A destination is 1 to %d characters long without its white space.",
						   WD_MAX_DESTINATION)));
	return out;
}

/*
 * The masked form shown to people: "b***@upi" for anything with an @ (UPI
 * ids, e-mail), "****9012" (the last four characters) otherwise, "****" when
 * there are four characters or fewer.  The length is never revealed.
 */
static char *
MaskDestination(const char *d)
{
	const char *at = strchr(d, '@');
	size_t		len = strlen(d);

	if (at != NULL)
		return psprintf("%c***%s", at == d ? '*' : d[0], at);
	if (len <= 4)
		return pstrdup("****");
	return psprintf("****%s", d + len - 4);
}

/*
 * affiliate.request_withdrawal(program_id bigint, member_id bigint, amount bigint,
 *                              method text, destination text) RETURNS bigint
 */
Datum
request_withdrawal(PG_FUNCTION_ARGS)
{
	static PlanSlot ins;
	int64		program_id;
	int64		member_id;
	int64		amount;
	char	   *method;
	char	   *destination;
	char	   *masked;
	bytea	   *hash;
	AffProgram	prog;
	WalletFunds f;
	LedgerLeg	legs[4];
	int			nlegs;
	int64		debt;
	int64		id;
	bool		replayed;
	StringInfoData s;

	AffRequireArg(fcinfo, 0, "program_id");
	AffRequireArg(fcinfo, 1, "member_id");
	AffRequireArg(fcinfo, 2, "amount");
	program_id = PG_GETARG_INT64(0);
	member_id = PG_GETARG_INT64(1);
	amount = PG_GETARG_INT64(2);
	method = AffTextArg(fcinfo, 3, "method", WD_MAX_METHOD, true);
	/* the length limit applies to the normalised form (white space removed) */
	AffRequireArg(fcinfo, 4, "destination");
	destination = text_to_cstring(PG_GETARG_TEXT_PP(4));
	if (amount <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("withdrawal amount must be positive"),
				 errdetail("Amounts are in minor units of the program currency.")));
	for (char *c = method; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c += 'a' - 'A';
	if (!(method[0] >= 'a' && method[0] <= 'z') ||
		strspn(method, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(method))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid payout method \"%s\"", method),
				 errdetail("A method is a word of letters, digits and underscores, such as upi, bank or paypal.")));
	destination = NormaliseDestination(destination);
	masked = MaskDestination(destination);

	AffLoadProgram(program_id, &prog);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	WalletRequireMember(program_id, member_id, true, NULL);
	FraudRequireNoOpenFlag(program_id, member_id, "request a withdrawal");
	if (amount < prog.min_withdrawal)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("withdrawal of " INT64_FORMAT " is below the minimum of " INT64_FORMAT,
						amount, prog.min_withdrawal),
				 errdetail("Program " INT64_FORMAT " pays out at least " INT64_FORMAT " %s (min_withdrawal).",
						   program_id, prog.min_withdrawal, prog.currency),
				 errhint("Nothing was changed.")));

	WalletLockFunds(program_id, member_id, prog.currency, &f);
	nlegs = WalletSpendLegs(&f, member_id, prog.currency, amount, "withdrawal", legs, &debt);
	legs[nlegs].member_id = member_id;
	legs[nlegs].kind = "withdrawing";
	legs[nlegs].asset = prog.currency;
	legs[nlegs].amount = amount;
	legs[nlegs].lock_credit = true;
	nlegs++;

	hash = AffKeyedHash(program_id, "payout_destination", destination);
	memset(destination, 0, strlen(destination));
	AffExec(&ins,
			"INSERT INTO affiliate.withdrawal (program_id, member_id, asset, amount, debt_settled, "
			"  method, destination_masked, destination_hash) "
			"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
			8, (Oid[]) {INT8OID, INT8OID, TEXTOID, INT8OID, INT8OID, TEXTOID, TEXTOID, BYTEAOID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id),
				CStringGetTextDatum(prog.currency), Int64GetDatum(amount), Int64GetDatum(debt),
				CStringGetTextDatum(method), CStringGetTextDatum(masked), PointerGetDatum(hash)},
			NULL, false, 1);
	id = AffGetInt64(0, 1, NULL);
	FraudOnWithdrawal(program_id, id);

	initStringInfo(&s);
	appendStringInfo(&s, "{\"withdrawal_id\": " INT64_FORMAT ", \"member_id\": " INT64_FORMAT
					 ", \"amount\": " INT64_FORMAT ", \"debt_settled\": " INT64_FORMAT "}",
					 id, member_id, amount, debt);
	LedgerPost(program_id, "withdrawal_request",
			   psprintf("withdrawal:" INT64_FORMAT ":request", id), AffJsonbOf(&s),
			   legs, nlegs, &replayed);

	resetStringInfo(&s);
	appendStringInfo(&s, "{\"withdrawal_id\": " INT64_FORMAT ", \"member_id\": " INT64_FORMAT
					 ", \"amount\": " INT64_FORMAT ", \"debt_settled\": " INT64_FORMAT
					 ", \"to\": \"requested\", \"method\": ",
					 id, member_id, amount, debt);
	escape_json(&s, method);
	appendStringInfoString(&s, ", \"destination\": ");
	escape_json(&s, masked);
	appendStringInfoChar(&s, '}');
	AffAudit(program_id, "request_withdrawal", AffJsonbOf(&s));
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * One step of the state machine.  arg is the reason (reject, fail) or the
 * provider's transaction id (complete).  Returns the withdrawal row after the
 * step.
 */
static Datum
Step(FunctionCallInfo fcinfo, WdStep step)
{
	static PlanSlot lock,
				dup,
				cur,
				upd[5];
	const WdTransition *t = &transitions[step];
	int64		program_id;
	int64		id;
	char	   *arg = NULL;
	int64		member_id;
	int64		amount;
	char	   *asset;
	char	   *status;
	char	   *paid_ref;
	LedgerLeg	legs[2];
	bool		replayed;
	TupleDesc	desc;
	HeapTuple	row;
	Datum	   *values;
	bool	   *nulls;
	StringInfoData s;
	MemoryContext outer = CurrentMemoryContext;

	AffRequireArg(fcinfo, 0, "program_id");
	AffRequireArg(fcinfo, 1, "withdrawal_id");
	program_id = PG_GETARG_INT64(0);
	id = PG_GETARG_INT64(1);
	if (step == WD_COMPLETE)
		arg = AffTextArg(fcinfo, 2, "provider_ref", WD_MAX_PROVIDER_REF, true);
	else if (step == WD_REJECT || step == WD_FAIL)
		arg = AffTextArg(fcinfo, 2, "reason", WD_MAX_REASON, true);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "pg_affiliate: %s must return a row type", t->action);
	desc = BlessTupleDesc(desc);

	AffRequireProgram(program_id, NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");

	AffExec(&lock,
			"SELECT member_id, amount, asset, status, provider_ref FROM affiliate.withdrawal "
			"WHERE program_id = $1 AND id = $2 FOR UPDATE",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(id)}, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("withdrawal " INT64_FORMAT " does not exist in program " INT64_FORMAT,
						id, program_id)));
	member_id = AffGetInt64(0, 1, NULL);
	amount = AffGetInt64(0, 2, NULL);
	asset = AffGetText(0, 3);
	status = AffGetText(0, 4);
	paid_ref = AffGetText(0, 5);

	if (step == WD_COMPLETE && strcmp(status, "paid") == 0)
	{
		/* a retry of the same payment confirmation changes nothing */
		if (strcmp(paid_ref, arg) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("withdrawal " INT64_FORMAT " was already paid with provider_ref \"%s\"",
							id, paid_ref),
					 errdetail("It cannot be paid again with provider_ref \"%s\".", arg),
					 errhint("A retry repeats the same provider_ref.")));
	}
	else
	{
		if (strcmp(status, t->from) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("withdrawal " INT64_FORMAT " cannot go from %s to %s",
							id, status, t->to),
					 errdetail("A withdrawal goes from requested to approved, rejected or cancelled, and from approved to paid or failed."),
					 errhint("Nothing was changed.")));
		/* a blocked member's money is frozen: it is not paid out */
		if (step == WD_APPROVE || step == WD_COMPLETE)
			WalletRequireMember(program_id, member_id, true,
								step == WD_APPROVE ?
								"Reject the withdrawal (the money returns to the frozen balance), or set the member active again first." :
								"Fail the withdrawal (the money returns to the frozen balance), or set the member active again first.");
		if (step == WD_APPROVE)
			FraudRequireNoOpenFlag(program_id, member_id, psprintf("approve withdrawal " INT64_FORMAT, id));
		if (step == WD_COMPLETE)
		{
			/*
			 * Completions with the same provider_ref queue on an advisory
			 * lock (after their own withdrawal rows, so no cycle), so the
			 * check below sees a concurrent one that committed.
			 */
			DirectFunctionCall2(pg_advisory_xact_lock_int4,
								Int32GetDatum(PROVIDER_REF_LOCK_KEY),
								Int32GetDatum((int32) (hash_bytes((const unsigned char *) arg,
																  (int) strlen(arg)) ^
													   (uint32) program_id)));
			AffExec(&dup,
					"SELECT id FROM affiliate.withdrawal "
					"WHERE program_id = $1 AND provider_ref = $2",
					2, (Oid[]) {INT8OID, TEXTOID},
					(Datum[]) {Int64GetDatum(program_id), CStringGetTextDatum(arg)},
					NULL, false, 1);
			if (SPI_processed > 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNIQUE_VIOLATION),
						 errmsg("provider_ref \"%s\" already paid withdrawal " INT64_FORMAT,
								arg, AffGetInt64(0, 1, NULL)),
						 errdetail("A provider's transaction id confirms one withdrawal only.")));
		}

		memset(legs, 0, sizeof(legs));
		legs[0].member_id = member_id;
		legs[0].kind = t->debit_kind;
		legs[0].asset = asset;
		legs[0].amount = -amount;
		legs[1].is_system = t->credit_system;
		legs[1].member_id = member_id;
		legs[1].kind = t->credit_kind;
		legs[1].asset = asset;
		legs[1].amount = amount;
		/* the member's own payable account: applied, not a delta to fold later */
		legs[1].lock_credit = step == WD_APPROVE;
		initStringInfo(&s);
		appendStringInfo(&s, "{\"withdrawal_id\": " INT64_FORMAT ", \"member_id\": " INT64_FORMAT
						 ", \"amount\": " INT64_FORMAT "}", id, member_id, amount);
		LedgerPost(program_id, t->journal_kind,
				   psprintf("withdrawal:" INT64_FORMAT ":%s", id, t->to), AffJsonbOf(&s),
				   legs, 2, &replayed);
	}

	if (strcmp(status, "paid") == 0)
		AffExec(&cur,
				"SELECT * FROM affiliate.withdrawal WHERE program_id = $1 AND id = $2",
				2, (Oid[]) {INT8OID, INT8OID},
				(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(id)}, NULL, false, 1);
	else
		AffExec(&upd[step], t->update_sql, 3, (Oid[]) {INT8OID, INT8OID, TEXTOID},
				(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(id),
					arg ? CStringGetTextDatum(arg) : (Datum) 0},
				arg ? "   " : "  n", false, 1);
	{
		MemoryContext spi = MemoryContextSwitchTo(outer);

		values = palloc(sizeof(Datum) * desc->natts);
		nulls = palloc(sizeof(bool) * desc->natts);
		heap_deform_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, values, nulls);
		row = heap_form_tuple(desc, values, nulls);
		MemoryContextSwitchTo(spi);
	}

	if (strcmp(status, "paid") != 0)
	{
		resetStringInfo(&s);
		appendStringInfo(&s, "{\"withdrawal_id\": " INT64_FORMAT ", \"member_id\": " INT64_FORMAT
						 ", \"amount\": " INT64_FORMAT ", \"from\": \"%s\", \"to\": \"%s\"",
						 id, member_id, amount, t->from, t->to);
		if (arg != NULL)
		{
			appendStringInfoString(&s, step == WD_COMPLETE ? ", \"provider_ref\": " : ", \"reason\": ");
			escape_json(&s, arg);
		}
		appendStringInfoChar(&s, '}');
		AffAudit(program_id, t->action, AffJsonbOf(&s));
		AffNotifyWithdrawal(program_id, id, t->to);
	}
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(row));
}

Datum
approve_withdrawal(PG_FUNCTION_ARGS)
{
	return Step(fcinfo, WD_APPROVE);
}

Datum
reject_withdrawal(PG_FUNCTION_ARGS)
{
	return Step(fcinfo, WD_REJECT);
}

Datum
complete_withdrawal(PG_FUNCTION_ARGS)
{
	return Step(fcinfo, WD_COMPLETE);
}

Datum
fail_withdrawal(PG_FUNCTION_ARGS)
{
	return Step(fcinfo, WD_FAIL);
}

Datum
cancel_withdrawal(PG_FUNCTION_ARGS)
{
	return Step(fcinfo, WD_CANCEL);
}
