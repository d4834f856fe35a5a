/*
 * audit.c
 *	  The audit log: every admin action writes one row naming its actor.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "pg_affiliate.h"

/*
 * Write one audit row in the caller's transaction.  The actor is the JWT
 * "sub" claim when present (PostgREST), else the database role; the role is
 * always recorded too.
 */
void
AffAudit(int64 program_id, const char *action, Jsonb *detail)
{
	static PlanSlot slot;
	static const Oid types[5] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, JSONBOID};
	Datum		values[5];
	char		nulls[5] = "     ";

	values[0] = Int64GetDatum(program_id);
	values[1] = CStringGetTextDatum(AffActor());
	values[2] = CStringGetTextDatum(AffDbRole());
	values[3] = CStringGetTextDatum(action);
	if (detail != NULL)
		values[4] = JsonbPGetDatum(detail);
	else
		nulls[4] = 'n';

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	AffExec(&slot,
			"INSERT INTO affiliate.audit_log (program_id, actor, db_role, action, detail) "
			"VALUES ($1, $2, $3, $4, coalesce($5, '{}'::pg_catalog.jsonb))",
			5, types, values, nulls, false, 0);
	SPI_finish();
}
