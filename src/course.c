/*
 * course.c
 *	  Courses: course -> module -> topic with display order and a published
 *	  flag, enrollment, per-topic progress, assessments, a course's progress
 *	  and the completion rule the certificates use (AffCourseComplete).
 *
 *	 affiliate.create_course / add_module / add_topic / set_published
 *	                              admin steps, audited
 *	 affiliate.course_outline     the hierarchy as JSON in display order
 *	 affiliate.enroll             idempotent; the course must be published
 *	 affiliate.record_progress    watched seconds only grow, completion is sticky
 *	 affiliate.record_assessment  an attempt on a module with a pass mark
 *	 affiliate.course_progress    done / total / percent / assessments / completed
 *
 * record_progress and record_assessment first lock and update the member's
 * enrollment row (last_activity_at), so two calls of one member on one course
 * serialise: the second waits for the first to commit and then sees its
 * progress (READ COMMITTED takes a new snapshot per statement), or gets a
 * serialization failure (40001) under REPEATABLE READ instead of completing
 * on a stale view.  The certificate triggers (certificate.c) rely on this.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "pg_affiliate.h"

#define COURSE_MAX_TITLE 200
#define COURSE_MAX_DESCRIPTION 10000
#define COURSE_MAX_URL 2000		/* characters after http:// or https:// */
#define COURSE_MAX_CLOUDINARY 255

PG_FUNCTION_INFO_V1(create_course);
PG_FUNCTION_INFO_V1(add_module);
PG_FUNCTION_INFO_V1(add_topic);
PG_FUNCTION_INFO_V1(set_published);
PG_FUNCTION_INFO_V1(course_outline);
PG_FUNCTION_INFO_V1(enroll);
PG_FUNCTION_INFO_V1(record_progress);
PG_FUNCTION_INFO_V1(record_assessment);
PG_FUNCTION_INFO_V1(course_progress);

/* ---------- arguments ---------- */

static int32
ArgInt32(FunctionCallInfo fcinfo, int argno, const char *name)
{
	AffRequireArg(fcinfo, argno, name);
	return PG_GETARG_INT32(argno);
}

static bool
ArgBool(FunctionCallInfo fcinfo, int argno, const char *name)
{
	AffRequireArg(fcinfo, argno, name);
	return PG_GETARG_BOOL(argno);
}

/* a title: 1..200 bytes, not only spaces (22023); NULL: 22004 */
static char *
TitleArg(FunctionCallInfo fcinfo, int argno)
{
	char	   *title = AffTextArg(fcinfo, argno, "title", COURSE_MAX_TITLE, true);
	const char *c;

	for (c = title; *c != '\0'; c++)
		if (*c != ' ' && *c != '\t' && *c != '\n' && *c != '\r' && *c != '\v' && *c != '\f')
			return title;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid title"),
			 errdetail("A title must not be blank.")));
	return NULL;				/* not reached */
}

static Datum
TextOrNull(const char *s, char *null)
{
	*null = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* ---------- video references ---------- */

static void
BadVideoRef(const char *source, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid video_ref for video_source \"%s\"", source),
			 errdetail("%s", detail)));
}

/*
 * Whitespace or a control character at s (one character of the database
 * encoding); *len is set to its length in bytes.  Outside UTF-8 only ASCII
 * is judged.
 */
