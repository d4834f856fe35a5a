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
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#ifndef HAVE_INT128
#error "pg_affiliate needs a compiler with 128-bit integers"
#endif

/* ---------- GUCs (pg_affiliate.c) ---------- */
extern int	affiliate_checkpoint_interval;
extern int	affiliate_trusted_proxies;
extern bool affiliate_outbox_notify;
extern char *affiliate_root_key_file;

/* ---------- SPI helpers (spi_util.c) ---------- */

/*
 * Plans are prepared once per backend and kept (SPI_keepplan).  Each call
 * site owns one static PlanSlot; the first call prepares, later calls reuse.
 * A kept plan is generic; it is prepared again after 100, 400, 1600, ...
 * executions (then every 100 000), so a plan made while a table was still
 * empty does not outlive the table's growth.
 */
typedef struct PlanSlot
{
	SPIPlanPtr	plan;
	uint64		uses;			/* executions since prepared */
	uint64		replan_at;		/* prepare again at this many uses */
} PlanSlot;

extern SPIPlanPtr AffPlan(PlanSlot *slot, const char *sql, int nargs, const Oid *argtypes);
extern int	AffExec(PlanSlot *slot, const char *sql, int nargs, const Oid *argtypes,
					Datum *values, const char *nulls, bool read_only, long count);
extern int64 AffGetInt64(int row, int col, bool *isnull);
extern char *AffGetText(int row, int col);
extern bool AffGetBool(int row, int col, bool *isnull);

/* 22004 when a SQL argument is NULL */
extern void AffRequireArg(FunctionCallInfo fcinfo, int argno, const char *name);
extern int64 AffArgInt64(FunctionCallInfo fcinfo, int argno, const char *name);
extern void AffSpiConnect(void);
/* a text argument of 1..maxlen bytes (22023); NULL: 22004 if required, else NULL */
extern char *AffTextArg(FunctionCallInfo fcinfo, int argno, const char *name, int maxlen,
						bool required);
/* jsonb from JSON text */
extern Jsonb *AffJsonbOf(StringInfo s);

/* identity of the caller, for audit rows */
/* the longest JWT "sub" claim taken as a member's external id or an actor */
#define AFF_MAX_SUB 200
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

/*
 * Intervals of settings and plans are at most this long, and an order's time
 * lies within this many years of now: so a time plus any interval the
 * engines add to it stays far inside timestamptz's range.
 */
#define AFF_MAX_YEARS 100
extern bool AffIntervalTooLong(const Interval *iv);
extern bool AffIntervalOutOfRange(const Interval *iv, bool allow_zero);
extern void AffCheckOccurredAt(TimestampTz at, int batch_index);
extern void AffCheckTimeWithinYears(TimestampTz at, const char *name);

typedef enum AffAttribution
{
	AFF_ATTR_SPONSOR,
	AFF_ATTR_FIRST_CLICK,
	AFF_ATTR_LAST_CLICK
} AffAttribution;

/* a program's settings, typed, as the engines read them */
typedef struct AffProgram
{
	int64		id;
	char	   *currency;
	Interval	hold_period;
	int64		min_withdrawal;
	int64		rounding_unit;
	int			rounding;		/* AffRounding */
	AffAttribution attribution;
	Interval	attribution_window;
	bool		clawback_negative;	/* clawback policy: negative (true) or write_off */
} AffProgram;

/* load a program's settings (P0002 when it does not exist) */
extern void AffLoadProgram(int64 program_id, AffProgram *p);

/* ---------- keyed hashes of personal data (secret.c) ---------- */

/*
 * Keyed BLAKE2b-256 of (domain, value) under the program's key (created on
 * first use).  Must be called inside an SPI connection.
 */
extern bytea *AffKeyedHash(int64 program_id, const char *domain, const char *value);

/*
 * Sealing secrets under the root key (secret.c): crypto_secretbox of
 * (program id, secret) under the crypto_kdf subkey of one purpose, stored as
 * nonce || MAC || ciphertext beside the root key's fingerprint.
 */
#define AFF_SEAL_HASH_KEY		2	/* subkey id: program hash keys */
#define AFF_SEAL_SIGNING_KEY	3	/* subkey id: certificate signing keys */
#define AFF_SECRET_MAX_BYTES	64	/* the longest secret sealed */
#define AFF_SEALED_BYTES(len)	(24 + 16 + 8 + (len))

