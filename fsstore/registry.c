/*
 * Opening and creating registries, and their per-node settings.
 *
 * Per-node settings live in git config under [mreg] (actor, fsync,
 * lockTimeout); policy shared by all nodes lives in the committed mreg.json.
 * A command opens a registry one of two ways. The light open (open_light)
 * reads HEAD, the stamps and, for a writer, the three settings by hand
 * (fsstore/git/), and libgit2 is not started at all: a command on a
 * registry whose state files are current costs a few file reads. Anything
 * the hand readers are not sure of (a detached HEAD, stale stamps, an
 * unusual config or layout) takes the full open, through libgit2, which a
 * light handle also gets later if it needs it (mreg_registry_need_git).
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char mreg_json[] =
	"{\n"
	"  \"format\": 1,\n"
	"  \"artifact_max_bytes\": 1048576,\n"
	"  \"rollback\": {\n"
	"    \"elo_drop_threshold\": 50,\n"
	"    \"win_rate_drop_threshold\": 0.1,\n"
	"    \"min_games_for_evaluation\": 50,\n"
	"    \"require_approval\": true,\n"
	"    \"auto_rollback_enabled\": true,\n"
	"    \"consecutive_regressions_required\": 1,\n"
	"    \"cooldown_minutes\": 0,\n"
	"    \"max_rollbacks_per_day\": 0,\n"
	"    \"quality_critical_threshold\": 0.3,\n"
	"    \"quality_sustained_minutes\": 30\n"
	"  },\n"
	"  \"auto_promote\": {\n"
	"    \"min_elo_improvement\": 25,\n"
	"    \"min_games\": 100\n"
	"  },\n"
	"  \"backup\": {\n"
	"    \"max_backups\": 10,\n"
	"    \"interval_hours\": 24\n"
	"  }\n"
	"}\n";

static const char gitignore[] = "# derived by mreg, never committed\n/state/\n# a write killed half-way may leave one of these\n*.mreg-tmp*\n";

/*
 * The first commit: mreg.json and .gitignore. Its message names the node
 * that made it, so two registries made apart are never one history by
 * chance (same files, same actor, same second gave the same commit).
 */
static int commit_files(mreg_registry *reg)
{
	char *msg = NULL;
	git_treebuilder *tb = NULL;
	git_oid blob, tree, commit;
	git_tree *t = NULL;
	git_signature *sig = NULL;
	git_index *idx = NULL;
	int rc = MREG_ERROR;

	if (git_blob_create_from_buffer(&blob, reg->repo, mreg_json, sizeof(mreg_json) - 1) < 0 ||
	    git_treebuilder_new(&tb, reg->repo, NULL) < 0 ||
	    git_treebuilder_insert(NULL, tb, "mreg.json", &blob, GIT_FILEMODE_BLOB) < 0 ||
	    git_blob_create_from_buffer(&blob, reg->repo, gitignore, sizeof(gitignore) - 1) < 0 ||
	    git_treebuilder_insert(NULL, tb, ".gitignore", &blob, GIT_FILEMODE_BLOB) < 0 ||
	    git_treebuilder_write(&tree, tb) < 0 || git_tree_lookup(&t, reg->repo, &tree) < 0 ||
	    git_signature_now(&sig, reg->actor, reg->actor) < 0 || !(msg = mreg_strfmt(
		    "init mreg registry\n\nMreg-Type: init\nMreg-Node: %s\n", reg->node)) ||
	    git_commit_create(&commit, reg->repo, NULL, sig, sig, NULL, msg, t, 0, NULL) < 0) {
		rc = mreg_libgit2_error("cannot create the first commit in", reg->path);
		goto done;
	}
	/* create-if-absent: libgit2 does no compare-and-swap on a ref that does not exist */
	git_reference *ref = NULL;
	if (git_reference_create(&ref, reg->repo, "refs/heads/main", &commit, 0, "mreg init") < 0) {
		rc = mreg_libgit2_error("cannot create branch main in", reg->path);
		goto done;
	}
	git_reference_free(ref);
	if (!reg->lean && (git_repository_index(&idx, reg->repo) < 0 || git_index_read_tree(idx, t) < 0 ||
			   git_index_write(idx) < 0)) {
		rc = mreg_libgit2_error("cannot write the index of", reg->path);
		goto done;
	}
	rc = 0;
done:
	free(msg);
	git_index_free(idx);
	git_signature_free(sig);
	git_tree_free(t);
	git_treebuilder_free(tb);
	return rc;
}

