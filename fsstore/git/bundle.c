/*
 * Git bundles, version 2: "# v2 git bundle", a line per ref ("<id> <name>"),
 * a blank line and one pack. The pack is made from the repository's own
 * packs, entry by entry, without inflating anything: an object's bytes are
 * copied as they are, and a delta that names its base by offset (OFS_DELTA,
 * meaningful only inside its own pack) is rewritten to name it by id
 * (REF_DELTA), so entries from several packs can share one (packw.c).
 * Loose objects, which mreg does not write but git may, are added whole.
 */
#include "git.h"

#include <stdlib.h>
#include <string.h>

#define BUNDLE_SIGNATURE "# v2 git bundle\n"

/* The loose objects of one object directory not in seen, whole. */
typedef struct {
	mreg_git_packw *w;
	mreg_git_oidset *seen;
	mreg_odb *odb;
	mreg_buf obj;
} loose_walk;

static int add_loose(const git_oid *id, const char *path, const char *name, void *payload)
{
	loose_walk *l = payload;
	git_object_t type;
	(void)path;
	(void)name;
	if (!id || mreg_git_oidset_has(l->seen, id->id))
		return 0;
	int rc = mreg_odb_read(&l->obj, &type, l->odb, id);
	if (rc == 1)
		return 0;	/* gone meanwhile (a git gc packed it): the pack is read after */
	if (rc == 0 && (rc = mreg_git_packw_add(l->w, id, type, l->obj.ptr, l->obj.size)) == 0)
		rc = mreg_git_oidset_add(l->seen, id->id) < 0 ? MREG_ERROR : 0;
	return rc;
}

/* The packs (with their indexes) and the loose objects of one object directory. */
static int add_dir(mreg_git_packw *w, mreg_git_oidset *seen, const char *dir)
{
	mreg_git_packfile *packs = NULL;
	size_t n = 0;
	bool midx;
	char *packdir = mreg_strfmt("%s/pack", dir), *objdir = mreg_strfmt("%s/", dir);
	loose_walk l = { w, seen, NULL, MREG_BUF_INIT };
	int rc = packdir && objdir ? mreg_git_pack_list(&packs, &n, &midx, packdir)
				   : mreg_error_set(MREG_ERROR, "out of memory");
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!packs[i].idx)
			continue;	/* a pack without its index is not in use yet */
		const char *idx = NULL, *pack = NULL;
		size_t ilen = 0, plen = 0;
		char *ip = mreg_strfmt("%s/%s.idx", packdir, packs[i].name), *pp = mreg_strfmt("%s/%s.pack", packdir, packs[i].name);
		if (!ip || !pp)
			rc = mreg_error_set(MREG_ERROR, "out of memory");
		else if ((rc = mreg_fs_map(&idx, &ilen, ip)) == 0 && (rc = mreg_fs_map(&pack, &plen, pp)) == 0 &&
			 (rc = mreg_git_packw_copy(w, seen, idx, ilen, pack, plen, true)) == MREG_GIT_UNSURE)
			rc = mreg_error_set(MREG_ECORRUPT, "cannot bundle pack '%s': not one this code reads", pp);
		mreg_fs_unmap(idx, ilen);
		mreg_fs_unmap(pack, plen);
		free(ip);
		free(pp);
	}
	if (rc == 0 && (rc = mreg_odb_open(&l.odb, objdir)) == 0)
		rc = mreg_git_loose_each(dir, false, add_loose, &l);
	mreg_odb_free(l.odb);
	mreg_buf_dispose(&l.obj);
	free(packs);
	free(packdir);
	free(objdir);
	return rc;
}

int mreg_git_bundle_write(mreg_buf *out, char *const *dirs, size_t ndirs, const git_oid *head, const char *branch)
{
	mreg_git_packw w;
	mreg_git_oidset seen = { NULL, 0, 0 };
	char hex[GIT_OID_HEXSZ + 1], name[41];
	char *header;
	int rc = 0;

	git_oid_tostr(hex, sizeof(hex), head);
	if (!(header = mreg_strfmt("%s%s HEAD\n%s %s\n\n", BUNDLE_SIGNATURE, hex, hex, branch)))
		return mreg_error_set(MREG_ERROR, "out of memory");
	mreg_git_packw_init(&w, false, header);
	free(header);
	/* room for every pack at once: the bundle is at most their sum, and growing would copy it */
	int64_t total = 0;
	for (size_t d = 0; d < ndirs && rc == 0; d++) {
		mreg_git_packfile *packs = NULL;
		size_t n = 0;
		bool midx;
		char *packdir = mreg_strfmt("%s/pack", dirs[d]);
		rc = packdir ? mreg_git_pack_list(&packs, &n, &midx, packdir) : mreg_error_set(MREG_ERROR, "out of memory");
		for (size_t i = 0; i < n; i++)
			total += packs[i].size + packs[i].size / 8;	/* REF_DELTA names are longer than offsets */
		free(packs);
		free(packdir);
	}
	if (rc == 0)
		mreg_buf_grow(&w.pack, (size_t)total + 4096);
	for (size_t d = 0; d < ndirs && rc == 0; d++)
		rc = add_dir(&w, &seen, dirs[d]);
	if (rc == 0 && (rc = mreg_git_packw_finish(&w, name)) == 0) {
		mreg_buf_dispose(out);
		*out = w.pack;
		mreg_buf_init(&w.pack, 0);
	}
	mreg_git_oidset_dispose(&seen);
	mreg_git_packw_dispose(&w);
	return rc;
}

int mreg_git_bundle_parse(git_oid *head, const unsigned char **pack, size_t *packlen, const char **why,
			  const char *data, size_t len)
{
	const char *p = data, *end = data + len;
	size_t sl = strlen(BUNDLE_SIGNATURE);
	bool have = false;
	*why = NULL;
	if (len < sl || memcmp(data, BUNDLE_SIGNATURE, sl)) {
		*why = "not a v2 git bundle";
		return MREG_ECORRUPT;
	}
	p += sl;
	while (p < end && *p != '\n') {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		git_oid oid;
		if (!nl || *p == '-' || nl - p < 42 || p[40] != ' ' || git_oid_fromstrn(&oid, p, 40) < 0) {
			*why = "bad bundle header";
			return MREG_ECORRUPT;
		}
		if (nl - p - 41 > 11 && !memcmp(p + 41, "refs/heads/", 11)) {
			*head = oid;
			have = true;
		}
		p = nl + 1;
	}
	if (p >= end) {
		*why = "the bundle holds no pack";
		return MREG_ECORRUPT;
	}
	if (!have) {
		*why = "the bundle names no branch";
		return MREG_ECORRUPT;
	}
	p++;
	*pack = (const unsigned char *)p;
	*packlen = (size_t)(end - p);
	unsigned char sum[20];
	if (*packlen < 32 || memcmp(p, "PACK", 4)) {
		*why = "the bundle holds no pack";
		return MREG_ECORRUPT;
	}
	mreg_git_sha1(sum, p, *packlen - 20);
	if (memcmp(sum, p + *packlen - 20, 20)) {
		*why = "pack checksum mismatch";
		return MREG_ECORRUPT;
	}
	return 0;
}
