/*
 * libgit2, started once with mreg's settings, and its errors as mreg's.
 *
 * A command that reads a registry whose state files are current never
 * starts libgit2 (registry.c's light open); everything else does, here.
 */
#include "internal.h"

int mreg_libgit2_error(const char *what, const char *subject)
{
	const git_error *e = git_error_last();
	return mreg_error_set(MREG_ERROR, "%s '%s': %s", what, subject, e && e->message ? e->message : "git error");
}

int mreg_libgit2_ready(void)
{
	static int done;
	if (!done) {
		if (git_libgit2_init() < 0)
			return mreg_error_set(MREG_ERROR, "cannot initialise libgit2");
		/*
		 * mreg builds every tree and commit from objects it has just
		 * written or read, so libgit2 need not look each one up again
		 * (in every pack) before writing. Every object libgit2 reads is
		 * hashed and checked against its id (libgit2's default, said
		 * here so that it stays): objects come from outside too (a
		 * bundle restored, a fetch, a loose object someone copied in),
		 * and a mismatch must be refused, not folded. It costs about
		 * 5% of the CPU of `mreg refresh --full` at 100,000 events.
		 */
		git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
		git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 1);
		done = 1;
	}
	return 0;
}

/*
 * Builds that link libgit2 as it comes (the sanitizer and fuzzing builds)
 * start TLS and SSH in git_libgit2_init: nothing is deferred. The release
 * binary defers them and brings its own (cmd/gitlink.c).
 */
__attribute__((weak)) int mreg_git_net_init(void)
{
	return 0;
}
