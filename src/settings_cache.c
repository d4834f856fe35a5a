/*
 * settings_cache.c
 *	  Per-backend caches of what every conversion reads and almost nothing
 *	  writes: a program's settings and its commission plans.
 *
 * Triggers on affiliate.program and affiliate.plan (row-level, and TRUNCATE) call
 * affiliate.settings_changed(), which queues a relcache invalidation of the
 * table (CacheInvalidateRelcache).  PostgreSQL delivers it to every backend
 * when the writing transaction commits (and replays it locally at the
 * writer's next command, and again if the writer aborts), and the callback
 * registered here then drops everything cached.  So a cached entry is never
 * older than the last committed change a new transaction can see: the same
 * guarantee as the catalogs' own caches.
 *
 * Entries live in one memory context under CacheMemoryContext, reset on any
 * invalidation of the two tables (changes are rare: settings and plans).
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "pg_affiliate.h"

PG_FUNCTION_INFO_V1(settings_changed);

typedef struct CacheEntry
{
	int64		program_id;		/* hash key */
	void	   *value[AFF_CACHE_KINDS];
} CacheEntry;

static MemoryContext cache_cxt = NULL;
static HTAB *entries = NULL;
static Oid	program_relid = InvalidOid;
static Oid	plan_relid = InvalidOid;
/* the installed schema has the triggers that invalidate the cache */
static bool invalidated = false;

static void
ResetCache(void)
{
	if (cache_cxt != NULL)
		MemoryContextReset(cache_cxt);
	entries = NULL;
	/* the tables may have been dropped and created again */
	program_relid = InvalidOid;
	plan_relid = InvalidOid;
}

static void
RelcacheCallback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (entries == NULL)
		return;
	if (relid == InvalidOid || relid == program_relid || relid == plan_relid)
		ResetCache();
}

void
AffCacheInit(void)
{
	CacheRegisterRelcacheCallback(RelcacheCallback, (Datum) 0);
}

/* The context cached values must be allocated in (valid until a reset). */
MemoryContext
AffCacheContext(void)
{
	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(CacheMemoryContext, "pg_affiliate settings cache",
										  ALLOCSET_SMALL_SIZES);
	return cache_cxt;
}

static HTAB *
Entries(void)
{
	if (entries == NULL)
	{
		HASHCTL		ctl;
		Oid			nsp = get_namespace_oid("affiliate", true);

		/* know which relations' invalidations concern us before caching */
		program_relid = OidIsValid(nsp) ? get_relname_relid("program", nsp) : InvalidOid;
		plan_relid = OidIsValid(nsp) ? get_relname_relid("plan", nsp) : InvalidOid;

		/*
		 * A database still at a version before 0.4.0 (the library installed,
		 * ALTER EXTENSION UPDATE not yet run) has no triggers calling
		 * settings_changed(): nothing would invalidate an entry, so nothing
		 * is cached.  The update creates the triggers, whose creation
		 * invalidates the tables' relcache entries and so resets this.
		 */
		invalidated = OidIsValid(nsp) &&
			OidIsValid(LookupFuncName(list_make2(makeString("affiliate"),
												 makeString("settings_changed")),
									  0, NULL, true));
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(CacheEntry);
		ctl.hcxt = AffCacheContext();
		entries = hash_create("pg_affiliate settings cache", 16, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	return entries;
}

/* The cached value of a kind for a program, or NULL. */
void *
AffCacheGet(AffCacheKind kind, int64 program_id)
{
	CacheEntry *e;

	if (entries == NULL)
		return NULL;
	e = hash_search(entries, &program_id, HASH_FIND, NULL);
	return e ? e->value[kind] : NULL;
}

/*
 * Remember a value (allocated in AffCacheContext()).  Nothing is cached when
 * the tables cannot be named or the schema has no invalidating triggers (then
 * no invalidation could reach the entry).
 */
void
AffCachePut(AffCacheKind kind, int64 program_id, void *value)
{
	HTAB	   *h = Entries();
	CacheEntry *e;
	bool		found;

	if (!invalidated || !OidIsValid(program_relid) || !OidIsValid(plan_relid))
		return;
	e = hash_search(h, &program_id, HASH_ENTER, &found);
	if (!found)
		memset(e->value, 0, sizeof(e->value));
	e->value[kind] = value;
}

/*
 * Trigger (AFTER INSERT/UPDATE/DELETE for each row, AFTER TRUNCATE, on
 * affiliate.program and affiliate.plan): every backend drops its cached
 * settings and plans when this transaction commits.  (Repeated invalidations
 * of one relation in a command are merged.)
 */
Datum
settings_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("settings_changed() must be called as a trigger")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
