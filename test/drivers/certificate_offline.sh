#!/usr/bin/env bash
# Offline verification of certificates (docs/keys.md): a small C program
# built here against libsodium -- not the extension's code -- checks the
# Ed25519 signature of certificate_text() with the public key from
# certificate_public_key(), as anyone holding the three values could:
#   - a certificate verifies with the key it names;
#   - after rotate_signing_key the old certificate still verifies with the
#     retired key, the new one with the new key, and neither with the other;
#   - an altered canonical text (another course title, another member, a
#     later time) and an altered signature do not verify;
#   - what the checker accepts and refuses agrees with verify_certificate().
# The values pass through base64, so the text's final newline and every byte
# reach the checker as the database produced them.
#
# Environment: PGHOST/PGPORT/PGUSER/PGDATABASE (a database with pg_affiliate
# installed, as test/run.sh provides); CC (default cc).
set -euo pipefail
cd "$(dirname "$0")/../.."

WORK=$(mktemp -d "${TMPDIR:-/tmp}/certificate_offline.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

FAILED=0
fail() { echo "FAIL $*"; FAILED=$((FAILED + 1)); }
pass() { echo "ok   $*"; }
# is GOT WANT LABEL
is() { if [ "$1" = "$2" ]; then pass "$3"; else fail "$3 (got: '$1', wanted '$2')"; fi; }

# ---- the checker: libsodium only -----------------------------------------
cat >"$WORK/ed25519_verify.c" <<'C'
/* ed25519_verify PUBLIC_KEY_B64 MESSAGE_B64 SIGNATURE_B64
 * exit 0: the signature is valid; 1: it is not; 2: bad input */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *
b64(const char *s, size_t *len)
{
	size_t		max = strlen(s) + 1;
	unsigned char *out = malloc(max);

	if (out == NULL || sodium_base642bin(out, max, s, strlen(s), "\n\r ", len, NULL,
										 sodium_base64_VARIANT_ORIGINAL) != 0)
	{
		fprintf(stderr, "not base64\n");
		exit(2);
	}
	return out;
}

int
main(int argc, char **argv)
{
	size_t		pk_len,
				msg_len,
				sig_len;
	unsigned char *pk,
			   *msg,
			   *sig;

	if (argc != 4 || sodium_init() < 0)
		return 2;
	pk = b64(argv[1], &pk_len);
	msg = b64(argv[2], &msg_len);
	sig = b64(argv[3], &sig_len);
	if (pk_len != crypto_sign_PUBLICKEYBYTES || sig_len != crypto_sign_BYTES)
		return 2;
	return crypto_sign_verify_detached(sig, msg, msg_len, pk) == 0 ? 0 : 1;
}
C
"${CC:-cc}" -O1 -Wall -Wextra -Werror -o "$WORK/ed25519_verify" "$WORK/ed25519_verify.c" -lsodium
CHECK="$WORK/ed25519_verify"

# offline VERDICT PK_B64 TEXT_B64 SIG_B64 LABEL -- VERDICT: valid | invalid
offline() {
    local want=$1 pk=$2 msg=$3 sig=$4 label=$5 rc=0
    "$CHECK" "$pk" "$msg" "$sig" || rc=$?
    case "$want:$rc" in
        valid:0|invalid:1) pass "$label: $want offline" ;;
        *) fail "$label: wanted $want, the checker exited $rc" ;;
    esac
}

# ---- a course, two members who complete it --------------------------------
P=$(q -c "SELECT affiliate.create_program('offline', 'INR')")
ANN=$(q -c "SELECT affiliate.add_member($P, 'ann@example.com')")
BEN=$(q -c "SELECT affiliate.add_member($P, 'ben, \"the seller\"')")
C=$(q -c "SELECT affiliate.create_course($P, E'Ünïcode & quotes \"ok\"', NULL, 0, true)")
M=$(q -c "SELECT affiliate.add_module($P, $C, 'Module', NULL, 0, true)")
T=$(q -c "SELECT affiliate.add_topic($P, $M, 'Topic', 'youtube', 'abcdefghijk', 10, NULL, 0, true)")
complete() {
    q -c "SELECT affiliate.enroll($P, $1, $C)" >/dev/null
    q -c "SELECT affiliate.record_progress($P, $1, $T, 10, true)" >/dev/null
    q -c "SELECT number FROM affiliate.certificate WHERE program_id = $P AND member_id = $1 AND course_id = $C"
}
N1=$(complete "$ANN")
is "${#N1}" 11 "ann's certificate $N1 issued"

