/*
 * template.c
 *	  Message templates (issue 10 §3): the events and their variables, the
 *	  check of a template when it is saved, and rendering with per-channel
 *	  escaping.  Pure C over strings; notify.c stores and sends.
 *
 * A template is text with placeholders {{name}} (spaces allowed inside the
 * braces: {{ name }}).  A name is a lower-case letter followed by lower-case
 * letters, digits or underscores, and must be one of the event's variables
 * (AffEventVariables).  "{{" that does not open a well-formed placeholder,
 * "}}" outside one and a brace right after one ("{{{x}}", "{{x}}}") are
 * malformed; any other single brace is plain text.  So a
 * template that saves renders every placeholder: no variable can be
 * missing at send time.
 *
 * Rendering copies the template text as written and substitutes each
 * placeholder by its value, escaped for the channel:
 *	 every channel	control characters (U+0000..U+001F, U+007F; newlines
 *					included) become a space: values are one-line facts
 *	 email body		HTML-escaped: & < > " ' become entities
 *	 subjects, sms,	plain text (a subject is never HTML)
 *	 whatsapp, in_app
 * Template text itself may hold newlines and tabs in a body, no other
 * control character (checked when saved).
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "pg_affiliate.h"

#define MAX_VAR_NAME 40

/* variables every event has */
static const char *const common_vars[] = {
	"member_name", "member_external_id", "program_name", NULL
};

typedef struct EventDef
{
	const char *event;
	const char *const vars[12];
} EventDef;

/* the events, in the order of AffEvent (pg_affiliate.h) */
static const EventDef events[AFF_EVENT_COUNT] = {
	[AFF_EV_COMMISSION_EARNED] = {"commission_earned",
	{"amount", "amount_minor", "currency", "level", "order_ref", "commission_id", NULL}},
	[AFF_EV_COMMISSION_RELEASED] = {"commission_released",
	{"amount", "amount_minor", "currency", "level", "order_ref", "commission_id", NULL}},
	[AFF_EV_REFERRAL_JOINED] = {"referral_joined",
	{"referral_name", "referral_external_id", NULL}},
	[AFF_EV_PAYOUT_APPROVED] = {"payout_approved",
	{"amount", "amount_minor", "currency", "method", "destination", "withdrawal_id", NULL}},
	[AFF_EV_PAYOUT_PAID] = {"payout_paid",
	{"amount", "amount_minor", "currency", "method", "destination", "withdrawal_id", "provider_ref", NULL}},
	[AFF_EV_PAYOUT_REJECTED] = {"payout_rejected",
	{"amount", "amount_minor", "currency", "method", "destination", "withdrawal_id", "reason", NULL}},
	[AFF_EV_TIER_CHANGED] = {"tier_changed",
	{"old_tier", "new_tier", "change", NULL}},
	[AFF_EV_BADGE_EARNED] = {"badge_earned",
	{"badge_name", "badge_level", NULL}},
	[AFF_EV_CERTIFICATE_ISSUED] = {"certificate_issued",
	{"course_title", "certificate_number", NULL}},
	[AFF_EV_POINTS_EXPIRING] = {"points_expiring",
	{"points", "expires_on", "days_left", NULL}},
	[AFF_EV_BIRTHDAY] = {"birthday",
	{"person_name", "relation", "age", "points", "promo_code", NULL}},
};

static const char *const channels[] = {"in_app", "email", "whatsapp", "sms", NULL};

/* the event's index, or -1 */
int
AffEventIndex(const char *event)
{
	for (int i = 0; i < AFF_EVENT_COUNT; i++)
		if (strcmp(events[i].event, event) == 0)
			return i;
	return -1;
}

const char *
AffEventName(int ev)
{
	Assert(ev >= 0 && ev < AFF_EVENT_COUNT);
	return events[ev].event;
}

bool
AffChannelValid(const char *channel)
{
	for (int i = 0; channels[i]; i++)
		if (strcmp(channels[i], channel) == 0)
			return true;
	return false;
}

/* whether name is a variable of the event (its own or a common one) */
static bool
IsVariable(int ev, const char *name)
{
	for (int i = 0; common_vars[i]; i++)
		if (strcmp(common_vars[i], name) == 0)
			return true;
	for (int i = 0; events[ev].vars[i]; i++)
		if (strcmp(events[ev].vars[i], name) == 0)
			return true;
	return false;
}

