/*
 * mreg gc: one pack, with delta compression, of everything `git gc` keeps;
 * then the packs and loose objects it makes redundant go, and garbage only
 * once git's grace period is over. Writes never compute deltas (each stores
 * its trees whole, which is what makes them fast); this is where the history
 * gets small again.
 *
 * What is kept, as git keeps it: every ref (an annotated tag as the tag
 * object itself and what it points at, be it a commit, a tree or a blob),
 * HEAD, every entry of every reflog, the index's entries (a blob staged with
 * `git add` is in no commit yet) and its cache-tree, and the same for each
 * linked work tree. Each of these is given to git pack-objects as a tip
 * (add_tip), which packs it with all it reaches.
 *
 * What goes: a loose object the new pack holds, or one older than the
 * cutoff of gc.pruneExpire (prune_cutoff: two weeks by default). An old
 * pack goes whole, and the objects in it that the new pack does not hold are
 * unreachable: git's way with them (`git repack -A
 * --unpack-unreachable=<expiry>`, then `git prune --expire=<expiry>`) is to
 * write them out as loose objects dated with the pack's mtime, unless the
 * pack is older than the cutoff, and to prune loose objects by their mtime.
 * mreg does the same in one go: when the old pack is younger than the
 * cutoff, its unreachable objects are written loose with its mtime (and made
 * durable) before it is removed, and the next gc judges them by that date;
 * when it is older, they go with it. So nothing unreachable disappears
 * before its grace period is over, whichever way it was stored, and an
 * object written a moment ago by a command running beside gc (loose, or in
 * a pack gc did not see) stays. A .pack without its .idx (nothing reads
 * it) goes once older than the cutoff; packs git marks .keep or .promisor
 * stay as they are.
 *
 * The pack a full gc writes is the base (its name in .git/mreg/gc-base,
 * with the commit HEAD was at). A later gc leaves the base as it is and
 * packs only what lies outside it (git pack-objects --keep-pack; its walk
 * stops at that commit, all of whose history the base holds), deltas
 * searched anew among those objects, as long as the other packs together
 * are smaller than the base; once they are not (or with --full, or when
 * the base is gone), gc packs everything again and that pack is the next
 * base. Each object is then searched
 * O(1) times over its life, and a gc of a large registry costs what was
 * written since the last full one, not the whole history again. What became
 * unreachable inside the base goes at the next full gc.
 *
 * git pack-objects writes the new pack into MREG_PACK_TMP, from where the
 * pack and then its index are renamed into objects/pack and made durable
 * before anything old is removed; a gc killed while it writes leaves its
 * temporary files there, and the next write removes them.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <fcntl.h>
#include <sys/file.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Where git pack-objects writes gc's pack: only mreg writes there, and only under the writer lock. */
#define MREG_PACK_TMP "mreg/pack-tmp"

/*
 * A gc killed between moving its new pack into objects/pack and moving the
 * index after it left that pack alone there, its index still in dir: the
 * pack goes (no index names it, nothing reads it, and every object in it
 * is still in the packs that gc had not yet removed).
 */
static void remove_lone_packs(mreg_registry *reg, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		const char *n = de->d_name;
		if (strlen(n) != 49 || strncmp(n, "pack-", 5) || strcmp(n + 45, ".idx") || strspn(n + 5, "0123456789abcdef") != 40)
			continue;
		char *pack = mreg_strfmt("%sobjects/pack/%.45s.pack", reg->gitdir, n);
		char *idx = mreg_strfmt("%sobjects/pack/%s", reg->gitdir, n);
		if (pack && idx && access(idx, F_OK) < 0 && errno == ENOENT)
			unlink(pack);
		free(pack);
		free(idx);
	}
	if (d)
		closedir(d);
}

/*
 * What a killed gc left (the directory where git pack-objects writes its pack),
 * removed by the next writer: it holds the writer lock, so no gc runs.
 */
void mreg_gc_sweep_tmp(mreg_registry *reg)
{
	char *dir = mreg_strfmt("%s" MREG_PACK_TMP, reg->gitdir);
	if (dir && rmdir(dir) < 0 && errno != ENOENT) {	/* usually not there: one system call */
		remove_lone_packs(reg, dir);
		mreg_fs_remove_tree(dir);	/* the pack, and git's objects/pack/tmp_* beside it */
	}
	free(dir);
}

