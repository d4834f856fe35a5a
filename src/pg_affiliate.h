/*
 * pg_affiliate.h
 *	  Shared declarations of the pg_affiliate extension.
 *
 * Every C file of the extension handles one concern (see DESIGN §1); this
 * header declares what they share: GUC values, the SPI plan cache, small JSON
 * and identity helpers, the audit writer and the ledger's posting API that
 * every engine uses.
 */
#ifndef PG_AFFILIATE_H
#define PG_AFFILIATE_H

#include "postgres.h"

#include "executor/spi.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

/* ---------- GUCs (pg_affiliate.c) ---------- */
extern int	affiliate_checkpoint_interval;

/* ---------- SPI helpers (spi_util.c) ---------- */

/*
 * Plans are prepared once per backend and kept (SPI_keepplan).  Each call
 * site owns one static PlanSlot; the first call prepares, later calls reuse.
 */
typedef struct PlanSlot
{
	SPIPlanPtr	plan;
} PlanSlot;

extern SPIPlanPtr AffPlan(PlanSlot *slot, const char *sql, int nargs, const Oid *argtypes);
extern int	AffExec(PlanSlot *slot, const char *sql, int nargs, const Oid *argtypes,
					Datum *values, const char *nulls, bool read_only, long count);
extern int64 AffGetInt64(int row, int col, bool *isnull);
extern char *AffGetText(int row, int col);
extern bool AffGetBool(int row, int col, bool *isnull);

/* identity of the caller, for audit rows */
extern char *AffActor(void);
extern char *AffDbRole(void);

/* JSON helpers */
extern JsonbValue *AffJsonbField(Jsonb *jb, const char *key);
extern JsonbValue *AffJsonbContainerField(JsonbContainer *c, const char *key);
extern int64 AffJsonbInt64(JsonbValue *v, const char *what, bool range_is_invalid);
extern char *AffJsonbString(JsonbValue *v, const char *what);

/* identifiers used by the ledger: lower-case kinds, upper-case assets */
extern void AffCheckKind(const char *kind, const char *what);
extern void AffCheckAsset(const char *asset);

/* ---------- programs (program.c) ---------- */
extern void AffRequireProgram(int64 program_id, char **currency_out);

/* ---------- audit (audit.c) ---------- */
extern void AffAudit(int64 program_id, const char *action, Jsonb *detail);

/* ---------- the ledger (ledger.c) ---------- */

/*
 * One leg of a journal.  Either account_id is set (> 0), or the account is
 * named by (member_id or system, kind, asset) and found or created.  asset
 * NULL means the program's currency.
 */
typedef struct LedgerLeg
{
	int64		account_id;		/* 0: resolve from the fields below */
	bool		is_system;		/* member_id is ignored when true */
	int64		member_id;
	const char *kind;
	const char *asset;
	int64		amount;			/* minor units; credit > 0, debit < 0 */
	/* filled in by LedgerPost */
	const char *resolved_asset;
	bool		allow_negative;
} LedgerLeg;

/*
 * Post one journal.  Returns the journal id; *replayed is set when the
 * idempotency key matched an earlier journal with the same inputs (then
 * nothing is written).  Raises 22023 on malformed legs, 23514 on an overdraft,
 * 23505 when the key was used with different inputs, P0002 for an unknown
 * program or account.
 */
extern int64 LedgerPost(int64 program_id, const char *journal_kind,
						const char *idempotency_key, Jsonb *memo,
						LedgerLeg *legs, int nlegs, bool *replayed);

/* find or create an account; returns its id */
extern int64 LedgerAccount(int64 program_id, bool is_system, int64 member_id,
						   const char *kind, const char *asset,
						   int allow_negative /* -1: default for the kind */ ,
						   bool *allow_negative_out, char **asset_out);

#endif							/* PG_AFFILIATE_H */
