/*
 * Link-time trims of libgit2 for a fast command start.
 *
 * mreg runs as one short process per command, so what libgit2 does before
 * our first call is paid every time. Linked statically (see the Makefile),
 * two parts of it are replaced through `ld --wrap`:
 *
 *  - git_mbedtls_stream_global_init, run by git_libgit2_init(), parses the
 *    whole system CA bundle (about 7 ms here), and git_transport_ssh_global_init
 *    starts libssh2 and with it OpenSSL's configuration (about 1 ms), although
 *    no local registry operation opens a connection. Both are deferred:
 *    mreg_git_net_init() runs the real ones before anything that may talk to
 *    a remote over HTTPS or SSH.
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
int __real_git_transport_ssh_global_init(void);
int __wrap_git_transport_ssh_global_init(void);
int __wrap_git_http_auth_negotiate(void **out, const void *url);

static int net_ready;

int __wrap_git_mbedtls_stream_global_init(void)
{
	return 0;
}

int __wrap_git_transport_ssh_global_init(void)
{
	return 0;
}

int mreg_git_net_init(void)
{
	if (net_ready)
		return 0;
	net_ready = 1;
	if (__real_git_mbedtls_stream_global_init() < 0)
		return -1;
	return __real_git_transport_ssh_global_init();
}

int __wrap_git_http_auth_negotiate(void **out, const void *url)
{
	(void)url;
	*out = NULL;
	git_error_set_str(GIT_ERROR_NET, "mreg is built without Negotiate (Kerberos) HTTP authentication");
	return -1;
}
