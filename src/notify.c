/*
 * notify.c
 *	  Notifications (issue 10 §3): templates, the outbox, the in-app inbox,
 *	  birthdays and expiring points.
 *
 *	 affiliate.set_template           admin: a template per event and channel; audited
 *	 affiliate.remove_template        admin: remove one; audited
 *	 affiliate.claim_outbox           senders: due pending rows of a channel, leased
 *	 affiliate.mark_sent / mark_failed  senders: the outcome (back-off on failure)
 *	 affiliate.mark_read              a member's in-app notifications read
 *	 affiliate.add_member_child / remove_member_child
 *	 affiliate.queue_birthdays        daily job
 *	 affiliate.queue_points_expiring  daily job
 *
 * The engines call the AffNotify* hooks in their own transaction.  A hook
 * first asks whether the program has a template for the event (one index
 * probe, remembered for the rest of the statement when the answer is no), so
 * a program without templates pays next to nothing; otherwise every template
 * of the event is rendered (template.c) into one outbox row per channel, and
 * for the channels senders claim NOTIFY affiliate_outbox is sent with payload
 * "<program id>:<channel>" (delivered at commit, so a listener never sees an
 * uncommitted row; pg_affiliate.outbox_notify = off leaves it out).
 *
 * Outbox rows of channel in_app are the members' inbox: they are delivered
 * when written (status sent) and read with affiliate.notifications().  Rows
 * of the other channels are pending until a sender claims them.  A claim
 * (FOR UPDATE SKIP LOCKED: two senders never get one row) counts an attempt
 * and moves next_attempt_at one lease ahead, so a sender that dies leaves
 * its rows to be claimed again when the lease ends.  mark_failed schedules
 * the next attempt 1, 2, 4, ... 64 minutes later; the 8th failure (or one
 * with retry false) is final.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "pg_affiliate.h"

#define TEMPLATE_MAX_SUBJECT 200
#define TEMPLATE_MAX_BODY 2000
#define OUTBOX_MAX_CLAIM 1000
#define OUTBOX_MAX_ATTEMPTS 8
#define OUTBOX_MAX_ERROR 2000
#define INBOX_MAX_IDS 1000
#define CHILD_MAX_NAME 100
#define CHILDREN_PER_MEMBER 20
#define EXPIRING_MAX_DAYS 365
#define MAX_VARS 16

PG_FUNCTION_INFO_V1(set_template);
PG_FUNCTION_INFO_V1(remove_template);
PG_FUNCTION_INFO_V1(claim_outbox);
PG_FUNCTION_INFO_V1(mark_sent);
PG_FUNCTION_INFO_V1(mark_failed);
PG_FUNCTION_INFO_V1(mark_read);
PG_FUNCTION_INFO_V1(add_member_child);
PG_FUNCTION_INFO_V1(remove_member_child);
PG_FUNCTION_INFO_V1(queue_birthdays);
PG_FUNCTION_INFO_V1(queue_points_expiring);

/* ---------------------------------------------------------------------------
 * Which programs have no template for an event: remembered per event for the
 * rest of the statement (and until this backend changes a template), so that
 * a release of many commissions asks once per program.
 * ---------------------------------------------------------------------------
 */
typedef struct NoTemplate
{
	bool		valid;
	int64		program_id;
	LocalTransactionId lxid;
	TimestampTz stmt;
	uint64		generation;
} NoTemplate;

static NoTemplate no_template[AFF_EVENT_COUNT];
static uint64 template_generation;

static bool
KnownToHaveNone(int64 program_id, int ev)
{
	NoTemplate *c = &no_template[ev];

	return c->valid && c->program_id == program_id && c->lxid == MyProc->lxid &&
		c->stmt == GetCurrentStatementStartTimestamp() && c->generation == template_generation;
}

/* a program's templates of one event */
typedef struct Template
{
	char	   *channel;
	char	   *subject;		/* NULL: none */
	char	   *body;
} Template;

/* the templates of the event (n of them; 0: none).  Inside SPI. */
static Template *
LoadTemplates(int64 program_id, int ev, int *n)
{
	static PlanSlot slot;
	Template   *t;

	*n = 0;
	if (KnownToHaveNone(program_id, ev))
		return NULL;
	/*
	 * The library serves every installed version: an extension still at a
	 * version before 0.6.0 (test/sql/upgrade.sql) has no templates table,
	 * and its events send nothing.
	 */
	if (!OidIsValid(get_relname_relid("notification_template", get_namespace_oid("affiliate", true))))
		return NULL;
	AffExec(&slot,
			"SELECT channel, subject, body FROM affiliate.notification_template "
			"WHERE program_id = $1 AND event = $2 ORDER BY channel",
			2, (Oid[]) {INT8OID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), CStringGetTextDatum(AffEventName(ev))},
			NULL, false, 0);
	if (SPI_processed == 0)
	{
		NoTemplate *c = &no_template[ev];

		c->valid = true;
		c->program_id = program_id;
		c->lxid = MyProc->lxid;
		c->stmt = GetCurrentStatementStartTimestamp();
		c->generation = template_generation;
		return NULL;
	}
	*n = (int) SPI_processed;
	t = palloc(sizeof(Template) * *n);
	for (int i = 0; i < *n; i++)
	{
		t[i].channel = AffGetText(i, 1);
		t[i].subject = AffGetText(i, 2);
		t[i].body = AffGetText(i, 3);
	}
	return t;
}

/* the variables of one message */
typedef struct Vars
{
	int			n;
	const char *names[MAX_VARS];
	const char *values[MAX_VARS];
} Vars;

static void
VarSet(Vars *v, const char *name, const char *value)
{
	for (int i = 0; i < v->n; i++)
		if (strcmp(v->names[i], name) == 0)
		{
			v->values[i] = value;
			return;
		}
	if (v->n >= MAX_VARS)
		elog(ERROR, "pg_affiliate: too many notification variables");
	v->names[v->n] = name;
	v->values[v->n] = value;
	v->n++;
}

static void
VarInt(Vars *v, const char *name, int64 value)
{
	VarSet(v, name, psprintf(INT64_FORMAT, value));
}

/* the digits after the decimal point of an ISO 4217 currency */
static int
CurrencyExponent(const char *currency)
{
	static const char *const zero[] = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
	"RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF", NULL};
	static const char *const three[] = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND", NULL};

	for (int i = 0; zero[i]; i++)
		if (strcmp(zero[i], currency) == 0)
			return 0;
	for (int i = 0; three[i]; i++)
		if (strcmp(three[i], currency) == 0)
			return 3;
	return 2;
}

