/*
 * The index file, version 2, edited without loading it.
 *
 * Every write mirrors its event (and model file) into the work tree and the
 * index, so that `git status` stays clean. Loading the index with libgit2
 * builds a structure per entry, which costs milliseconds at a few thousand
 * events; the change itself is one or two entries. So the index is
 * streamed instead: the old file (mapped by the caller) is written back as
 * spans of itself, with the new entries inserted at their sorted place,
 * optional extensions (the cached tree, untracked cache) dropped as git
 * allows, and the checksum recomputed. Anything unexpected (another
 * version, a required extension, a merge stage, a malformed entry) answers
 * MREG_GIT_UNSURE and the caller has libgit2 write the index.
 *
 * Entry layout (version 2): ctime, mtime (seconds and nanoseconds), dev,
 * ino, mode, uid, gid, size as 32-bit big-endian, the 20-byte object id,
 * 16-bit flags (low 12 bits: path length, 0xfff if longer), the path and
 * 1 to 8 NUL bytes so the entry length is a multiple of 8.
 */
#include "git.h"

#include <stdlib.h>
#include <string.h>

static void put_entry(mreg_buf *out, const mreg_git_index_entry *e)
{
	unsigned char h[62];
	const struct stat *s = &e->st;
	mreg_git_put_be32(h, (uint32_t)s->st_ctim.tv_sec);
	mreg_git_put_be32(h + 4, (uint32_t)s->st_ctim.tv_nsec);
	mreg_git_put_be32(h + 8, (uint32_t)s->st_mtim.tv_sec);
	mreg_git_put_be32(h + 12, (uint32_t)s->st_mtim.tv_nsec);
	mreg_git_put_be32(h + 16, (uint32_t)s->st_dev);
	mreg_git_put_be32(h + 20, (uint32_t)s->st_ino);
	mreg_git_put_be32(h + 24, s->st_mode & 0111 ? 0100755 : 0100644);	/* git's rule: any execute bit */
	mreg_git_put_be32(h + 28, (uint32_t)s->st_uid);
	mreg_git_put_be32(h + 32, (uint32_t)s->st_gid);
	mreg_git_put_be32(h + 36, (uint32_t)s->st_size);
	memcpy(h + 40, e->id.id, 20);
	size_t n = strlen(e->path);
	h[60] = (unsigned char)((n < 0xfff ? n : 0xfff) >> 8);
	h[61] = (unsigned char)(n < 0xfff ? n : 0xfff);
	mreg_buf_put(out, h, 62);
	mreg_buf_put(out, e->path, n);
	static const char zeros[8];
	mreg_buf_put(out, zeros, 8 - (62 + n) % 8);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const mreg_git_index_entry *)a)->path, ((const mreg_git_index_entry *)b)->path);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The file being built: spans of the old index and of own, in order. */
typedef struct {
	mreg_buf *own;
	mreg_span *sp;
	size_t n, a;
	size_t mark;	/* own's bytes from here are not in a span yet */
	bool oom;
} splice;

static void add_span(splice *s, const char *ptr, size_t off, size_t len)
{
	if (!len || s->oom)
		return;
	/* runs of the old index that touch are one span */
	if (ptr && s->n && s->sp[s->n - 1].ptr && s->sp[s->n - 1].ptr + s->sp[s->n - 1].len == ptr) {
		s->sp[s->n - 1].len += len;
		return;
	}
	if (s->n == s->a) {
		s->a = s->a ? s->a * 2 : 256;
		mreg_span *p = realloc(s->sp, s->a * sizeof(*s->sp));
		if (!p) {
			s->oom = true;
			return;
		}
		s->sp = p;
	}
	s->sp[s->n++] = (mreg_span){ ptr, off, len };
}

/* own's new bytes since the last span, as a span */
static void flush_own(splice *s)
{
	add_span(s, NULL, s->mark, s->own->size - s->mark);
	s->mark = s->own->size;
}

