/*
 * SHA-1 as FIPS 180-4 section 6.1 states it: 512-bit blocks, an 80-word
 * schedule, four rounds of twenty steps, the length in bits appended big
 * endian after a single 1 bit and zero padding.
 *
 * Blocks go through the x86 SHA extensions when the processor has them
 * (a backup hashes its whole bundle: tens of megabytes), else through the
 * plain C steps. tests/unit/test_sha1.c checks both against OpenSSL.
 */
#include "sha1.h"

#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHANI 1
#endif

static uint32_t rol(uint32_t x, int n)
{
	return x << n | x >> (32 - n);
}

static void compress_c(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[80];
	for (int t = 0; t < 16; t++)
		w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 | (uint32_t)p[4 * t + 2] << 8 |
		       (uint32_t)p[4 * t + 3];
	for (int t = 16; t < 80; t++)
		w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	for (int t = 0; t < 80; t++) {
		uint32_t f, k;
		if (t < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (t < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (t < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		uint32_t tmp = rol(a, 5) + f + e + k + w[t];
		e = d;
		d = c;
		c = rol(b, 30);
		b = a;
		a = tmp;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

#ifdef HAVE_SHANI
/*
 * Four rounds per sha1rnds4 (the function and constant chosen by its last
 * operand, 0 to 3 for rounds 0-19 ... 60-79), E for the next four rounds
 * from sha1nexte, and the schedule W[t+16..t+19] from the four words
 * groups before it with sha1msg1, xor and sha1msg2. Words sit with the
 * first one in the highest lane.
 */
__attribute__((target("sha,sse4.1,ssse3"))) static void compress_shani(uint32_t h[5], const unsigned char *p,
									  size_t nblocks)
{
	const __m128i reverse = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	__m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)h), 0x1b);
	__m128i e0 = _mm_set_epi32((int)h[4], 0, 0, 0);
	for (; nblocks--; p += 64) {
		__m128i abcd_in = abcd, e_in = e0, before = abcd, e, w[4];
		for (int i = 0; i < 4; i++)
			w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), reverse);
		for (int g = 0; g < 20; g++) {
			__m128i msg = w[g & 3];
			e = g == 0 ? _mm_add_epi32(e0, msg) : _mm_sha1nexte_epu32(before, msg);
			before = abcd;
			switch (g / 5) {
			case 0:
				abcd = _mm_sha1rnds4_epu32(abcd, e, 0);
				break;
			case 1:
				abcd = _mm_sha1rnds4_epu32(abcd, e, 1);
				break;
			case 2:
				abcd = _mm_sha1rnds4_epu32(abcd, e, 2);
				break;
			default:
				abcd = _mm_sha1rnds4_epu32(abcd, e, 3);
				break;
			}
			if (g < 16)	/* the words of group g + 4 */
				w[g & 3] = _mm_sha1msg2_epu32(
					_mm_xor_si128(_mm_sha1msg1_epu32(w[g & 3], w[(g + 1) & 3]), w[(g + 2) & 3]),
					w[(g + 3) & 3]);
		}
		e0 = _mm_sha1nexte_epu32(before, e_in);	/* E += rol(A of round 76, 30) */
		abcd = _mm_add_epi32(abcd, abcd_in);
	}
	_mm_storeu_si128((__m128i *)h, _mm_shuffle_epi32(abcd, 0x1b));
	h[4] = (uint32_t)_mm_extract_epi32(e0, 3);
}

static bool has_shani(void)
{
	static int known = -1;
	if (known < 0) {
		unsigned a, b, c, d;
		known = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29)) && __get_cpuid(1, &a, &b, &c, &d) &&
			(c & (1u << 19)) && (c & (1u << 9));	/* SHA, SSE4.1, SSSE3 */
	}
	return known;
}
#endif

bool mreg_sha1_use_plain;

static void compress_blocks(uint32_t h[5], const unsigned char *p, size_t nblocks)
{
#ifdef HAVE_SHANI
	if (!mreg_sha1_use_plain && has_shani()) {
		compress_shani(h, p, nblocks);
		return;
	}
#endif
	for (; nblocks--; p += 64)
		compress_c(h, p);
}

void mreg_sha1_init(mreg_sha1_ctx *c)
{
	static const uint32_t iv[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
	memcpy(c->h, iv, sizeof(iv));
	c->total = 0;
	c->fill = 0;
}

void mreg_sha1_update(mreg_sha1_ctx *c, const void *data, size_t len)
{
	const unsigned char *p = data;
	c->total += len;
	if (c->fill) {
		size_t take = 64 - c->fill < len ? 64 - c->fill : len;
		memcpy(c->block + c->fill, p, take);
		c->fill += take;
		p += take;
		len -= take;
		if (c->fill < 64)
			return;
		compress_blocks(c->h, c->block, 1);
		c->fill = 0;
	}
	compress_blocks(c->h, p, len / 64);
	p += len / 64 * 64;
	len %= 64;
	memcpy(c->block, p, len);
	c->fill = len;
}

void mreg_sha1_final(mreg_sha1_ctx *c, unsigned char out[20])
{
	uint64_t bits = c->total * 8;
	c->block[c->fill++] = 0x80;
	if (c->fill > 56) {
		memset(c->block + c->fill, 0, 64 - c->fill);
		compress_blocks(c->h, c->block, 1);
		c->fill = 0;
	}
	memset(c->block + c->fill, 0, 56 - c->fill);
	for (int i = 0; i < 8; i++)
		c->block[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
	compress_blocks(c->h, c->block, 1);
	for (int i = 0; i < 5; i++) {
		out[4 * i] = (unsigned char)(c->h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
		out[4 * i + 3] = (unsigned char)c->h[i];
	}
}

void mreg_sha1(unsigned char out[20], const void *data, size_t len)
{
	mreg_sha1_ctx c;
	mreg_sha1_init(&c);
	mreg_sha1_update(&c, data, len);
	mreg_sha1_final(&c, out);
}

void mreg_sha1_hex(char out[41], const unsigned char sum[20])
{
	for (int i = 0; i < 20; i++) {
		out[2 * i] = "0123456789abcdef"[sum[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[sum[i] & 15];
	}
	out[40] = '\0';
}