/* amount (minor units, >= 0) and amount_minor and currency */
static void
VarAmount(Vars *v, int64 minor, const char *currency)
{
	int			e = CurrencyExponent(currency);
	uint64		u = minor < 0 ? 0 : (uint64) minor;

	if (e == 0)
		VarSet(v, "amount", psprintf(UINT64_FORMAT, u));
	else
	{
		uint64		scale = e == 3 ? 1000 : 100;

		VarSet(v, "amount", psprintf(UINT64_FORMAT ".%0*d", u / scale, e, (int) (u % scale)));
	}
	VarInt(v, "amount_minor", minor);
	VarSet(v, "currency", currency);
}

/*
 * Write the outbox rows of the templates for the member; vars gets the
 * member's name, external id and program name.  Inside SPI.
 */
static void
WriteMessages(int64 program_id, int64 member_id, int ev, Template *t, int nt, Vars *vars)
{
	static PlanSlot who,
				ins;
	StringInfoData payload;
	Jsonb	   *payload_jb;

	AffExec(&who,
			"SELECT coalesce(m.display_name, m.external_id), m.external_id, p.name "
			"  FROM affiliate.member m JOIN affiliate.program p ON p.id = m.program_id "
			" WHERE m.program_id = $1 AND m.id = $2",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id)}, NULL, false, 1);
	if (SPI_processed == 0)
		return;					/* no such member: nobody to tell */
	VarSet(vars, "member_name", AffGetText(0, 1));
	VarSet(vars, "member_external_id", AffGetText(0, 2));
	VarSet(vars, "program_name", AffGetText(0, 3));

	initStringInfo(&payload);
	appendStringInfoChar(&payload, '{');
	for (int i = 0; i < vars->n; i++)
	{
		if (i > 0)
			appendStringInfoString(&payload, ", ");
		escape_json(&payload, vars->names[i]);
		appendStringInfoString(&payload, ": ");
		if (vars->values[i])
			escape_json(&payload, vars->values[i]);
		else
			appendStringInfoString(&payload, "null");
	}
	appendStringInfoChar(&payload, '}');
	payload_jb = AffJsonbOf(&payload);

	for (int i = 0; i < nt; i++)
	{
		bool		html = strcmp(t[i].channel, "email") == 0;
		char	   *subject = t[i].subject ?
			AffTemplateRender(t[i].subject, vars->names, vars->values, vars->n, false) : NULL;
		char	   *body = AffTemplateRender(t[i].body, vars->names, vars->values, vars->n, html);

		AffExec(&ins,
				"INSERT INTO affiliate.outbox (program_id, member_id, event, channel, subject, body, payload, "
				"  status, sent_at) "
				"VALUES ($1, $2, $3, $4, $5, $6, $7, "
				"  CASE WHEN $4 = 'in_app' THEN 'sent' ELSE 'pending' END, "
				"  CASE WHEN $4 = 'in_app' THEN pg_catalog.now() END)",
				7, (Oid[]) {INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID},
				(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id),
					CStringGetTextDatum(AffEventName(ev)), CStringGetTextDatum(t[i].channel),
					subject ? CStringGetTextDatum(subject) : (Datum) 0, CStringGetTextDatum(body),
					JsonbPGetDatum(payload_jb)},
				subject ? "       " : "    n  ", false, 0);
		/* a wake-up for the senders (in_app rows are delivered already) */
		if (affiliate_outbox_notify && strcmp(t[i].channel, "in_app") != 0)
			Async_Notify("affiliate_outbox", psprintf(INT64_FORMAT ":%s", program_id, t[i].channel));
	}
}

/* one event for one member: templates, then messages.  Inside SPI. */
static void
NotifyOne(int64 program_id, int64 member_id, int ev, Vars *vars)
{
	int			nt;
	Template   *t = LoadTemplates(program_id, ev, &nt);

	if (nt > 0)
		WriteMessages(program_id, member_id, ev, t, nt, vars);
}

/* ---------------------------------------------------------------------------
 * The hooks.  Each connects to SPI itself (nested in the caller's
 * connection, whose SPI_tuptable and SPI_processed SPI_finish restores).
 * ---------------------------------------------------------------------------
 */

void
AffNotify(int64 program_id, int64 member_id, const char *event, Jsonb *vars)
{
	int			ev = AffEventIndex(event);
	Vars		v = {0};

	if (ev < 0)
		elog(ERROR, "pg_affiliate: unknown notification event \"%s\"", event);
	if (vars != NULL && JB_ROOT_IS_OBJECT(vars))
	{
		JsonbIterator *it = JsonbIteratorInit(&vars->root);
		JsonbValue	k,
					val;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
		{
			char	   *name;

			if (tok != WJB_KEY)
				continue;
			name = pnstrdup(k.val.string.val, k.val.string.len);
			tok = JsonbIteratorNext(&it, &val, true);
			if (val.type == jbvString)
				VarSet(&v, name, pnstrdup(val.val.string.val, val.val.string.len));
			else if (val.type == jbvNumeric)
				VarSet(&v, name, DatumGetCString(DirectFunctionCall1(numeric_out,
																	 NumericGetDatum(val.val.numeric))));
			else if (val.type == jbvBool)
				VarSet(&v, name, val.val.boolean ? "true" : "false");
			else if (val.type == jbvNull)
				VarSet(&v, name, NULL);
		}
	}
	AffSpiConnect();
	NotifyOne(program_id, member_id, ev, &v);
	SPI_finish();
}

typedef struct ProgramRow
{
	int64		program_id;
	int64		id;
} ProgramRow;

