/*
 * api.c
 *	  Who is calling over HTTP: the PostgREST request claims.
 *
 * PostgREST verifies the JWT, switches to the role it names and sets
 * request.jwt.claims (transaction-local) to the claims as JSON.  The HTTP
 * API (schema affiliate_api) takes the program from the "program" claim and
 * the member from "sub" (their external_id in that program):
 *
 *	 affiliate.claimed_program()  the program claim; 42501 without one
 *	 affiliate.current_member()   the calling member's id; 42501 when the
 *	                              claims name no member of the program
 *	 affiliate.request_client()   the client's IP address and user agent from
 *	                              request.headers (X-Forwarded-For read from the
 *	                              end, past pg_affiliate.trusted_proxies proxies)
 *
 * Both are resolved once per request: the result is cached for the current
 * transaction and the claims text it was computed from, so row-level
 * security policies (which call them as (SELECT ...) once per query) and
 * every function of a request share one lookup.
 */
#include "postgres.h"

#include <arpa/inet.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "fmgr.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "pg_affiliate.h"

PG_FUNCTION_INFO_V1(claimed_program);
PG_FUNCTION_INFO_V1(current_member);
PG_FUNCTION_INFO_V1(request_client);

#define CLIENT_MAX_USER_AGENT 2000

typedef struct ClaimCache
{
	LocalTransactionId lxid;	/* InvalidLocalTransactionId: empty */
	char	   *claims;			/* the text the entries were computed from */
	bool		has_program;
	int64		program_id;
	char	   *sub;			/* NULL: no usable sub claim */
	bool		member_known;	/* member lookup done */
	int64		member_id;		/* 0: not a member */
} ClaimCache;

static ClaimCache cache = {InvalidLocalTransactionId};

/* an integer claim: a JSON number without fraction, or a string of digits */
static bool
ClaimInt64(JsonbValue *v, int64 *out)
{
	char	   *s;
	char	   *end;

	if (v == NULL)
		return false;
	if (v->type == jbvNumeric)
		s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	else if (v->type == jbvString)
		s = pnstrdup(v->val.string.val, v->val.string.len);
	else
		return false;
	if (s[0] < '0' || s[0] > '9' || strlen(s) > 18)
		return false;
	*out = strtoi64(s, &end, 10);
	return *end == '\0' && *out > 0;
}

/* Refresh the cache from request.jwt.claims when the request changed. */
static ClaimCache *
Claims(void)
{
	const char *text = GetConfigOption("request.jwt.claims", true, false);
	LocalTransactionId lxid = MyProc->lxid;
	MemoryContext old;

	if (text == NULL)
		text = "";
	if (cache.lxid == lxid && cache.claims != NULL && strcmp(cache.claims, text) == 0)
		return &cache;

	if (cache.claims)
		pfree(cache.claims);
	if (cache.sub)
		pfree(cache.sub);
	memset(&cache, 0, sizeof(cache));
	old = MemoryContextSwitchTo(TopMemoryContext);
	cache.claims = pstrdup(text);
	MemoryContextSwitchTo(old);
	if (text[0] != '\0')
	{
		/* PostgREST sets valid JSON; anything else is refused by jsonb_in */
		Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
		JsonbValue *sub;

		cache.has_program = ClaimInt64(AffJsonbField(jb, "program"), &cache.program_id);
		sub = AffJsonbField(jb, "sub");
		if (sub != NULL && (sub->type == jbvString || sub->type == jbvNumeric))
		{
			char	   *s = sub->type == jbvString
				? pnstrdup(sub->val.string.val, sub->val.string.len)
				: DatumGetCString(DirectFunctionCall1(numeric_out,
													  NumericGetDatum(sub->val.numeric)));

			if (s[0] != '\0' && strlen(s) <= AFF_MAX_SUB)
				cache.sub = MemoryContextStrdup(TopMemoryContext, s);
		}
	}
	cache.lxid = lxid;
	return &cache;
}

static int64
RequireProgramClaim(ClaimCache *c)
{
	if (!c->has_program)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the request names no program"),
				 errdetail("The JWT must carry a \"program\" claim: the id of the program the caller belongs to."),
				 errhint("Sign the token with {\"role\": ..., \"program\": <program id>, \"sub\": <member external id>}.")));
	return c->program_id;
}

/*
 * affiliate.claimed_program() RETURNS bigint
 */
