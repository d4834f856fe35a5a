/*
 * asan_initfirst.c — preloaded after libasan by scripts/memcheck.sh.
 *
 * 1. The server is not instrumented, so AddressSanitizer's runtime comes in
 *    by LD_PRELOAD and initialises in its own constructor.  The dynamic
 *    linker runs that constructor after those of the server's libraries,
 *    and one of them (libp11-kit, through GnuTLS and libldap) calls
 *    newlocale() in its constructor: the runtime then initialises from
 *    inside newlocale's lock and the process hangs in the next locale call
 *    (bindtextdomain in `postgres -V`, freelocale at psql's exit).  Linked
 *    with -z initfirst, this object's constructor runs before every other
 *    one and initialises the runtime first.
 *
 * 2. gcc's UBSan runtime (libubsan, loaded with the extension) is separate
 *    from libasan and initialises at its first report, in a backend.  It
 *    reads UBSAN_OPTIONS from /proc/self/environ, which a backend has
 *    overwritten with its process title, so the constructor keeps a copy
 *    taken in the postmaster and hands it over through the
 *    __ubsan_default_options() hook.  And libubsan's call that applies
 *    log_path binds to libasan's __sanitizer_set_report_path (libasan comes
 *    first), which leaves libubsan writing to stderr: the hook therefore
 *    also sets libubsan's own report path ($MEMCHECK_UBSAN_LOG_PATH), with
 *    the function looked up in libubsan itself.
 *
 * 3. Once the runtime is up the constructor creates the empty file
 *    $MEMCHECK_STARTED_DIR/started.<pid>, so that memcheck.sh can check
 *    that the postmaster really ran with it.
 *
 * Variables are read from the envp the dynamic linker passes to
 * constructors: this early, libc has not set environ yet.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

extern void __asan_init(void);
extern const char *__ubsan_default_options(void);

static char ubsan_options[4096];
static char ubsan_log_path[4096];

const char *
__ubsan_default_options(void)
{
	void	   *libubsan;

	/* libubsan asks while initialising; libasan may ask before it is loaded */
	libubsan = dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD);
	if (libubsan != NULL && ubsan_log_path[0] != '\0')
	{
		void		(*set_report_path) (const char *);

		*(void **) &set_report_path = dlsym(libubsan, "__sanitizer_set_report_path");
		if (set_report_path != NULL)
			set_report_path(ubsan_log_path);
	}
	return ubsan_options;
}

static const char *
env_value(char **envp, const char *name)
{
	size_t		len = strlen(name);

	for (char **e = envp; e != NULL && *e != NULL; e++)
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			return *e + len + 1;
	return NULL;
}

__attribute__((constructor)) static void
asan_init_first(int argc, char **argv, char **envp)
{
	const char *dir;
	const char *ubsan;

	(void) argc;
	(void) argv;
	__asan_init();

	ubsan = env_value(envp, "UBSAN_OPTIONS");
	if (ubsan != NULL && strlen(ubsan) < sizeof(ubsan_options))
		strcpy(ubsan_options, ubsan);
	ubsan = env_value(envp, "MEMCHECK_UBSAN_LOG_PATH");
	if (ubsan != NULL && strlen(ubsan) < sizeof(ubsan_log_path))
		strcpy(ubsan_log_path, ubsan);

	dir = env_value(envp, "MEMCHECK_STARTED_DIR");
	if (dir != NULL)
	{
		char		path[4096];
		int			fd;

		if (snprintf(path, sizeof(path), "%s/started.%ld", dir, (long) getpid()) < (int) sizeof(path))
		{
			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd >= 0)
				close(fd);
		}
	}
}