static int
CompareProgramRow(const void *a, const void *b)
{
	const ProgramRow *x = a;
	const ProgramRow *y = b;

	if (x->program_id != y->program_id)
		return x->program_id < y->program_id ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/* the commissions ids[0..n) of one program */
static void
NotifyCommissions(int64 program_id, AffEvent ev, Datum *ids, int n)
{
	static PlanSlot slot;
	int			nt;
	Template   *t = LoadTemplates(program_id, ev, &nt);
	int			rows;
	int64	   *member;
	int64	   *amount;
	int64	   *commission;
	char	  **level;
	char	  **ref;
	char	  **currency;

	if (nt == 0)
		return;
	AffExec(&slot,
			"SELECT c.id, c.beneficiary_id, c.level, CASE WHEN $3 THEN c.released ELSE c.amount END, "
			"       v.external_ref, p.currency "
			"  FROM affiliate.commission c "
			"  JOIN affiliate.conversion v ON v.program_id = c.program_id AND v.id = c.conversion_id "
			"  JOIN affiliate.program p ON p.id = c.program_id "
			" WHERE c.program_id = $1 AND c.id = ANY ($2) ORDER BY c.id",
			3, (Oid[]) {INT8OID, INT8ARRAYOID, BOOLOID},
			(Datum[]) {Int64GetDatum(program_id),
				PointerGetDatum(construct_array(ids, n, INT8OID, 8, true, TYPALIGN_DOUBLE)),
			BoolGetDatum(ev == AFF_EV_COMMISSION_RELEASED)}, NULL, false, 0);
	rows = (int) SPI_processed;
	member = palloc(sizeof(int64) * Max(rows, 1));
	amount = palloc(sizeof(int64) * Max(rows, 1));
	commission = palloc(sizeof(int64) * Max(rows, 1));
	level = palloc(sizeof(char *) * Max(rows, 1));
	ref = palloc(sizeof(char *) * Max(rows, 1));
	currency = palloc(sizeof(char *) * Max(rows, 1));
	for (int i = 0; i < rows; i++)
	{
		commission[i] = AffGetInt64(i, 1, NULL);
		member[i] = AffGetInt64(i, 2, NULL);
		level[i] = AffGetText(i, 3);
		amount[i] = AffGetInt64(i, 4, NULL);
		ref[i] = AffGetText(i, 5);
		currency[i] = AffGetText(i, 6);
	}
	for (int i = 0; i < rows; i++)
	{
		Vars		v = {0};

		VarAmount(&v, amount[i], currency[i]);
		VarSet(&v, "level", level[i]);
		VarSet(&v, "order_ref", ref[i]);
		VarInt(&v, "commission_id", commission[i]);
		WriteMessages(program_id, member[i], ev, t, nt, &v);
	}
}

/*
 * commission_earned (record_conversion) and commission_released
 * (release_due): the rows of tt (columns program_id and id), of any
 * programs.  One message per commission and channel.
 */
void
AffNotifyCommissionRows(SPITupleTable *tt, uint64 n, AffEvent ev)
{
	int			pcol;
	int			icol;
	ProgramRow *rows;
	Datum	   *ids;
	int			start;

	if (n == 0)
		return;
	pcol = SPI_fnumber(tt->tupdesc, "program_id");
	icol = SPI_fnumber(tt->tupdesc, "id");
	if (pcol <= 0 || icol <= 0)
		elog(ERROR, "pg_affiliate: commission rows without program_id and id");
	rows = palloc(sizeof(ProgramRow) * n);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;

		rows[i].program_id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, pcol, &isnull));
		rows[i].id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, icol, &isnull));
	}
	qsort(rows, n, sizeof(ProgramRow), CompareProgramRow);
	ids = palloc(sizeof(Datum) * n);
	AffSpiConnect();
	start = 0;
	for (uint64 i = 1; i <= n; i++)
		if (i == n || rows[i].program_id != rows[start].program_id)
		{
			int			k = 0;

			for (uint64 j = start; j < i; j++)
				ids[k++] = Int64GetDatum(rows[j].id);
			NotifyCommissions(rows[start].program_id, ev, ids, k);
			start = (int) i;
		}
	SPI_finish();
}

/*
 * badge_earned: the badges just awarded, rows (member_id, rule_id) of
 * program_id in tt (gamification.c's AwardBadges).
 */
void
AffNotifyBadges(int64 program_id, SPITupleTable *tt, uint64 n)
{
	static PlanSlot slot;
	int64	   *member;
	int64	   *rule;
	int			nt;

	if (n == 0)
		return;
	member = palloc(sizeof(int64) * n);
	rule = palloc(sizeof(int64) * n);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;

		member[i] = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		rule[i] = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
	}
	AffSpiConnect();
	(void) LoadTemplates(program_id, AFF_EV_BADGE_EARNED, &nt);
	for (uint64 i = 0; nt > 0 && i < n; i++)
	{
		Vars		v = {0};

		AffExec(&slot, "SELECT name, level FROM affiliate.badge_rule WHERE program_id = $1 AND id = $2",
				2, (Oid[]) {INT8OID, INT8OID},
				(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(rule[i])}, NULL, false, 1);
		if (SPI_processed != 1)
			continue;
		VarSet(&v, "badge_name", AffGetText(0, 1));
		VarSet(&v, "badge_level", AffGetText(0, 2));
		NotifyOne(program_id, member[i], AFF_EV_BADGE_EARNED, &v);
	}
	SPI_finish();
}

/* referral_joined: tell the new member's sponsor */
void
AffNotifyReferralJoined(int64 program_id, int64 member_id)
{
	static PlanSlot slot;
	int			nt;
	Template   *t;

	AffSpiConnect();
	t = LoadTemplates(program_id, AFF_EV_REFERRAL_JOINED, &nt);
	if (nt > 0)
	{
		AffExec(&slot,
				"SELECT m.sponsor_id, coalesce(m.display_name, m.external_id), m.external_id "
				"  FROM affiliate.member m WHERE m.program_id = $1 AND m.id = $2 AND m.sponsor_id IS NOT NULL",
				2, (Oid[]) {INT8OID, INT8OID},
				(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id)}, NULL, false, 1);
		if (SPI_processed == 1)
		{
			Vars		v = {0};
			int64		sponsor = AffGetInt64(0, 1, NULL);

			VarSet(&v, "referral_name", AffGetText(0, 2));
			VarSet(&v, "referral_external_id", AffGetText(0, 3));
			WriteMessages(program_id, sponsor, AFF_EV_REFERRAL_JOINED, t, nt, &v);
		}
	}
	SPI_finish();
}

