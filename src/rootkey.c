/*
 * rootkey.c
 *	  The root key: read once, at server start, from the file named by
 *	  pg_affiliate.root_key_file, and kept in guarded memory.
 *
 * The postmaster reads the file while it loads shared_preload_libraries
 * (pgsodium's model): 64 hexadecimal digits, a 32-byte key.  The key goes
 * straight into sodium_malloc memory (guard pages, excluded from core dumps,
 * locked while used) that is PROT_NONE between uses and read-only while a
 * subkey is derived from it; the bytes read from the file are wiped.
 * Backends inherit the key through fork(); no SQL function ever returns it.
 * Everything that needs a key derives its own subkey with crypto_kdf
 * (context "pgaffkey", one fixed subkey id per purpose), so the root key
 * itself never encrypts anything.
 *
 * A file that cannot be read, is malformed, or is open to other users stops
 * the server from starting (FATAL): a server that silently started without
 * its root key would store new secret keys in clear.
 */
#include "postgres.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "miscadmin.h"

#include "pg_affiliate.h"

/* the crypto_kdf context of every subkey of the root key (8 bytes) */
#define ROOT_KEY_CONTEXT "pgaffkey"
/* subkey id of the root key's public fingerprint (its "key id") */
#define ROOT_KEY_ID_SUBKEY 1

#define ROOT_KEY_BYTES crypto_kdf_KEYBYTES
#define ROOT_KEY_HEX (2 * ROOT_KEY_BYTES)
/* a key file is 64 hex digits, perhaps with white space around them */
#define ROOT_KEY_FILE_MAX 256

StaticAssertDecl(ROOT_KEY_BYTES == 32, "the root key is 32 bytes");
StaticAssertDecl(sizeof(ROOT_KEY_CONTEXT) - 1 == crypto_kdf_CONTEXTBYTES,
				 "the crypto_kdf context is 8 bytes");

/* sodium_malloc memory, PROT_NONE between uses; NULL: no root key */
static unsigned char *root_key = NULL;
/* the fingerprint of the loaded key: not secret, derived with crypto_kdf */
static unsigned char loaded_key_id[AFF_ROOT_KEY_ID_BYTES];
/* the process that last mlock()ed the key (locks are not inherited by fork) */
static pid_t root_key_locked_by = 0;

static bool
IsSpace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Read the root key from path.  Called from _PG_init while the postmaster
 * loads shared_preload_libraries; every refusal is FATAL, which stops the
 * server from starting.
 */
