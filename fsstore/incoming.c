/*
 * What another node's history may bring, checked before anything local
 * changes (DESIGN section 6): `mreg sync` runs it on what it fetched, and
 * `mreg check` on a proposed range.
 *
 * Every commit reachable from the incoming tip and not from what we have
 * is compared with each of its parents, tree by tree. It may only add:
 *
 *   events/ab/cd/<xxh128>.json   an event whose bytes hash to its name,
 *                                that parses strictly, of a known schema;
 *   artifacts/ab/cd/<xxh128><ext> a model file whose bytes hash to its
 *                                name, or a canonical Git LFS pointer;
 *   artifacts/ab/cd/.gitattributes the lines mreg writes and nothing else,
 *                                growing only (a merge unites two);
 *   mreg.json, .gitignore        the registry's policy (a JSON object) and
 *                                ignore rules, which people change by hand;
 *   .mreg/<name>                 files the policy names (the allowed
 *                                signers of protected stages), changed by
 *                                hand too; check.c judges who may.
 *
 * A changed, deleted or renamed event or model file, anything else at any
 * depth, a link or a submodule refuses the whole range; each problem is
 * reported with the commit and the path. Old registries' blobs/ may only
 * shrink (their files moved to artifacts/ by the migration). In a merge,
 * what one parent brings is checked where that parent's history added it,
 * not again: a subtree the other parent holds unchanged is skipped whole.
 *
 * Trees are read by hand (git/odb.c) through a small cache: walking a
 * history, each commit's trees are the next commit's parent trees.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_SLOTS 512
#define MAX_PROBLEMS 100

typedef struct {
	git_oid id;
	mreg_buf bytes;
	bool used;
} tree_slot;

/* Where an entry sits in the layout. */
typedef enum { AT_ROOT, AT_EVENTS, AT_EVENTS2, AT_EVENTS3, AT_ART, AT_ART2, AT_ART3, AT_BLOBS, AT_MREG } place;

#define MREG_FILE_MAX (1 << 20)	/* a file under .mreg/ */

typedef struct {
	mreg_registry *reg;
	mreg_incoming *out;
	mreg_incoming_cb cb;
	void *payload;
	bool keep;		/* keep the events and policy files each commit adds */
	char commit[41];
	size_t nproblems;
	tree_slot *cache;
} checker;

static void problem(checker *c, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(checker *c, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->nproblems++ < MAX_PROBLEMS && c->cb)
		c->cb(c->commit, path, msg, c->payload);
}