/* payout_approved, payout_paid, payout_rejected */
void
AffNotifyWithdrawal(int64 program_id, int64 withdrawal_id, const char *to)
{
	static PlanSlot slot;
	AffEvent	ev;
	int			nt;
	Template   *t;

	if (strcmp(to, "approved") == 0)
		ev = AFF_EV_PAYOUT_APPROVED;
	else if (strcmp(to, "paid") == 0)
		ev = AFF_EV_PAYOUT_PAID;
	else if (strcmp(to, "rejected") == 0)
		ev = AFF_EV_PAYOUT_REJECTED;
	else
		return;
	AffSpiConnect();
	t = LoadTemplates(program_id, ev, &nt);
	if (nt > 0)
	{
		AffExec(&slot,
				"SELECT member_id, amount, asset, method, destination_masked, provider_ref, reason "
				"  FROM affiliate.withdrawal WHERE program_id = $1 AND id = $2",
				2, (Oid[]) {INT8OID, INT8OID},
				(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(withdrawal_id)}, NULL, false, 1);
		if (SPI_processed == 1)
		{
			Vars		v = {0};
			int64		member = AffGetInt64(0, 1, NULL);

			VarAmount(&v, AffGetInt64(0, 2, NULL), AffGetText(0, 3));
			VarSet(&v, "method", AffGetText(0, 4));
			VarSet(&v, "destination", AffGetText(0, 5));
			VarInt(&v, "withdrawal_id", withdrawal_id);
			if (ev == AFF_EV_PAYOUT_PAID)
				VarSet(&v, "provider_ref", AffGetText(0, 6));
			if (ev == AFF_EV_PAYOUT_REJECTED)
				VarSet(&v, "reason", AffGetText(0, 7));
			WriteMessages(program_id, member, ev, t, nt, &v);
		}
	}
	SPI_finish();
}

/* tier_changed: every tier_history row (tier 0: none) */
void
AffNotifyTierChange(int64 program_id, int64 member_id, int64 from_tier, int64 to_tier, const char *reason)
{
	static PlanSlot slot;
	int			nt;
	Template   *t;

	AffSpiConnect();
	t = LoadTemplates(program_id, AFF_EV_TIER_CHANGED, &nt);
	if (nt > 0)
	{
		Vars		v = {0};

		AffExec(&slot,
				"SELECT coalesce((SELECT name FROM affiliate.tier WHERE program_id = $1 AND id = $2), ''), "
				"       coalesce((SELECT name FROM affiliate.tier WHERE program_id = $1 AND id = $3), '')",
				3, (Oid[]) {INT8OID, INT8OID, INT8OID},
				(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(from_tier), Int64GetDatum(to_tier)},
				NULL, false, 1);
		VarSet(&v, "old_tier", AffGetText(0, 1));
		VarSet(&v, "new_tier", AffGetText(0, 2));
		VarSet(&v, "change", reason);
		WriteMessages(program_id, member_id, AFF_EV_TIER_CHANGED, t, nt, &v);
	}
	SPI_finish();
}

/* certificate_issued */
void
AffNotifyCertificate(int64 program_id, const char *number)
{
	static PlanSlot slot;
	int			nt;

	AffSpiConnect();
	(void) LoadTemplates(program_id, AFF_EV_CERTIFICATE_ISSUED, &nt);
	if (nt > 0)
	{
		AffExec(&slot,
				"SELECT member_id, course_title FROM affiliate.certificate WHERE program_id = $1 AND number = $2",
				2, (Oid[]) {INT8OID, TEXTOID},
				(Datum[]) {Int64GetDatum(program_id), CStringGetTextDatum(number)}, NULL, false, 1);
		if (SPI_processed == 1)
		{
			int64		member = AffGetInt64(0, 1, NULL);
			StringInfoData vars;

			/* through AffNotify, as other engines call it (a rare event) */
			initStringInfo(&vars);
			appendStringInfoString(&vars, "{\"course_title\": ");
			escape_json(&vars, AffGetText(0, 2));
			appendStringInfoString(&vars, ", \"certificate_number\": ");
			escape_json(&vars, number);
			appendStringInfoChar(&vars, '}');
			AffNotify(program_id, member, "certificate_issued", AffJsonbOf(&vars));
		}
	}
	SPI_finish();
}

/* ---------------------------------------------------------------------------
 * Templates
 * ---------------------------------------------------------------------------
 */

static int
EventArg(FunctionCallInfo fcinfo, int argno)
{
	char	   *event = AffTextArg(fcinfo, argno, "event", 64, true);
	int			ev = AffEventIndex(event);

	if (ev < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown event \"%s\"", event),
				 errhint("An event is commission_earned, commission_released, referral_joined, payout_approved, payout_paid, payout_rejected, tier_changed, badge_earned, certificate_issued, points_expiring or birthday.")));
	return ev;
}

static char *
ChannelArg(FunctionCallInfo fcinfo, int argno)
{
	char	   *channel = AffTextArg(fcinfo, argno, "channel", 64, true);

	if (!AffChannelValid(channel))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown channel \"%s\"", channel),
				 errhint("A channel is in_app, email, whatsapp or sms.")));
	return channel;
}

/*
 * affiliate.set_template(program_id bigint, event text, channel text,
 *     subject text, body text) RETURNS bigint
 *
 * Creates or replaces the template of (event, channel).  email needs a
 * subject, in_app may have one, sms and whatsapp have none.
 */
Datum
set_template(PG_FUNCTION_ARGS)
{
	static PlanSlot ups;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int			ev = EventArg(fcinfo, 1);
	char	   *channel = ChannelArg(fcinfo, 2);
	char	   *subject = AffTextArg(fcinfo, 3, "subject", TEMPLATE_MAX_SUBJECT, false);
	char	   *body = AffTextArg(fcinfo, 4, "body", TEMPLATE_MAX_BODY, true);
	int64		id;
	StringInfoData s;

	if (subject == NULL && strcmp(channel, "email") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("an email template needs a subject")));
	if (subject != NULL && (strcmp(channel, "sms") == 0 || strcmp(channel, "whatsapp") == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s templates have no subject", channel),
				 errhint("Pass NULL as the subject; only email and in_app messages have one.")));
	if (subject)
		AffTemplateCheck(ev, subject, "subject", false);
	AffTemplateCheck(ev, body, "body", true);
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	AffExec(&ups,
			"INSERT INTO affiliate.notification_template (program_id, event, channel, subject, body) "
			"VALUES ($1, $2, $3, $4, $5) "
			"ON CONFLICT (program_id, event, channel) DO UPDATE "
			"  SET subject = EXCLUDED.subject, body = EXCLUDED.body, updated_at = pg_catalog.now() "
			"RETURNING id",
			5, (Oid[]) {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), CStringGetTextDatum(AffEventName(ev)),
				CStringGetTextDatum(channel), subject ? CStringGetTextDatum(subject) : (Datum) 0,
			CStringGetTextDatum(body)},
			subject ? "     " : "   n ", false, 1);
	id = AffGetInt64(0, 1, NULL);
	template_generation++;
	initStringInfo(&s);
	appendStringInfo(&s, "{\"template_id\": " INT64_FORMAT ", \"event\": \"%s\", \"channel\": \"%s\", \"subject\": ",
					 id, AffEventName(ev), channel);
	if (subject)
		escape_json(&s, subject);
	else
		appendStringInfoString(&s, "null");
	appendStringInfoString(&s, ", \"body\": ");
	escape_json(&s, body);
	appendStringInfoChar(&s, '}');
	AffAudit(program_id, "set_template", AffJsonbOf(&s));
	SPI_finish();
	PG_RETURN_INT64(id);
}

