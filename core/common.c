/*
 * Errors, buffers, hashing and time formatting shared by every layer.
 * Nothing here does I/O or touches a stream: mreg_buf_printf builds
 * messages and text in memory, with mreg's own small set of conversions
 * (%g is num.c's shortest round-trip form, not C's) over the C library's
 * formatting, and times go through gmtime_r and timegm.
 *
 * The last error is per thread (C11 _Thread_local), so every function here
 * may be called from several threads at once on different data.
 */
#define _DEFAULT_SOURCE /* timegm */
#include "common.h"
#include "num.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

char mreg_buf__empty[1];

/*
 * The last error, one per thread: a server or a binding calls the library
 * from several threads, and each must read the message of its own call.
 * (The only other writable global of core/, mreg_buf__empty, is never
 * written: a buffer that has not grown points at it, and every write
 * grows the buffer first.)
 */
static _Thread_local char err_msg[1024];
static _Thread_local int err_code;
static _Thread_local char err_subject[128];

int mreg_error_set(int code, const char *fmt, ...)
{
	mreg_buf b = MREG_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	mreg_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (err_subject[0])
		mreg_buf_printf(&b, " (%s)", err_subject);
	size_t n = b.size < sizeof(err_msg) - 1 ? b.size : sizeof(err_msg) - 1;
	memcpy(err_msg, b.ptr, n);
	err_msg[n] = '\0';
	/* one line: a newline in a subject must not split the message */
	for (size_t i = 0; i < n; i++)
		if (err_msg[i] == '\n' || err_msg[i] == '\r')
			err_msg[i] = ' ';
	mreg_buf_dispose(&b);
	err_code = code;
	return code;
}

void mreg_error_subject(const char *subject)
{
	size_t n = subject ? strlen(subject) : 0;
	if (n >= sizeof(err_subject))
		n = sizeof(err_subject) - 1;
	memcpy(err_subject, subject ? subject : "", n);
	err_subject[n] = '\0';
}

const char *mreg_error_last(void)
{
	return err_msg[0] ? err_msg : "unknown error";
}

int mreg_error_code(void)
{
	return err_code;
}

void mreg_error_clear(void)
{
	err_msg[0] = '\0';
	err_code = 0;
}

void mreg_buf_init(mreg_buf *b, size_t cap)
{
	b->ptr = mreg_buf__empty;
	b->size = b->asize = 0;
	b->cap = cap;
	b->oom = 0;
}

void mreg_buf_dispose(mreg_buf *b)
{
	if (!b)
		return;
	if (b->asize)
		free(b->ptr);
	b->ptr = mreg_buf__empty;
	b->size = b->asize = 0;
	b->oom = 0;
}

int mreg_buf_grow(mreg_buf *b, size_t extra)
{
	if (b->oom)
		return MREG_ERROR;
	size_t need = b->size + extra + 1;
	if (need < b->size || (b->cap && need > b->cap + 1)) {
		b->oom = 1;
		return MREG_ERROR;
	}
	if (need <= b->asize)
		return 0;
	size_t n = b->asize ? b->asize : 64;
	while (n < need)
		n = n + n / 2 + 64;
	char *p = b->asize ? realloc(b->ptr, n) : malloc(n);
	if (!p) {
		b->oom = 1;
		return MREG_ERROR;
	}
	if (!b->asize)
		p[0] = '\0';
	b->ptr = p;
	b->asize = n;
	return 0;
}

void mreg_buf_clear(mreg_buf *b)
{
	mreg_buf_truncate(b, 0);
	b->oom = 0;
}

void mreg_buf_truncate(mreg_buf *b, size_t len)
{
	if (len < b->size) {
		b->size = len;
		if (b->asize)
			b->ptr[len] = '\0';
	}
}

/* len more bytes fit in what b has (and in its cap) without growing: the common case, kept short */
static inline bool fits(const mreg_buf *b, size_t len)
{
	return !b->oom && len < b->asize - b->size && (!b->cap || len <= b->cap - b->size);
}

int mreg_buf_put(mreg_buf *b, const void *data, size_t len)
{
	if (len == 0)
		return b->oom ? MREG_ERROR : 0;
	if (!fits(b, len) && mreg_buf_grow(b, len) < 0)
		return MREG_ERROR;
	memmove(b->ptr + b->size, data, len);
	b->size += len;
	b->ptr[b->size] = '\0';
	return 0;
}

int mreg_buf_puts(mreg_buf *b, const char *s)
{
	return mreg_buf_put(b, s, strlen(s));
}

int mreg_buf_putc(mreg_buf *b, char c)
{
	if (!fits(b, 1) && mreg_buf_grow(b, 1) < 0)
		return MREG_ERROR;
	b->ptr[b->size++] = c;
	b->ptr[b->size] = '\0';
	return 0;
}

/* One conversion of the C library's, appended. */
static void put_c(mreg_buf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	mreg_buf_put(b, tmp, n > 0 ? (size_t)n : 0);
}

