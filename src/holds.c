/*
 * holds.c
 *	  Hold release: due commissions move from pending to available.
 *
 * release_due() picks up to batch_size pending commissions whose hold has
 * passed, FOR UPDATE SKIP LOCKED (so concurrent jobs share the work and a
 * refund in progress is simply skipped), marks them released in the same
 * statement, and posts one "release" journal per program: each
 * beneficiary's pending -> available, appended without balance row locks
 * (the debit of pending is covered by the commissions locked here).  The
 * commissions of a member with an open fraud flag are not picked: they stay
 * pending, out of the batch (so they never take the place of others), until
 * a release after the flag is resolved or dismissed.  Running it again
 * finds nothing left to do, so it is idempotent; two runs at once never
 * release a commission twice.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "pg_affiliate.h"

#define RELEASE_MAX_BATCH 1000000

PG_FUNCTION_INFO_V1(release_due);

/* the release statement; hold: a condition on the due commission c */
#define RELEASE_PICK_SQL(hold) \
	"WITH due AS (" \
	"  SELECT c.program_id, c.id FROM affiliate.commission c " \
	"  WHERE c.status = 'pending' AND c.hold_until <= $1 " \
	"    AND ($3::bigint IS NULL OR c.program_id = $3) " \
	hold \
	"  ORDER BY c.hold_until, c.id LIMIT $2 " \
	"  FOR UPDATE SKIP LOCKED) " \
	"UPDATE affiliate.commission c SET status = 'available', released = c.amount - c.reversed, " \
	"  released_at = pg_catalog.now() " \
	"FROM due WHERE c.program_id = due.program_id AND c.id = due.id " \
	"RETURNING c.program_id, c.id, c.beneficiary_id, c.released"

typedef struct DueRow
{
	int64		program_id;
	int64		id;
	int64		beneficiary;
	int64		amount;
} DueRow;

static int
CompareDue(const void *a, const void *b)
{
	const DueRow *x = a;
	const DueRow *y = b;

	if (x->program_id != y->program_id)
		return x->program_id < y->program_id ? -1 : 1;
	if (x->beneficiary != y->beneficiary)
		return x->beneficiary < y->beneficiary ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/* Release the due rows of one program (rows[0..n), sorted by beneficiary). */
static void
ReleaseProgram(DueRow *rows, int n, TimestampTz as_of)
{
	int64		program_id = rows[0].program_id;
	LedgerLeg  *legs = palloc0(sizeof(LedgerLeg) * 2 * n);
	int			nlegs = 0;
	char	   *memo;
	bool		replayed;

	for (int i = 0; i < n; i++)
	{
		if (nlegs == 0 || legs[nlegs - 1].member_id != rows[i].beneficiary)
		{
			legs[nlegs].member_id = rows[i].beneficiary;
			legs[nlegs].kind = "pending";
			/*
			 * Covered: the pending balance holds every pending commission
			 * (verify(): commission_pending_matches_ledger), and the ones
			 * moved here are locked FOR UPDATE by this transaction, so the
			 * debit cannot overdraw: no balance row lock, no queue behind a
			 * popular sponsor's account.
			 */
			legs[nlegs].debit_covered = true;
			legs[nlegs + 1].member_id = rows[i].beneficiary;
			legs[nlegs + 1].kind = "available";
			nlegs += 2;
		}
		if (pg_sub_s64_overflow(legs[nlegs - 2].amount, rows[i].amount, &legs[nlegs - 2].amount) ||
			pg_add_s64_overflow(legs[nlegs - 1].amount, rows[i].amount, &legs[nlegs - 1].amount))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("amount out of range"),
					 errdetail("The commissions released to member " INT64_FORMAT " do not fit in a bigint.",
							   rows[i].beneficiary)));
	}
	memo = psprintf("{\"commissions\": %d, \"as_of\": \"%s\"}", n,
					timestamptz_to_str(as_of));
	LedgerPost(program_id, "release", NULL,
			   DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(memo))),
			   legs, nlegs, &replayed);
}

/*
 * affiliate.release_due(as_of timestamptz DEFAULT now(), batch_size integer DEFAULT 10000,
 *                       program_id bigint DEFAULT NULL)
 * RETURNS bigint -- commissions released
 */
Datum
release_due(PG_FUNCTION_ARGS)
{
	static PlanSlot pick,
				pick_unflagged;
	static const Oid types[3] = {TIMESTAMPTZOID, INT4OID, INT8OID};
	TimestampTz as_of;
	int32		batch;
	Datum		values[3];
	char		nulls[3] = "   ";
	DueRow	   *rows;
	int			n;
	int			start;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of and batch_size must not be null")));
	as_of = PG_GETARG_TIMESTAMPTZ(0);
	batch = PG_GETARG_INT32(1);
	if (batch < 1 || batch > RELEASE_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be between 1 and %d", RELEASE_MAX_BATCH),
				 errdetail("One call releases at most batch_size commissions in one transaction.")));
	if (!PG_ARGISNULL(2))
		AffRequireProgram(PG_GETARG_INT64(2), NULL);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	values[0] = TimestampTzGetDatum(as_of);
	values[1] = Int32GetDatum(batch);
	values[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[2] = PG_ARGISNULL(2) ? 'n' : ' ';
	/*
	 * pick (locking, skipping what others hold) and mark released at once;
	 * not the commissions of a member with an open fraud flag (fraud.c; a
	 * schema older than 0.6.0 has no flags)
	 */
	if (FraudSchemaReady())
		AffExec(&pick, RELEASE_PICK_SQL(
			"    AND NOT EXISTS (SELECT 1 FROM affiliate.fraud_flag f "
			"      WHERE f.program_id = c.program_id AND f.member_id = c.beneficiary_id "
			"        AND f.status = 'open') "),
				3, types, values, nulls, false, 0);
	else
		AffExec(&pick_unflagged, RELEASE_PICK_SQL(""), 3, types, values, nulls, false, 0);
	AffNotifyCommissionRows(SPI_tuptable, SPI_processed, AFF_EV_COMMISSION_RELEASED);
	n = (int) SPI_processed;
	rows = palloc(sizeof(DueRow) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		rows[i].program_id = AffGetInt64(i, 1, NULL);
		rows[i].id = AffGetInt64(i, 2, NULL);
		rows[i].beneficiary = AffGetInt64(i, 3, NULL);
		rows[i].amount = AffGetInt64(i, 4, NULL);
	}
	/* programs in id order, then members: a fixed lock order */
	qsort(rows, n, sizeof(DueRow), CompareDue);
	start = 0;
	for (int i = 1; i <= n; i++)
		if (i == n || rows[i].program_id != rows[start].program_id)
		{
			ReleaseProgram(rows + start, i - start, as_of);
			start = i;
		}
	SPI_finish();
	PG_RETURN_INT64(n);
}