/* affiliate.remove_template(program_id bigint, event text, channel text) RETURNS void */
Datum
remove_template(PG_FUNCTION_ARGS)
{
	static PlanSlot del;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int			ev = EventArg(fcinfo, 1);
	char	   *channel = ChannelArg(fcinfo, 2);
	int64		id;

	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	AffExec(&del,
			"DELETE FROM affiliate.notification_template WHERE program_id = $1 AND event = $2 AND channel = $3 "
			"RETURNING id",
			3, (Oid[]) {INT8OID, TEXTOID, TEXTOID},
			(Datum[]) {Int64GetDatum(program_id), CStringGetTextDatum(AffEventName(ev)),
			CStringGetTextDatum(channel)}, NULL, false, 0);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("program " INT64_FORMAT " has no %s template for event %s",
						program_id, channel, AffEventName(ev))));
	id = AffGetInt64(0, 1, NULL);
	template_generation++;
	AffAudit(program_id, "remove_template",
			 DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												CStringGetDatum(psprintf("{\"template_id\": " INT64_FORMAT
																		 ", \"event\": \"%s\", \"channel\": \"%s\"}",
																		 id, AffEventName(ev), channel)))));
	SPI_finish();
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------------
 * The sender API
 * ---------------------------------------------------------------------------
 */

/*
 * affiliate.claim_outbox(channel text, max_rows integer, lease interval
 *     DEFAULT '5 minutes', program_id bigint DEFAULT NULL) RETURNS TABLE (...)
 *
 * Every program (program_id NULL): a sender serves them all, like
 * release_due (DESIGN §7); or one program's, for a program with its own
 * provider account.  A row is then addressed by (program_id, id).
 */
Datum
claim_outbox(PG_FUNCTION_ARGS)
{
	static PlanSlot slot;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *channel = ChannelArg(fcinfo, 0);
	int32		max_rows;
	Interval   *lease;
	int64		lease_us;

	AffRequireArg(fcinfo, 1, "max_rows");
	AffRequireArg(fcinfo, 2, "lease");
	max_rows = PG_GETARG_INT32(1);
	lease = PG_GETARG_INTERVAL_P(2);
	if (strcmp(channel, "in_app") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("in_app messages are not sent by senders"),
				 errdetail("An in-app message is delivered when it is written: it is the member's inbox (affiliate.notifications).")));
	if (max_rows < 1 || max_rows > OUTBOX_MAX_CLAIM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be between 1 and %d", OUTBOX_MAX_CLAIM)));
	if (lease->month != 0 || pg_mul_s64_overflow((int64) lease->day, USECS_PER_DAY, &lease_us) ||
		pg_add_s64_overflow(lease_us, lease->time, &lease_us) ||
		lease_us < 10 * USECS_PER_SEC || lease_us > USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease must be between 10 seconds and 1 day"),
				 errdetail("A claimed message is offered again when its lease ends without mark_sent or mark_failed.")));
	if (!PG_ARGISNULL(3))
		AffRequireProgram(PG_GETARG_INT64(3), NULL);

	InitMaterializedSRF(fcinfo, 0);
	AffSpiConnect();
	AffExec(&slot,
			"WITH c AS ("
			"  SELECT o.program_id, o.id FROM affiliate.outbox o "
			"   WHERE o.status = 'pending' AND o.channel = $1 AND o.next_attempt_at <= pg_catalog.now() "
			"     AND ($4::bigint IS NULL OR o.program_id = $4) "
			"   ORDER BY o.next_attempt_at, o.id LIMIT $2 FOR UPDATE SKIP LOCKED), "
			"u AS ("
			"  UPDATE affiliate.outbox o SET attempts = o.attempts + 1, claimed_at = pg_catalog.now(), "
			"         next_attempt_at = pg_catalog.now() + $3 "
			"    FROM c WHERE o.program_id = c.program_id AND o.id = c.id "
			"  RETURNING o.program_id, o.id, o.member_id, o.event, o.subject, o.body, o.payload, o.attempts) "
			"SELECT u.program_id, u.id, u.member_id, m.external_id, u.event, u.subject, u.body, u.payload, u.attempts "
			"  FROM u LEFT JOIN affiliate.member m ON m.program_id = u.program_id AND m.id = u.member_id "
			" ORDER BY u.id",
			4, (Oid[]) {TEXTOID, INT4OID, INTERVALOID, INT8OID},
			(Datum[]) {CStringGetTextDatum(channel), Int32GetDatum(max_rows), IntervalPGetDatum(lease),
			PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3)},
			PG_ARGISNULL(3) ? "   n" : "    ", false, 0);
	for (uint64 r = 0; r < SPI_processed; r++)
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[r]);
	SPI_finish();
	return (Datum) 0;
}

/*
 * The claimed message (program_id, id) locked: its status and attempts.
 * P0002 when there is none; 55000 when it is not pending and claimed
 * (a sent one: *already_sent for mark_sent).
 */