/*
 * The temporary pack of a fetch: libgit2's (pack_git2_*) or, for a path
 * remote, git's (tmp_pack_*, tmp_idx_*); the fetch lock says whether one
 * is running. (A stock `git fetch` run by hand into the registry during an
 * `mreg gc` would lose its temporary pack and have to run again.)
 */
static bool fetch_litter(const char *name)
{
	return !strncmp(name, "pack_git2_", 10) || !strncmp(name, "tmp_pack_", 9) || !strncmp(name, "tmp_idx_", 8);
}

/*
 * What fetches killed half-way left in objects/pack, removed while no
 * fetch of this registry runs: sync holds .git/mreg/fetch.lock shared while
 * it downloads (remote.c), and this takes it exclusively without waiting.
 */
static void sweep_fetches(mreg_registry *reg)
{
	char *lock = mreg_strfmt("%sfetch.lock", reg->mregdir), *dir = mreg_strfmt("%sobjects/pack", reg->gitdir);
	int fd = lock ? open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
	if (fd >= 0 && dir && flock(fd, LOCK_EX | LOCK_NB) == 0)
		mreg_fs_unlink_where(dir, fetch_litter);
	if (fd >= 0)
		close(fd);
	free(lock);
	free(dir);
}

/* The bytes of the object directory. */
static int64_t objects_size(mreg_registry *reg)
{
	char *dir = mreg_strfmt("%sobjects", reg->gitdir);
	int64_t n = dir ? mreg_fs_tree_size(dir) : 0;
	free(dir);
	return n;
}

typedef struct {
	mreg_registry *reg;
	mreg_buf revs;		/* what is kept, one object id a line: what git pack-objects --revs reads */
	git_oid head;		/* HEAD as packed, the next base's commit; zero when unborn */
} gc_tips;

static int keep(gc_tips *g, const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1];
	mreg_buf_printf(&g->revs, "%s\n", git_oid_tostr(hex, sizeof(hex), id));
	return mreg_buf_oom(&g->revs) ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

/* Keep id and what it reaches. must: a missing object is an error (a ref), else passed by (a reflog entry). */
static int add_tip(gc_tips *g, const git_oid *id, const char *what, bool must)
{
	git_oid cur = *id;
	char hex[GIT_OID_HEXSZ + 1];
	for (int depth = 0; depth < 32; depth++) {
		size_t size;
		git_object_t type;
		git_tag *tag = NULL;
		int err = 0;
		if (git_oid_is_zero(&cur))
			return 0;
		if (git_odb_read_header(&size, &type, g->reg->odb, &cur) < 0) {
			git_error_clear();
			if (!must)
				return 0;
			return mreg_error_set(MREG_ECORRUPT, "cannot gc '%s': %s names object %s, which is missing (see git fsck); nothing was removed",
					      g->reg->path, what, git_oid_tostr(hex, sizeof(hex), &cur));
		}
		switch (type) {
		case GIT_OBJECT_COMMIT:	/* with its history and trees */
		case GIT_OBJECT_TREE:	/* with what it holds */
		case GIT_OBJECT_BLOB:
			return keep(g, &cur);
		case GIT_OBJECT_TAG:	/* the tag itself, then what it points at (which must be there) */
			if ((err = keep(g, &cur)) < 0)
				return err;
			if (git_tag_lookup(&tag, g->reg->repo, &cur) < 0)
				return mreg_libgit2_error("cannot gc", g->reg->path);
			cur = *git_tag_target_id(tag);
			git_tag_free(tag);
			must = true;
			continue;
		default:
			return 0;
		}
	}
	return mreg_error_set(MREG_ECORRUPT, "cannot gc '%s': %s is a chain of tags too long to follow", g->reg->path, what);
}

static int add_reflog(gc_tips *g, git_repository *repo, const char *name)
{
	git_reflog *log = NULL;
	int rc = 0;
	if (git_reflog_read(&log, repo, name) < 0) {
		git_error_clear();	/* none */
		return 0;
	}
	for (size_t i = 0; i < git_reflog_entrycount(log) && rc == 0; i++) {
		const git_reflog_entry *e = git_reflog_entry_byindex(log, i);
		if ((rc = add_tip(g, git_reflog_entry_id_new(e), name, false)) == 0)
			rc = add_tip(g, git_reflog_entry_id_old(e), name, false);
	}
	git_reflog_free(log);
	return rc;
}

