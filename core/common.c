/*
 * Errors, buffers, hashing and time formatting shared by every layer.
 * Nothing here does I/O: the formatter below exists so that core/ can build
 * messages and JSON without stdio (numbers go through num.c, which prints the
 * shortest form that reads back exactly).
 */
#include "common.h"
#include "num.h"

#include <stdbool.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

char mreg_buf__empty[1];

static char err_msg[1024];
static int err_code;

int mreg_error_set(int code, const char *fmt, ...)
{
	mreg_buf b = MREG_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	mreg_buf_vprintf(&b, fmt, ap);
	va_end(ap);
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

int mreg_buf_put(mreg_buf *b, const void *data, size_t len)
{
	if (len == 0)
		return b->oom ? MREG_ERROR : 0;
	if (mreg_buf_grow(b, len) < 0)
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
	return mreg_buf_put(b, &c, 1);
}

static int put_unsigned(mreg_buf *b, unsigned long long v, int base)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v % (unsigned)base];
		v /= (unsigned)base;
	} while (v);
	char out[24];
	for (int i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return mreg_buf_put(b, out, (size_t)n);
}

static int put_signed(mreg_buf *b, long long v)
{
	if (v < 0) {
		mreg_buf_putc(b, '-');
		return put_unsigned(b, 0ULL - (unsigned long long)v, 10);
	}
	return put_unsigned(b, (unsigned long long)v, 10);
}

/*
 * v with prec decimals (at most 9), as printf's %.Nf and Python's format:
 * the exact binary value rounded half to even. The whole part and the
 * fraction are split exactly (floor, then a subtraction that cannot
 * round); the fraction times 10^prec is rounded once by the multiplication,
 * and fma gives that rounding's error exactly, so it is compared with one
 * half without a second rounding. Whole parts of 2^64 and more (only
 * absurd metrics have them) are written from the shortest digits.
 */
static void put_fixed(mreg_buf *b, double v, size_t prec)
{
	if (isnan(v) || isinf(v)) {
		mreg_buf_puts(b, isnan(v) ? "nan" : v < 0 ? "-inf" : "inf");
		return;
	}
	if (prec > 9)
		prec = 9;
	double scale = 1, a = fabs(v);
	for (size_t i = 0; i < prec; i++)
		scale *= 10;
	if (v < 0)
		mreg_buf_putc(b, '-');
	double whole = floor(a), frac = a - whole;
	double prod = frac * scale;
	double err = fma(frac, scale, -prod);	/* frac * scale == prod + err, exactly */
	double f = floor(prod);
	if (prod - f + err < 0)
		f -= 1;
	double half = (prod - f - 0.5) + err;	/* its sign is exact */
	if (half > 0 || (half == 0 && fmod(prec ? f : whole + f, 2) != 0))
		f += 1;
	if (f >= scale) {	/* rounded up into the whole part */
		f -= scale;
		whole += 1;
	}
	if (whole < 18446744073709551616.0) {
		put_unsigned(b, (unsigned long long)whole, 10);
	} else {
		/* d.ddde+NN: the digits, then zeros up to the exponent */
		char num[MREG_NUM_MAX];
		mreg_num_format(num, whole);
		char *e = strchr(num, 'e');
		int exp = e ? atoi(e + 1) : 0, ndig = 0;
		for (char *p = num; *p && p != e; p++)
			if (*p >= '0' && *p <= '9') {
				mreg_buf_putc(b, *p);
				ndig++;
			}
		for (; ndig <= exp; ndig++)
			mreg_buf_putc(b, '0');
	}
	if (prec) {
		char digits[10];
		unsigned long long x = (unsigned long long)f;
		for (size_t i = prec; i-- > 0; x /= 10)
			digits[i] = (char)('0' + x % 10);
		mreg_buf_putc(b, '.');
		mreg_buf_put(b, digits, prec);
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
			put_signed(b, va_arg(ap, int));
		} else if (*p == 'u') {
			put_unsigned(b, va_arg(ap, unsigned), 10);
		} else if (*p == 'x') {
			put_unsigned(b, va_arg(ap, unsigned), 16);
		} else if (*p == 'g') {
			char num[MREG_NUM_MAX];
			if (mreg_num_format(num, va_arg(ap, double)) < 0)
				mreg_buf_puts(b, "nan");
			else
				mreg_buf_puts(b, num);
		} else if (*p == 'z' && p[1] == 'u') {
			put_unsigned(b, va_arg(ap, size_t), 10);
			p++;
		} else if (*p == 'l' && p[1] == 'd') {
			put_signed(b, va_arg(ap, long));
			p++;
		} else if (*p == 'l' && p[1] == 'u') {
			put_unsigned(b, va_arg(ap, unsigned long), 10);
			p++;
		} else if (*p == 'l' && p[1] == 'l' && p[2] == 'd') {
			put_signed(b, va_arg(ap, long long));
			p += 2;
		} else if (*p == 'l' && p[1] == 'l' && p[2] == 'u') {
			put_unsigned(b, va_arg(ap, unsigned long long), 10);
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

/* Days since 1970-01-01 to civil date (proleptic Gregorian), H. Hinnant's method. */
static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yy + (*m <= 2));
}

static int64_t days_from_civil(int y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void put_digits(char *p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

void mreg_time_format(char out[MREG_TIME_LEN + 1], int64_t usec)
{
	int64_t secs = usec >= 0 ? usec / 1000000 : -((-usec + 999999) / 1000000);
	unsigned frac = (unsigned)(usec - secs * 1000000);
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	unsigned sod = (unsigned)(secs - days * 86400);
	int y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	if (y < 0)
		y = 0;
	if (y > 9999)
		y = 9999;
	put_digits(out, (unsigned)y, 4);
	out[4] = '-';
	put_digits(out + 5, m, 2);
	out[7] = '-';
	put_digits(out + 8, d, 2);
	out[10] = 'T';
	put_digits(out + 11, sod / 3600, 2);
	out[13] = ':';
	put_digits(out + 14, sod / 60 % 60, 2);
	out[16] = ':';
	put_digits(out + 17, sod % 60, 2);
	out[19] = '.';
	put_digits(out + 20, frac, 6);
	out[26] = 'Z';
	out[27] = '\0';
}

static int digits(const char *s, int n, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int mreg_time_parse(int64_t *out, const char *s)
{
	unsigned y, mo, d, h, mi, se, us;
	if (strlen(s) != MREG_TIME_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != '.' || s[26] != 'Z' ||
	    digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &se) ||
	    digits(s + 20, 6, &us) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || se > 59)
		return MREG_EINVALID;
	static const unsigned char mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
		return MREG_EINVALID;
	int64_t days = days_from_civil((int)y, mo, d);
	*out = ((days * 86400) + h * 3600 + mi * 60 + se) * 1000000 + us;
	return 0;
}