static bool
BadUrlChar(const unsigned char *s, int *len)
{
	pg_wchar	c;

	*len = pg_mblen((const char *) s);
	if (*len == 1 || GetDatabaseEncoding() != PG_UTF8)
		return *len == 1 && (s[0] <= 0x20 || s[0] == 0x7f);
	c = utf8_to_unicode(s);
	return (c >= 0x80 && c <= 0xa0) ||	/* C1 controls, no-break space */
		c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
		c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/*
 * video_ref as its source requires (22023 otherwise):
 *	 youtube     11 characters of [A-Za-z0-9_-]
 *	 vimeo       1 to 12 digits
 *	 cloudinary  a public id: 1 to 255 of [A-Za-z0-9_/.-], no "..", no leading "/"
 *	 url         http:// or https://, then 1 to 2000 characters without
 *	             whitespace or control characters
 */
static void
CheckVideo(const char *source, const char *ref)
{
	size_t		n = strlen(ref);
	size_t		i;

	if (strcmp(source, "youtube") == 0)
	{
		for (i = 0; n == 11 && i < n; i++)
			if (!((ref[i] >= 'A' && ref[i] <= 'Z') || (ref[i] >= 'a' && ref[i] <= 'z') ||
				  (ref[i] >= '0' && ref[i] <= '9') || ref[i] == '_' || ref[i] == '-'))
				break;
		if (n != 11 || i != n)
			BadVideoRef(source, "A YouTube video id is 11 characters: letters, digits, \"_\" or \"-\".");
	}
	else if (strcmp(source, "vimeo") == 0)
	{
		for (i = 0; i < n; i++)
			if (ref[i] < '0' || ref[i] > '9')
				break;
		if (n < 1 || n > 12 || i != n)
			BadVideoRef(source, "A Vimeo video id is 1 to 12 digits.");
	}
	else if (strcmp(source, "cloudinary") == 0)
	{
		for (i = 0; i < n; i++)
			if (!((ref[i] >= 'A' && ref[i] <= 'Z') || (ref[i] >= 'a' && ref[i] <= 'z') ||
				  (ref[i] >= '0' && ref[i] <= '9') || ref[i] == '_' || ref[i] == '/' ||
				  ref[i] == '.' || ref[i] == '-'))
				break;
		if (n < 1 || n > COURSE_MAX_CLOUDINARY || i != n || ref[0] == '/' ||
			strstr(ref, "..") != NULL)
			BadVideoRef(source, "A Cloudinary public id is 1 to 255 characters: letters, digits, \"_\", \"/\", \".\" or \"-\", with no \"..\" and no leading \"/\".");
	}
	else if (strcmp(source, "url") == 0)
	{
		const unsigned char *p;
		size_t		skip;
		int			chars = 0;
		int			len;

		if (strncmp(ref, "https://", 8) == 0)
			skip = 8;
		else if (strncmp(ref, "http://", 7) == 0)
			skip = 7;
		else
			BadVideoRef(source, "A video URL starts with http:// or https://.");
		for (p = (const unsigned char *) ref + skip; *p != '\0'; p += len, chars++)
			if (BadUrlChar(p, &len))
				BadVideoRef(source, "A video URL contains no whitespace or control characters.");
		if (chars < 1 || chars > COURSE_MAX_URL)
			BadVideoRef(source, "A video URL has 1 to 2000 characters after http:// or https://.");
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid video_source \"%s\"", source),
				 errhint("A video source is cloudinary, youtube, vimeo or url.")));
}

/* ---------- look-ups (inside SPI) ---------- */

static void
CourseMissing(int64 program_id, const char *kind, int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("%s " INT64_FORMAT " does not exist in program " INT64_FORMAT,
					kind, id, program_id)));
}

/*
 * Lock and update the member's enrollment row (last_activity_at): two calls
 * of one member on one course serialise here.  55000 when not enrolled.
 */
static void
TouchEnrollment(int64 program_id, int64 member_id, int64 course_id)
{
	static PlanSlot slot;

	AffExec(&slot,
			"UPDATE affiliate.enrollment SET last_activity_at = pg_catalog.now() "
			"WHERE program_id = $1 AND member_id = $2 AND course_id = $3",
			3, (Oid[]) {INT8OID, INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id), Int64GetDatum(course_id)},
			NULL, false, 0);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("member " INT64_FORMAT " is not enrolled in course " INT64_FORMAT,
						member_id, course_id),
				 errhint("Enroll the member with affiliate.enroll() first.")));
}

/* 55000: what is being studied (what, id) is in an unpublished kind */
static void
RefuseUnpublished(const char *kind, int64 unpublished_id, const char *what, int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s " INT64_FORMAT " is not published", kind, unpublished_id),
			 strcmp(what, kind) == 0 ?
			 errdetail("Progress and assessments are recorded only on published topics and modules of published courses.") :
			 errdetail("The %s " INT64_FORMAT " belongs to it; progress and assessments are recorded only on published topics and modules of published courses.",
					   what, id)));
}

/* ---------- the completion rule ---------- */

/*
 * A member's figures in a course, over the published topics of its published
 * modules: topics done and total, percent (2 places), assessments passed and
 * required (published modules with a pass mark; any passed attempt counts),
 * completed.  A course without a published topic is never complete.
 */