/* pg_affiliate.root_key_file is set (whether or not the key was loaded) */
extern bool AffRootKeyConfigured(void);
/* 55000 unless the root key is loaded; what: what needs it (a sentence's subject) */
extern void AffRequireRootKey(const char *what);
/* the loaded root key's fingerprint as a bytea */
extern bytea *AffRootKeyIdBytea(void);
/* seal len bytes bound to program_id (wipes the guarded buffer) */
extern bytea *AffSealSecret(uint64 subkey_id, const char *what, int64 program_id,
							const unsigned char *secret, size_t len);
/* open a sealed secret into the guarded buffer, returned */
extern unsigned char *AffOpenSecret(uint64 subkey_id, const char *what, int64 program_id,
									bytea *sealed, bytea *root_key_id, size_t len);
/* the guarded buffer (AFF_SECRET_MAX_BYTES, sodium_malloc) and its wipe */
extern unsigned char *AffSecretBuffer(void);
extern void AffSecretWipe(void);

/* ---------- the root key (rootkey.c) ---------- */

/* bytes of a root key's fingerprint, stored with what it sealed */
#define AFF_ROOT_KEY_ID_BYTES 8

/* read the key file at server start (FATAL when unusable) */
extern void AffRootKeyLoad(const char *path);
extern bool AffRootKeyLoaded(void);
/* the loaded key's fingerprint, or NULL */
extern const unsigned char *AffRootKeyId(void);
/* a fingerprint as 16 hex digits (palloc'd) */
extern char *AffRootKeyIdHex(const unsigned char *id);
/* derive subkey subkey_id (crypto_kdf, context "pgaffkey") into out */
extern void AffRootKeyDerive(uint64 subkey_id, unsigned char *out, size_t len);

/* ---------- certificates (certificate.c) ---------- */

/* the number of the member's certificate for the course, or NULL; inside SPI */
extern char *AffCertificateFor(int64 program_id, int64 member_id, int64 course_id);
/* issue it unless it exists (no completion check); returns the number; inside SPI */
extern char *AffIssueCertificate(int64 program_id, int64 member_id, int64 course_id);
/* seal the signing keys stored in clear (seal_secrets); inside SPI */
extern int64 AffSealSigningKeys(void);

/* ---------- per-backend settings cache (settings_cache.c) ---------- */

typedef enum AffCacheKind
{
	AFF_CACHE_PROGRAM,			/* AffProgram */
	AFF_CACHE_PLANS,			/* the program's commission plans (commission.c) */
	AFF_CACHE_KINDS
} AffCacheKind;

extern void AffCacheInit(void);
extern MemoryContext AffCacheContext(void);
/* the cached value, or NULL; copy it before any SPI call or cache store */
extern void *AffCacheGet(AffCacheKind kind, int64 program_id);
/* remember a value allocated in AffCacheContext() */
extern void AffCachePut(AffCacheKind kind, int64 program_id, void *value);

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
	bool		lock_credit;	/* apply under the row lock, not as a delta:
								 * for accounts only their owner's own steps
								 * write (never a hot account) */
	bool		debit_covered;	/* a debit the caller has proven covered
								 * under its own locks (pending commissions
								 * it holds FOR UPDATE): appended as a delta,
								 * no balance row lock */
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

/*
 * The largest amount one leg may move, in minor units (10^15: ten trillion
 * rupees in paise).  Credits are appended without a lock on the balance, so
 * the bound is what keeps folded balances far from the bigint limit.
 */
#define LEDGER_MAX_AMOUNT INT64CONST(1000000000000000)

/* lock an account, fold it and return its balance (lock in id order) */
extern int64 LedgerLockedBalance(int64 program_id, int64 account_id);

/* write a locked account row unchanged (conflicts with later RR lockers) */
extern void LedgerTouchAccount(int64 program_id, int64 account_id);

/* find or create an account; returns its id */
extern int64 LedgerAccount(int64 program_id, bool is_system, int64 member_id,
						   const char *kind, const char *asset,
						   int allow_negative /* -1: default for the kind */ ,
						   bool *allow_negative_out, char **asset_out);

/* ---------- wallets (wallet.c) ---------- */

/* a member's spendable funds, read under the lock of their available account */
typedef struct WalletFunds
{
	int64		available_account;
	int64		available;
	int64		owed;			/* <= 0: clawbacks the member could not cover */
} WalletFunds;

extern bool WalletRequireMember(int64 program_id, int64 member_id, bool spend,
								const char *hint);
extern void WalletLockFunds(int64 program_id, int64 member_id, const char *asset,
							WalletFunds *f);