/* A tree's bytes, through the cache (valid until the next call that reads). */
static int read_tree(const mreg_buf **out, checker *c, const git_oid *id)
{
	tree_slot *s = &c->cache[(id->id[0] | id->id[1] << 8) % CACHE_SLOTS];
	git_object_t type;
	if (s->used && git_oid_equal(&s->id, id)) {
		*out = &s->bytes;
		return 0;
	}
	s->used = false;
	int rc = mreg_tree_read_object(&s->bytes, &type, c->reg, id);
	if (rc < 0)
		return rc;
	if (type != GIT_OBJECT_TREE) {
		char hex[41];
		return mreg_error_set(MREG_ECORRUPT, "object %s is not a tree", git_oid_tostr(hex, sizeof(hex), id));
	}
	s->id = *id;
	s->used = true;
	*out = &s->bytes;
	return 0;
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* <32 hex><ext>, ext "" or a dot and 1 to 15 lowercase letters or digits, as mreg names model files */
static bool is_artifact_name(const char *name, size_t n)
{
	if (n < 32 || !is_hex(name, 32))
		return false;
	if (n == 32)
		return true;
	if (name[32] != '.' || n > 48 || n < 34)
		return false;
	for (size_t i = 33; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
			return false;
	return true;
}

/* The directory an entry leads into, or -1 when a directory there is outside the layout. */
static int child_place(place at, const mreg_git_tree_entry *e, const char *dir)
{
	switch (at) {
	case AT_ROOT:
		if (e->len == 6 && !memcmp(e->name, "events", 6))
			return AT_EVENTS;
		if (e->len == 9 && !memcmp(e->name, "artifacts", 9))
			return AT_ART;
		if (e->len == 5 && !memcmp(e->name, "blobs", 5))
			return AT_BLOBS;
		if (e->len == 5 && !memcmp(e->name, ".mreg", 5))
			return AT_MREG;
		return -1;
	case AT_EVENTS:
	case AT_ART:
		return e->len == 2 && is_hex(e->name, 2) ? (int)at + 1 : -1;
	case AT_EVENTS2:
	case AT_ART2:
		/* dir is ".../ab/": this one must be the name's next two digits; checked with the file */
		(void)dir;
		return e->len == 2 && is_hex(e->name, 2) ? (int)at + 1 : -1;
	case AT_BLOBS:
		return AT_BLOBS;
	default:
		return -1;
	}
}

/* The fan-out directories of dir ("events/ab/cd/") are the name's first four digits. */
static bool in_fanout(const char *dir, const char *name)
{
	const char *p = strchr(dir, '/');
	return p && strlen(p) == 7 && !memcmp(p + 1, name, 2) && !memcmp(p + 4, name + 2, 2);
}

/* What a commit adds, for mreg check: an event (owned) or a changed policy file (ev NULL). */
static int keep_item(checker *c, const char *path, mreg_event *ev, const git_oid *id)
{
	mreg_incoming *in = c->out;
	if (in->nkept % 256 == 0) {
		mreg_incoming_item *more = realloc(in->kept, (in->nkept + 256) * sizeof(*more));
		if (!more)
			return mreg_error_set(MREG_ERROR, "out of memory");
		in->kept = more;
	}
	mreg_incoming_item *k = &in->kept[in->nkept];
	memcpy(k->commit, c->commit, sizeof(k->commit));
	if (!(k->path = mreg_strdup(path)))
		return mreg_error_set(MREG_ERROR, "out of memory");
	k->ev = ev;
	k->id = id ? *id : (git_oid){ { 0 } };
	in->nkept++;
	return 0;
}

static int check_event(checker *c, const char *path, const mreg_git_tree_entry *e)
{
	mreg_buf b = MREG_BUF_INIT;
	git_object_t type;
	mreg_event *ev = NULL;
	char want[33];
	int rc = mreg_tree_read_object(&b, &type, c->reg, &e->id);
	if (rc < 0)
		return rc;
	memcpy(want, e->name, 32);
	want[32] = '\0';
	rc = mreg_event_parse(&ev, b.ptr, b.size, want);
	if (rc == MREG_EINVALID || rc == MREG_ECORRUPT) {
		problem(c, path, "not a valid event: %s", mreg_error_last());
		mreg_error_clear();
		rc = 0;
	} else if (rc == 0) {
		c->out->events++;
		if (ev->clock > c->out->max_clock)
			c->out->max_clock = ev->clock;
		rc = mreg_incoming_note_model(c->out, ev->model);
		const char *other = mreg_event_other_model(ev);
		if (rc == 0 && other)
			rc = mreg_incoming_note_model(c->out, other);
		if (rc == 0 && c->keep && (rc = keep_item(c, path, ev, &e->id)) == 0)
			ev = NULL;
	}
	mreg_event_free(ev);
	mreg_buf_dispose(&b);
	return rc;
}

static int note_large(checker *c, const char *path, const mreg_lfs_pointer *p)
{
	mreg_incoming *in = c->out;
	if (in->nlarge % 64 == 0) {
		mreg_incoming_large *more = realloc(in->large, (in->nlarge + 64) * sizeof(*more));
		if (!more)
			return mreg_error_set(MREG_ERROR, "out of memory");
		in->large = more;
	}
	mreg_incoming_large *l = &in->large[in->nlarge];
	if (!(l->path = mreg_strdup(path)))
		return mreg_error_set(MREG_ERROR, "out of memory");
	l->ptr = *p;
	in->nlarge++;
	return 0;
}

static int check_artifact(checker *c, const char *path, const mreg_git_tree_entry *e)
{
	mreg_buf b = MREG_BUF_INIT;
	git_object_t type;
	char hex[33];
	mreg_lfs_pointer ptr;
	int rc = mreg_tree_read_object(&b, &type, c->reg, &e->id);
	if (rc < 0)
		return rc;
	mreg_hash128(hex, b.ptr, b.size);
	if (memcmp(hex, e->name, 32) == 0)
		c->out->artifacts++;
	else if (mreg_lfs_pointer_parse(&ptr, b.ptr, b.size) == 0)
		rc = note_large(c, path, &ptr);
	else
		problem(c, path, "a model file whose bytes hash to %s, not to its name", hex);
	mreg_buf_dispose(&b);
	return rc;
}

/* Each line one mreg writes: the union line, or one marking a model file of this directory for Git LFS. */
static bool attributes_ok(const char *data, size_t len)
{
	static const char union_line[] = MREG_LFS_UNION_LINE;
	static const char lfs_tail[] = MREG_LFS_LINE_TAIL;
	for (const char *p = data, *end = data + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return false;
		size_t n = (size_t)(nl - p), t = sizeof(lfs_tail) - 1;
		bool ok = (n == sizeof(union_line) - 1 && !memcmp(p, union_line, n)) ||
			  (n > t + 1 && p[0] == '/' && !memcmp(p + n - t, lfs_tail, t) && is_artifact_name(p + 1, n - t - 1));
		if (!ok)
			return false;
		p = nl + 1;
	}
	return true;
}

/* Every line of old is a line of new. */
static bool lines_kept(const char *old, size_t olen, const char *new, size_t nlen)
{
	for (const char *p = old, *end = old + olen; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		bool found = false;
		for (const char *q = new, *qend = new + nlen; q < qend && !found;) {
			const char *ql = memchr(q, '\n', (size_t)(qend - q));
			size_t m = ql ? (size_t)(ql - q) + 1 : (size_t)(qend - q);
			found = m == n && !memcmp(p, q, n);
			q += m;
		}
		if (!found)
			return false;
		p += n;
	}
	return true;
}

/* A name under .mreg/: letters, digits, '.', '_', '-', not starting with '.' (as lifecycle.c's signers paths). */
static bool is_policy_name(const char *name, size_t n)
{
	if (!n || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9') || name[i] == '.' || name[i] == '_' || name[i] == '-'))
			return false;
	return true;
}

/* A file under .mreg/: a plain file of a plain name, at most MREG_FILE_MAX bytes. */
static int check_policy_file(checker *c, const char *path, const mreg_git_tree_entry *e)
{
	mreg_buf b = MREG_BUF_INIT;
	git_object_t type;
	if (e->mode != 0100644 || !is_policy_name(e->name, e->len)) {
		problem(c, path, "a file outside the registry's layout");
		return 0;
	}
	int rc = mreg_tree_read_object(&b, &type, c->reg, &e->id);
	if (rc == 0 && b.size > MREG_FILE_MAX)
		problem(c, path, "larger than %d bytes", MREG_FILE_MAX);
	mreg_buf_dispose(&b);
	return rc == 0 && c->keep ? keep_item(c, path, NULL, NULL) : rc;
}

/* A file that may be added or changed by hand at the top: mreg.json must stay a JSON object. */
static int check_top_file(checker *c, const char *path, const mreg_git_tree_entry *e)
{
	if (e->mode != 0100644) {
		problem(c, path, "not a plain file");
		return 0;
	}
	if (strcmp(path, "mreg.json"))
		return 0;
	if (c->keep) {
		int rc = keep_item(c, path, NULL, NULL);
		if (rc < 0)
			return rc;
	}
	mreg_buf b = MREG_BUF_INIT;
	git_object_t type;
	int rc = mreg_tree_read_object(&b, &type, c->reg, &e->id);
	if (rc < 0)
		return rc;
	cJSON *doc = cJSON_ParseWithLength(b.ptr, b.size);
	if (!cJSON_IsObject(doc))
		problem(c, path, "the registry's policy is not a JSON object");
	cJSON_Delete(doc);
	mreg_buf_dispose(&b);
	return 0;
}

static int check_attributes(checker *c, const char *path, const mreg_git_tree_entry *e, const git_oid *old)
{
	mreg_buf b = MREG_BUF_INIT, o = MREG_BUF_INIT;
	git_object_t type;
	int rc = mreg_tree_read_object(&b, &type, c->reg, &e->id);
	if (rc == 0 && old)
		rc = mreg_tree_read_object(&o, &type, c->reg, old);
	if (rc < 0)
		goto done;
	if (e->mode != 0100644 || !attributes_ok(b.ptr, b.size))
		problem(c, path, "holds lines mreg does not write");
	else if (old && !lines_kept(o.ptr, o.size, b.ptr, b.size))
		problem(c, path, "loses lines (it may only grow)");
done:
	mreg_buf_dispose(&b);
	mreg_buf_dispose(&o);
	return rc;
}

/* Tree entries by name alone, for bsearch (not git's order, which sorts a directory as if it ended in '/'). */
static int cmp_names(const void *a, const void *b)
{
	const mreg_git_tree_entry *x = a, *y = b;
	size_t k = x->len < y->len ? x->len : y->len;
	int r = memcmp(x->name, y->name, k);
	return r ? r : (x->len > y->len) - (x->len < y->len);
}

/* The entry named as e in the entries es[0..n) sorted by cmp_names, or NULL. */
static const mreg_git_tree_entry *find_entry(const mreg_git_tree_entry *es, size_t n, const mreg_git_tree_entry *e)
{
	return es ? bsearch(e, es, n, sizeof(*es), cmp_names) : NULL;
}

static int diff(checker *c, const git_oid *old, const git_oid *new, const git_oid *other, place at, const char *dir);

/* An entry of the new tree that the old one lacks (or holds otherwise, when old is given). */
static int added(checker *c, place at, const char *dir, const mreg_git_tree_entry *e, const mreg_git_tree_entry *old,
		 const mreg_git_tree_entry *other)
{
	char path[512];
	snprintf(path, sizeof(path), "%s%.*s", dir, (int)e->len, e->name);
	if (other && git_oid_equal(&other->id, &e->id) && other->mode == e->mode)
		return 0;	/* the other parent of a merge holds it as it is: checked where that side added it */
	if (e->mode == 040000) {
		int to = child_place(at, e, dir);
		if (to < 0) {
			problem(c, path, "a directory outside the registry's layout");
			return 0;
		}
		if (to == AT_BLOBS && !old) {
			problem(c, path, "blobs/ only shrinks (model files live under artifacts/)");
			return 0;
		}
		char sub[sizeof(path) + 1];
		snprintf(sub, sizeof(sub), "%s/", path);
		return diff(c, old && old->mode == 040000 ? &old->id : NULL, &e->id,
			    other && other->mode == 040000 ? &other->id : NULL, (place)to, sub);
	}
	if (old && old->mode == 040000) {
		problem(c, path, "a directory replaced by a file");
		return 0;
	}
	if (e->mode == 0120000 || e->mode == 0160000) {
		problem(c, path, "%s, where mreg keeps only files", e->mode == 0120000 ? "a symbolic link" : "a submodule");
		return 0;
	}
	if (at == AT_ROOT && ((e->len == 9 && !memcmp(e->name, "mreg.json", 9)) || (e->len == 10 && !memcmp(e->name, ".gitignore", 10))))
		return check_top_file(c, path, e);
	if (at == AT_ART3 && e->len == 14 && !memcmp(e->name, ".gitattributes", 14))
		return check_attributes(c, path, e, old ? &old->id : NULL);
	if (at == AT_MREG)
		return check_policy_file(c, path, e);
	if (old) {
		problem(c, path, "changed (events and model files never change)");
		return 0;
	}
	if (at == AT_EVENTS3 && mreg_events_is_name(e->name, e->len) && in_fanout(dir, e->name) && e->mode == 0100644)
		return check_event(c, path, e);
	if (at == AT_ART3 && is_artifact_name(e->name, e->len) && in_fanout(dir, e->name) && e->mode == 0100644)
		return check_artifact(c, path, e);
	problem(c, path, "a file outside the registry's layout");
	return 0;
}

static int entries(mreg_git_tree_entry **out, size_t *n, mreg_buf *keep, checker *c, const git_oid *id);

/* An entry the new tree lacks: named by the first file under it, which is what was deleted. */
static int deleted(checker *c, place at, const char *dir, const mreg_git_tree_entry *e)
{
	if (at == AT_BLOBS || (at == AT_ROOT && e->len == 5 && !memcmp(e->name, "blobs", 5)))
		return 0;	/* an old registry's large files, moved to artifacts/ */
	char path[512];
	snprintf(path, sizeof(path), "%s%.*s", dir, (int)e->len, e->name);
	if (at == AT_MREG || (at == AT_ROOT && e->len == 5 && !memcmp(e->name, ".mreg", 5)))
		return c->keep ? keep_item(c, path, NULL, NULL) : 0;	/* policy files come and go by hand */
	mreg_git_tree_entry *sub = NULL;
	size_t n = 0;
	mreg_buf b = MREG_BUF_INIT;
	int rc = 0;
	unsigned mode = e->mode;
	git_oid id = e->id;
	for (int depth = 0; mode == 040000 && depth < 8; depth++) {
		if ((rc = entries(&sub, &n, &b, c, &id)) < 0 || !n)
			break;
		size_t len = strlen(path);
		snprintf(path + len, sizeof(path) - len, "/%.*s", (int)sub[0].len, sub[0].name);
		mode = sub[0].mode;
		id = sub[0].id;
		free(sub);
		sub = NULL;
	}
	free(sub);
	mreg_buf_dispose(&b);
	if (rc == 0)
		problem(c, path, "deleted (nothing in a registry is ever deleted)");
	return rc;
}



/* Parsed entries of tree id (none when id is NULL), sorted by name for find_entry. */
static int entries(mreg_git_tree_entry **out, size_t *n, mreg_buf *keep, checker *c, const git_oid *id)
{
	const mreg_buf *b = NULL;
	*out = NULL;
	*n = 0;
	if (!id)
		return 0;
	int rc = read_tree(&b, c, id);
	if (rc < 0)
		return rc;
	mreg_buf_clear(keep);
	mreg_buf_put(keep, b->ptr, b->size);	/* the cache slot may be reused while we recurse */
	if (mreg_buf_oom(keep))
		return mreg_error_set(MREG_ERROR, "out of memory");
	rc = mreg_git_tree_parse(out, n, 0, keep->ptr, keep->size);
	if (rc < 0)
		return mreg_error_set(MREG_ECORRUPT, "a tree mreg cannot read");
	qsort(*out, *n, sizeof(**out), cmp_names);
	return 0;
}

/* new compared with old (NULL: empty) under dir; other: the same directory in a merge's other parent. */
static int diff(checker *c, const git_oid *old, const git_oid *new, const git_oid *other, place at, const char *dir)
{
	mreg_git_tree_entry *oe = NULL, *ne = NULL, *xe = NULL;
	size_t on = 0, nn = 0, xn = 0;
	mreg_buf ob = MREG_BUF_INIT, nb = MREG_BUF_INIT, xb = MREG_BUF_INIT;
	int rc;
	if ((old && git_oid_equal(old, new)) || (other && git_oid_equal(other, new)))
		return 0;
	if ((rc = entries(&ne, &nn, &nb, c, new)) < 0 || (rc = entries(&oe, &on, &ob, c, old)) < 0 ||
	    (rc = entries(&xe, &xn, &xb, c, other)) < 0)
		goto done;
	for (size_t i = 0; i < nn && rc == 0 && c->nproblems < MAX_PROBLEMS; i++) {
		const mreg_git_tree_entry *o = find_entry(oe, on, &ne[i]);
		if (o && git_oid_equal(&o->id, &ne[i].id) && o->mode == ne[i].mode)
			continue;
		rc = added(c, at, dir, &ne[i], o, find_entry(xe, xn, &ne[i]));
	}
	for (size_t i = 0; i < on && rc == 0; i++)
		if (!find_entry(ne, nn, &oe[i]))
			rc = deleted(c, at, dir, &oe[i]);
done:
	free(oe);
	free(ne);
	free(xe);
	mreg_buf_dispose(&ob);
	mreg_buf_dispose(&nb);
	mreg_buf_dispose(&xb);
	return rc;
}

int mreg_incoming_note_model(mreg_incoming *in, const char *model)
{
	for (size_t i = 0; i < in->nmodels; i++)
		if (!strcmp(in->models[i], model))
			return 0;
	char **more = realloc(in->models, (in->nmodels + 1) * sizeof(*more));
	if (!more)
		return mreg_error_set(MREG_ERROR, "out of memory");
	in->models = more;
	if (!(in->models[in->nmodels] = mreg_strdup(model)))
		return mreg_error_set(MREG_ERROR, "out of memory");
	in->nmodels++;
	return 0;
}

/* One commit against each parent (a root: against nothing). */
static int check_commit(checker *c, const git_oid *id)
{
	git_commit *commit = NULL;
	git_oid trees[2];
	unsigned np;
	int rc = 0;
	git_oid_tostr(c->commit, sizeof(c->commit), id);
	if (git_commit_lookup(&commit, c->reg->repo, id) < 0)
		return mreg_libgit2_error("cannot read commit", c->commit);
	np = git_commit_parentcount(commit);
	if (np > 2) {
		problem(c, "", "a merge of %u parents (mreg merges two)", np);
		goto done;
	}
	for (unsigned i = 0; i < np; i++) {
		git_commit *p = NULL;
		if (git_commit_parent(&p, commit, i) < 0) {
			rc = mreg_libgit2_error("cannot read a parent of commit", c->commit);
			goto done;
		}
		trees[i] = *git_commit_tree_id(p);
		git_commit_free(p);
	}
	c->out->commits++;
	if (np == 0)
		rc = diff(c, NULL, git_commit_tree_id(commit), NULL, AT_ROOT, "");
	for (unsigned i = 0; i < np && rc == 0; i++)
		rc = diff(c, &trees[i], git_commit_tree_id(commit), np == 2 ? &trees[1 - i] : NULL, AT_ROOT, "");
done:
	git_commit_free(commit);
	return rc;
}

static int check_range(mreg_incoming *out, mreg_registry *reg, const git_oid *tip, const git_oid *hide, size_t nhide,
		       mreg_incoming_cb cb, void *payload, bool keep)
{
	checker c = { reg, out, cb, payload, keep, "", 0, NULL };
	git_revwalk *walk = NULL;
	git_oid id;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mreg_registry_need_git(reg)) < 0)
		return rc;
	if (!(c.cache = calloc(CACHE_SLOTS, sizeof(*c.cache))))
		return mreg_error_set(MREG_ERROR, "out of memory");
	if (git_revwalk_new(&walk, reg->repo) < 0 || git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0 ||
	    git_revwalk_push(walk, tip) < 0) {
		rc = mreg_libgit2_error("cannot walk the history of", reg->path);
		goto done;
	}
	for (size_t i = 0; i < nhide; i++)
		if (git_revwalk_hide(walk, &hide[i]) < 0) {
			rc = mreg_libgit2_error("cannot walk the history of", reg->path);
			goto done;
		}
	while (rc == 0 && c.nproblems < MAX_PROBLEMS) {
		int next = git_revwalk_next(&id, walk);
		if (next == GIT_ITEROVER)
			break;
		rc = next < 0 ? mreg_libgit2_error("cannot walk the history of", reg->path) : check_commit(&c, &id);
	}
	out->problems = c.nproblems;
	if (rc == 0 && c.nproblems)
		rc = MREG_EINVALID;
done:
	git_revwalk_free(walk);
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		mreg_buf_dispose(&c.cache[i].bytes);
	free(c.cache);
	return rc;
}

int mreg_incoming_check(mreg_incoming *out, mreg_registry *reg, const git_oid *tip, const git_oid *hide, size_t nhide,
			mreg_incoming_cb cb, void *payload)
{
	return check_range(out, reg, tip, hide, nhide, cb, payload, false);
}

int mreg_incoming_check_keep(mreg_incoming *out, mreg_registry *reg, const git_oid *tip, const git_oid *hide,
			     size_t nhide, mreg_incoming_cb cb, void *payload)
{
	return check_range(out, reg, tip, hide, nhide, cb, payload, true);
}

static int cmp_known(const void *a, const void *b)
{
	return git_oid_cmp(&((const mreg_known_event *)a)->id, &((const mreg_known_event *)b)->id);
}

int mreg_incoming_known(mreg_known_event **out, size_t *n, mreg_incoming *in)
{
	size_t m = 0;
	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < in->nkept; i++)
		m += in->kept[i].ev != NULL;
	if (!m)
		return 0;
	mreg_known_event *k = malloc(m * sizeof(*k));
	if (!k)
		return mreg_error_set(MREG_ERROR, "out of memory");
	m = 0;
	for (size_t i = 0; i < in->nkept; i++)
		if (in->kept[i].ev)
			k[m++] = (mreg_known_event){ in->kept[i].id, &in->kept[i].ev };
	qsort(k, m, sizeof(*k), cmp_known);
	*out = k;
	*n = m;
	return 0;
}

void mreg_incoming_dispose(mreg_incoming *in)
{
	for (size_t i = 0; i < in->nkept; i++) {
		free(in->kept[i].path);
		mreg_event_free(in->kept[i].ev);
	}
	free(in->kept);
	for (size_t i = 0; i < in->nmodels; i++)
		free(in->models[i]);
	free(in->models);
	for (size_t i = 0; i < in->nlarge; i++)
		free(in->large[i].path);
	free(in->large);
	memset(in, 0, sizeof(*in));
}