/* Every ref and its reflog, and HEAD and its reflog. */
static int add_refs(gc_tips *g)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	git_oid head;
	int rc = 0, err;
	if (git_reference_iterator_new(&it, g->reg->repo) < 0)
		return mreg_libgit2_error("cannot list the refs of", g->reg->path);
	while (rc == 0 && (err = git_reference_next(&ref, it)) == 0) {
		git_reference *res = NULL;
		if (git_reference_resolve(&res, ref) == 0)
			rc = add_tip(g, git_reference_target(res), git_reference_name(ref), true);
		git_error_clear();	/* a symbolic ref to nothing */
		if (rc == 0)
			rc = add_reflog(g, g->reg->repo, git_reference_name(ref));
		git_reference_free(res);
		git_reference_free(ref);
	}
	if (rc == 0 && err != GIT_ITEROVER)
		rc = mreg_libgit2_error("cannot list the refs of", g->reg->path);
	git_reference_iterator_free(it);
	if (rc == 0 && git_reference_name_to_id(&head, g->reg->repo, "HEAD") == 0) {
		rc = add_tip(g, &head, "HEAD", true);
		g->head = head;
	}
	git_error_clear();	/* an unborn HEAD */
	return rc == 0 ? add_reflog(g, g->reg->repo, "HEAD") : rc;
}

static int add_tree_tip(const git_oid *id, void *payload)
{
	return add_tip(payload, id, "the index's cache-tree", false);
}

/* The entries (all stages; not submodules) and the cache-tree of the index file at path. */
static int add_index(gc_tips *g, const char *path)
{
	git_index *idx = NULL;
	mreg_buf b = MREG_BUF_INIT;
	int rc = 0;
	if (access(path, F_OK) < 0)
		return 0;	/* none (a bare repository) */
	if (git_index_open(&idx, path) < 0)
		return mreg_libgit2_error("cannot gc: cannot read the index", path);
	for (size_t i = 0; rc == 0 && i < git_index_entrycount(idx); i++) {
		const git_index_entry *e = git_index_get_byindex(idx, i);
		if (e->mode != GIT_FILEMODE_COMMIT)
			rc = add_tip(g, &e->id, "the index", false);
	}
	git_index_free(idx);
	/* the cache-tree's trees, which libgit2 does not show */
	if (rc == 0 && mreg_fs_read(&b, path, 0) == 0)
		rc = mreg_git_index_trees(b.ptr, b.size, add_tree_tip, g);
	mreg_error_clear();
	mreg_buf_dispose(&b);
	return rc;
}

/* A reflog file read by hand (a linked work tree's HEAD). */
static int add_reflog_file(gc_tips *g, const char *path)
{
	mreg_buf b = MREG_BUF_INIT;
	git_oid a, c;
	int rc = 0;
	if (mreg_fs_read(&b, path, 0) < 0) {
		mreg_error_clear();
		return 0;
	}
	for (const char *p = b.ptr, *end = b.ptr + b.size; rc == 0 && mreg_git_reflog_next(&a, &c, &p, end);)
		if ((rc = add_tip(g, &a, path, false)) == 0)
			rc = add_tip(g, &c, path, false);
	mreg_buf_dispose(&b);
	return rc;
}

/* A linked work tree: its HEAD (detached at a commit; a branch is one of the refs), its reflog, its index. */
static int add_worktree(const git_oid *detached, const char *head, const char *log, const char *index, void *payload)
{
	gc_tips *g = payload;
	int rc = detached ? add_tip(g, detached, head, true) : 0;
	if (rc == 0 && (rc = add_reflog_file(g, log)) == 0)
		rc = add_index(g, index);
	return rc;
}

/*
 * gc.pruneExpire as a cutoff in seconds: what is unreachable and older goes.
 * Read as git reads it (fsstore/git/config.c); anything else git's own
 * date parser may know is refused, with the value named, and gc does
 * nothing.
 */
static int prune_cutoff(int64_t *out, mreg_registry *reg)
{
	git_config *cfg = NULL;
	git_buf v = GIT_BUF_INIT;
	const char *value = "2.weeks.ago";	/* git's default */
	int rc = 0;
	if (git_repository_config_snapshot(&cfg, reg->repo) < 0)
		return mreg_libgit2_error("cannot read git config of", reg->path);
	if (git_config_get_string_buf(&v, cfg, "gc.pruneExpire") == 0)
		value = v.ptr;
	git_error_clear();
	if (mreg_git_config_expiry(out, value, mreg_fs_now_usec() / 1000000) < 0)
		rc = mreg_error_set(MREG_EINVALID, "invalid gc.pruneExpire '%s': use now, never, a date (2024-01-31) "
				    "or a relative one (2.weeks.ago)", value);
	git_buf_dispose(&v);
	git_config_free(cfg);
	return rc;
}