extern int	WalletSpendLegs(const WalletFunds *f, int64 member_id, const char *asset,
							int64 amount, const char *what, LedgerLeg *legs, int64 *debt_out);

/* ---------- courses (course.c) ---------- */

/*
 * Whether a member has completed a course: every published topic of its
 * published modules completed (at least one), and every published module
 * with a pass mark passed.  The rule of affiliate.course_progress().completed.
 * Inside SPI.
 */
extern bool AffCourseComplete(int64 program_id, int64 member_id, int64 course_id);

/* ---------- loyalty tiers (tier.c) ---------- */

/* a member's earning multiplier in basis points (10000 without a tier); inside SPI */
extern int64 TierMultiplierBp(int64 program_id, int64 member_id);
/* upgrade the member at once if they crossed a tier threshold; inside SPI */
extern void TierUpgradeNow(int64 program_id, int64 member_id);

/* ---------- referral codes (refcode.c) ---------- */

/*
 * A refcode is 8 bytes: the top 4 bits hold the number of data digits
 * (1..12), the low 60 bits the value (< 32^digits).  Text form: the data
 * digits in Crockford base32 followed by one check character.
 */
#define REFCODE_MAX_DIGITS 12

/*
 * Parse the text form.  Returns false (and a full-sentence reason in
 * *detail, palloc'd) when the text is not a valid code; never throws for bad
 * input.
 */
extern bool AffRefcodeParse(const char *str, int64 *code, char **detail);
extern char *AffRefcodeFormat(int64 code);
/* a random code with ndigits data digits from libsodium's CSPRNG */
extern int64 AffRefcodeRandom(int ndigits);

/* ---------- exact splitting (money.c) ---------- */

typedef enum AffRounding
{
	AFF_ROUND_HALF_UP,
	AFF_ROUND_HALF_EVEN,
	AFF_ROUND_DOWN
} AffRounding;

/* 'half_up' | 'half_even' | 'down'; raises 22023 for anything else */
extern AffRounding AffParseRounding(const char *name);

/*
 * Split base (>= 0) by rates in basis points (each 0..10000, sum <= 10000)
 * into shares rounded to multiples of unit (>= 1) by the rounding mode
 * (DESIGN 4.1).  Shares never sum above base.  Raises 22023 on bad input,
 * 22003 on overflow.
 */
extern void AffSplit(int64 base, const int32 *rates_bp, int n, int64 unit,
					 AffRounding mode, int64 *shares);

/* round num/den (num >= 0, den > 0) to a multiple of unit; 22003 on overflow */
extern int64 AffRoundDiv(int128 num, int128 den, int64 unit, AffRounding mode);

/* ---------- loyalty points (loyalty.c), used by rewards (reward.c) ---------- */

/*
 * Take up to want points from the member's lots, soonest-expiring first;
 * first_lot (> 0) is taken before all others whatever its state.  Only lots
 * usable now count unless with_pending; expired lots never (but first_lot).
 * Returns what was taken.  The caller holds the member's loyalty_points
 * account lock.  Inside SPI.
 */
extern int64 ConsumeLots(int64 program_id, int64 member_id, int64 want,
						 bool with_pending, int64 first_lot);

/*
 * Post points between the member's loyalty_points account and the system
 * account system_kind (asset POINTS): amount > 0 credits the member.
 * Returns the journal id.  Inside SPI.
 */
extern int64 PostPoints(int64 program_id, int64 member_id, const char *journal_kind,
						const char *system_kind, int64 amount, const char *key,
						StringInfo memo);

/* P0002 unless the member exists in the program (member.c); inside SPI */
extern void AffRequireMember(int64 program_id, int64 member_id, bool lock, const char *role);

/* ---------- notifications (template.c, notify.c) ---------- */

/* the events of notifications (template.c keeps their names and variables) */
typedef enum AffEvent
{
	AFF_EV_COMMISSION_EARNED,
	AFF_EV_COMMISSION_RELEASED,
	AFF_EV_REFERRAL_JOINED,
	AFF_EV_PAYOUT_APPROVED,
	AFF_EV_PAYOUT_PAID,
	AFF_EV_PAYOUT_REJECTED,
	AFF_EV_TIER_CHANGED,
	AFF_EV_BADGE_EARNED,
	AFF_EV_CERTIFICATE_ISSUED,
	AFF_EV_POINTS_EXPIRING,
	AFF_EV_BIRTHDAY,
	AFF_EVENT_COUNT
} AffEvent;