static void
LockClaimed(int64 program_id, int64 id, const char *step, bool *already_sent, int32 *attempts)
{
	static PlanSlot slot;
	char	   *status;

	AffExec(&slot,
			"SELECT status, attempts::bigint, channel FROM affiliate.outbox WHERE program_id = $1 AND id = $2 FOR UPDATE",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(id)}, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("message " INT64_FORMAT " does not exist in program " INT64_FORMAT, id, program_id)));
	status = AffGetText(0, 1);
	*attempts = (int32) AffGetInt64(0, 2, NULL);
	*already_sent = false;
	if (strcmp(AffGetText(0, 3), "in_app") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("message " INT64_FORMAT " is an in-app message: it cannot be %s", id, step),
				 errdetail("In-app messages are delivered when written.")));
	if (strcmp(status, "sent") == 0 && strcmp(step, "marked sent") == 0)
	{
		*already_sent = true;
		return;
	}
	if (strcmp(status, "pending") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("message " INT64_FORMAT " has status %s: it cannot be %s", id, status, step),
				 errhint("Nothing was changed.")));
	if (*attempts == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("message " INT64_FORMAT " was not claimed: it cannot be %s", id, step),
				 errhint("Claim messages with affiliate.claim_outbox first.")));
}

/* affiliate.mark_sent(program_id bigint, id bigint) RETURNS void */
Datum
mark_sent(PG_FUNCTION_ARGS)
{
	static PlanSlot upd;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		id = AffArgInt64(fcinfo, 1, "id");
	bool		already;
	int32		attempts;

	AffSpiConnect();
	LockClaimed(program_id, id, "marked sent", &already, &attempts);
	if (!already)
		AffExec(&upd,
				"UPDATE affiliate.outbox SET status = 'sent', sent_at = pg_catalog.now() "
				"WHERE program_id = $1 AND id = $2",
				2, (Oid[]) {INT8OID, INT8OID},
				(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(id)}, NULL, false, 0);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * affiliate.mark_failed(program_id bigint, id bigint, error text, retry
 *     boolean DEFAULT true) RETURNS text -- pending (retried) or failed
 */
Datum
mark_failed(PG_FUNCTION_ARGS)
{
	static PlanSlot upd;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		id = AffArgInt64(fcinfo, 1, "id");
	char	   *error = AffTextArg(fcinfo, 2, "error", OUTBOX_MAX_ERROR, true);
	bool		retry;
	bool		already;
	int32		attempts;
	bool		final;
	int64		delay_minutes;

	AffRequireArg(fcinfo, 3, "retry");
	retry = PG_GETARG_BOOL(3);
	AffSpiConnect();
	LockClaimed(program_id, id, "marked failed", &already, &attempts);
	final = !retry || attempts >= OUTBOX_MAX_ATTEMPTS;
	/* 1, 2, 4, ... minutes after the attempt that failed */
	delay_minutes = INT64CONST(1) << Min(Max(attempts - 1, 0), 30);
	AffExec(&upd,
			"UPDATE affiliate.outbox SET status = CASE WHEN $3 THEN 'failed' ELSE 'pending' END, "
			"       last_error = $4, "
			"       next_attempt_at = CASE WHEN $3 THEN next_attempt_at "
			"                              ELSE pg_catalog.now() + pg_catalog.make_interval(mins => $5) END "
			"WHERE program_id = $1 AND id = $2",
			5, (Oid[]) {INT8OID, INT8OID, BOOLOID, TEXTOID, INT4OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(id), BoolGetDatum(final),
				CStringGetTextDatum(error), Int32GetDatum((int32) delay_minutes)},
			NULL, false, 0);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(final ? "failed" : "pending"));
}

/* ---------------------------------------------------------------------------
 * The in-app inbox
 * ---------------------------------------------------------------------------
 */

/*
 * affiliate.mark_read(program_id bigint, member_id bigint, ids bigint[])
 * RETURNS integer -- how many of them were unread
 */
Datum
mark_read(PG_FUNCTION_ARGS)
{
	static PlanSlot missing,
				upd;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		member_id = AffArgInt64(fcinfo, 1, "member_id");
	ArrayType  *ids;
	int			nids;
	int			marked;

	AffRequireArg(fcinfo, 2, "ids");
	ids = PG_GETARG_ARRAYTYPE_P(2);
	nids = ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids));
	if (ARR_NDIM(ids) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ids must be a one-dimensional array")));
	if (array_contains_nulls(ids))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ids must not contain nulls")));
	if (nids > INBOX_MAX_IDS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("at most %d ids can be marked read at once", INBOX_MAX_IDS)));
	AffSpiConnect();
	AffRequireMember(program_id, member_id, false, NULL);
	AffExec(&missing,
			"SELECT x FROM pg_catalog.unnest($3::bigint[]) x "
			" WHERE NOT EXISTS (SELECT 1 FROM affiliate.outbox o WHERE o.program_id = $1 AND o.id = x "
			"                      AND o.member_id = $2 AND o.channel = 'in_app') LIMIT 1",
			3, (Oid[]) {INT8OID, INT8OID, INT8ARRAYOID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id), PointerGetDatum(ids)},
			NULL, false, 1);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("notification " INT64_FORMAT " of member " INT64_FORMAT " does not exist in program " INT64_FORMAT,
						AffGetInt64(0, 1, NULL), member_id, program_id),
				 errhint("Nothing was marked read.")));
	AffExec(&upd,
			"UPDATE affiliate.outbox SET read_at = pg_catalog.now() "
			"WHERE program_id = $1 AND member_id = $2 AND channel = 'in_app' AND id = ANY ($3) AND read_at IS NULL",
			3, (Oid[]) {INT8OID, INT8OID, INT8ARRAYOID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id), PointerGetDatum(ids)},
			NULL, false, 0);
	marked = (int) SPI_processed;
	SPI_finish();
	PG_RETURN_INT32(marked);
}

/* ---------------------------------------------------------------------------
 * Children and birthdays
 * ---------------------------------------------------------------------------
 */

/*
 * affiliate.add_member_child(program_id bigint, member_id bigint, name text,
 *     birth_date date) RETURNS bigint
 */