static const char *const progress_sql =
	"WITH t AS ("
	"  SELECT count(*)::integer AS total, count(p.completed_at)::integer AS done"
	"    FROM affiliate.course_module m"
	"    JOIN affiliate.topic t ON t.program_id = m.program_id AND t.module_id = m.id"
	"    LEFT JOIN affiliate.topic_progress p"
	"           ON p.program_id = t.program_id AND p.member_id = $2 AND p.topic_id = t.id"
	"   WHERE m.program_id = $1 AND m.course_id = $3 AND m.published AND t.published),"
	" a AS ("
	"  SELECT count(*)::integer AS required,"
	"         (count(*) FILTER (WHERE EXISTS ("
	"             SELECT 1 FROM affiliate.assessment s"
	"              WHERE s.program_id = m.program_id AND s.member_id = $2"
	"                AND s.module_id = m.id AND s.passed)))::integer AS passed"
	"    FROM affiliate.course_module m"
	"   WHERE m.program_id = $1 AND m.course_id = $3 AND m.published"
	"     AND m.pass_mark IS NOT NULL)"
	" SELECT t.done, t.total,"
	"        pg_catalog.round(CASE WHEN t.total = 0 THEN 0"
	"                              ELSE 100.0 * t.done / t.total END, 2),"
	"        a.passed, a.required,"
	"        t.total > 0 AND t.done = t.total AND a.passed = a.required"
	"   FROM t, a";

static void
ProgressFigures(int64 program_id, int64 member_id, int64 course_id, bool read_only)
{
	static PlanSlot slot;

	AffExec(&slot, progress_sql, 3, (Oid[]) {INT8OID, INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id), Int64GetDatum(course_id)},
			NULL, read_only, 1);
	if (SPI_processed != 1)
		elog(ERROR, "pg_affiliate: course progress returned " UINT64_FORMAT " rows", SPI_processed);
}

/*
 * Whether the member has completed the course (the rule of
 * affiliate.course_progress().completed).  Must be called inside SPI; for
 * the certificate triggers (certificate.c).
 */
bool
AffCourseComplete(int64 program_id, int64 member_id, int64 course_id)
{
	ProgressFigures(program_id, member_id, course_id, false);
	return AffGetBool(0, 6, NULL);
}

/* ---------- admin: structure ---------- */

/*
 * affiliate.create_course(program_id bigint, title text, description text
 *     DEFAULT NULL, display_order integer DEFAULT 0, published boolean
 *     DEFAULT false) RETURNS bigint
 */