void
AffRootKeyLoad(const char *path)
{
	char		buf[ROOT_KEY_FILE_MAX + 1];
	size_t		len = 0;
	size_t		start,
				end;
	size_t		bin_len = 0;
	const char *hex_end = NULL;
	struct stat st;
	int			fd;
	int			save_errno;
	int			rc;
	unsigned char fingerprint[crypto_kdf_BYTES_MIN];

	Assert(root_key == NULL);

	fd = open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not open root key file \"%s\": %m", path),
				 errhint("pg_affiliate.root_key_file names a file readable by the server's operating system user "
						 "(a relative path is taken from the data directory).")));
	if (fstat(fd, &st) != 0)
	{
		save_errno = errno;
		close(fd);
		errno = save_errno;
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not stat root key file \"%s\": %m", path)));
	}
	if (!S_ISREG(st.st_mode))
	{
		close(fd);
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("root key file \"%s\" is not a regular file", path)));
	}
	/* the rules PostgreSQL applies to ssl_key_file */
	if (st.st_uid != geteuid() && st.st_uid != 0)
	{
		close(fd);
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("root key file \"%s\" must be owned by the database user or root", path)));
	}
	if ((st.st_uid == geteuid() && (st.st_mode & (S_IRWXG | S_IRWXO))) ||
		(st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO))))
	{
		close(fd);
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("root key file \"%s\" has group or world access", path),
				 errdetail("The file must have permissions u=rw (0600) or less if owned by the database user, "
						   "or permissions u=rw,g=r (0640) or less if owned by root.")));
	}

	/* read at most one byte more than a well-formed file can hold */
	for (int i = 0; i < 64 && len < sizeof(buf); i++)
	{
		ssize_t		n = read(fd, buf + len, sizeof(buf) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			save_errno = errno;
			sodium_memzero(buf, sizeof(buf));
			close(fd);
			errno = save_errno;
			ereport(FATAL,
					(errcode_for_file_access(),
					 errmsg("could not read root key file \"%s\": %m", path)));
		}
		if (n == 0)
			break;
		len += (size_t) n;
	}
	close(fd);

	start = 0;
	while (start < len && IsSpace(buf[start]))
		start++;
	end = len;
	while (end > start && IsSpace(buf[end - 1]))
		end--;

	root_key = sodium_malloc(ROOT_KEY_BYTES);
	if (root_key == NULL)
	{
		sodium_memzero(buf, sizeof(buf));
		ereport(FATAL,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of secure memory for the root key")));
	}
	rc = (len > ROOT_KEY_FILE_MAX || end - start != ROOT_KEY_HEX) ? -1 :
		sodium_hex2bin(root_key, ROOT_KEY_BYTES, buf + start, end - start,
					   NULL, &bin_len, &hex_end);
	sodium_memzero(buf, sizeof(buf));
	if (rc != 0 || bin_len != ROOT_KEY_BYTES || hex_end != buf + end)
	{
		sodium_free(root_key);
		root_key = NULL;
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("root key file \"%s\" is malformed", path),
				 errdetail("The file must hold exactly %d hexadecimal digits (a %d-byte key), "
						   "optionally followed by a newline.", ROOT_KEY_HEX, ROOT_KEY_BYTES),
				 errhint("Create one with: umask 077; head -c %d /dev/urandom | od -An -tx1 -v | tr -d ' \\n' > FILE",
						 ROOT_KEY_BYTES)));
	}
	if (sodium_is_zero(root_key, ROOT_KEY_BYTES))
	{
		sodium_free(root_key);
		root_key = NULL;
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("root key file \"%s\" holds an all-zero key", path),
				 errdetail("A root key must come from a random source.")));
	}

	if (crypto_kdf_derive_from_key(fingerprint, sizeof(fingerprint), ROOT_KEY_ID_SUBKEY,
								   ROOT_KEY_CONTEXT, root_key) != 0)
		ereport(FATAL,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not derive the fingerprint of the root key")));
	memcpy(loaded_key_id, fingerprint, AFF_ROOT_KEY_ID_BYTES);
	sodium_memzero(fingerprint, sizeof(fingerprint));

	if (sodium_mprotect_noaccess(root_key) != 0)
		ereport(FATAL,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not protect the memory of the root key: %m")));
	root_key_locked_by = getpid();

	ereport(LOG,
			(errmsg("pg_affiliate: root key %s loaded from \"%s\"",
					AffRootKeyIdHex(loaded_key_id), path)));
}

bool
AffRootKeyLoaded(void)
{
	return root_key != NULL;
}

/* the loaded key's fingerprint (AFF_ROOT_KEY_ID_BYTES); NULL without a key */
const unsigned char *
AffRootKeyId(void)
{
	return root_key != NULL ? loaded_key_id : NULL;
}

/* a key id as 16 lower-case hex digits, palloc'd */
char *
AffRootKeyIdHex(const unsigned char *id)
{
	char	   *hex = palloc(2 * AFF_ROOT_KEY_ID_BYTES + 1);

	sodium_bin2hex(hex, 2 * AFF_ROOT_KEY_ID_BYTES + 1, id, AFF_ROOT_KEY_ID_BYTES);
	return hex;
}

/*
 * Derive the subkey subkey_id (len bytes, 16..64) of the root key into out,
 * which should be guarded memory the caller wipes.  The root key is readable
 * only for the derivation.  The caller checks AffRootKeyLoaded() first.
 */
void
AffRootKeyDerive(uint64 subkey_id, unsigned char *out, size_t len)
{
	int			rc;

	if (root_key == NULL)
		elog(ERROR, "pg_affiliate: no root key is loaded");
	Assert(subkey_id != ROOT_KEY_ID_SUBKEY);
	if (sodium_mprotect_readonly(root_key) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not unprotect the memory of the root key: %m")));
	if (root_key_locked_by != getpid())
	{
		/* keep it out of swap in this backend too (best effort, as sodium_malloc) */
		(void) sodium_mlock(root_key, ROOT_KEY_BYTES);
		root_key_locked_by = getpid();
	}
	rc = crypto_kdf_derive_from_key(out, len, subkey_id, ROOT_KEY_CONTEXT, root_key);
	if (sodium_mprotect_noaccess(root_key) != 0)
	{
		sodium_memzero(out, len);
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not protect the memory of the root key: %m")));
	}
	if (rc != 0)
	{
		sodium_memzero(out, len);
		elog(ERROR, "pg_affiliate: crypto_kdf_derive_from_key failed");
	}
}