Datum
add_member_child(PG_FUNCTION_ARGS)
{
	static PlanSlot count,
				ins;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		member_id = AffArgInt64(fcinfo, 1, "member_id");
	char	   *name;
	DateADT		birth;
	DateADT		earliest = date2j(1900, 1, 1) - POSTGRES_EPOCH_JDATE;
	int			len;
	int64		id;

	AffRequireArg(fcinfo, 2, "name");
	AffRequireArg(fcinfo, 3, "birth_date");
	name = text_to_cstring(PG_GETARG_TEXT_PP(2));
	len = pg_mbstrlen(name);
	if (len < 1 || len > CHILD_MAX_NAME)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("name must be 1 to %d characters long", CHILD_MAX_NAME)));
	for (const char *c = name; *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("name must not contain control characters"),
					 errdetail("The name appears in birthday messages.")));
	birth = PG_GETARG_DATEADT(3);
	if (DATE_NOT_FINITE(birth) || birth < earliest || birth > GetSQLCurrentDate())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("birth_date must lie between 1900-01-01 and today")));
	AffRequireProgram(program_id, NULL);
	AffSpiConnect();
	/* the member row lock serialises adds of one member: the limit holds */
	AffRequireMember(program_id, member_id, true, NULL);
	AffExec(&count,
			"SELECT count(*) FROM affiliate.member_child WHERE program_id = $1 AND member_id = $2",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id)}, NULL, false, 1);
	if (AffGetInt64(0, 1, NULL) >= CHILDREN_PER_MEMBER)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("member " INT64_FORMAT " already has %d children recorded", member_id,
						CHILDREN_PER_MEMBER),
				 errhint("Remove one first.")));
	AffExec(&ins,
			"INSERT INTO affiliate.member_child (program_id, member_id, name, birth_date) "
			"VALUES ($1, $2, $3, $4) RETURNING id",
			4, (Oid[]) {INT8OID, INT8OID, TEXTOID, DATEOID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id), CStringGetTextDatum(name),
			DateADTGetDatum(birth)}, NULL, false, 1);
	id = AffGetInt64(0, 1, NULL);
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * affiliate.remove_member_child(program_id bigint, member_id bigint,
 *     child_id bigint) RETURNS void
 */
Datum
remove_member_child(PG_FUNCTION_ARGS)
{
	static PlanSlot del;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		member_id = AffArgInt64(fcinfo, 1, "member_id");
	int64		child_id = AffArgInt64(fcinfo, 2, "child_id");

	AffSpiConnect();
	AffExec(&del,
			"DELETE FROM affiliate.member_child WHERE program_id = $1 AND member_id = $2 AND id = $3",
			3, (Oid[]) {INT8OID, INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id), Int64GetDatum(child_id)},
			NULL, false, 0);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("child " INT64_FORMAT " of member " INT64_FORMAT " does not exist in program " INT64_FORMAT,
						child_id, member_id, program_id)));
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * affiliate.queue_birthdays(as_of date DEFAULT current_date, program_id
 *     bigint DEFAULT NULL) RETURNS integer
 *
 * Everyone born on as_of's month and day (born on 29 February: on 28
 * February in a year without one) in an earlier year, among the active
 * members and their children, once per person and year (birthday_sent).
 * The member's own birthday also earns the points of the program's
 * 'birthday' points rule (award_points, source_ref
 * 'birthday:<member>:<year>').  With a birthday campaign (campaign.c,
 * AffBirthdayPromoCode) the message carries a personal promo code.  Every
 * program (the daily job) or one.
 */
Datum
queue_birthdays(PG_FUNCTION_ARGS)
{
	static PlanSlot who,
				sent,
				rule,
				award;
	DateADT		as_of;
	int			year,
				month,
				day;
	bool		feb28_alone;
	int			people;
	int			queued = 0;
	int64	   *pid,
			   *mid,
			   *cid;
	char	  **name;
	int		   *born;

	AffRequireArg(fcinfo, 0, "as_of");
	as_of = PG_GETARG_DATEADT(0);
	if (DATE_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be a finite date")));
	j2date(as_of + POSTGRES_EPOCH_JDATE, &year, &month, &day);
	if (abs(as_of - GetSQLCurrentDate()) > AFF_MAX_YEARS * 366)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must lie within %d years of today", AFF_MAX_YEARS)));
	if (!PG_ARGISNULL(1))
		AffRequireProgram(PG_GETARG_INT64(1), NULL);
	feb28_alone = month == 2 && day == 28 && !isleap(year);

	AffSpiConnect();
	AffExec(&who,
			"SELECT m.program_id, m.id, NULL::bigint AS child_id, coalesce(m.display_name, m.external_id), "
			"       pg_catalog.date_part('year', m.birth_date)::bigint "
			"  FROM affiliate.member m "
			" WHERE ($1::bigint IS NULL OR m.program_id = $1) AND m.status = 'active' "
			"   AND m.birth_date IS NOT NULL AND m.birth_date < $5 "
			"   AND ((pg_catalog.date_part('month', m.birth_date) = $2 AND pg_catalog.date_part('day', m.birth_date) = $3) "
			"        OR ($4 AND pg_catalog.date_part('month', m.birth_date) = 2 AND pg_catalog.date_part('day', m.birth_date) = 29)) "
			"UNION ALL "
			"SELECT c.program_id, c.member_id, c.id, c.name, pg_catalog.date_part('year', c.birth_date)::bigint "
			"  FROM affiliate.member_child c "
			"  JOIN affiliate.member m ON m.program_id = c.program_id AND m.id = c.member_id "
			" WHERE ($1::bigint IS NULL OR c.program_id = $1) AND m.status = 'active' AND c.birth_date < $5 "
			"   AND ((pg_catalog.date_part('month', c.birth_date) = $2 AND pg_catalog.date_part('day', c.birth_date) = $3) "
			"        OR ($4 AND pg_catalog.date_part('month', c.birth_date) = 2 AND pg_catalog.date_part('day', c.birth_date) = 29)) "
			"ORDER BY 1, 2, 3 NULLS FIRST",
			5, (Oid[]) {INT8OID, FLOAT8OID, FLOAT8OID, BOOLOID, DATEOID},
			(Datum[]) {PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1), Float8GetDatum(month),
				Float8GetDatum(day), BoolGetDatum(feb28_alone),
			DateADTGetDatum(date2j(year, 1, 1) - POSTGRES_EPOCH_JDATE)},
			PG_ARGISNULL(1) ? "n    " : "     ", false, 0);
	people = (int) SPI_processed;
	pid = palloc(sizeof(int64) * Max(people, 1));
	mid = palloc(sizeof(int64) * Max(people, 1));
	cid = palloc(sizeof(int64) * Max(people, 1));
	name = palloc(sizeof(char *) * Max(people, 1));
	born = palloc(sizeof(int) * Max(people, 1));
	for (int i = 0; i < people; i++)
	{
		pid[i] = AffGetInt64(i, 1, NULL);
		mid[i] = AffGetInt64(i, 2, NULL);
		cid[i] = AffGetInt64(i, 3, NULL);
		name[i] = AffGetText(i, 4);
		born[i] = (int) AffGetInt64(i, 5, NULL);
	}

	for (int i = 0; i < people; i++)
	{
		Vars		v = {0};
		int64		points = 0;
		char	   *promo;

		/* once per person and year, also when two jobs run at once */
		AffExec(&sent,
				"INSERT INTO affiliate.birthday_sent (program_id, member_id, child_id, year) "
				"VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING id",
				4, (Oid[]) {INT8OID, INT8OID, INT8OID, INT4OID},
				(Datum[]) {Int64GetDatum(pid[i]), Int64GetDatum(mid[i]), Int64GetDatum(cid[i]),
				Int32GetDatum(year)}, cid[i] ? "    " : "  n ", false, 1);
		if (SPI_processed == 0)
			continue;
		queued++;
		if (cid[i] == 0)
		{
			AffExec(&rule,
					"SELECT points FROM affiliate.points_rule WHERE program_id = $1 AND event = 'birthday'",
					1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(pid[i])}, NULL, false, 1);
			points = SPI_processed == 1 ? AffGetInt64(0, 1, NULL) : 0;
			if (points > 0)
				AffExec(&award,
						"SELECT affiliate.award_points($1, $2, $3, 'birthday', NULL, $4)",
						4, (Oid[]) {INT8OID, INT8OID, INT8OID, TEXTOID},
						(Datum[]) {Int64GetDatum(pid[i]), Int64GetDatum(mid[i]), Int64GetDatum(points),
							CStringGetTextDatum(psprintf("birthday:" INT64_FORMAT ":%d", mid[i], year))},
						NULL, false, 0);
		}
		promo = AffBirthdayPromoCode(pid[i], mid[i], cid[i], year);
		VarSet(&v, "person_name", name[i]);
		VarSet(&v, "relation", cid[i] ? "child" : "self");
		VarInt(&v, "age", year - born[i]);
		VarInt(&v, "points", points);
		VarSet(&v, "promo_code", promo ? promo : "");
		NotifyOne(pid[i], mid[i], AFF_EV_BIRTHDAY, &v);
	}
	SPI_finish();
	PG_RETURN_INT32(queued);
}

