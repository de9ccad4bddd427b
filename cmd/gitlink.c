/*
 * Link-time trims of libgit2 for a fast command start.
 *
 * mreg runs as one short process per command, so what libgit2 does before
 * our first call is paid every time. Linked statically (see the Makefile),
 * two parts of it are replaced through `ld --wrap`:
 *
 *  - git_mbedtls_stream_global_init, run by git_libgit2_init(), parses the
 *    whole system CA bundle (about 7 ms here) although no local registry
 *    operation opens a TLS connection. It is deferred: mreg_git_tls_init()
 *    runs the real one before anything that may talk HTTPS.
 *  - git_http_auth_negotiate (Kerberos/SPNEGO over HTTP) is the only user of
 *    libgssapi_krb5, whose six shared libraries cost about 2.5 ms to load.
 *    HTTP remotes that demand Negotiate authentication are refused with a
 *    message; basic auth, SSH and unauthenticated remotes are unaffected.
 *
 * The sanitizer build links libgit2 dynamically and does not use this file.
 */
#include "../fsstore/store.h"

#include <git2/errors.h>

int __real_git_mbedtls_stream_global_init(void);
int __wrap_git_mbedtls_stream_global_init(void);
int __wrap_git_http_auth_negotiate(void **out, const void *url);

static int tls_ready;

int __wrap_git_mbedtls_stream_global_init(void)
{
	return 0;
}

int mreg_git_tls_init(void)
{
	if (tls_ready)
		return 0;
	tls_ready = 1;
	return __real_git_mbedtls_stream_global_init();
}

int __wrap_git_http_auth_negotiate(void **out, const void *url)
{
	(void)url;
	*out = NULL;
	git_error_set_str(GIT_ERROR_NET, "mreg is built without Negotiate (Kerberos) HTTP authentication");
	return -1;
}
