/*
 * Unit tests for fsstore/git/: the formats git defines, each checked
 * against a reference implementation (libgit2, OpenSSL) on real inputs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "git/git.h"

/* SHA-1 of random inputs, fed in random pieces, against OpenSSL's: every padding length and block boundary. */
static void sha1_matches_openssl(void **state)
{
	(void)state;
	unsigned char buf[4096], want[20], got[20];
	unsigned int wlen;
	srand(7);
	for (size_t len = 0; len < sizeof(buf); len += (size_t)(rand() % 67) + 1) {
		for (size_t i = 0; i < len; i++)
			buf[i] = (unsigned char)rand();
		EVP_Digest(buf, len, want, &wlen, EVP_sha1(), NULL);
		mreg_git_sha1_ctx c;
		mreg_git_sha1_init(&c);
		for (size_t off = 0; off < len;) {
			size_t n = (size_t)(rand() % 130);
			if (n > len - off)
				n = len - off;
			mreg_git_sha1_update(&c, buf + off, n);
			off += n;
		}
		mreg_git_sha1_final(&c, got);
		assert_memory_equal(got, want, 20);
		mreg_git_sha1(got, buf, len);
		assert_memory_equal(got, want, 20);
	}
}

static void hex_of_bytes(void **state)
{
	(void)state;
	unsigned char b[3] = { 0x00, 0xab, 0xff };
	char out[7];
	mreg_git_hex(out, b, 3);
	assert_string_equal(out, "00abff");
}

/* Object ids of every type and many sizes, against libgit2's git_odb_hash. */
static void object_ids_match_libgit2(void **state)
{
	(void)state;
	static const git_object_t types[] = { GIT_OBJECT_BLOB, GIT_OBJECT_TREE, GIT_OBJECT_COMMIT, GIT_OBJECT_TAG };
	unsigned char buf[3000];
	srand(11);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)rand();
	for (size_t t = 0; t < 4; t++)
		for (size_t len = 0; len < sizeof(buf); len = len * 3 + 1) {
			git_oid want, got;
			assert_int_equal(git_odb_hash(&want, buf, len, types[t]), 0);
			mreg_git_hash(&got, types[t], buf, len);
			assert_true(git_oid_equal(&want, &got));
		}
	assert_string_equal(mreg_git_type_name(GIT_OBJECT_TAG), "tag");
	assert_string_equal(mreg_git_type_name(GIT_OBJECT_TREE), "tree");
}

static void be32_both_ways(void **state)
{
	(void)state;
	unsigned char p[4];
	mreg_git_put_be32(p, 0x01020304u);
	assert_int_equal(p[0], 1);
	assert_int_equal(p[3], 4);
	assert_int_equal(mreg_git_be32(p), 0x01020304u);
}

/*
 * The set of ids against a plain list: ids added once (a second add says
 * so), found after any growth, reserved or not; ids that share their first
 * eight bytes (zero among them: the all-zero id is the one that cannot be
 * stored) told apart by the rest.
 */
static void id_sets_hold_what_was_added(void **state)
{
	(void)state;
	enum { N = 20000 };
	static unsigned char ids[N][20];
	uint32_t r = 12345;
	for (size_t i = 0; i < N; i++)
		for (int k = 0; k < 20; k++) {
			r = r * 1103515245u + 12345u;
			ids[i][k] = (unsigned char)(r >> 16);
		}
	for (size_t i = 0; i < 200; i++)
		memset(ids[i], i < 100 ? 0 : 0xab, 8);	/* the same first eight bytes, zero for half */
	for (int reserved = 0; reserved < 2; reserved++) {
		mreg_git_oidset s = { NULL, 0, 0 };
		if (reserved)
			assert_int_equal(mreg_git_oidset_reserve(&s, N), 0);
		size_t cap = s.cap;
		for (size_t i = 0; i < N; i += 2)
			assert_int_equal(mreg_git_oidset_add(&s, ids[i]), 1);
		for (size_t i = 0; i < N; i += 2)
			assert_int_equal(mreg_git_oidset_add(&s, ids[i]), 0);
		assert_int_equal(s.n, N / 2);
		for (size_t i = 0; i < N; i++)
			assert_int_equal(mreg_git_oidset_has(&s, ids[i]), i % 2 == 0);
		if (reserved)
			assert_int_equal(s.cap, cap);	/* no growth after the reserve */
		mreg_git_oidset odd = { NULL, 0, 0 }, none = { NULL, 0, 0 };
		for (size_t i = 1; i < N; i += 4)
			assert_int_equal(mreg_git_oidset_add(&odd, ids[i]), 1);
		assert_int_equal(mreg_git_oidset_count_not_in(&s, &none), N / 2);
		assert_int_equal(mreg_git_oidset_count_not_in(&s, &s), 0);
		assert_int_equal(mreg_git_oidset_count_not_in(&odd, &s), N / 4);
		mreg_git_oidset_add(&odd, ids[0]);
		assert_int_equal(mreg_git_oidset_count_not_in(&s, &odd), N / 2 - 1);
		mreg_git_oidset_dispose(&odd);
		mreg_git_oidset_dispose(&s);
	}
}

int main(void)
{
	git_libgit2_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sha1_matches_openssl),
		cmocka_unit_test(hex_of_bytes),
		cmocka_unit_test(object_ids_match_libgit2),
		cmocka_unit_test(be32_both_ways),
		cmocka_unit_test(id_sets_hold_what_was_added),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	git_libgit2_shutdown();
	return rc;
}