Datum
create_course(PG_FUNCTION_ARGS)
{
	static PlanSlot ins,
				detail;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	char	   *title = TitleArg(fcinfo, 1);
	char	   *description = AffTextArg(fcinfo, 2, "description", COURSE_MAX_DESCRIPTION, false);
	int32		display_order = ArgInt32(fcinfo, 3, "display_order");
	bool		published = ArgBool(fcinfo, 4, "published");
	char		nulls[5] = "     ";
	Datum		values[5];
	int64		id;
	bool		isnull;

	AffRequireProgram(program_id, NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	values[0] = Int64GetDatum(program_id);
	values[1] = CStringGetTextDatum(title);
	values[2] = TextOrNull(description, &nulls[2]);
	values[3] = Int32GetDatum(display_order);
	values[4] = BoolGetDatum(published);
	AffExec(&ins,
			"INSERT INTO affiliate.course (program_id, title, description, display_order, published) "
			"VALUES ($1, $2, $3, $4, $5) RETURNING id",
			5, (Oid[]) {INT8OID, TEXTOID, TEXTOID, INT4OID, BOOLOID}, values, nulls, false, 1);
	id = AffGetInt64(0, 1, NULL);
	AffExec(&detail,
			"SELECT pg_catalog.jsonb_build_object('course_id', $1, 'title', $2::text, "
			"  'display_order', $3, 'published', $4)",
			4, (Oid[]) {INT8OID, TEXTOID, INT4OID, BOOLOID},
			(Datum[]) {Int64GetDatum(id), values[1], values[3], values[4]}, NULL, false, 1);
	AffAudit(program_id, "create_course",
			 DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * affiliate.add_module(program_id bigint, course_id bigint, title text,
 *     description text DEFAULT NULL, display_order integer DEFAULT 0,
 *     published boolean DEFAULT false, pass_mark integer DEFAULT NULL)
 *     RETURNS bigint
 */
Datum
add_module(PG_FUNCTION_ARGS)
{
	static PlanSlot course,
				ins,
				detail;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		course_id = AffArgInt64(fcinfo, 1, "course_id");
	char	   *title = TitleArg(fcinfo, 2);
	char	   *description = AffTextArg(fcinfo, 3, "description", COURSE_MAX_DESCRIPTION, false);
	int32		display_order = ArgInt32(fcinfo, 4, "display_order");
	bool		published = ArgBool(fcinfo, 5, "published");
	bool		has_pass_mark = !PG_ARGISNULL(6);
	int32		pass_mark = has_pass_mark ? PG_GETARG_INT32(6) : 0;
	char		nulls[7] = "       ";
	Datum		values[7];
	int64		id;
	bool		isnull;

	if (has_pass_mark && (pass_mark < 1 || pass_mark > 100))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pass_mark must be between 1 and 100"),
				 errdetail("The pass mark is a percentage of the maximum score; NULL means no assessment is required.")));

	AffRequireProgram(program_id, NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(course_id);
	AffExec(&course,
			"SELECT 1 FROM affiliate.course WHERE program_id = $1 AND id = $2",
			2, (Oid[]) {INT8OID, INT8OID}, values, NULL, false, 1);
	if (SPI_processed == 0)
		CourseMissing(program_id, "course", course_id);
	values[2] = CStringGetTextDatum(title);
	values[3] = TextOrNull(description, &nulls[3]);
	values[4] = Int32GetDatum(display_order);
	values[5] = BoolGetDatum(published);
	values[6] = Int32GetDatum(pass_mark);
	nulls[6] = has_pass_mark ? ' ' : 'n';
	AffExec(&ins,
			"INSERT INTO affiliate.course_module "
			"  (program_id, course_id, title, description, display_order, published, pass_mark) "
			"VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
			7, (Oid[]) {INT8OID, INT8OID, TEXTOID, TEXTOID, INT4OID, BOOLOID, INT4OID},
			values, nulls, false, 1);
	id = AffGetInt64(0, 1, NULL);
	AffExec(&detail,
			"SELECT pg_catalog.jsonb_build_object('course_id', $1, 'module_id', $2, 'title', $3::text, "
			"  'display_order', $4, 'published', $5, 'pass_mark', $6::integer)",
			6, (Oid[]) {INT8OID, INT8OID, TEXTOID, INT4OID, BOOLOID, INT4OID},
			(Datum[]) {values[1], Int64GetDatum(id), values[2], values[4], values[5], values[6]},
			has_pass_mark ? "      " : "     n", false, 1);
	AffAudit(program_id, "add_module",
			 DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * affiliate.add_topic(program_id bigint, module_id bigint, title text,
 *     video_source text, video_ref text, duration_seconds integer DEFAULT 0,
 *     description text DEFAULT NULL, display_order integer DEFAULT 0,
 *     published boolean DEFAULT false) RETURNS bigint
 */
Datum
add_topic(PG_FUNCTION_ARGS)
{
	static PlanSlot module,
				ins,
				detail;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		module_id = AffArgInt64(fcinfo, 1, "module_id");
	char	   *title = TitleArg(fcinfo, 2);
	char	   *source;
	char	   *ref;
	int32		duration;
	char	   *description;
	int32		display_order;
	bool		published;
	char		nulls[9] = "         ";
	Datum		values[9];
	int64		id;
	int64		course_id;
	bool		isnull;

	AffRequireArg(fcinfo, 3, "video_source");
	AffRequireArg(fcinfo, 4, "video_ref");
	source = text_to_cstring(PG_GETARG_TEXT_PP(3));
	ref = text_to_cstring(PG_GETARG_TEXT_PP(4));
	duration = ArgInt32(fcinfo, 5, "duration_seconds");
	description = AffTextArg(fcinfo, 6, "description", COURSE_MAX_DESCRIPTION, false);
	display_order = ArgInt32(fcinfo, 7, "display_order");
	published = ArgBool(fcinfo, 8, "published");
	CheckVideo(source, ref);
	if (duration < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("duration_seconds must not be negative")));

	AffRequireProgram(program_id, NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(module_id);
	AffExec(&module,
			"SELECT course_id FROM affiliate.course_module WHERE program_id = $1 AND id = $2",
			2, (Oid[]) {INT8OID, INT8OID}, values, NULL, false, 1);
	if (SPI_processed == 0)
		CourseMissing(program_id, "module", module_id);
	course_id = AffGetInt64(0, 1, NULL);
	values[2] = CStringGetTextDatum(title);
	values[3] = CStringGetTextDatum(source);
	values[4] = CStringGetTextDatum(ref);
	values[5] = Int32GetDatum(duration);
	values[6] = TextOrNull(description, &nulls[6]);
	values[7] = Int32GetDatum(display_order);
	values[8] = BoolGetDatum(published);
	AffExec(&ins,
			"INSERT INTO affiliate.topic (program_id, module_id, title, video_source, video_ref, "
			"  duration_seconds, description, display_order, published) "
			"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
			9, (Oid[]) {INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, INT4OID, BOOLOID},
			values, nulls, false, 1);
	id = AffGetInt64(0, 1, NULL);
	AffExec(&detail,
			"SELECT pg_catalog.jsonb_build_object('course_id', $1, 'module_id', $2, 'topic_id', $3, "
			"  'title', $4::text, 'video_source', $5::text, 'video_ref', $6::text, "
			"  'duration_seconds', $7, 'display_order', $8, 'published', $9)",
			9, (Oid[]) {INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT4OID, BOOLOID},
			(Datum[]) {Int64GetDatum(course_id), values[1], Int64GetDatum(id), values[2], values[3],
				values[4], values[5], values[7], values[8]}, NULL, false, 1);
	AffAudit(program_id, "add_topic",
			 DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * affiliate.set_published(program_id bigint, kind text, id bigint,
 *     published boolean) RETURNS void
 *
 * kind: course, module or topic.  Audited with the old and new flag (also
 * when they are equal: the admin acted).
 */
Datum
set_published(PG_FUNCTION_ARGS)
{
	static PlanSlot upd[3],
				detail;
	static const char *const sql[3] = {
		"UPDATE affiliate.course c SET published = $3 "
		"FROM (SELECT id, published FROM affiliate.course "
		"      WHERE program_id = $1 AND id = $2 FOR UPDATE) o "
		"WHERE c.program_id = $1 AND c.id = o.id RETURNING o.published",
		"UPDATE affiliate.course_module c SET published = $3 "
		"FROM (SELECT id, published FROM affiliate.course_module "
		"      WHERE program_id = $1 AND id = $2 FOR UPDATE) o "
		"WHERE c.program_id = $1 AND c.id = o.id RETURNING o.published",
		"UPDATE affiliate.topic c SET published = $3 "
		"FROM (SELECT id, published FROM affiliate.topic "
		"      WHERE program_id = $1 AND id = $2 FOR UPDATE) o "
		"WHERE c.program_id = $1 AND c.id = o.id RETURNING o.published",
	};
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	char	   *kind;
	int64		id;
	bool		published;
	int			k;
	bool		old;
	bool		isnull;
	Datum		values[3];

	AffRequireArg(fcinfo, 1, "kind");
	kind = text_to_cstring(PG_GETARG_TEXT_PP(1));
	id = AffArgInt64(fcinfo, 2, "id");
	published = ArgBool(fcinfo, 3, "published");
	if (strcmp(kind, "course") == 0)
		k = 0;
	else if (strcmp(kind, "module") == 0)
		k = 1;
	else if (strcmp(kind, "topic") == 0)
		k = 2;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid kind \"%s\"", kind),
				 errhint("The kind is course, module or topic.")));

	AffRequireProgram(program_id, NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(id);
	values[2] = BoolGetDatum(published);
	AffExec(&upd[k], sql[k], 3, (Oid[]) {INT8OID, INT8OID, BOOLOID}, values, NULL, false, 1);
	if (SPI_processed == 0)
		CourseMissing(program_id, kind, id);
	old = AffGetBool(0, 1, NULL);
	AffExec(&detail,
			"SELECT pg_catalog.jsonb_build_object('kind', $1::text, 'id', $2, "
			"  'old_published', $3, 'new_published', $4)",
			4, (Oid[]) {TEXTOID, INT8OID, BOOLOID, BOOLOID},
			(Datum[]) {CStringGetTextDatum(kind), values[1], BoolGetDatum(old), values[2]},
			NULL, false, 1);
	AffAudit(program_id, "set_published",
			 DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	SPI_finish();
	PG_RETURN_VOID();
}

/* ---------- reading ---------- */

/*
 * affiliate.course_outline(program_id bigint, course_id bigint,
 *     include_unpublished boolean DEFAULT false) RETURNS jsonb
 *
 * NULL for an unpublished course unless include_unpublished.
 */
Datum
course_outline(PG_FUNCTION_ARGS)
{
	static PlanSlot slot;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		course_id = AffArgInt64(fcinfo, 1, "course_id");
	bool		all = ArgBool(fcinfo, 2, "include_unpublished");
	bool		published;
	bool		isnull;
	Jsonb	   *result = NULL;

	AffRequireProgram(program_id, NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	AffExec(&slot,
			"SELECT c.published, pg_catalog.jsonb_build_object("
			"  'course_id', c.id, 'title', c.title, 'description', c.description,"
			"  'modules', coalesce((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
			"      'module_id', m.id, 'title', m.title, 'description', m.description,"
			"      'pass_mark', m.pass_mark,"
			"      'topics', coalesce((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
			"          'topic_id', t.id, 'title', t.title, 'description', t.description,"
			"          'duration_seconds', t.duration_seconds, 'video_source', t.video_source,"
			"          'video_ref', t.video_ref) ORDER BY t.display_order, t.id)"
			"        FROM affiliate.topic t"
			"       WHERE t.program_id = m.program_id AND t.module_id = m.id"
			"         AND (t.published OR $3)), '[]'::pg_catalog.jsonb))"
			"      ORDER BY m.display_order, m.id)"
			"    FROM affiliate.course_module m"
			"   WHERE m.program_id = c.program_id AND m.course_id = c.id"
			"     AND (m.published OR $3)), '[]'::pg_catalog.jsonb))"
			"  FROM affiliate.course c WHERE c.program_id = $1 AND c.id = $2",
			3, (Oid[]) {INT8OID, INT8OID, BOOLOID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(course_id), BoolGetDatum(all)},
			NULL, true, 1);
	if (SPI_processed == 0)
		CourseMissing(program_id, "course", course_id);
	published = AffGetBool(0, 1, NULL);
	/* copied out of the SPI context */
	if (published || all)
		result = DatumGetJsonbP(SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0],
																SPI_tuptable->tupdesc, 2, &isnull),
												  false, -1));
	SPI_finish();
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(result);
}

/* the member's certificate number for the course as a text Datum, or null */
static Datum
CertificateNumber(int64 program_id, int64 member_id, int64 course_id, bool *isnull)
{
	char	   *number = AffCertificateFor(program_id, member_id, course_id);

	*isnull = number == NULL;
	return number ? CStringGetTextDatum(number) : (Datum) 0;
}

/*
 * affiliate.course_progress(program_id bigint, member_id bigint, course_id
 *     bigint) RETURNS TABLE (topics_done integer, topics_total integer,
 *     percent numeric, assessments_passed integer, assessments_required
 *     integer, completed boolean, certificate_number text)
 */
Datum
course_progress(PG_FUNCTION_ARGS)
{
	static PlanSlot course;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		member_id = AffArgInt64(fcinfo, 1, "member_id");
	int64		course_id = AffArgInt64(fcinfo, 2, "course_id");
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, true};
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	AffRequireProgram(program_id, NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	WalletRequireMember(program_id, member_id, false, NULL);
	AffExec(&course, "SELECT 1 FROM affiliate.course WHERE program_id = $1 AND id = $2",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(course_id)}, NULL, true, 1);
	if (SPI_processed == 0)
		CourseMissing(program_id, "course", course_id);
	ProgressFigures(program_id, member_id, course_id, true);
	for (i = 0; i < 6; i++)
		values[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &nulls[i]);
	values[6] = CertificateNumber(program_id, member_id, course_id, &nulls[6]);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	SPI_finish();
	return (Datum) 0;
}

/* ---------- members ---------- */

/*
 * affiliate.enroll(program_id bigint, member_id bigint, course_id bigint)
 *     RETURNS boolean -- true when newly enrolled
 *
 * Enrolling again returns false and changes nothing (also after the course
 * was unpublished); a new enrollment needs a published course (55000).
 */
Datum
enroll(PG_FUNCTION_ARGS)
{
	static PlanSlot course,
				ins;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		member_id = AffArgInt64(fcinfo, 1, "member_id");
	int64		course_id = AffArgInt64(fcinfo, 2, "course_id");
	Datum		values[3];
	bool		inserted;

	AffRequireProgram(program_id, NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	WalletRequireMember(program_id, member_id, false, NULL);
	values[0] = Int64GetDatum(program_id);
	values[1] = Int64GetDatum(member_id);
	values[2] = Int64GetDatum(course_id);
	AffExec(&course,
			"SELECT c.published, EXISTS (SELECT 1 FROM affiliate.enrollment e "
			"  WHERE e.program_id = $1 AND e.member_id = $2 AND e.course_id = $3) "
			"FROM affiliate.course c WHERE c.program_id = $1 AND c.id = $3",
			3, (Oid[]) {INT8OID, INT8OID, INT8OID}, values, NULL, false, 1);
	if (SPI_processed == 0)
		CourseMissing(program_id, "course", course_id);
	if (AffGetBool(0, 2, NULL))
	{
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	if (!AffGetBool(0, 1, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("course " INT64_FORMAT " is not published", course_id),
				 errdetail("Members enroll only in published courses."),
				 errhint("Publish it with affiliate.set_published(program_id, 'course', id, true).")));
	AffExec(&ins,
			"INSERT INTO affiliate.enrollment (program_id, member_id, course_id) "
			"VALUES ($1, $2, $3) ON CONFLICT (program_id, member_id, course_id) DO NOTHING",
			3, (Oid[]) {INT8OID, INT8OID, INT8OID}, values, NULL, false, 0);
	inserted = SPI_processed > 0;
	SPI_finish();
	PG_RETURN_BOOL(inserted);
}

/*
 * affiliate.record_progress(program_id bigint, member_id bigint, topic_id
 *     bigint, watched_seconds integer, completed boolean DEFAULT false)
 *     RETURNS TABLE (watched_seconds integer, completed boolean,
 *     certificate_number text)
 *
 * Watched seconds only grow (the larger of stored and given) and completion
 * is sticky: a late, smaller report rewinds nothing.
 */
Datum
record_progress(PG_FUNCTION_ARGS)
{
	static PlanSlot topic,
				upsert;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		member_id = AffArgInt64(fcinfo, 1, "member_id");
	int64		topic_id = AffArgInt64(fcinfo, 2, "topic_id");
	int32		watched = ArgInt32(fcinfo, 3, "watched_seconds");
	bool		completed = ArgBool(fcinfo, 4, "completed");
	int64		course_id;
	int64		module_id;
	Datum		values[3];
	bool		nulls[3] = {false, false, true};

	if (watched < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("watched_seconds must not be negative")));

	InitMaterializedSRF(fcinfo, 0);
	AffRequireProgram(program_id, NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	WalletRequireMember(program_id, member_id, false, NULL);
	AffExec(&topic,
			"SELECT m.course_id, t.module_id FROM affiliate.topic t "
			"JOIN affiliate.course_module m ON m.program_id = t.program_id AND m.id = t.module_id "
			"WHERE t.program_id = $1 AND t.id = $2",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(topic_id)}, NULL, false, 1);
	if (SPI_processed == 0)
		CourseMissing(program_id, "topic", topic_id);
	course_id = AffGetInt64(0, 1, NULL);
	module_id = AffGetInt64(0, 2, NULL);

	/* first the enrollment lock, then the flags as they are now */
	TouchEnrollment(program_id, member_id, course_id);
	{
		static PlanSlot flags;

		AffExec(&flags,
				"SELECT t.published, m.published, c.published FROM affiliate.topic t "
				"JOIN affiliate.course_module m ON m.program_id = t.program_id AND m.id = t.module_id "
				"JOIN affiliate.course c ON c.program_id = m.program_id AND c.id = m.course_id "
				"WHERE t.program_id = $1 AND t.id = $2",
				2, (Oid[]) {INT8OID, INT8OID},
				(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(topic_id)}, NULL, false, 1);
		if (!AffGetBool(0, 1, NULL))
			RefuseUnpublished("topic", topic_id, "topic", topic_id);
		if (!AffGetBool(0, 2, NULL))
			RefuseUnpublished("module", module_id, "topic", topic_id);
		if (!AffGetBool(0, 3, NULL))
			RefuseUnpublished("course", course_id, "topic", topic_id);
	}

	AffExec(&upsert,
			"INSERT INTO affiliate.topic_progress AS p "
			"  (program_id, member_id, topic_id, course_id, watched_seconds, completed_at, updated_at) "
			"VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN pg_catalog.now() END, pg_catalog.now()) "
			"ON CONFLICT (program_id, member_id, topic_id) DO UPDATE "
			"  SET watched_seconds = GREATEST(p.watched_seconds, excluded.watched_seconds), "
			"      completed_at = coalesce(p.completed_at, excluded.completed_at), "
			"      updated_at = excluded.updated_at "
			"RETURNING watched_seconds, completed_at IS NOT NULL",
			6, (Oid[]) {INT8OID, INT8OID, INT8OID, INT8OID, INT4OID, BOOLOID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id), Int64GetDatum(topic_id),
				Int64GetDatum(course_id), Int32GetDatum(watched), BoolGetDatum(completed)},
			NULL, false, 1);
	values[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &nulls[0]);
	values[1] = BoolGetDatum(AffGetBool(0, 2, NULL));
	/* the trigger on topic_progress has issued it if this completed the course */
	values[2] = CertificateNumber(program_id, member_id, course_id, &nulls[2]);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	SPI_finish();
	return (Datum) 0;
}

/*
 * affiliate.record_assessment(program_id bigint, member_id bigint, module_id
 *     bigint, score integer, max_score integer)
 *     RETURNS TABLE (passed boolean, certificate_number text)
 *
 * passed = score * 100 >= pass_mark * max_score (64-bit).  Every attempt is
 * kept.
 */
Datum
record_assessment(PG_FUNCTION_ARGS)
{
	static PlanSlot module,
				ins;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		program_id = AffArgInt64(fcinfo, 0, "program_id");
	int64		member_id = AffArgInt64(fcinfo, 1, "member_id");
	int64		module_id = AffArgInt64(fcinfo, 2, "module_id");
	int32		score = ArgInt32(fcinfo, 3, "score");
	int32		max_score = ArgInt32(fcinfo, 4, "max_score");
	int64		course_id;
	bool		isnull;
	int32		pass_mark;
	bool		passed;
	Datum		values[2];
	bool		nulls[2] = {false, true};

	if (max_score <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_score must be positive")));
	if (score < 0 || score > max_score)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("score must be between 0 and max_score"),
				 errdetail("The score was %d, the maximum score %d.", score, max_score)));

	InitMaterializedSRF(fcinfo, 0);
	AffRequireProgram(program_id, NULL);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pg_affiliate: SPI_connect failed");
	WalletRequireMember(program_id, member_id, false, NULL);
	AffExec(&module,
			"SELECT course_id FROM affiliate.course_module WHERE program_id = $1 AND id = $2",
			2, (Oid[]) {INT8OID, INT8OID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(module_id)}, NULL, false, 1);
	if (SPI_processed == 0)
		CourseMissing(program_id, "module", module_id);
	course_id = AffGetInt64(0, 1, NULL);

	TouchEnrollment(program_id, member_id, course_id);
	{
		static PlanSlot flags;

		AffExec(&flags,
				"SELECT m.published, c.published, m.pass_mark FROM affiliate.course_module m "
				"JOIN affiliate.course c ON c.program_id = m.program_id AND c.id = m.course_id "
				"WHERE m.program_id = $1 AND m.id = $2",
				2, (Oid[]) {INT8OID, INT8OID},
				(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(module_id)}, NULL, false, 1);
		if (!AffGetBool(0, 1, NULL))
			RefuseUnpublished("module", module_id, "module", module_id);
		if (!AffGetBool(0, 2, NULL))
			RefuseUnpublished("course", course_id, "module", module_id);
		pass_mark = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("module " INT64_FORMAT " has no assessment", module_id),
					 errdetail("The module has no pass mark, so it requires no assessment."),
					 errhint("Give the module a pass mark when it is created (affiliate.add_module).")));
	}
	passed = (int64) score * 100 >= (int64) pass_mark * (int64) max_score;

	AffExec(&ins,
			"INSERT INTO affiliate.assessment (program_id, member_id, module_id, score, max_score, passed) "
			"VALUES ($1, $2, $3, $4, $5, $6)",
			6, (Oid[]) {INT8OID, INT8OID, INT8OID, INT4OID, INT4OID, BOOLOID},
			(Datum[]) {Int64GetDatum(program_id), Int64GetDatum(member_id), Int64GetDatum(module_id),
				Int32GetDatum(score), Int32GetDatum(max_score), BoolGetDatum(passed)},
			NULL, false, 0);
	values[0] = BoolGetDatum(passed);
	/* the trigger on assessment has issued it if this completed the course */
	values[1] = CertificateNumber(program_id, member_id, course_id, &nulls[1]);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	SPI_finish();
	return (Datum) 0;
}