# the three values, base64 (newlines removed)
text_b64() { q -c "SELECT translate(encode(convert_to(affiliate.certificate_text($P, '$1'), 'UTF8'), 'base64'), E'\n', '')"; }
sig_b64() { q -c "SELECT translate(encode(signature, 'base64'), E'\n', '') FROM affiliate.certificate WHERE program_id = $P AND number = '$1'"; }
key_of() { q -c "SELECT key_id FROM affiliate.verify_certificate($P, '$1')"; }
pk_b64() { q -c "SELECT public_key_base64 FROM affiliate.certificate_public_key($P) WHERE key_id = $1"; }

K1=$(key_of "$N1")
PK1=$(pk_b64 "$K1")
TXT1=$(text_b64 "$N1")
SIG1=$(sig_b64 "$N1")
offline valid "$PK1" "$TXT1" "$SIG1" "ann's certificate, key $K1"
is "$(q -c "SELECT affiliate.certificate_text($P, '$N1') LIKE E'%\nkey: $K1\n'")" t \
    "the canonical text names key $K1 and ends with a newline"

# altered texts and signatures
alter_text() {  # SQL expression over t (the canonical text) -> base64
    q -c "SELECT translate(encode(convert_to($1, 'UTF8'), 'base64'), E'\n', '')
            FROM (SELECT affiliate.certificate_text($P, '$N1') AS t) x"
}
offline invalid "$PK1" "$(alter_text "replace(t, 'course_title: Ü', 'course_title: U')")" "$SIG1" "another course title"
offline invalid "$PK1" "$(alter_text "replace(t, E'member: $ANN\n', E'member: $BEN\n')")" "$SIG1" "another member"
offline invalid "$PK1" "$(alter_text "regexp_replace(t, 'issued_at: \d{4}', 'issued_at: 1999')")" "$SIG1" "another year"
offline invalid "$PK1" "$(alter_text "rtrim(t, E'\n')")" "$SIG1" "the final newline dropped"
BADSIG=$(q -c "SELECT translate(encode(set_byte(signature, 10, get_byte(signature, 10) # 128), 'base64'), E'\n', '')
                 FROM affiliate.certificate WHERE program_id = $P AND number = '$N1'")
offline invalid "$PK1" "$TXT1" "$BADSIG" "an altered signature"

# ---- rotation -------------------------------------------------------------
K2=$(q -c "SELECT affiliate.rotate_signing_key($P)")
N2=$(complete "$BEN")
is "$(key_of "$N2")" "$K2" "ben's certificate $N2 is signed with the new key $K2"
PK2=$(pk_b64 "$K2")
TXT2=$(text_b64 "$N2")
SIG2=$(sig_b64 "$N2")
offline valid "$PK2" "$TXT2" "$SIG2" "ben's certificate, new key $K2"
offline valid "$(pk_b64 "$K1")" "$(text_b64 "$N1")" "$(sig_b64 "$N1")" "ann's certificate after the rotation, retired key $K1"
offline invalid "$PK2" "$TXT1" "$SIG1" "ann's certificate with the new key"
offline invalid "$PK1" "$TXT2" "$SIG2" "ben's certificate with the old key"
is "$(q -c "SELECT retired_at IS NOT NULL FROM affiliate.certificate_public_key($P) WHERE key_id = $K1")" t \
    "certificate_public_key lists key $K1 as retired"

# ---- the checker and verify_certificate agree on a tampered row ----------
q -c "UPDATE affiliate.certificate SET course_title = 'Forged' WHERE program_id = $P AND number = '$N2'"
offline invalid "$PK2" "$(text_b64 "$N2")" "$(sig_b64 "$N2")" "ben's certificate with a forged title in the row"
is "$(q -c "SELECT status FROM affiliate.verify_certificate($P, '$N2')")" invalid "verify_certificate says invalid too"
q -c "UPDATE affiliate.certificate SET course_title = (SELECT title FROM affiliate.course WHERE program_id = $P AND id = $C)
       WHERE program_id = $P AND number = '$N2'"
offline valid "$PK2" "$(text_b64 "$N2")" "$(sig_b64 "$N2")" "ben's certificate restored"
is "$(q -c "SELECT count(*) FROM affiliate.verify($P)")" 0 "verify() is empty"

if [ "$FAILED" -gt 0 ]; then
    echo "certificate_offline: $FAILED check(s) FAILED"
    exit 1
fi
echo "certificate_offline: passed"