/*
 * The base linked into the temporary object directory: git pack-objects
 * leaves out what a pack holds (--keep-pack) only for a pack of its own
 * object directory, not of an alternate. false when it cannot be linked.
 */
static bool link_base(mreg_registry *reg, const char *objdir, const char *base)
{
	static const char *const ext[] = { ".pack", ".idx" };
	bool ok = true;
	for (size_t e = 0; e < 2 && ok; e++) {
		char *from = mreg_strfmt("%sobjects/pack/pack-%s%s", reg->gitdir, base, ext[e]);
		char *to = mreg_strfmt("%s/pack/pack-%s%s", objdir, base, ext[e]);
		ok = from && to && link(from, to) == 0;
		free(from);
		free(to);
	}
	return ok;
}

/*
 * The kept objects packed by stock git (pack-objects, deltas computed anew,
 * on every core) in MREG_PACK_TMP, then moved into objects/pack, durably.
 * libgit2's pack builder, which did this before, took 4 to 5 times as long
 * (a single thread) for a pack a tenth larger: 8.8 s against 2.5 s at
 * 100,000 events, 93 s against 21 s (git gc's own) at a million. With a
 * base (*base), only what lies outside it; *base is set to NULL when the
 * base cannot be linked, and the gc is a full one.
 */
static int write_new_pack(char name[41], gc_tips *g, const char **base, const git_oid *stop)
{
	mreg_registry *reg = g->reg;
	char *tmp = mreg_strfmt("%s" MREG_PACK_TMP, reg->gitdir), *prefix = NULL, *from = NULL, *to = NULL;
	char *objdir = NULL, *alt = NULL, *tmpobj = NULL, keep[64];
	mreg_buf out = MREG_BUF_INIT, err = MREG_BUF_INIT;
	int rc = 0;
	/*
	 * git writes its temporary files in its object directory's pack/: that
	 * is made one under MREG_PACK_TMP, with the registry's objects as an
	 * alternate, so that what a killed gc leaves is only ever there
	 */
	if (!tmp || !(prefix = mreg_strfmt("%s/pack", tmp)) || !(objdir = mreg_strfmt("%s/objects", tmp)) ||
	    !(tmpobj = mreg_strfmt("GIT_OBJECT_DIRECTORY=%s", objdir)) ||
	    !(alt = mreg_strfmt("GIT_ALTERNATE_OBJECT_DIRECTORIES=%sobjects", reg->gitdir))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	mreg_gc_sweep_tmp(reg);
	char *gitpack = mreg_strfmt("%s/pack", objdir);	/* where git writes its tmp_pack_* */
	rc = gitpack ? mreg_fs_mkdirs(gitpack) : mreg_error_set(MREG_ERROR, "out of memory");
	free(gitpack);
	if (rc < 0)
		goto done;
	if (*base && !link_base(reg, objdir, *base))
		*base = NULL;	/* a full gc, then: the walk goes all the way */
	if (*base) {	/* what the base holds is left out, and the walk stops where all is in it */
		char hex[GIT_OID_HEXSZ + 1];
		if (stop)
			mreg_buf_printf(&g->revs, "^%s\n", git_oid_tostr(hex, sizeof(hex), stop));
		snprintf(keep, sizeof(keep), "--keep-pack=pack-%s.pack", *base);
	}
	char *argv[] = { "env", tmpobj, alt, "git", "--git-dir", reg->gitdir, "-c",
			 reg->fsync ? "core.fsync=pack,pack-metadata" : "core.fsync=none", "-c", "core.fsyncMethod=fsync",
			 "pack-objects", "--revs", "--non-empty", "--keep-true-parents", "--delta-base-offset",
			 "--no-reuse-delta", "-q", *base ? keep : prefix, *base ? prefix : NULL, NULL };
	if (mreg_remote_run(&out, &err, reg->gitdir, argv, g->revs.size ? g->revs.ptr : "") < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot pack the history of '%s': git pack-objects: %s", reg->path,
				    err.size ? err.ptr : mreg_error_last());
		goto done;
	}
	name[0] = '\0';
	if (*base && out.size == 0)
		goto done;	/* nothing outside the base: no pack */
	if (out.size < 40 || strspn(out.ptr, "0123456789abcdef") != 40) {
		rc = mreg_error_set(MREG_ERROR, "cannot pack the history of '%s': git pack-objects named no pack", reg->path);
		goto done;
	}
	snprintf(name, 41, "%.40s", out.ptr);
	static const char *const ext[] = { ".pack", ".idx" };	/* an index names only a complete pack */
	for (size_t e = 0; e < 2 && rc == 0; e++) {
		free(from);
		free(to);
		from = mreg_strfmt("%s-%s%s", prefix, name, ext[e]);
		to = mreg_strfmt("%sobjects/pack/pack-%s%s", reg->gitdir, name, ext[e]);
		if (!from || !to)
			rc = mreg_error_set(MREG_ERROR, "out of memory");
		else if (rename(from, to) < 0)
			rc = mreg_error_set(MREG_ERROR, "cannot write '%s': %s", to, strerror(errno));
	}
	if (rc == 0 && reg->fsync) {
		free(to);
		to = mreg_strfmt("%sobjects/pack", reg->gitdir);
		rc = to ? mreg_fs_fsync_dir(to) : mreg_error_set(MREG_ERROR, "out of memory");
	}
done:
	mreg_gc_sweep_tmp(reg);
	mreg_buf_dispose(&out);
	mreg_buf_dispose(&err);
	free(objdir);
	free(alt);
	free(tmpobj);
	free(prefix);
	free(from);
	free(to);
	free(tmp);
	return rc;
}