/*
 * affiliate.queue_points_expiring(as_of timestamptz DEFAULT now(), days
 *     integer DEFAULT 7, program_id bigint DEFAULT NULL) RETURNS integer
 *
 * Every lot with points left expiring in (as_of, as_of + days], once per
 * lot (points_expiry_notice), in the programs with a points_expiring
 * template.
 */
Datum
queue_points_expiring(PG_FUNCTION_ARGS)
{
	static PlanSlot slot;
	TimestampTz as_of;
	int32		days;
	int			n;
	int64	   *pid,
			   *mid;
	char	  **points,
			  **on,
			  **left;

	AffRequireArg(fcinfo, 0, "as_of");
	AffRequireArg(fcinfo, 1, "days");
	as_of = PG_GETARG_TIMESTAMPTZ(0);
	days = PG_GETARG_INT32(1);
	if (TIMESTAMP_NOT_FINITE(as_of) ||
		as_of < GetCurrentTransactionStartTimestamp() - (int64) AFF_MAX_YEARS * DAYS_PER_YEAR * USECS_PER_DAY ||
		as_of > GetCurrentTransactionStartTimestamp() + (int64) AFF_MAX_YEARS * DAYS_PER_YEAR * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be a finite time within %d years of now", AFF_MAX_YEARS)));
	if (days < 1 || days > EXPIRING_MAX_DAYS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("days must be between 1 and %d", EXPIRING_MAX_DAYS)));
	if (!PG_ARGISNULL(2))
		AffRequireProgram(PG_GETARG_INT64(2), NULL);

	AffSpiConnect();
	AffExec(&slot,
			"WITH due AS ("
			"  INSERT INTO affiliate.points_expiry_notice (program_id, lot_id, member_id) "
			"  SELECT l.program_id, l.id, l.member_id FROM affiliate.points_lot l "
			"   WHERE l.remaining > 0 AND l.expires_at > $1 AND l.expires_at <= $1 + pg_catalog.make_interval(days => $2) "
			"     AND ($3::bigint IS NULL OR l.program_id = $3) "
			"     AND EXISTS (SELECT 1 FROM affiliate.notification_template t "
			"                  WHERE t.program_id = l.program_id AND t.event = 'points_expiring') "
			"  ON CONFLICT (program_id, lot_id) DO NOTHING "
			"  RETURNING program_id, lot_id, member_id) "
			"SELECT d.program_id, d.member_id, l.remaining::text, "
			"       pg_catalog.to_char(l.expires_at, 'YYYY-MM-DD'), "
			"       pg_catalog.ceil(pg_catalog.date_part('epoch', l.expires_at - $1) / 86400)::integer::text "
			"  FROM due d JOIN affiliate.points_lot l ON l.program_id = d.program_id AND l.id = d.lot_id "
			" ORDER BY d.program_id, d.lot_id",
			3, (Oid[]) {TIMESTAMPTZOID, INT4OID, INT8OID},
			(Datum[]) {TimestampTzGetDatum(as_of), Int32GetDatum(days),
			PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2)},
			PG_ARGISNULL(2) ? "  n" : "   ", false, 0);
	n = (int) SPI_processed;
	pid = palloc(sizeof(int64) * Max(n, 1));
	mid = palloc(sizeof(int64) * Max(n, 1));
	points = palloc(sizeof(char *) * Max(n, 1));
	on = palloc(sizeof(char *) * Max(n, 1));
	left = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		pid[i] = AffGetInt64(i, 1, NULL);
		mid[i] = AffGetInt64(i, 2, NULL);
		points[i] = AffGetText(i, 3);
		on[i] = AffGetText(i, 4);
		left[i] = AffGetText(i, 5);
	}
	for (int i = 0; i < n; i++)
	{
		Vars		v = {0};

		VarSet(&v, "points", points[i]);
		VarSet(&v, "expires_on", on[i]);
		VarSet(&v, "days_left", left[i]);
		NotifyOne(pid[i], mid[i], AFF_EV_POINTS_EXPIRING, &v);
	}
	SPI_finish();
	PG_RETURN_INT32(n);
}