extern int	AffEventIndex(const char *event);	/* -1 when unknown */
extern const char *AffEventName(int ev);
extern bool AffChannelValid(const char *channel);
/* 22023 for control characters, a malformed placeholder or an unknown variable */
extern void AffTemplateCheck(int ev, const char *text, const char *what, bool multiline);
extern char *AffTemplateRender(const char *text, const char *const *names,
							   const char *const *values, int n, bool html);

/*
 * Render every template of the event for the program into outbox rows for
 * the member, in the caller's transaction, with NOTIFY affiliate_outbox.
 * vars: a jsonb object of the event's variables (scalars; the member's name,
 * external id and the program's name are added).  No template: nothing.
 * Inside or outside SPI; SPI_tuptable and SPI_processed are kept.
 */
extern void AffNotify(int64 program_id, int64 member_id, const char *event, Jsonb *vars);

/* the engines' hooks: one call each, cheap when the program has no template */
/* commission rows (columns program_id and id) just written or released */
extern void AffNotifyCommissionRows(SPITupleTable *tt, uint64 n, AffEvent ev);
extern void AffNotifyReferralJoined(int64 program_id, int64 member_id);
/* a withdrawal that reached status to (approved, paid, rejected; others: nothing) */
extern void AffNotifyWithdrawal(int64 program_id, int64 withdrawal_id, const char *to);
extern void AffNotifyTierChange(int64 program_id, int64 member_id, int64 from_tier, int64 to_tier,
								const char *reason);
extern void AffNotifyCertificate(int64 program_id, const char *number);
/* badges just awarded: rows (member_id, rule_id) of program_id */
extern void AffNotifyBadges(int64 program_id, SPITupleTable *tt, uint64 n);
/* ---------- fraud rules and flags (fraud.c) ---------- */

/* the schema has the fraud tables and settings (0.6.0 and later) */
extern bool FraudSchemaReady(void);
/* the event rules, each in the event's transaction; inside SPI */
extern void FraudOnJoin(int64 program_id, int64 member_id, bool has_identity);
extern void FraudOnConversion(int64 program_id, Datum conversions, Datum beneficiaries);
extern void FraudOnWithdrawal(int64 program_id, int64 withdrawal_id);
/* 55000 naming the flag when the member has an open fraud flag; inside SPI */
extern void FraudRequireNoOpenFlag(int64 program_id, int64 member_id, const char *what);
/* ---------- promo campaigns (campaign.c), used by conversions (commission.c) ---------- */

/* the campaign of a promo code and its owner (0: none); P0002 if unknown; inside SPI */
extern void AffPromoResolve(int64 program_id, const char *code, int64 *campaign_id,
							int64 *owner_id);
/* link a new conversion to its campaign (referrer_id != 0: its referrer), or
 * check a replayed one carries the same campaign (23505); inside SPI */
extern void AffPromoRecord(int64 program_id, int64 conversion_id, bool is_new,
						   int64 campaign_id, int64 referrer_id, const char *ref);

/* the personal promo code of a birthday (the program's birthday campaign),
 * or NULL: no birthday campaign, or it is paused, completed or past its end;
 * inside SPI (notify.c) */
extern char *AffBirthdayPromoCode(int64 program_id, int64 member_id, int64 child_id, int year);

/* ---------- badges, leaderboards, event points (gamification.c) ---------- */

/*
 * The hooks of the engines, each called once per event in the event's
 * transaction, inside SPI.  An event adds delta to the member's metric
 * (referrals, earnings, points, courses, counter:<name>) in the leaderboard
 * periods of at, and a positive delta awards the badges it crossed.
 */
extern void AffGamifyEvent(int64 program_id, int64 member_id, const char *metric,
						   int64 delta, TimestampTz at);
extern void AffGamifySignup(int64 program_id, int64 member_id);
extern void AffGamifyConversions(int64 program_id, const int64 *conversion_ids, int n);
extern void AffGamifyRefund(int64 program_id, int64 conversion_id, Datum commission_ids,
							Datum deltas);
extern void AffGamifyBillRefund(int64 program_id, int64 bill_id, int64 due);
extern void AffGamifyCourseCompleted(int64 program_id, int64 member_id, int64 course_id);
/* the points of a points_rule event as a lot with source_ref ref (0: none) */
extern int64 AffAwardEventPoints(int64 program_id, int64 member_id, const char *event,
								 const char *ref);

#endif							/* PG_AFFILIATE_H */
