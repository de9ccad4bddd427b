/*
 * What the two files that read the events of a tree share (events.c: the
 * entries, their reading and checking; eventfold.c: the streamed fold).
 * Private to them.
 */
#ifndef MREG_EVENTS_H
#define MREG_EVENTS_H

#include "internal.h"

/*
 * One entry under events/ and what became of it: an event, a reason to
 * leave it out, or an error that stops the fold. A full fold walks the
 * tree first and reads the entries after, on every core; they join the
 * fold in the walk's order all the same, so its result and its list of
 * files left out are the same as one thread's.
 */
typedef struct {
	git_oid id;
	git_filemode_t mode;
	size_t path;		/* its offset in collect.paths */
	mreg_event *ev;
	char *problem;		/* left out, and why */
	int rc;			/* < 0: the fold stops, with msg; 1: read again by the walking thread */
	char *msg;
	int64_t clock;		/* a streamed fold's key, read from the head of the bytes (keyed) */
	mreg_odb_where where;	/* where that head was found (located): the whole read looks nothing up */
	unsigned char name[16];	/* keyed: its name, the xxh128 of its bytes, as pass one read it from the path */
	bool keyed, located;
	bool known;		/* ev is one this process read from the same blob under the same name (take_known) */
} entry;

typedef struct {
	mreg_registry *reg;
	mreg_event **evs;
	size_t n, a;
	mreg_state *q;		/* the event files left out, and why (a state for its list only) */
	int64_t nfiles;		/* entries seen under events/, good or not */
	bool take_known;	/* an entry noted may take reg->known_events instead (mreg_events_added) */
	bool file_keys;		/* keys from the fold's key cache are among those of pass one */
	entry *ents;
	size_t nents, aents;
	mreg_buf paths;		/* the entries' paths, each ending in '\0' */
} collect;

#define CHUNK 64		/* entries a thread takes at a time */
#define MIN_SHARED 512		/* fewer entries are read by the walking thread alone */

/*
 * How an entry's bytes are read: by mreg's reader made ready, which threads
 * share (where the first pass found them, when it did); as any read is,
 * which may look at the packs again; or by libgit2 alone, by the walking
 * thread while the readers share mreg's reader (which a look at the packs
 * again would change under them).
 */
typedef enum { READ_SHARED, READ_ANY, READ_GIT } read_how;

/* An entry at path left out with the reason fmt (with arg), in c's list. */
int mreg_events_quarantine(collect *c, const char *path, const char *fmt, const char *arg);
int mreg_events_left_out(entry *e, const char *why);
/* Why the entry at path is no event file in its place, before its bytes are read; NULL: it may be one. */
const char *mreg_events_misplaced(const entry *e, const char *path);
/* The bytes of an entry in its place, named want (its xxh128 in hex), parsed into e->ev. */
int mreg_events_read_entry(entry *e, mreg_registry *reg, const char *want, read_how how);
/* The entry at path: an event in e->ev, or why it is left out in e->problem; < 0 what stops the fold. */
int mreg_events_examine(entry *e, mreg_registry *reg, const char *path, read_how how);
/* An error that stops the fold kept with entry e, for the walking thread to take up in order. */
void mreg_events_keep_error(entry *e);
/* mreg's reader with every pack open, for threads to read at once. */
bool mreg_events_ready_to_share(mreg_registry *reg, const git_oid *first);
/* The quarantined files of c into st. */
int mreg_events_quarantine_into(mreg_state *st, const collect *c);
/* Every file under the directory tree id (path: "events/..."), noted or read into c. */
int mreg_events_walk_dir(collect *c, const git_oid *id, mreg_buf *path, int depth);

/* An entry's place in the fold: (clock, id), the id being its name (32 hex digits). */
typedef struct {
	int64_t clock;
	const char *name;
	size_t i;		/* its entry: the last word between two of one clock and name */
} mreg_fold_key;

/* k (n keys) into fold order; tmp has room for n more. */
void mreg_events_sort_keys(mreg_fold_key *k, mreg_fold_key *tmp, size_t n);

#endif
