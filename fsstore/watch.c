/*
 * Live refresh: knowing at once that the registry changed, by whatever
 * road (a write, `mreg sync`, a `git pull`, a restore), and delivering
 * each new event once.
 *
 * The kernel tells (inotify(7)): watches on the git directory (HEAD,
 * packed-refs), every directory under refs/heads (the branch's file) and
 * .git/mreg (the stamps a refresh writes). A watched directory that goes
 * away (replaced whole) is watched again where it now is. Bursts are
 * coalesced: after the first event the watcher waits for a quiet spell, so
 * a thousand writes in a row are one change. A change seen here is only a
 * hint; the caller compares HEAD with what it last saw.
 *
 * Delivery (`mreg watch --exec`): the events added between the tree last
 * delivered and HEAD's, in fold order, one by one; .git/mreg/watch.json
 * records the tree and the events of it already delivered, so a restart
 * neither repeats nor skips one. A history that lost events (a reset) is
 * taken as the new starting point.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define QUIET_MS 50		/* a change is over after this long without another */
#define BURST_MAX_MS 500	/* however long a burst lasts, it is reported after this */
#define MAX_DIRS 256

struct mreg_watch {
	int fd;
	char *gitdir;
	char *mregdir;
	bool rearm;
};

static uint32_t interesting(void)
{
	return IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_MODIFY | IN_DELETE_SELF |
	       IN_MOVE_SELF | IN_ONLYDIR;
}

/* dir and, below refs/heads, every directory under it (branch names may hold '/'). */
static void watch_tree(mreg_watch *w, const char *dir, int depth, int *count)
{
	if (*count >= MAX_DIRS || inotify_add_watch(w->fd, dir, interesting()) < 0)
		return;
	(*count)++;
	if (depth <= 0)
		return;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		char *sub = mreg_strfmt("%s/%s", dir, e->d_name);
		if (sub)
			watch_tree(w, sub, depth - 1, count);
		free(sub);
	}
	if (d)
		closedir(d);
}

static int arm(mreg_watch *w)
{
	int count = 0;
	char *heads = mreg_strfmt("%srefs/heads", w->gitdir);
	if (!heads)
		return mreg_error_set(MREG_ERROR, "out of memory");
	if (inotify_add_watch(w->fd, w->gitdir, interesting()) < 0) {
		free(heads);
		return mreg_error_set(MREG_ERROR, "cannot watch '%s': %s", w->gitdir, strerror(errno));
	}
	watch_tree(w, heads, 8, &count);
	mreg_fs_mkdirs(w->mregdir);
	inotify_add_watch(w->fd, w->mregdir, interesting());
	free(heads);
	w->rearm = false;
	return 0;
}

int mreg_watch_open(mreg_watch **out, mreg_registry *reg)
{
	mreg_watch *w = calloc(1, sizeof(*w));
	int rc;
	*out = NULL;
	if (!w || !(w->gitdir = mreg_strdup(reg->gitdir)) || !(w->mregdir = mreg_strdup(reg->mregdir))) {
		mreg_watch_free(w);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	if ((w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot start inotify: %s", strerror(errno));
		mreg_watch_free(w);
		return rc;
	}
	if ((rc = arm(w)) < 0) {
		mreg_watch_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

void mreg_watch_free(mreg_watch *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	free(w->gitdir);
	free(w->mregdir);
	free(w);
}

/* Read what is queued; true when anything was. A directory gone or a new one under refs/heads: arm again. */
static bool drain(mreg_watch *w)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;
	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		any = true;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)(void *)p;
			if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_Q_OVERFLOW) ||
			    ((e->mask & (IN_CREATE | IN_MOVED_TO)) && (e->mask & IN_ISDIR)))
				w->rearm = true;
			p += sizeof(*e) + e->len;
		}
	}
	return any;
}