/* The length of the entry at e (before end) and its path; 0 when it is not one this code streams. */
static size_t entry_len(const unsigned char **name, const unsigned char *e, const unsigned char *end)
{
	if (end - e < 62 + 20)
		return 0;
	uint16_t flags = (uint16_t)(e[60] << 8 | e[61]);
	if (flags & 0x4000 || (flags >> 12 & 3))	/* extended flags or a merge stage */
		return 0;
	const unsigned char *nul = memchr(e + 62, 0, (size_t)(end - e - 62));
	if (!nul)
		return 0;
	size_t elen = (62 + (size_t)(nul - e - 62) + 8) & ~(size_t)7;
	*name = e + 62;
	return (size_t)(end - e) < elen ? 0 : elen;
}

/* The first of the n sorted adds whose path is not before key (klen bytes, compared as a prefix). */
static size_t lower_bound(const mreg_git_index_entry *adds, size_t n, const char *key, size_t klen)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strncmp(adds[mid].path, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * A file where a new entry needs a directory ("events" while an add is
 * "events/ab/..."), or an entry under a path an add makes a file ("dir/c"
 * while an add is "dir"): the index would hold both, which git refuses;
 * the old goes, as a checkout replaces it in the work tree. The adds are
 * sorted; any of them may clash, not only the old entry's neighbours.
 */
static bool shadowed(const char *name, size_t len, const mreg_git_index_entry *adds, size_t nadds)
{
	char key[4096];
	if (len + 1 >= sizeof(key))
		return false;
	memcpy(key, name, len);
	key[len] = '/';	/* an add under name/ */
	size_t i = lower_bound(adds, nadds, key, len + 1);
	if (i < nadds && !strncmp(adds[i].path, key, len + 1))
		return true;
	for (size_t k = 0; k < len; k++) {	/* an add that is a directory of name */
		if (name[k] != '/')
			continue;
		/* among the adds that start with name's first k bytes, that very path sorts first */
		i = lower_bound(adds, nadds, name, k);
		if (i < nadds && !strncmp(adds[i].path, name, k) && adds[i].path[k] == '\0')
			return true;
	}
	return false;
}

int mreg_git_index_splice(mreg_buf *own, mreg_span **spans, size_t *nspans, const char *map, size_t maplen,
			  mreg_git_index_entry *adds, size_t nadds, char **removes, size_t nremoves)
{
	const unsigned char *p = (const unsigned char *)map, *end = p + maplen;
	splice s = { own, NULL, 0, 0, 0, false };
	size_t next = 0, gone = 0, u = 0;
	uint32_t kept = 0;

	*spans = NULL;
	*nspans = 0;
	qsort(adds, nadds, sizeof(*adds), cmp_entry);
	if (nremoves)
		qsort(removes, nremoves, sizeof(*removes), cmp_str);
	for (size_t i = 0; i < nadds; i++)	/* one entry per path */
		if (!u || strcmp(adds[u - 1].path, adds[i].path))
			adds[u++] = adds[i];
	nadds = u;
	if (maplen < 32 || memcmp(p, "DIRC", 4) || mreg_git_be32(p + 4) != 2)
		return MREG_GIT_UNSURE;
	uint32_t n = mreg_git_be32(p + 8);
	const unsigned char *e = p + 12;
	mreg_buf_clear(own);
	mreg_buf_put(own, "DIRC\0\0\0\2\0\0\0\0", 12);
	/* new entries are built in own; old ones are spans of the mapped index */
	for (uint32_t i = 0; i < n; i++) {
		const unsigned char *name;
		size_t elen = entry_len(&name, e, end), len = elen ? strlen((const char *)name) : 0;
		if (!elen)
			goto unsure;
		int c = 1;
		while (next < nadds && (c = strcmp(adds[next].path, (const char *)name)) < 0) {
			put_entry(own, &adds[next++]);
			kept++;
		}
		while (gone < nremoves && strcmp(removes[gone], (const char *)name) < 0)
			gone++;
		bool replaced = next < nadds && c == 0;
		bool removed = gone < nremoves && !strcmp(removes[gone], (const char *)name) && !replaced;
		if (removed || shadowed((const char *)name, len, adds, nadds)) {
			flush_own(&s);
		} else if (replaced) {
			put_entry(own, &adds[next++]);
			kept++;
		} else {
			flush_own(&s);
			add_span(&s, (const char *)e, 0, elen);
			kept++;
		}
		e += elen;
	}
	while (next < nadds) {
		put_entry(own, &adds[next++]);
		kept++;
	}
	flush_own(&s);
	/* extensions: drop the optional ones (upper-case signature), refuse the rest */
	while (end - e > 20) {
		if (end - e < 8 + 20 || e[0] < 'A' || e[0] > 'Z')
			goto unsure;
		uint32_t size = mreg_git_be32(e + 4);
		if ((size_t)(end - e) < 8 + (size_t)size + 20)
			goto unsure;
		e += 8 + size;
	}
	if (mreg_buf_oom(own) || s.oom)
		goto oom;
	mreg_git_put_be32((unsigned char *)own->ptr + 8, kept);
	unsigned char sum[20];
	mreg_git_sha1_ctx md;
	mreg_git_sha1_init(&md);
	for (size_t i = 0; i < s.n; i++)
		mreg_git_sha1_update(&md, s.sp[i].ptr ? s.sp[i].ptr : own->ptr + s.sp[i].off, s.sp[i].len);
	mreg_git_sha1_final(&md, sum);
	size_t sumoff = own->size;
	mreg_buf_put(own, sum, 20);
	add_span(&s, NULL, sumoff, 20);
	if (mreg_buf_oom(own) || s.oom)
		goto oom;
	*spans = s.sp;
	*nspans = s.n;
	return 0;
unsure:
	free(s.sp);
	return MREG_GIT_UNSURE;
oom:
	free(s.sp);
	return mreg_error_set(MREG_ERROR, "out of memory");
}

/* git's varint of index version 4, skipped; NULL past end. */
static const unsigned char *skip_varint(const unsigned char *p, const unsigned char *end)
{
	while (p < end && *p & 128)
		p++;
	return p < end ? p + 1 : NULL;
}

/* Past the n entries of an index of version 2 to 4 at p; NULL when they do not parse. */
static const unsigned char *skip_entries(const unsigned char *p, const unsigned char *end, uint32_t n, uint32_t version)
{
	for (uint32_t i = 0; i < n; i++) {
		if (end - p < 62)
			return NULL;
		size_t fixed = 62 + (version >= 3 && (p[60] & 0x40) ? 2 : 0);
		const unsigned char *name = p + fixed, *nul;
		if (name > end || (version == 4 && !(name = skip_varint(name, end))) ||
		    !(nul = memchr(name, 0, (size_t)(end - name))))
			return NULL;
		p = version == 4 ? nul + 1 : p + ((fixed + (size_t)(nul - (p + fixed)) + 8) & ~(size_t)7);
	}
	return p;
}

int mreg_git_index_trees(const void *data, size_t len, int (*fn)(const git_oid *id, void *payload), void *payload)
{
	const unsigned char *p = data, *end = p + len;
	if (len < 12 + 20 || memcmp(p, "DIRC", 4))
		return 0;
	uint32_t version = mreg_git_be32(p + 4), n = mreg_git_be32(p + 8);
	if (version < 2 || version > 4)
		return 0;
	end -= 20;	/* the checksum */
	if (!(p = skip_entries(p + 12, end, n, version)))
		return 0;
	while (end - p >= 8) {
		uint32_t elen = mreg_git_be32(p + 4);
		const unsigned char *q = p + 8, *qend;
		if ((size_t)(end - q) < elen)
			return 0;
		qend = q + elen;
		p = qend;
		if (memcmp(p - elen - 8, "TREE", 4))
			continue;
		/* path NUL, entry count (-1: invalid), space, subtree count, newline, then the id if valid */
		while (q < qend) {
			const unsigned char *nul = memchr(q, 0, (size_t)(qend - q)), *nl;
			if (!nul || !(nl = memchr(nul, '\n', (size_t)(qend - nul))))
				return 0;
			bool valid = nul[1] != '-';
			q = nl + 1;
			if (!valid)
				continue;
			git_oid id;
			if (qend - q < 20)
				return 0;
			memcpy(id.id, q, 20);
			q += 20;
			int rc = fn(&id, payload);
			if (rc)
				return rc;
		}
	}
	return 0;
}
