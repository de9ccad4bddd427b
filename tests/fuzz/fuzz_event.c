/*
 * Fuzzing the event parser (core/event.c): any bytes, as an event file.
 *
 * Besides not crashing, leaking or running into undefined behaviour, every
 * input must keep these promises, and the harness aborts (a crash to
 * libFuzzer) when one breaks:
 *
 *  1. Parsing with the bytes' own id as the expected id gives the same
 *     answer as parsing without one; with another id it is MREG_ECORRUPT.
 *  2. A refusal is MREG_EINVALID (or MREG_ECORRUPT for a wrong id) with a
 *     message of one line.
 *  3. Whatever parses serializes again (the writer takes what the parser
 *     takes), unless the pretty-printed bytes outgrow the size limit, and
 *     those bytes parse to an event that serializes to the same bytes:
 *     parse and serialize are a fixed point after one round.
 *  4. Bytes that mreg itself wrote (the second round) hash to the id the
 *     serializer set.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "event.h"

#define CHECK(cond)                  \
	do {                         \
		if (!(cond))         \
			abort();     \
	} while (0)

static void check_refusal(int rc)
{
	CHECK(rc == MREG_EINVALID || rc == MREG_ECORRUPT);
	CHECK(mreg_error_code() == rc);
	CHECK(!strchr(mreg_error_last(), '\n'));
}

/* Serialize ev; NULL when the bytes would be over the size limit (the one refusal allowed). */
static char *serialize_or_too_large(mreg_event *ev, size_t *len)
{
	mreg_buf b = MREG_BUF_INIT;
	int rc = mreg_event_serialize(&b, ev);
	if (rc < 0) {
		CHECK(rc == MREG_EINVALID);
		CHECK(strstr(mreg_error_last(), "larger than"));
		mreg_buf_dispose(&b);
		return NULL;
	}
	char id[33];
	mreg_hash128(id, b.ptr, b.size);
	CHECK(!strcmp(id, ev->id));
	*len = b.size;
	return mreg_buf_detach(&b);
}

static void round_trip(mreg_event *ev)
{
	size_t n1 = 0, n2 = 0;
	char *b1 = serialize_or_too_large(ev, &n1), *b2 = NULL;
	mreg_event *again = NULL;
	if (!b1)
		return;
	int rc = mreg_event_parse(&again, b1, n1, ev->id);
	if (rc < 0)
		abort();	/* the writer wrote what the parser refuses */
	b2 = serialize_or_too_large(again, &n2);
	CHECK(b2 && n2 == n1 && !memcmp(b1, b2, n1));
	free(b1);
	free(b2);
	mreg_event_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	mreg_event *ev = NULL, *ev2 = NULL;
	char id[33], other[33];

	mreg_error_clear();
	int rc = mreg_event_parse(&ev, text, size, NULL);
	CHECK((rc == 0) == (ev != NULL));
	if (rc < 0)
		check_refusal(rc);

	mreg_hash128(id, text, size);
	int rc2 = mreg_event_parse(&ev2, text, size, id);
	CHECK(rc2 == rc);
	mreg_event_free(ev2);
	ev2 = NULL;
	if (size <= MREG_EVENT_MAX_BYTES) {
		memcpy(other, id, sizeof(other));
		other[0] = other[0] == '0' ? '1' : '0';
		CHECK(mreg_event_parse(&ev2, text, size, other) == MREG_ECORRUPT && !ev2);
	}

	if (ev) {
		CHECK(!strcmp(ev->id, id));
		round_trip(ev);
	}
	mreg_event_free(ev);
	return 0;
}
