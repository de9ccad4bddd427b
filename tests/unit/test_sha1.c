/*
 * Unit tests for core/sha1.c. The FIPS 180 example messages pin the digest;
 * random inputs, fed in random pieces, are checked against OpenSSL's SHA-1
 * so that every padding length and every block boundary is crossed.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "sha1.h"

static void hex_of(char out[41], const void *data, size_t len)
{
	unsigned char sum[20];
	mreg_sha1(sum, data, len);
	mreg_sha1_hex(out, sum);
}

static void digests_of_the_fips_examples(void **state)
{
	(void)state;
	char hex[41];
	hex_of(hex, "", 0);
	assert_string_equal(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	hex_of(hex, "abc", 3);
	assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	hex_of(hex, two, strlen(two));
	assert_string_equal(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

static void digest_of_a_million_a(void **state)
{
	(void)state;
	mreg_sha1_ctx c;
	unsigned char sum[20];
	char hex[41], chunk[1000];
	memset(chunk, 'a', sizeof(chunk));
	mreg_sha1_init(&c);
	for (int i = 0; i < 1000; i++)
		mreg_sha1_update(&c, chunk, sizeof(chunk));
	mreg_sha1_final(&c, sum);
	mreg_sha1_hex(hex, sum);
	assert_string_equal(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

static void random_inputs_in_pieces_match_openssl(void **state)
{
	(void)state;
	/* both ways through the blocks: SHA extensions (where the processor has them) and plain C */
	for (int plain = 0; plain < 2; plain++) {
	mreg_sha1_use_plain = plain;
	unsigned char data[700];
	uint32_t x = 12345;
	for (size_t len = 0; len <= sizeof(data); len++) {
		for (size_t i = 0; i < len; i++) {
			x = x * 1103515245u + 12345u;
			data[i] = (unsigned char)(x >> 16);
		}
		unsigned char want[EVP_MAX_MD_SIZE], got[20];
		unsigned int wlen = 0;
		assert_true(EVP_Digest(data, len, want, &wlen, EVP_sha1(), NULL));
		assert_int_equal(wlen, 20);
		mreg_sha1_ctx c;
		mreg_sha1_init(&c);
		size_t off = 0;
		while (off < len) {	/* pieces of 0..70 bytes, so some are empty */
			x = x * 1103515245u + 12345u;
			size_t n = (x >> 16) % 71;
			if (n > len - off)
				n = len - off;
			mreg_sha1_update(&c, data + off, n);
			off += n;
		}
		mreg_sha1_final(&c, got);
		assert_memory_equal(got, want, 20);
	}
	}
	mreg_sha1_use_plain = false;
}

/* A large input, many blocks in one call, both ways. */
static void a_large_input_matches_openssl(void **state)
{
	(void)state;
	size_t n = 5u << 20;
	unsigned char *data = malloc(n), want[EVP_MAX_MD_SIZE], got[20];
	unsigned int wlen = 0;
	assert_non_null(data);
	uint32_t x = 7;
	for (size_t i = 0; i < n; i++) {
		x = x * 1664525u + 1013904223u;
		data[i] = (unsigned char)(x >> 24);
	}
	assert_true(EVP_Digest(data, n, want, &wlen, EVP_sha1(), NULL));
	for (int plain = 0; plain < 2; plain++) {
		mreg_sha1_use_plain = plain;
		mreg_sha1(got, data, n);
		assert_memory_equal(got, want, 20);
	}
	mreg_sha1_use_plain = false;
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(digests_of_the_fips_examples),
		cmocka_unit_test(digest_of_a_million_a),
		cmocka_unit_test(random_inputs_in_pieces_match_openssl),
		cmocka_unit_test(a_large_input_matches_openssl),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