/*
 * v with prec decimals (at most 9), as printf's %.Nf and Python's format:
 * the exact binary value rounded half to even, which is what the C
 * library's %.*f does. A zero never prints with a sign, a negative value
 * that rounds to zero keeps it ("-0.0", as printf and Python). Whole parts
 * of 2^64 and more (only absurd metrics have them) are written as mreg
 * always wrote them: the shortest digits, then zeros.
 */
static void put_fixed(mreg_buf *b, double v, size_t prec)
{
	char tmp[400];

	if (isnan(v) || isinf(v)) {
		mreg_buf_puts(b, isnan(v) ? "nan" : v < 0 ? "-inf" : "inf");
		return;
	}
	if (prec > 9)
		prec = 9;
	if (fabs(v) < 18446744073709551616.0) {
		int n = snprintf(tmp, sizeof(tmp), "%.*f", (int)prec, v == 0 ? 0.0 : v);
		mreg_buf_put(b, tmp, (size_t)n);
		return;
	}
	/* d.ddde+NN: the digits, then zeros up to the exponent */
	char num[MREG_NUM_MAX];
	mreg_num_format(num, fabs(v));
	char *e = strchr(num, 'e');
	int exp = e ? atoi(e + 1) : 0, ndig = 0;
	if (v < 0)
		mreg_buf_putc(b, '-');
	for (char *p = num; *p && p != e; p++)
		if (*p >= '0' && *p <= '9') {
			mreg_buf_putc(b, *p);
			ndig++;
		}
	for (; ndig <= exp; ndig++)
		mreg_buf_putc(b, '0');
	if (prec) {
		mreg_buf_putc(b, '.');
		for (size_t i = 0; i < prec; i++)
			mreg_buf_putc(b, '0');
	}
}

int mreg_buf_vprintf(mreg_buf *b, const char *fmt, va_list ap)
{
	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			const char *q = strchr(p, '%');
			size_t n = q ? (size_t)(q - p) : strlen(p);
			mreg_buf_put(b, p, n);
			p += n - 1;
			continue;
		}
		p++;
		if (*p == '%') {
			mreg_buf_putc(b, '%');
		} else if (*p == 's') {
			const char *s = va_arg(ap, const char *);
			mreg_buf_puts(b, s ? s : "(null)");
		} else if (p[0] == '.' && p[1] == '*' && p[2] == 's') {
			int n = va_arg(ap, int);
			const char *s = va_arg(ap, const char *);
			mreg_buf_put(b, s, n > 0 ? (size_t)n : 0);
			p += 2;
		} else if (p[0] == '.' && p[1] >= '0' && p[1] <= '9') {
			size_t prec = 0;
			p++;
			while (*p >= '0' && *p <= '9')
				prec = prec * 10 + (size_t)(*p++ - '0');
			if (*p == 'f') {
				put_fixed(b, va_arg(ap, double), prec);
				continue;
			}
			if (*p != 's') {
				mreg_buf_puts(b, "%?");
				if (!*p)
					break;
				continue;
			}
			const char *s = va_arg(ap, const char *);
			size_t n = 0;
			while (s && n < prec && s[n])
				n++;
			mreg_buf_put(b, s, n);
		} else if (*p == 'c') {
			mreg_buf_putc(b, (char)va_arg(ap, int));
		} else if (*p == 'd') {
			put_c(b, "%d", va_arg(ap, int));
		} else if (*p == 'u') {
			put_c(b, "%u", va_arg(ap, unsigned));
		} else if (*p == 'x') {
			put_c(b, "%x", va_arg(ap, unsigned));
		} else if (*p == 'g') {
			char num[MREG_NUM_MAX];
			if (mreg_num_format(num, va_arg(ap, double)) < 0)
				mreg_buf_puts(b, "nan");
			else
				mreg_buf_puts(b, num);
		} else if (*p == 'z' && p[1] == 'u') {
			put_c(b, "%zu", va_arg(ap, size_t));
			p++;
		} else if (*p == 'l' && p[1] == 'd') {
			put_c(b, "%ld", va_arg(ap, long));
			p++;
		} else if (*p == 'l' && p[1] == 'u') {
			put_c(b, "%lu", va_arg(ap, unsigned long));
			p++;
		} else if (*p == 'l' && p[1] == 'l' && p[2] == 'd') {
			put_c(b, "%lld", va_arg(ap, long long));
			p += 2;
		} else if (*p == 'l' && p[1] == 'l' && p[2] == 'u') {
			put_c(b, "%llu", va_arg(ap, unsigned long long));
			p += 2;
		} else {
			/* unknown conversion: a bug in the caller, keep it visible */
			mreg_buf_puts(b, "%?");
			if (!*p)
				break;
		}
	}
	return b->oom ? MREG_ERROR : 0;
}

