/*
 * pg_affiliate.c
 *	  Module load: libsodium initialisation and the pg_affiliate.* GUCs.
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "utils/guc.h"

#include "pg_affiliate.h"

PG_MODULE_MAGIC;

/* postings folded into an account's balance between two balance checkpoints */
int			affiliate_checkpoint_interval = 1000;

/* proxies in front of PostgREST that append to X-Forwarded-For */
int			affiliate_trusted_proxies = 1;

void		_PG_init(void);

void
_PG_init(void)
{
	if (sodium_init() < 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not initialise libsodium"),
				 errdetail("sodium_init() failed; the extension cannot generate codes, hashes or signatures without it.")));

	DefineCustomIntVariable("pg_affiliate.checkpoint_interval",
							"Postings folded into an account balance between two balance checkpoints.",
							"balance_at() reads the latest checkpoint at or before the asked time and "
							"scans at most about this many postings after it.",
							&affiliate_checkpoint_interval,
							1000, 10, 1000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_affiliate.trusted_proxies",
							"Proxies in front of PostgREST that append the address they saw to X-Forwarded-For.",
							"The client's address is the entry that many places from the end of "
							"X-Forwarded-For; entries before it were written by the client and are ignored. "
							"0: PostgREST is reached directly and the header is not trusted at all.",
							&affiliate_trusted_proxies,
							1, 0, 10,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("pg_affiliate");

	AffCacheInit();
}
