/*
 * Shared vocabulary of mreg: error codes, the last-error message, and the
 * growable buffer every module builds text in.
 *
 * Errors follow libgit2: a function returns 0 or a negative MREG_E* code and
 * sets one message where the failure is found; callers pass the code up
 * without touching the message. A message is one lowercase line, the problem
 * first and the subject in quotes.
 *
 * mreg_buf follows git's strbuf: ptr is never NULL and always NUL-terminated,
 * so a fresh buffer can be printed; _detach hands ownership of the bytes to
 * the caller. A buffer with a nonzero cap refuses to grow past it, for input
 * we do not trust.
 */
#ifndef MREG_COMMON_H
#define MREG_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum {
	MREG_OK = 0,
	MREG_ERROR = -1,	/* anything unexpected */
	MREG_ENOTFOUND = -3,	/* no such model, version, file, backup */
	MREG_EEXISTS = -4,	/* already there */
	MREG_ETRANSITION = -5,	/* the stage table refuses the move */
	MREG_EINVALID = -6,	/* malformed input: a name, a value, a file */
	MREG_ELOCKED = -7,	/* another writer held the lock past the timeout */
	MREG_EUSAGE = -8,	/* wrong command-line use */
	MREG_ECONFLICT = -9,	/* the branch moved under us */
	MREG_ECORRUPT = -10	/* stored data fails its own checks */
};

/* Set the last error of this thread; returns code so callers can `return mreg_error_set(...)`.
 * Each thread has its own: a message set in one is never seen in another. */
int mreg_error_set(int code, const char *fmt, ...);
/*
 * The subject of the work under way in this thread, for a caller that knows
 * what a failure further down is about when the code that finds it does
 * not (the event parser knows the event's id; a field rule knows only its
 * field). Until it is cleared with NULL, every message set in this thread
 * ends with " (<subject>)": the message is still set once, where the
 * failure is found, and complete, never reworded on its way up. One subject
 * at a time; the caller clears it on every way out.
 */
void mreg_error_subject(const char *subject);
const char *mreg_error_last(void);
int mreg_error_code(void);
void mreg_error_clear(void);

typedef struct {
	char *ptr;
	size_t size;
	size_t asize;
	size_t cap;	/* 0: no limit */
	int oom;	/* set once growing failed; later appends are no-ops */
} mreg_buf;

#define MREG_BUF_INIT { mreg_buf__empty, 0, 0, 0, 0 }
extern char mreg_buf__empty[];

void mreg_buf_init(mreg_buf *b, size_t cap);
void mreg_buf_dispose(mreg_buf *b);
int mreg_buf_grow(mreg_buf *b, size_t extra);
void mreg_buf_clear(mreg_buf *b);
void mreg_buf_truncate(mreg_buf *b, size_t len);
int mreg_buf_put(mreg_buf *b, const void *data, size_t len);
int mreg_buf_puts(mreg_buf *b, const char *s);
int mreg_buf_putc(mreg_buf *b, char c);
/* A small printf: %s %.*s %.Ns %c %d %u %ld %lu %lld %llu %zu %x(unsigned) %g(double, shortest:
 * mreg_num_format, not C's %g) %.Nf(double, N <= 9 decimals) %%. Anything else writes "%?". */
int mreg_buf_printf(mreg_buf *b, const char *fmt, ...);
int mreg_buf_vprintf(mreg_buf *b, const char *fmt, va_list ap);
/* JSON string literal with quotes and escapes. */
int mreg_buf_put_json_string(mreg_buf *b, const char *s);
char *mreg_buf_detach(mreg_buf *b);
/* Nonzero if the buffer failed to grow (out of memory or over its cap). */
int mreg_buf_oom(const mreg_buf *b);

/* A piece of a file being written: own->ptr + off when ptr is NULL, else ptr. */
typedef struct {
	const char *ptr;
	size_t off;
	size_t len;
} mreg_span;

/* Heap copy of a string; NULL in gives NULL out. */
char *mreg_strdup(const char *s);
/* Format into a fresh heap string. */
char *mreg_strfmt(const char *fmt, ...);

/*
 * The length of the longest prefix of s (n bytes) that is valid UTF-8 as RFC
 * 3629 has it: no overlong forms, no surrogates, nothing past U+10FFFF, no
 * sequence cut short. n when all of it is.
 */
size_t mreg_utf8_valid(const char *s, size_t n);

/* xxh128 of data as 32 lowercase hex digits plus NUL. */
void mreg_hash128(char out[33], const void *data, size_t len);

/* "2026-11-27T01:45:12.123456Z" from microseconds since the epoch (UTC, gmtime_r). */
#define MREG_TIME_LEN 27
void mreg_time_format(char out[MREG_TIME_LEN + 1], int64_t usec);
/* Parse that exact form back (a date that does not exist is not that form);
 * 0 or MREG_EINVALID, without a message: the caller names what it parsed. */
int mreg_time_parse(int64_t *out, const char *s);

#endif