/*
 * An unreachable object of a pack about to go, written loose with the
 * pack's mtime (or, already loose, given that mtime if it is later): what
 * `git repack --unpack-unreachable` does. The file and its directory are
 * durable (when reg->fsync) before the pack goes; its date is not, and a
 * date lost in a crash is a later one, which only keeps the object longer.
 */
static int eject(mreg_registry *reg, const unsigned char *oid, time_t mtime)
{
	git_oid id;
	git_odb_object *o = NULL;
	struct stat sb;
	char *objdir = mreg_strfmt("%sobjects", reg->gitdir), *path = NULL;
	int rc = 0;

	memcpy(id.id, oid, 20);
	if (!objdir || !(path = mreg_git_loose_path(objdir, &id))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	if (stat(path, &sb) < 0) {
		if (git_odb_read(&o, reg->odb, &id) < 0) {
			rc = mreg_libgit2_error("cannot gc: cannot read an unreachable object of", reg->path);
			goto done;
		}
		if ((rc = mreg_git_loose_write(path, git_odb_object_type(o), git_odb_object_data(o), git_odb_object_size(o),
					       reg->fsync)) < 0)
			goto done;
	} else if (sb.st_mtime >= mtime) {
		goto done;
	}
	struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };
	if (utimensat(AT_FDCWD, path, ts, 0) < 0)
		rc = mreg_error_set(MREG_ERROR, "cannot date '%s': %s", path, strerror(errno));
done:
	git_odb_object_free(o);
	free(objdir);
	free(path);
	return rc;
}

/* The object ids of a pack index (version 2) read into b; NULL when it is not one this reads. */
static const unsigned char *idx_ids(mreg_buf *b, size_t *n, const char *path)
{
	mreg_git_idx x;
	mreg_buf_clear(b);
	if (mreg_fs_read(b, path, 0) < 0) {
		mreg_error_clear();
		return NULL;
	}
	if (mreg_git_idx_parse(&x, b->ptr, b->size) != 0)
		return NULL;
	*n = x.count;
	return x.ids;
}