Datum
claimed_program(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(RequireProgramClaim(Claims()));
}

/*
 * affiliate.current_member() RETURNS bigint
 */
Datum
current_member(PG_FUNCTION_ARGS)
{
	static PlanSlot slot;
	ClaimCache *c = Claims();
	int64		program_id = RequireProgramClaim(c);

	if (c->sub == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the request names no member"),
				 errdetail("The JWT must carry a \"sub\" claim: the member's external id in the program.")));
	if (!c->member_known)
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "pg_affiliate: SPI_connect failed");
		AffExec(&slot,
				"SELECT id FROM affiliate.member WHERE program_id = $1 AND external_id = $2",
				2, (Oid[]) {INT8OID, TEXTOID},
				(Datum[]) {Int64GetDatum(program_id), CStringGetTextDatum(c->sub)},
				NULL, true, 1);
		c->member_id = SPI_processed > 0 ? AffGetInt64(0, 1, NULL) : 0;
		SPI_finish();
		/* a member who joins later in this transaction is looked up again */
		c->member_known = c->member_id != 0;
	}
	if (c->member_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the caller is not a member of program " INT64_FORMAT, program_id),
				 errdetail("No member of the program has the external id of the token's \"sub\" claim."),
				 errhint("Join the program first (POST /rpc/join).")));
	PG_RETURN_INT64(c->member_id);
}

/* a header's value from request.headers (PostgREST lower-cases the names) */
static char *
HeaderValue(Jsonb *headers, const char *name)
{
	JsonbValue *v = headers ? AffJsonbField(headers, name) : NULL;

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* the text is an IPv4 or IPv6 address (so inet_in cannot fail on it) */
static bool
IsAddress(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static char *
Trim(char *s)
{
	char	   *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

/*
 * The client's address: with N trusted proxies, each of which appends the
 * address it received the connection from, the Nth entry from the end of
 * X-Forwarded-For (anything before it the client wrote itself).  Without
 * X-Forwarded-For, X-Real-IP (set by the nearest proxy).  With no trusted
 * proxy, neither header is believed.  NULL when there is no usable address.
 */
static char *
ClientAddress(Jsonb *headers)
{
	char	   *xff;
	char	   *addr;

	if (affiliate_trusted_proxies <= 0 || headers == NULL)
		return NULL;
	xff = HeaderValue(headers, "x-forwarded-for");
	if (xff != NULL)
	{
		/*
		 * Walk from the end: the last trusted_proxies entries were appended
		 * by our proxies, everything before them is the client's own and
		 * may be anything, of any length.
		 */
		char	   *end = xff + strlen(xff);

		addr = NULL;
		for (int k = 1; k <= affiliate_trusted_proxies; k++)
		{
			char	   *start = end;

			while (start > xff && start[-1] != ',')
				start--;
			if (k == affiliate_trusted_proxies)
			{
				*end = '\0';
				addr = Trim(start);
				break;
			}
			if (start == xff)
				return NULL;	/* it did not pass through every proxy */
			end = start - 1;	/* the comma before this entry */
		}
	}
	else
	{
		addr = HeaderValue(headers, "x-real-ip");
		if (addr == NULL)
			return NULL;
		addr = Trim(addr);
	}
	return IsAddress(addr) ? addr : NULL;
}

/*
 * affiliate.request_client() RETURNS TABLE (ip inet, user_agent text)
 */
Datum
request_client(PG_FUNCTION_ARGS)
{
	const char *text = GetConfigOption("request.headers", true, false);
	Jsonb	   *headers = NULL;
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	char	   *addr;
	char	   *agent;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "pg_affiliate: request_client must return a row type");
	if (text != NULL && text[0] == '{')
		headers = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
	if (headers != NULL && !JB_ROOT_IS_OBJECT(headers))
		headers = NULL;

	addr = ClientAddress(headers);
	if (addr != NULL)
		values[0] = DirectFunctionCall1(inet_in, CStringGetDatum(addr));
	else
		nulls[0] = true;

	agent = HeaderValue(headers, "user-agent");
	if (agent != NULL && agent[0] != '\0')
	{
		int			len = pg_mbcliplen(agent, strlen(agent), CLIENT_MAX_USER_AGENT);

		values[1] = PointerGetDatum(cstring_to_text_with_len(agent, len));
	}
	else
		nulls[1] = true;

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
