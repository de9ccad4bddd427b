/*
 * The rules of an event (eventcheck.c), for the writer and the parser in
 * event.c: internal to core/, not part of the library's interface. One set
 * of rules over one table of limits (event.h) for both sides is what keeps
 * every event mreg writes parseable, and every event it parses writable.
 */
#ifndef MREG_EVENTCHECK_H
#define MREG_EVENTCHECK_H

#include "event.h"

/* How a refused value is named: "invalid <what> for '<subject>'", or "invalid <what> '<subject>'". */
typedef struct {
	const char *what;	/* "event", "training config", a payload member */
	const char *subject;	/* the event's id (parser), the model (writer) */
	bool for_subject;
} mreg_eventcheck_ctx;

/*
 * The bytes of a whole event before its fields: size, NUL, one JSON value
 * and nothing after it, and the rules of every value in it. The parsed
 * document into *out. The writer runs it on the bytes it wrote.
 */
int mreg_eventcheck_document(cJSON **out, const char *data, size_t len, const mreg_eventcheck_ctx *vc);

/* Every field of ev against the rules of its type (the parser has checked the bytes already). */
int mreg_eventcheck_fields(const mreg_event *ev);

/* The i-th payload key of a type that keeps its payload in ev->body, in the order it is written; NULL past the last. */
const char *mreg_eventcheck_body_key(mreg_event_type t, size_t i);

#endif