static int new_node_id(char out[17])
{
	unsigned char r[8];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, r, sizeof(r)) != (ssize_t)sizeof(r)) {
		if (fd >= 0)
			close(fd);
		return mreg_error_set(MREG_ERROR, "cannot read /dev/urandom: %s", strerror(errno));
	}
	close(fd);
	for (int i = 0; i < 8; i++) {
		out[2 * i] = "0123456789abcdef"[r[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[r[i] & 15];
	}
	out[16] = '\0';
	return 0;
}

int mreg_registry_load_node(mreg_registry *reg)
{
	mreg_buf b = MREG_BUF_INIT;
	char *path = mreg_strfmt("%snode", reg->mregdir);
	int rc;
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	rc = mreg_fs_read(&b, path, 64);
	if (rc == 0 && b.size >= 16 && strspn(b.ptr, "0123456789abcdef") >= 16) {
		memcpy(reg->node, b.ptr, 16);
		reg->node[16] = '\0';
	} else {
		if ((rc = new_node_id(reg->node)) == 0) {
			char line[18];
			memcpy(line, reg->node, 16);
			line[16] = '\n';
			rc = mreg_fs_write_atomic(path, line, 17, reg->fsync);
		}
	}
	if (rc == MREG_ENOTFOUND)
		rc = 0;
	mreg_buf_dispose(&b);
	free(path);
	return rc;
}

static int read_settings(mreg_registry *reg)
{
	git_config *cfg = NULL;
	git_buf actor = GIT_BUF_INIT;
	int v;
	int32_t t;

	reg->fsync = MREG_FSYNC_DEFAULT;
	reg->lock_timeout_ms = MREG_LOCK_TIMEOUT_MS_DEFAULT;
	if (git_repository_config_snapshot(&cfg, reg->repo) < 0)
		return mreg_libgit2_error("cannot read git config of", reg->path);
	/*
	 * One command reads its config once: libgit2 uses the snapshot from
	 * here on instead of checking every config file's stamp before each
	 * core.* lookup (a dozen stat calls per file in a write). mreg never
	 * writes config after opening.
	 */
	git_repository_set_config(reg->repo, cfg);
	if (git_config_get_bool(&v, cfg, "mreg.fsync") == 0)
		reg->fsync = v != 0;
	if (git_config_get_int32(&t, cfg, "mreg.lockTimeout") == 0 && t >= 0)
		reg->lock_timeout_ms = t > INT32_MAX / 1000 ? INT32_MAX : t * 1000;
	if (git_config_get_string_buf(&actor, cfg, "mreg.actor") == 0 && actor.size)
		reg->actor = mreg_strdup(actor.ptr);
	else
		reg->actor = mreg_registry_default_actor();
	reg->settings = true;
	git_buf_dispose(&actor);
	git_config_free(cfg);
	return reg->actor ? 0 : mreg_error_set(MREG_ERROR, "out of memory");
}

char *mreg_registry_default_actor(void)
{
	const char *user = getenv("USER");
	char host[256] = "localhost";
	if (!user || !*user)
		user = getenv("LOGNAME");
	if (!user || !*user)
		user = "unknown";
	if (gethostname(host, sizeof(host) - 1) < 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	return mreg_strfmt("%s@%s", user, host);
}

/* The three settings as git config last sets them; a bare key has no value. */
typedef struct {
	char *value[3];
	bool set[3], bare[3];
	bool oom;
} settings;

static const char *const setting_keys[] = { "mreg.fsync", "mreg.locktimeout", "mreg.actor", NULL };

static void take_setting(const char *key, const char *value, void *payload)
{
	settings *s = payload;
	for (int i = 0; i < 3; i++)
		if (!strcmp(key, setting_keys[i])) {
			free(s->value[i]);
			s->value[i] = mreg_strdup(value ? value : "");
			s->oom |= !s->value[i];
			s->set[i] = true;
			s->bare[i] = !value;
		}
}

int mreg_registry_settings_light(mreg_registry *reg)
{
	settings s = { { NULL, NULL, NULL }, { false, false, false }, { false, false, false }, false };
	bool fsync = MREG_FSYNC_DEFAULT;
	int lock_ms = MREG_LOCK_TIMEOUT_MS_DEFAULT,
	    rc = mreg_git_config_read(reg->gitdir, setting_keys, take_setting, &s, &reg->lean);
	int32_t t;
	if (rc == 0 && s.oom)
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	if (rc != 0)
		goto done;
	rc = 1;
	if (s.set[0] && !mreg_git_config_bool(&fsync, s.bare[0] ? NULL : s.value[0]))
		goto done;
	if (s.set[1]) {
		if (s.bare[1] || !mreg_git_config_int32(&t, s.value[1]) || (int64_t)t * 1000 > INT32_MAX)
			goto done;
		lock_ms = t * 1000;
	}
	char *actor = s.set[2] && *s.value[2] ? mreg_strdup(s.value[2]) : mreg_registry_default_actor();
	if (!actor) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	free(reg->actor);
	reg->actor = actor;
	reg->fsync = fsync;
	reg->lock_timeout_ms = lock_ms;
	reg->settings = true;
	rc = 0;
done:
	for (int i = 0; i < 3; i++)
		free(s.value[i]);
	return rc;
}

void mreg_registry_free(mreg_registry *reg)
{
	if (!reg)
		return;
	reg->lockdepth = 1;	/* whatever is still held goes */
	mreg_lock_release(reg);
	mreg_state_free(reg->kept);	/* before the mappings it borrows */
	mreg_cache_release_maps(reg);
	mreg_odb_free(reg->lodb);
	git_odb_free(reg->odb);
	git_repository_free(reg->repo);
	free(reg->path);
	free(reg->gitdir);
	free(reg->workdir);
	free(reg->statedir);
	free(reg->mregdir);
	free(reg->actor);
	free(reg);
}

/*
 * The object directories git's environment names: a hook that receives a
 * push sees the pushed objects in a quarantine directory there
 * (GIT_OBJECT_DIRECTORY) until the push is accepted; libgit2 reads the
 * environment only when asked to take all of it, HEAD and paths too.
 */
static int add_env_objects(git_odb *odb)
{
	const char *own = getenv("GIT_OBJECT_DIRECTORY"), *alts = getenv("GIT_ALTERNATE_OBJECT_DIRECTORIES");
	if (own && *own && git_odb_add_disk_alternate(odb, own) < 0)
		return -1;
	for (const char *p = alts; p && *p;) {
		size_t n = strcspn(p, ":");
		char *dir = n ? mreg_strfmt("%.*s", (int)n, p) : NULL;
		int r = dir ? git_odb_add_disk_alternate(odb, dir) : 0;
		free(dir);
		if (r < 0)
			return -1;
		p += n + (p[n] == ':');
	}
	return 0;
}

static int open_repo(mreg_registry **out, const char *dir, bool creating)
{
	mreg_registry *reg = calloc(1, sizeof(*reg));
	struct stat sb;
	int rc;

	*out = NULL;
	if (!reg)
		return mreg_error_set(MREG_ERROR, "out of memory");
	reg->lockfd = -1;
	if (!(reg->path = mreg_strdup(dir))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto fail;
	}
	if (stat(dir, &sb) < 0) {
		rc = mreg_error_set(MREG_ENOTFOUND, "registry not found: '%s' (run 'mreg init' to create one)", dir);
		goto fail;
	}
	if (!S_ISDIR(sb.st_mode)) {
		rc = mreg_error_set(MREG_EINVALID, "not a registry: '%s' is not a directory", dir);
		goto fail;
	}
	if (git_repository_open_ext(&reg->repo, dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
		rc = mreg_error_set(MREG_EINVALID, "not a registry: '%s' is not a git repository", dir);
		goto fail;
	}
	const char *gd = git_repository_path(reg->repo);
	const char *wd = git_repository_workdir(reg->repo);
	size_t gl = strlen(gd);
	/* bare by core.bare in a directory's .git: a registry without an event work tree */
	reg->lean = !wd && gl > 5 && !strcmp(gd + gl - 6, "/.git/");
	reg->gitdir = mreg_strdup(gd);
	reg->workdir = wd ? mreg_strdup(wd) : reg->lean ? mreg_strfmt("%.*s", (int)(gl - 5), gd) : NULL;
	reg->mregdir = mreg_strfmt("%smreg/", gd);
	reg->statedir = reg->workdir ? mreg_strfmt("%sstate/", reg->workdir) : mreg_strfmt("%smreg/state/", gd);
	if (!reg->gitdir || !reg->mregdir || !reg->statedir || ((wd || reg->lean) && !reg->workdir)) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto fail;
	}
	if ((rc = read_settings(reg)) < 0)
		goto fail;
	if (git_repository_odb(&reg->odb, reg->repo) < 0 || add_env_objects(reg->odb) < 0) {
		rc = mreg_libgit2_error("cannot open the object database of", dir);
		goto fail;
	}
	git_oid c, t;
	char hex[GIT_OID_HEXSZ + 1];
	/* state stamped with HEAD's commit was folded from it: a registry, no need to look */
	bool known = creating || (git_reference_name_to_id(&c, reg->repo, "HEAD") == 0 &&
				  mreg_cache_fresh_at(reg, git_oid_tostr(hex, sizeof(hex), &c)));
	git_error_clear();
	if (!known) {
		git_tree *tree = NULL;
		git_tree_entry *e = NULL;
		rc = mreg_head_read(&c, &t, reg);
		if (rc == 0 && (git_tree_lookup(&tree, reg->repo, &t) < 0 || git_tree_entry_bypath(&e, tree, "mreg.json") < 0))
			rc = MREG_ENOTFOUND;
		git_tree_entry_free(e);
		git_tree_free(tree);
		if (rc < 0) {
			rc = mreg_error_set(MREG_EINVALID, "not a registry: '%s' has no mreg.json at HEAD", dir);
			goto fail;
		}
	}
	*out = reg;
	return 0;
fail:
	mreg_registry_free(reg);
	return rc;
}

/* The registry a command names: dir, else $MREG_DIR, else data/model_registry. */
static const char *dir_or_default(const char *dir)
{
	if (!dir || !*dir)
		dir = getenv("MREG_DIR");
	return dir && *dir ? dir : MREG_DEFAULT_DIR;
}

int mreg_registry_open_git(mreg_registry **out, const char *dir)
{
	int rc = mreg_libgit2_ready();
	return rc < 0 ? rc : open_repo(out, dir_or_default(dir), true);
}

int mreg_registry_open(mreg_registry **out, const char *dir)
{
	int rc = mreg_libgit2_ready();
	return rc < 0 ? rc : open_repo(out, dir_or_default(dir), false);
}

/*
 * Whether this user owns the work tree and the git directory. libgit2
 * refuses a repository someone else owns unless git config lists it in
 * safe.directory; the write road leaves that judgement to libgit2.
 */
static bool owned_by_us(const mreg_registry *reg)
{
	struct stat a, b;
	return stat(reg->workdir, &a) == 0 && stat(reg->gitdir, &b) == 0 && a.st_uid == geteuid() &&
	       b.st_uid == geteuid();
}

/*
 * The light open: paths only, no libgit2, when HEAD is a branch at the
 * commit the state files (and the mirror) are stamped with and the config
 * keeps the plain layout. 1 when any of that does not hold.
 */
static int open_light(mreg_registry **out, const char *dir, bool writing)
{
	mreg_registry *reg;
	char head[41], branch[256];

	*out = NULL;
	dir = dir_or_default(dir);
	size_t n = strlen(dir);
	const char *sep = n && dir[n - 1] == '/' ? "" : "/";
	if (!(reg = calloc(1, sizeof(*reg))))
		return mreg_error_set(MREG_ERROR, "out of memory");
	reg->lockfd = -1;
	reg->light = true;
	reg->fsync = MREG_FSYNC_DEFAULT;
	reg->lock_timeout_ms = MREG_LOCK_TIMEOUT_MS_DEFAULT;
	reg->path = mreg_strdup(dir);
	reg->workdir = mreg_strfmt("%s%s", dir, sep);
	reg->gitdir = mreg_strfmt("%s%s.git/", dir, sep);
	reg->mregdir = mreg_strfmt("%s%s.git/mreg/", dir, sep);
	reg->statedir = mreg_strfmt("%s%sstate/", dir, sep);
	/* .git must be a directory: as a file (a linked work tree) HEAD is not under it, and the full open knows */
	if (reg->path && reg->workdir && reg->gitdir && reg->mregdir && reg->statedir &&
	    mreg_git_head(head, writing ? branch : NULL, sizeof(branch), reg->gitdir) == 0 &&
	    (!writing || owned_by_us(reg))) {
		/* the layout keys (core.bare: reg->lean) before the stamps, which depend on it; a writer's settings with them */
		int rc = writing ? mreg_registry_settings_light(reg) : mreg_git_config_plain(reg->gitdir, &reg->lean) == 0 ? 0 : 1;
		if (rc == 0 && !mreg_cache_fresh_at(reg, head))
			rc = 1;
		if (rc == 0) {
			*out = reg;
			return 0;
		}
		if (rc < 0) {
			mreg_registry_free(reg);
			return rc;
		}
	}
	mreg_registry_free(reg);
	return 1;
}

int mreg_registry_open_read(mreg_registry **out, const char *dir)
{
	int rc = open_light(out, dir, false);
	return rc == 1 ? mreg_registry_open(out, dir) : rc;
}

int mreg_registry_open_write(mreg_registry **out, const char *dir)
{
	int rc = open_light(out, dir, true);
	return rc == 1 ? mreg_registry_open(out, dir) : rc;
}

int mreg_registry_writable(mreg_registry *reg)
{
	if (reg->light)
		return 0;	/* a light open found .git a directory: the main work tree's */
	const char *gd = git_repository_path(reg->repo), *common = git_repository_commondir(reg->repo);
	if (!strcmp(gd, common))
		return 0;
	size_t n = strlen(common);
	int keep = n > 6 && !strcmp(common + n - 6, "/.git/") ? (int)(n - 6) : (int)n;
	return mreg_error_set(MREG_EINVALID, "cannot write to '%s': it is a linked work tree; write in '%.*s'", reg->path,
			      keep, common);
}

int mreg_registry_need_git(mreg_registry *reg)
{
	mreg_registry *full;
	int rc;
	if (!reg->light)
		return 0;
	if ((rc = mreg_libgit2_ready()) < 0 || (rc = open_repo(&full, reg->path, false)) < 0)
		return rc;
	/* the full one's git side and paths; the mappings stay */
	free(reg->gitdir);
	free(reg->workdir);
	free(reg->statedir);
	free(reg->mregdir);
	reg->repo = full->repo;
	reg->odb = full->odb;
	reg->gitdir = full->gitdir;
	reg->workdir = full->workdir;
	reg->lean = full->lean;
	reg->statedir = full->statedir;
	reg->mregdir = full->mregdir;
	free(reg->actor);
	reg->actor = full->actor;
	reg->fsync = full->fsync;
	reg->lock_timeout_ms = full->lock_timeout_ms;
	reg->settings = true;
	reg->light = false;
	full->repo = NULL;
	full->odb = NULL;
	full->gitdir = full->workdir = full->statedir = full->mregdir = full->actor = NULL;
	mreg_registry_free(full);
	return 0;
}

int mreg_registry_init(const char *path)
{
	git_repository *repo = NULL;
	mreg_registry *reg = NULL;
	git_repository_init_options o;
	struct stat sb;
	int rc;

	if ((rc = mreg_libgit2_ready()) < 0)
		return rc;
	if (stat(path, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode))
			return mreg_error_set(MREG_EEXISTS, "cannot init '%s': it exists and is not a directory", path);
		if (git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) == 0) {
			git_repository_free(repo);
			return mreg_error_set(MREG_EEXISTS, "cannot init '%s': it is already a git repository", path);
		}
	}
	git_repository_init_options_init(&o, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	o.flags = GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
	o.initial_head = "main";
	if (git_repository_init_ext(&repo, path, &o) < 0)
		return mreg_libgit2_error("cannot create a git repository at", path);
	rc = mreg_registry_make_lean(repo, path);
	git_repository_free(repo);
	if (rc < 0 || (rc = open_repo(&reg, path, true)) < 0)
		return rc;
	if ((rc = mreg_fs_mkdirs(reg->mregdir)) < 0)
		goto done;
	if ((rc = mreg_registry_load_node(reg)) < 0 || (rc = commit_files(reg)) < 0)
		goto done;
	rc = mreg_registry_refresh(reg, true, NULL);
done:
	mreg_registry_free(reg);
	return rc;
}

int mreg_registry_make_lean(git_repository *repo, const char *path)
{
	git_config *cfg = NULL;
	int rc = 0;
	if (git_repository_config(&cfg, repo) < 0 || git_config_set_bool(cfg, "core.bare", true) < 0)
		rc = mreg_libgit2_error("cannot set core.bare in", path);
	git_config_free(cfg);
	return rc;
}

const char *mreg_registry_path(const mreg_registry *reg)
{
	return reg->path;
}

bool mreg_registry_is_bare(const mreg_registry *reg)
{
	return reg->workdir == NULL;
}

/* ---- freshness ---------------------------------------------------------- */

int mreg_registry_refresh(mreg_registry *reg, bool force, bool *was_fresh)
{
	int rc;
	mreg_status s;
	if ((rc = mreg_registry_status(&s, reg)) < 0)
		return rc;
	if (was_fresh)
		*was_fresh = s.state_fresh && s.mirror_fresh;
	if ((rc = mreg_lock_take(reg)) < 0)
		return rc;
	if (reg->workdir && (rc = mreg_lfs_migrate(reg)) < 0) {
		mreg_lock_release(reg);
		return rc;
	}
	if (force) {
		char *p = mreg_strfmt("%sstamp", reg->mregdir);
		char *q = mreg_strfmt("%smirror", reg->mregdir);
		if (p)
			unlink(p);
		if (q && reg->workdir && !reg->lean)
			unlink(q);
		free(p);
		free(q);
	}
	rc = mreg_cache_ensure(reg);
	if (rc == 0 && reg->workdir) {
		/* asked for by name: check the work tree files too, whatever the stamps say */
		git_oid commit, tree;
		if ((rc = mreg_head_read(&commit, &tree, reg)) == 0)
			rc = mreg_mirror_repair(reg, &tree, MREG_MIRROR_FILES);
	}
	mreg_lock_release(reg);
	return rc;
}

int mreg_registry_status(mreg_status *out, mreg_registry *reg)
{
	git_oid commit, tree;
	char stamp[41], stamp_commit[41], mirror[41], mirror_commit[41];
	int rc;
	memset(out, 0, sizeof(*out));
	if ((rc = mreg_registry_need_git(reg)) < 0)
		return rc;
	mreg_head_branch(reg, out->branch, sizeof(out->branch));
	int err = git_reference_name_to_id(&commit, reg->repo, "HEAD");
	if (err == GIT_ENOTFOUND || err == GIT_EUNBORNBRANCH)
		return mreg_error_set(MREG_ENOTFOUND, "registry '%s' has no commits", reg->path);
	if (err < 0)
		return mreg_libgit2_error("cannot read HEAD of", reg->path);
	git_oid_fmt(out->head, &commit);
	bool other_boot;
	mreg_cache_read_stamp(stamp, stamp_commit, &other_boot, reg, "stamp");
	/* lean: the model files are made before the stamp moves; power cuts are the stamp's boot id */
	if (!reg->lean) {
		mreg_cache_read_stamp(mirror, mirror_commit, &other_boot, reg, "mirror");
	} else {
		memcpy(mirror_commit, stamp_commit, sizeof(mirror_commit));
		mirror[0] = '\0';
	}
	out->state_fresh = !strcmp(stamp_commit, out->head) && mreg_cache_sound(reg);
	out->mirror_fresh = !reg->workdir || !strcmp(mirror_commit, out->head);
	if (out->state_fresh && out->mirror_fresh) {
		memcpy(out->tree, stamp, sizeof(stamp));
		return 0;	/* the fast path: no object read */
	}
	if ((rc = mreg_head_read(&commit, &tree, reg)) < 0)
		return rc;
	git_oid_fmt(out->tree, &tree);
	out->state_fresh = !strcmp(stamp, out->tree) && mreg_cache_sound(reg);
	out->mirror_fresh = !reg->workdir || (!strcmp(reg->lean ? stamp : mirror, out->tree) && !other_boot);
	return 0;
}

int mreg_registry_setting(mreg_buf *out, mreg_registry *reg, const char *key)
{
	git_config *cfg = NULL;
	git_buf b = GIT_BUF_INIT_CONST(NULL, 0);
	int rc;
	if ((rc = mreg_registry_need_git(reg)) < 0)
		return rc;
	if (git_repository_config_snapshot(&cfg, reg->repo) < 0)
		return mreg_libgit2_error("cannot read the git config of", reg->path);
	rc = git_config_get_string_buf(&b, cfg, key) == 0;
	git_error_clear();
	mreg_buf_clear(out);
	if (rc == 1)
		mreg_buf_put(out, b.ptr, b.size);
	git_buf_dispose(&b);
	git_config_free(cfg);
	return mreg_buf_oom(out) ? mreg_error_set(MREG_ERROR, "out of memory") : rc;
}