/* "a, b, c": the event's variables, for error details */
static char *
VariableList(int ev)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; common_vars[i]; i++)
		appendStringInfo(&s, "%s%s", i ? ", " : "", common_vars[i]);
	for (int i = 0; events[ev].vars[i]; i++)
		appendStringInfo(&s, ", %s", events[ev].vars[i]);
	return s.data;
}

/*
 * Parse a placeholder whose "{{" starts at p.  Returns the position after its
 * "}}" and the name in name[], or NULL when malformed.
 */
static const char *
ParsePlaceholder(const char *p, char *name)
{
	int			n = 0;

	p += 2;
	while (*p == ' ')
		p++;
	if (!(*p >= 'a' && *p <= 'z'))
		return NULL;
	while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')
	{
		if (n >= MAX_VAR_NAME)
			return NULL;
		name[n++] = *p++;
	}
	name[n] = '\0';
	while (*p == ' ')
		p++;
	if (p[0] != '}' || p[1] != '}')
		return NULL;
	return p + 2;
}

/*
 * Check a template text of an event (22023): control characters (a body may
 * hold newlines and tabs), malformed placeholders, unknown variables.  what
 * names the text in errors ("subject", "body").
 */
void
AffTemplateCheck(int ev, const char *text, const char *what, bool multiline)
{
	const char *p = text;
	char		name[MAX_VAR_NAME + 1];

	for (const char *c = text; *c; c++)
	{
		unsigned char u = (unsigned char) *c;

		if ((u < 0x20 || u == 0x7f) && !(multiline && (u == '\n' || u == '\t')))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the %s of a template must not contain control characters", what),
					 errdetail("A body may hold newlines and tabs; a subject is one line.")));
	}
	while (*p)
	{
		if (p[0] == '{' && p[1] == '{')
		{
			const char *end = ParsePlaceholder(p, name);

			if (end == NULL || *end == '}')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("malformed placeholder in the %s at byte %d", what, (int) (p - text) + 1),
						 errdetail("A placeholder is {{name}}: a lower-case letter, then lower-case letters, digits or underscores (at most %d), between {{ and }}.",
								   MAX_VAR_NAME)));
			if (!IsVariable(ev, name))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown variable \"%s\" in the %s for event %s", name, what,
								events[ev].event),
						 errdetail("The variables of %s are: %s.", events[ev].event, VariableList(ev))));
			p = end;
		}
		else if (p[0] == '}' && p[1] == '}')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("malformed placeholder in the %s at byte %d", what, (int) (p - text) + 1),
					 errdetail("\"}}\" closes a placeholder opened by \"{{\"; a single brace is plain text.")));
		else
			p++;
	}
}

/* append a value escaped for the channel */
static void
AppendValue(StringInfo out, const char *v, bool html)
{
	for (const char *c = v; *c; c++)
	{
		unsigned char u = (unsigned char) *c;

		if (u < 0x20 || u == 0x7f)
			appendStringInfoChar(out, ' ');
		else if (html && u == '&')
			appendStringInfoString(out, "&amp;");
		else if (html && u == '<')
			appendStringInfoString(out, "&lt;");
		else if (html && u == '>')
			appendStringInfoString(out, "&gt;");
		else if (html && u == '"')
			appendStringInfoString(out, "&quot;");
		else if (html && u == '\'')
			appendStringInfoString(out, "&#39;");
		else
			appendStringInfoChar(out, *c);
	}
}

/*
 * Render a checked template: names[i] has value values[i] (n of them; a
 * variable without a value renders empty).  html: the text is an email body.
 */
char *
AffTemplateRender(const char *text, const char *const *names, const char *const *values, int n,
				  bool html)
{
	StringInfoData out;
	const char *p = text;
	char		name[MAX_VAR_NAME + 1];

	initStringInfo(&out);
	while (*p)
	{
		if (p[0] == '{' && p[1] == '{')
		{
			const char *end = ParsePlaceholder(p, name);

			if (end == NULL)
				elog(ERROR, "pg_affiliate: a stored template has a malformed placeholder");
			for (int i = 0; i < n; i++)
				if (strcmp(names[i], name) == 0)
				{
					if (values[i])
						AppendValue(&out, values[i], html);
					break;
				}
			p = end;
		}
		else
			appendStringInfoChar(&out, *p++);
	}
	return out.data;
}