/* Every old pack but the base goes, its unreachable objects ejected first when it is younger than cutoff. */
static int prune_packs(mreg_registry *reg, const mreg_git_oidset *kept, const char *keep, const char *base,
		       int64_t cutoff)
{
	char *dir = mreg_strfmt("%sobjects/pack", reg->gitdir);
	mreg_git_packfile *packs = NULL;
	size_t np = 0;
	bool midx;
	mreg_buf idx = MREG_BUF_INIT;
	int rc = dir ? mreg_git_pack_list(&packs, &np, &midx, dir) : mreg_error_set(MREG_ERROR, "out of memory");
	for (size_t p = 0; p < np && rc == 0; p++) {
		const mreg_git_packfile *pk = &packs[p];
		size_t n = 0;
		bool go = false;
		if (strncmp(pk->name, "pack-", 5) || !strncmp(pk->name + 5, keep, 40) || (base && !strncmp(pk->name + 5, base, 40)) ||
		    pk->kept)
			continue;	/* the new pack, the base; or one git keeps on purpose, and so do we */
		int64_t mtime = pk->mtime_ns / 1000000000;
		char *ip = mreg_strfmt("%s/%s.idx", dir, pk->name);
		const unsigned char *ids;
		if (!ip) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
		} else if (!pk->idx) {
			go = mtime < cutoff;	/* no index: nothing reads it */
		} else if ((ids = idx_ids(&idx, &n, ip))) {
			bool young = mtime >= cutoff;
			for (size_t i = 0; rc == 0 && young && i < n; i++)
				if (!mreg_git_oidset_has(kept, ids + i * 20))
					rc = eject(reg, ids + i * 20, (time_t)mtime);
			go = rc == 0;
		}	/* else an index this cannot read: the pack stays */
		if (go)
			mreg_git_pack_remove(dir, pk->name + 5);
		free(ip);
	}
	free(packs);
	free(dir);
	mreg_buf_dispose(&idx);
	return rc;
}

/* Loose objects the new pack holds, or older than cutoff; and temporary files a killed gc left. */
typedef struct {
	const mreg_git_oidset *kept;
	int64_t cutoff;
} loose_prune;

static int prune_one(const git_oid *id, const char *path, const char *name, void *payload)
{
	const loose_prune *lp = payload;
	struct stat sb;
	if (id ? mreg_git_oidset_has(lp->kept, id->id) || (lstat(path, &sb) == 0 && (int64_t)sb.st_mtime < lp->cutoff)
	       : strstr(name, ".mreg-tmp") != NULL)
		unlink(path);
	return 0;
}

static void prune_loose(mreg_registry *reg, const mreg_git_oidset *kept, int64_t cutoff)
{
	loose_prune lp = { kept, cutoff };
	char *objdir = mreg_strfmt("%sobjects", reg->gitdir);
	if (objdir)
		mreg_git_loose_each(objdir, true, prune_one, &lp);
	free(objdir);
}

/*
 * The base pack a later gc leaves as it is (the file header): 0 with its
 * name in base and the commit HEAD was at in *stop (zero when the file
 * has none), 1 when there is none to keep: never written, gone (a `git gc`
 * by hand replaced it), or outgrown (the other packs together no longer
 * smaller).
 */
static int base_pack(char base[41], git_oid *stop, mreg_registry *reg)
{
	char *path = mreg_strfmt("%sgc-base", reg->mregdir), *dir = mreg_strfmt("%sobjects/pack", reg->gitdir);
	mreg_buf b = MREG_BUF_INIT;
	mreg_git_packfile *packs = NULL;
	size_t n = 0;
	bool midx, found = false;
	int64_t rest = 0, size = 0;
	int rc = 1;
	if (!path || !dir || mreg_fs_read(&b, path, 128) < 0 || b.size < 40 || strspn(b.ptr, "0123456789abcdef") != 40 ||
	    mreg_git_pack_list(&packs, &n, &midx, dir) < 0)
		goto done;
	snprintf(base, 41, "%.40s", b.ptr);
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(packs[i].name, "pack-", 5) && !strcmp(packs[i].name + 5, base) && packs[i].idx && !packs[i].kept) {
			found = true;
			size = packs[i].size;
		} else if (!packs[i].kept) {
			rest += packs[i].size;
		}
	}
	rc = found && rest < size ? 0 : 1;
	memset(stop, 0, sizeof(*stop));
	if (rc == 0 && b.size >= 82 && b.ptr[40] == '\n' && git_oid_fromstrn(stop, b.ptr + 41, 40) < 0)
		memset(stop, 0, sizeof(*stop));
done:
	mreg_error_clear();
	mreg_buf_dispose(&b);
	free(packs);
	free(path);
	free(dir);
	return rc;
}