int mreg_buf_printf(mreg_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = mreg_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

int mreg_buf_put_json_string(mreg_buf *b, const char *s)
{
	mreg_buf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		const unsigned char *start = p;
		while (*p && *p != '"' && *p != '\\' && *p >= 0x20)
			p++;
		mreg_buf_put(b, start, (size_t)(p - start));
		if (!*p)
			break;
		switch (*p) {
		case '"': mreg_buf_puts(b, "\\\""); break;
		case '\\': mreg_buf_puts(b, "\\\\"); break;
		case '\n': mreg_buf_puts(b, "\\n"); break;
		case '\r': mreg_buf_puts(b, "\\r"); break;
		case '\t': mreg_buf_puts(b, "\\t"); break;
		case '\b': mreg_buf_puts(b, "\\b"); break;
		case '\f': mreg_buf_puts(b, "\\f"); break;
		default: {
			char esc[7] = "\\u00";
			esc[4] = "0123456789abcdef"[*p >> 4];
			esc[5] = "0123456789abcdef"[*p & 15];
			esc[6] = '\0';
			mreg_buf_puts(b, esc);
		}
		}
	}
	return mreg_buf_putc(b, '"');
}

char *mreg_buf_detach(mreg_buf *b)
{
	char *p;
	if (b->oom) {
		mreg_buf_dispose(b);
		return NULL;
	}
	if (!b->asize) {
		p = malloc(1);
		if (p)
			p[0] = '\0';
	} else {
		p = b->ptr;
	}
	b->ptr = mreg_buf__empty;
	b->size = b->asize = 0;
	return p;
}

int mreg_buf_oom(const mreg_buf *b)
{
	return b->oom;
}

char *mreg_strdup(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	char *p = malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

char *mreg_strfmt(const char *fmt, ...)
{
	mreg_buf b = MREG_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	mreg_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return mreg_buf_detach(&b);
}

size_t mreg_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		unsigned c = *p;
		if (c < 0x80) {
			p++;
			continue;
		}
		/* the second byte's range depends on the first: that is what rules out
		 * overlong forms (E0, F0), surrogates (ED) and code points past U+10FFFF (F4) */
		unsigned lo = 0x80, hi = 0xbf;
		size_t len;
		if (c >= 0xc2 && c <= 0xdf)
			len = 2;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
		else
			break;
		if ((size_t)(end - p) < len || p[1] < lo || p[1] > hi)
			break;
		size_t i = 2;
		while (i < len && (p[i] & 0xc0) == 0x80)
			i++;
		if (i < len)
			break;
		p += len;
	}
	return (size_t)(p - (const unsigned char *)s);
}

void mreg_hash128(char out[33], const void *data, size_t len)
{
	XXH128_hash_t h = XXH3_128bits(data, len);
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, h);
	for (int i = 0; i < 16; i++) {
		out[2 * i] = "0123456789abcdef"[c.digest[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[c.digest[i] & 15];
	}
	out[32] = '\0';
}

/*
 * Times are UTC, proleptic Gregorian, with no leap seconds: what gmtime_r
 * and timegm compute. The year is written with four digits; a time before
 * year 0 or after 9999 (only a forged clock has one) is written with the
 * year clamped, as mreg always wrote it.
 */
void mreg_time_format(char out[MREG_TIME_LEN + 1], int64_t usec)
{
	int64_t secs = usec / 1000000, frac = usec % 1000000;
	if (frac < 0) {	/* rounded toward zero: step back to the second before */
		secs--;
		frac += 1000000;
	}
	time_t t = (time_t)secs;
	struct tm tm;
	/* an int64_t of microseconds is within 300,000 years: gmtime_r cannot fail */
	gmtime_r(&t, &tm);
	long long y = (long long)tm.tm_year + 1900;
	if (y < 0)
		y = 0;
	if (y > 9999)
		y = 9999;
	char tmp[96];	/* room for any int: the fields are in range, but the compiler cannot know */
	snprintf(tmp, sizeof(tmp), "%04lld-%02d-%02dT%02d:%02d:%02d.%06lldZ", y, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (long long)frac);
	memcpy(out, tmp, MREG_TIME_LEN);
	out[MREG_TIME_LEN] = '\0';
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int mreg_time_parse(int64_t *out, const char *s)
{
	struct tm tm = { 0 }, back;
	int y, us;
	if (strlen(s) != MREG_TIME_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != '.' || s[26] != 'Z' ||
	    digits(s, 4, &y) || digits(s + 5, 2, &tm.tm_mon) || digits(s + 8, 2, &tm.tm_mday) ||
	    digits(s + 11, 2, &tm.tm_hour) || digits(s + 14, 2, &tm.tm_min) || digits(s + 17, 2, &tm.tm_sec) ||
	    digits(s + 20, 6, &us) || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
		return MREG_EINVALID;
	tm.tm_year = y - 1900;
	int mon = --tm.tm_mon, mday = tm.tm_mday;
	time_t t = timegm(&tm);
	/* timegm moves February 30 to March 2: a date it moved does not exist */
	if (!gmtime_r(&t, &back) || back.tm_mday != mday || back.tm_mon != mon)
		return MREG_EINVALID;
	*out = (int64_t)t * 1000000 + us;
	return 0;
}