int mreg_watch_wait(mreg_watch *w, int timeout_ms)
{
	struct pollfd p = { w->fd, POLLIN, 0 };
	int r = poll(&p, 1, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : mreg_error_set(MREG_ERROR, "cannot wait for changes: %s", strerror(errno));
	if (r == 0 || !drain(w))
		return 0;
	/* the rest of the burst */
	for (int waited = 0; waited < BURST_MAX_MS; waited += QUIET_MS)
		if (poll(&p, 1, QUIET_MS) <= 0 || !drain(w))
			break;
	if (w->rearm) {
		usleep(QUIET_MS * 1000);	/* a replaced directory may take a moment to be back */
		int rc = arm(w);
		if (rc < 0)
			return rc;
	}
	return 1;
}

/* ---- delivery --------------------------------------------------------------- */

static int record_read(cJSON **out, mreg_registry *reg)
{
	mreg_buf b = MREG_BUF_INIT;
	char *path = mreg_strfmt("%swatch.json", reg->mregdir);
	int rc = path ? mreg_fs_read(&b, path, 1 << 24) : mreg_error_set(MREG_ERROR, "out of memory");
	*out = NULL;
	if (rc == MREG_ENOTFOUND) {
		mreg_error_clear();
		rc = 0;
	} else if (rc == 0 && !cJSON_IsObject(*out = cJSON_ParseWithLength(b.ptr, b.size))) {
		cJSON_Delete(*out);
		*out = NULL;	/* damaged: start again from HEAD, as on a first run */
	}
	mreg_buf_dispose(&b);
	free(path);
	return rc;
}

static int record_write(mreg_registry *reg, const char *tree, const cJSON *done)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "tree", tree);
	cJSON_AddItemToObject(o, "delivered", done ? cJSON_Duplicate(done, true) : cJSON_CreateArray());
	char *text = cJSON_Print(o);
	char *path = mreg_strfmt("%swatch.json", reg->mregdir);
	int rc = text && path ? mreg_fs_mkdirs(reg->mregdir) : mreg_error_set(MREG_ERROR, "out of memory");
	if (rc == 0)
		rc = mreg_fs_write_atomic(path, text, strlen(text), reg->fsync);
	cJSON_free(text);
	free(path);
	cJSON_Delete(o);
	return rc;
}

static bool delivered(const cJSON *done, const char *id)
{
	const cJSON *x;
	cJSON_ArrayForEach(x, done) if (cJSON_IsString(x) && !strcmp(x->valuestring, id)) return true;
	return false;
}

int mreg_watch_deliver(mreg_registry *reg, mreg_watch_deliver_fn fn, void *payload)
{
	git_oid commit, tree, from;
	cJSON *rec = NULL, *done = NULL;
	mreg_event **evs = NULL;
	mreg_state *q = NULL;
	size_t n = 0;
	int64_t nfiles = 0;
	char hex[41];
	int rc;
	if ((rc = mreg_registry_need_git(reg)) < 0 || (rc = mreg_head_read(&commit, &tree, reg)) < 0 ||
	    (rc = record_read(&rec, reg)) < 0)
		return rc;
	git_oid_tostr(hex, sizeof(hex), &tree);
	const char *last = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "tree"));
	if (!last || git_oid_fromstr(&from, last) < 0) {
		rc = record_write(reg, hex, NULL);	/* a first run: from now on */
		goto done;
	}
	if (git_oid_equal(&from, &tree))
		goto done;
	rc = mreg_events_added(&evs, &n, &q, &nfiles, reg, &from, &tree);
	if (rc == 1) {
		rc = record_write(reg, hex, NULL);	/* events went (a reset): start from here */
		goto done;
	}
	done = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(rec, "delivered"), true);
	if (!cJSON_IsArray(done)) {
		cJSON_Delete(done);
		done = cJSON_CreateArray();
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (delivered(done, evs[i]->id))
			continue;
		if ((rc = fn(evs[i], payload)) != 0)
			break;	/* tried again next time, from this one */
		cJSON_AddItemToArray(done, cJSON_CreateString(evs[i]->id));
		rc = record_write(reg, last, done);
	}
	if (rc == 0)
		rc = record_write(reg, hex, NULL);
	rc = rc > 0 ? 1 : rc;
done:
	mreg_events_free(evs, n);
	mreg_state_free(q);
	cJSON_Delete(done);
	cJSON_Delete(rec);
	return rc;
}