/* A full gc's pack recorded as the next base, with the commit HEAD was at when walked (zero: none). */
static void record_base(mreg_registry *reg, const char *name, const git_oid *head)
{
	char line[100], hex[GIT_OID_HEXSZ + 1] = "";
	if (!git_oid_is_zero(head))
		git_oid_tostr(hex, sizeof(hex), head);
	snprintf(line, sizeof(line), "%s\n%s%s", name, hex, hex[0] ? "\n" : "");
	char *path = mreg_strfmt("%sgc-base", reg->mregdir);
	/* a name lost in a crash only makes the next gc a full one */
	if (!path || mreg_fs_write_atomic(path, line, strlen(line), false) < 0)
		mreg_error_clear();
	free(path);
}

/* The ids of the pack called name (40 hex) added to kept. */
static int keep_ids(mreg_git_oidset *kept, mreg_registry *reg, const char *name)
{
	mreg_buf idx = MREG_BUF_INIT;
	char *path = mreg_strfmt("%sobjects/pack/pack-%s.idx", reg->gitdir, name);
	size_t n = 0;
	const unsigned char *ids = path ? idx_ids(&idx, &n, path) : NULL;
	int rc = !ids ? mreg_error_set(MREG_ERROR, "cannot gc '%s': cannot read the index of pack-%s", reg->path, name)
		 : mreg_git_oidset_reserve(kept, kept->n + n) < 0 ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (mreg_git_oidset_add(kept, ids + i * 20) < 0)
			rc = mreg_error_set(MREG_ERROR, "out of memory");
	mreg_buf_dispose(&idx);
	free(path);
	return rc;
}

int mreg_gc(int64_t *before, int64_t *after, bool *was_full, mreg_registry *reg, bool full)
{
	gc_tips g = { reg, MREG_BUF_INIT, { { 0 } } };
	mreg_git_oidset kept = { NULL, 0, 0 };
	char name[41], base[41], *path = NULL;
	int64_t cutoff;
	int rc;

	if ((rc = mreg_registry_need_git(reg)) < 0 || (rc = mreg_registry_writable(reg)) < 0 ||
	    (rc = mreg_lock_take(reg)) < 0)
		return rc;
	if (!(path = mreg_strfmt("%sobjects/pack", reg->gitdir))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	mreg_git_pack_sweep(path);	/* what a killed gc (or writer) left of the packs it was removing: before the base is chosen */
	free(path);
	path = NULL;
	if ((rc = prune_cutoff(&cutoff, reg)) < 0)
		goto done;
	*before = objects_size(reg);
	if (!(path = mreg_strfmt("%sindex", reg->gitdir))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	/*
	 * With a base, its ids are kept, and the walk stops at its commit only
	 * when the base holds that commit (and so all that it reaches)
	 */
	git_oid stop;
	const char *keep = !full && base_pack(base, &stop, reg) == 0 ? base : NULL;
	if (keep && (rc = keep_ids(&kept, reg, base)) < 0)
		goto done;
	bool stop_there = keep && !git_oid_is_zero(&stop) && mreg_git_oidset_has(&kept, stop.id);
	if ((rc = add_refs(&g)) < 0 || (rc = add_index(&g, path)) < 0 ||
	    (rc = mreg_git_worktree_each(reg->gitdir, add_worktree, &g)) < 0 ||
	    (rc = write_new_pack(name, &g, &keep, stop_there ? &stop : NULL)) < 0)
		goto done;
	bool incremental = keep != NULL;
	*was_full = !incremental;
	if (!incremental)	/* a full gc after all: nothing of the old base is kept but what the new pack holds */
		mreg_git_oidset_dispose(&kept);
	/* what the new pack (and the base) holds is all that is kept; the rest is unreachable */
	if ((name[0] && (rc = keep_ids(&kept, reg, name)) < 0) ||
	    (rc = prune_packs(reg, &kept, name, incremental ? base : NULL, cutoff)) < 0)
		goto done;
	if (!incremental)	/* the next base, with HEAD as the walk found it, not as it may be now */
		record_base(reg, name, &g.head);
	prune_loose(reg, &kept, cutoff);
	sweep_fetches(reg);
	mreg_fold_keys_prune(reg);	/* the fold's keys of the packs gone */
	free(path);
	if ((path = mreg_strfmt("%sobjects/pack", reg->gitdir)))
		mreg_git_pack_remove_midx(path);
	git_odb_refresh(reg->odb);
	*after = objects_size(reg);
done:
	mreg_git_oidset_dispose(&kept);
	free(path);
	mreg_buf_dispose(&g.revs);
	mreg_lock_release(reg);
	return rc;
}
