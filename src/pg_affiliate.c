/*
 * pg_affiliate.c
 *	  Module load: libsodium initialisation, the pg_affiliate.* GUCs and,
 *	  when preloaded, the root key (rootkey.c).
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "pg_affiliate.h"

PG_MODULE_MAGIC;

/* postings folded into an account's balance between two balance checkpoints */
int			affiliate_checkpoint_interval = 1000;

/* proxies in front of PostgREST that append to X-Forwarded-For */
int			affiliate_trusted_proxies = 1;
bool		affiliate_outbox_notify = true;

/* the file of the root key that seals stored secret keys ('' = none) */
char	   *affiliate_root_key_file = NULL;

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

	DefineCustomBoolVariable("pg_affiliate.outbox_notify",
							 "Send NOTIFY affiliate_outbox when an event writes outbox rows for senders.",
							 "PostgreSQL serialises the commits of all transactions that sent a NOTIFY; "
							 "off: events write their outbox rows without it and senders poll claim_outbox(). "
							 "In-app rows never notify (no sender claims them).",
							 &affiliate_outbox_notify,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	/*
	 * The root key file: a PGC_POSTMASTER variable, which PostgreSQL lets a
	 * library define only while shared_preload_libraries is loaded.  The
	 * postmaster reads the key then (rootkey.c); backends inherit it.
	 * Loaded any later (CREATE EXTENSION, LOAD), the library defines no such
	 * variable and never reads the file, but remembers that one was
	 * configured: secret.c then refuses to create or open sealed keys
	 * rather than store new ones in clear.
	 */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomStringVariable("pg_affiliate.root_key_file",
								   "File holding the root key that seals the secret keys stored in the database.",
								   "64 hexadecimal digits (32 bytes), owned by the server's user with mode 0600 "
								   "(or by root with 0640); a relative path is taken from the data directory. "
								   "Read once, at server start; needs pg_affiliate in shared_preload_libraries. "
								   "Empty: secret keys are stored in clear.",
								   &affiliate_root_key_file,
								   "",
								   PGC_POSTMASTER, GUC_SUPERUSER_ONLY,
								   NULL, NULL, NULL);
		if (affiliate_root_key_file != NULL && affiliate_root_key_file[0] != '\0')
			AffRootKeyLoad(affiliate_root_key_file);
	}
	else
	{
		/* the placeholder postgresql.conf made, if any (reserved below) */
		const char *configured = GetConfigOption("pg_affiliate.root_key_file", true, false);

		if (configured != NULL && configured[0] != '\0')
			affiliate_root_key_file = MemoryContextStrdup(TopMemoryContext, configured);
	}

	MarkGUCPrefixReserved("pg_affiliate");

	AffCacheInit();
}
