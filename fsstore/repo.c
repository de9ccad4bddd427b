/*
 * Opening and creating registries, per-node settings, the writer lock.
 *
 * Per-node settings live in git config under [mreg] (actor, fsync,
 * lockTimeout); policy shared by all nodes lives in the committed mreg.json.
 * The lock is flock(2) on .git/mreg/lock: it dies with its process, so a
 * crashed writer never leaves a stale lock behind.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static const char mreg_json[] =
	"{\n"
	"  \"format\": 1,\n"
	"  \"artifact_max_bytes\": 1048576,\n"
	"  \"rollback\": {\n"
	"    \"elo_drop_threshold\": 50,\n"
	"    \"win_rate_drop_threshold\": 0.1,\n"
	"    \"min_games_for_evaluation\": 50,\n"
	"    \"require_approval\": true\n"
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

int mreg_git_error(const char *what, const char *subject)
{
	const git_error *e = git_error_last();
	return mreg_error_set(MREG_ERROR, "%s '%s': %s", what, subject, e && e->message ? e->message : "git error");
}

int mreg_libgit2_ready(void)
{
	static int done;
	if (!done) {
		if (git_libgit2_init() < 0)
			return mreg_error_set(MREG_ERROR, "cannot initialise libgit2");
		/*
		 * mreg builds every tree and commit from objects it has just
		 * written or read, so libgit2 need not look each one up again
		 * (in every pack) before writing. Every object libgit2 reads is
		 * hashed and checked against its id (libgit2's default, said
		 * here so that it stays): objects come from outside too (a
		 * bundle restored, a fetch, a loose object someone copied in),
		 * and a mismatch must be refused, not folded. It costs about
		 * 5% of the CPU of `mreg refresh --full` at 100,000 events.
		 */
		git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
		git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 1);
		done = 1;
	}
	return 0;
}

static int commit_files(mreg_registry *reg)
{
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
	    git_signature_now(&sig, reg->actor, reg->actor) < 0 ||
	    git_commit_create(&commit, reg->repo, NULL, sig, sig, NULL,
			      "init mreg registry\n\nMreg-Type: init\n", t, 0, NULL) < 0) {
		rc = mreg_git_error("cannot create the first commit in", reg->path);
		goto done;
	}
	/* create-if-absent: libgit2 does no compare-and-swap on a ref that does not exist */
	git_reference *ref = NULL;
	if (git_reference_create(&ref, reg->repo, "refs/heads/main", &commit, 0, "mreg init") < 0) {
		rc = mreg_git_error("cannot create branch main in", reg->path);
		goto done;
	}
	git_reference_free(ref);
	if (git_repository_index(&idx, reg->repo) < 0 || git_index_read_tree(idx, t) < 0 ||
	    git_index_write(idx) < 0) {
		rc = mreg_git_error("cannot write the index of", reg->path);
		goto done;
	}
	rc = 0;
done:
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

int mreg_load_node(mreg_registry *reg)
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
		return mreg_git_error("cannot read git config of", reg->path);
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
		reg->actor = mreg_default_actor();
	reg->settings = true;
	git_buf_dispose(&actor);
	git_config_free(cfg);
	return reg->actor ? 0 : mreg_error_set(MREG_ERROR, "out of memory");
}

void mreg_registry_free(mreg_registry *reg)
{
	if (!reg)
		return;
	reg->lockdepth = 1;	/* whatever is still held goes */
	mreg_unlock(reg);
	mreg_release_maps(reg);
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
	reg->gitdir = mreg_strdup(gd);
	reg->workdir = wd ? mreg_strdup(wd) : NULL;
	reg->mregdir = mreg_strfmt("%smreg/", gd);
	reg->statedir = wd ? mreg_strfmt("%sstate/", wd) : mreg_strfmt("%smreg/state/", gd);
	if (!reg->gitdir || !reg->mregdir || !reg->statedir || (wd && !reg->workdir)) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto fail;
	}
	if ((rc = read_settings(reg)) < 0)
		goto fail;
	if (git_repository_odb(&reg->odb, reg->repo) < 0) {
		rc = mreg_git_error("cannot open the object database of", dir);
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
		rc = mreg_head(&c, &t, reg);
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

int mreg_registry_open(mreg_registry **out, const char *dir)
{
	int rc;
	if ((rc = mreg_libgit2_ready()) < 0)
		return rc;
	if (!dir || !*dir)
		dir = getenv("MREG_DIR");
	if (!dir || !*dir)
		dir = MREG_DEFAULT_DIR;
	return open_repo(out, dir, false);
}

const char *mreg_packed_ref(mreg_buf *b, const char *gitdir, const char *ref, size_t n)
{
	char *path = mreg_strfmt("%spacked-refs", gitdir);
	const char *hex = NULL;
	mreg_buf_clear(b);
	if (path && mreg_fs_read(b, path, 64 << 20) == 0) {
		const char *p = b->ptr, *end = b->ptr + b->size;
		while (p < end && !hex) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *eol = nl ? nl : end;
			if ((size_t)(eol - p) == 41 + n && p[40] == ' ' && strspn(p, "0123456789abcdef") >= 40 &&
			    !memcmp(p + 41, ref, n))
				hex = p;
			p = eol + 1;
		}
	}
	mreg_error_clear();
	free(path);
	return hex;
}

/*
 * HEAD of the repository at gitdir, read by hand: the 40 hex digits of the
 * commit it names through a branch (loose or packed) or detached, or 1
 * when HEAD is anything else (a missing branch, an odd name): the full open
 * knows those. With branch given, only a branch will do, and its full name
 * (refs/heads/...) goes there.
 */
static int quick_head(char head[41], const char *gitdir, char *branch, size_t branchlen)
{
	static const char prefix[] = "ref: refs/heads/";
	mreg_buf b = MREG_BUF_INIT, r = MREG_BUF_INIT;
	char *path = mreg_strfmt("%sHEAD", gitdir);
	const char *hex = NULL;
	int rc = 1;

	if (!path || mreg_fs_read(&b, path, 512) < 0)
		goto done;
	if (b.size == 41 && strspn(b.ptr, "0123456789abcdef") == 40 && b.ptr[40] == '\n') {
		hex = b.ptr;
	} else if (b.size > sizeof(prefix) && !memcmp(b.ptr, prefix, sizeof(prefix) - 1) && b.ptr[b.size - 1] == '\n') {
		const char *name = b.ptr + sizeof(prefix) - 1;
		size_t n = b.size - sizeof(prefix);
		if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") != n ||
		    memmem(name, n, "..", 2) || name[0] == '/' || name[0] == '.')
			goto done;
		if (branch) {
			if (branchlen <= n + 11)
				goto done;
			memcpy(branch, "refs/heads/", 11);
			memcpy(branch + 11, name, n);
			branch[11 + n] = '\0';
		}
		free(path);
		path = mreg_strfmt("%srefs/heads/%.*s", gitdir, (int)n, name);
		int err = path ? mreg_fs_read(&r, path, 128) : MREG_ERROR;
		if (err == 0 && r.size == 41 && strspn(r.ptr, "0123456789abcdef") == 40 && r.ptr[40] == '\n')
			hex = r.ptr;
		else if (err == MREG_ENOTFOUND)	/* after git gc or git pack-refs */
			hex = mreg_packed_ref(&r, gitdir, path + strlen(gitdir), strlen(path) - strlen(gitdir));
	}
	if (hex == b.ptr && branch)
		hex = NULL;	/* detached, and the caller wants a branch */
	if (hex) {
		memcpy(head, hex, 40);
		head[40] = '\0';
		rc = 0;
	}
done:
	mreg_error_clear();
	mreg_buf_dispose(&b);
	mreg_buf_dispose(&r);
	free(path);
	return rc;
}

/* Whether git config could put the work tree or the git directory elsewhere than the plain layout. */
static bool config_is_plain(const char *gitdir)
{
	mreg_buf b = MREG_BUF_INIT;
	char *path = mreg_strfmt("%sconfig", gitdir);
	bool plain = false;
	if (path && mreg_fs_read(&b, path, 65536) == 0) {
		for (size_t i = 0; i < b.size; i++)
			b.ptr[i] = (char)tolower((unsigned char)b.ptr[i]);
		plain = !strstr(b.ptr, "worktree") && !strstr(b.ptr, "include");
		for (const char *p = b.ptr; plain && (p = strstr(p, "bare")); p += 4) {
			const char *v = p + 4 + strspn(p + 4, " \t");
			if (*v == '=')
				plain = !strncmp(v + 1 + strspn(v + 1, " \t"), "false", 5);
		}
	}
	mreg_error_clear();
	mreg_buf_dispose(&b);
	free(path);
	return plain;
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
	if (!dir || !*dir)
		dir = getenv("MREG_DIR");
	if (!dir || !*dir)
		dir = MREG_DEFAULT_DIR;
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
	    quick_head(head, reg->gitdir, writing ? branch : NULL, sizeof(branch)) == 0 &&
	    mreg_cache_fresh_at(reg, head) && (writing ? owned_by_us(reg) : config_is_plain(reg->gitdir))) {
		/* a writer's config.c checks the layout keys config_is_plain looks for, and more */
		int rc = writing ? mreg_config_light(reg) : 0;
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

bool mreg_head_on_branch(mreg_registry *reg)
{
	char hex[41], branch[256];
	return quick_head(hex, reg->gitdir, branch, sizeof(branch)) == 0;
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
		return mreg_git_error("cannot create a git repository at", path);
	git_repository_free(repo);
	if ((rc = open_repo(&reg, path, true)) < 0)
		return rc;
	if ((rc = mreg_fs_mkdirs(reg->mregdir)) < 0)
		goto done;
	char *p = mreg_strfmt("%smreg.json", reg->workdir);
	char *g = mreg_strfmt("%s.gitignore", reg->workdir);
	if (!p || !g)
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	else if ((rc = mreg_fs_write_atomic(p, mreg_json, sizeof(mreg_json) - 1, false)) == 0)
		rc = mreg_fs_write_atomic(g, gitignore, sizeof(gitignore) - 1, false);
	free(p);
	free(g);
	if (rc < 0)
		goto done;
	if ((rc = mreg_load_node(reg)) < 0 || (rc = commit_files(reg)) < 0)
		goto done;
	rc = mreg_registry_refresh(reg, true, NULL);
done:
	mreg_registry_free(reg);
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

const char *mreg_registry_actor(const mreg_registry *reg)
{
	return reg->actor;
}

/*
 * Lock files of git's protocol (<name>.lock, created exclusively, renamed
 * over <name>) that mreg takes: the branch's when it moves it, the index's
 * when it mirrors a write. A git command may hold one for as long as it
 * likes (`git commit` holds the branch's while its reference-transaction
 * hook runs), so mreg waits for a lock file it did not make to go, up to
 * mreg.lockTimeout, and never removes it: it fails naming the file.
 *
 * A lock file left by a killed mreg is told apart for certain. mreg makes
 * its lock files while it holds the flock on .git/mreg/lock, and records in
 * that very file which one it made (device, inode and birth time, and the
 * name) before the name appears: the file is made unnamed (O_TMPFILE), the
 * record written, and only then the file linked under the lock's name,
 * which fails if the name exists, as O_EXCL would. The record is cleared
 * after the rename (or the unlink), and at the latest when the flock goes.
 * So a record found by the next holder of the flock was left by a dead mreg
 * (no live one holds the flock), and a lock file that is still the file it
 * names is that mreg's own, removed at once. Where O_TMPFILE is missing the
 * file is made by name and recorded right after (a window of one system
 * call). A lock file made by libgit2 is not recorded: it is waited for.
 *
 * The record is one line at the start of .git/mreg/lock (the file's content
 * means nothing else): "<dev> <ino> <birth in ns, 0 if unknown> <name>",
 * then (optional) the same three numbers for the file at the lock's target
 * at the time (0 0 0: none); an empty first line means no record.
 */
#define MARK_MAX 512

typedef struct {
	unsigned long long dev, ino, birth;
} file_id;

static int marked_fd = -1;	/* the flock file holding a record this process wrote */

static int file_id_of(file_id *out, int fd, const char *path)
{
	struct statx sx;
	if (statx(fd, path, path[0] ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH, STATX_INO | STATX_BTIME, &sx) < 0)
		return -1;
	out->dev = (unsigned long long)makedev(sx.stx_dev_major, sx.stx_dev_minor);
	out->ino = (unsigned long long)sx.stx_ino;
	out->birth = sx.stx_mask & STATX_BTIME
			     ? (unsigned long long)sx.stx_btime.tv_sec * 1000000000ull + sx.stx_btime.tv_nsec
			     : 0;
	return 0;
}

static void mark_clear(mreg_registry *reg)
{
	if (reg->lockfd < 0 || marked_fd != reg->lockfd)
		return;
	ssize_t w = pwrite(reg->lockfd, "\n", 1, 0);
	(void)w;
	marked_fd = -1;
}

/* Record lock file fd, <relpath>.lock, as made by this process; nothing unless it holds the flock. */
static void mark_set(mreg_registry *reg, int fd, const char *path, const char *relpath)
{
	file_id id, was = { 0, 0, 0 };
	if (reg->lockfd < 0 || file_id_of(&id, fd, "") < 0)
		return;
	char *target = mreg_strfmt("%.*s", (int)(strlen(path) - 5), path);	/* without ".lock" */
	if (!target || file_id_of(&was, AT_FDCWD, target) < 0)
		was = (file_id){ 0, 0, 0 };
	char *line = mreg_strfmt("%llu %llu %llu %s.lock %llu %llu %llu\n", id.dev, id.ino, id.birth, relpath, was.dev,
				 was.ino, was.birth);
	if (line && strlen(line) <= MARK_MAX && pwrite(reg->lockfd, line, strlen(line), 0) == (ssize_t)strlen(line))
		marked_fd = reg->lockfd;
	free(line);
	free(target);
}

static bool same_file(const file_id *rec, const file_id *now)
{
	return rec->ino && now->dev == rec->dev && now->ino == rec->ino && (!rec->birth || now->birth == rec->birth);
}

static file_id parse_id(char **p)
{
	file_id id = { 0, 0, 0 };
	char *end;
	id.dev = strtoull(*p, &end, 10);
	id.ino = *end == ' ' ? strtoull(end + 1, &end, 10) : 0;
	id.birth = *end == ' ' ? strtoull(end + 1, &end, 10) : 0;
	*p = end;
	return id;
}

/*
 * Under a fresh flock: a record means its writer died holding the lock
 * file it names. Remove what is at the lock's name if it is the file
 * recorded, or the file that was at <relpath> then (a writer that swaps
 * the new file in with RENAME_EXCHANGE, as mreg_fs_replace does, leaves
 * the old one at the lock's name until it unlinks it); then the record.
 */
static void recover_dead_lock(mreg_registry *reg)
{
	char line[MARK_MAX + 1], *p = line;
	file_id now;
	ssize_t n = pread(reg->lockfd, line, MARK_MAX, 0);
	if (n <= 0 || line[0] == '\n')
		return;
	line[n] = '\0';
	char *nl = strchr(line, '\n');
	if (nl)
		*nl = '\0';
	file_id rec = parse_id(&p);
	char *rel = *p == ' ' ? p + 1 : p;
	char *sp = strchr(rel, ' ');
	file_id was = { 0, 0, 0 };
	if (sp) {
		*sp++ = '\0';
		was = parse_id(&sp);
	}
	size_t len = strlen(rel);
	/* a lock file of this git directory, nothing else */
	if (len > 5 && !strcmp(rel + len - 5, ".lock") && rel[0] != '/' && !strstr(rel, "..")) {
		char *path = mreg_strfmt("%s%s", reg->gitdir, rel);
		if (path && file_id_of(&now, AT_FDCWD, path) == 0 && (same_file(&rec, &now) || same_file(&was, &now)))
			unlink(path);
		free(path);
	}
	marked_fd = reg->lockfd;
	mark_clear(reg);
}

/* Wait until <gitdir><relpath>.lock is gone or deadline (µs) passes: ELOCKED naming it then. */
static int wait_git_lock(mreg_registry *reg, const char *relpath, int64_t deadline)
{
	char *path = mreg_strfmt("%s%s.lock", reg->gitdir, relpath);
	struct stat sb;
	long nap = 1000000;	/* ns: 1 ms, growing to 32 */
	int rc = 0;
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	while (lstat(path, &sb) == 0) {
		if (mreg_fs_now_usec() >= deadline) {
			const char *what = !strncmp(relpath, "refs/", 5) ? "move the branch of"
					   : !strcmp(relpath, "index")    ? "update the index of"
									  : "lock a file of";
			rc = mreg_error_set(MREG_ELOCKED,
					    "cannot %s '%s': '%s.lock' is held by another process (gave up after %d s; "
					    "remove it if no git command is running)",
					    what, reg->path, relpath, reg->lock_timeout_ms / 1000);
			break;
		}
		struct timespec ts = { 0, nap };
		nanosleep(&ts, NULL);
		if (nap < 32000000)
			nap *= 2;
	}
	free(path);
	return rc;
}

/* The lock file path (<relpath>.lock under the git directory) made and named as above; -1 with errno. */
static int make_lock_file(mreg_registry *reg, const char *path, const char *relpath)
{
	const char *slash = strrchr(path, '/');
	char *dir = mreg_strfmt("%.*s", (int)(slash - path), path);
	int fd = -1, err = ENOMEM;
	if (!dir)
		goto done;
	fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (fd >= 0) {
		char *proc = mreg_strfmt("/proc/self/fd/%d", fd);
		mark_set(reg, fd, path, relpath);
		int linked = proc ? linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) : -1;
		free(proc);
		if (linked == 0) {
			err = 0;
			goto done;
		}
		err = errno;
		close(fd);
		fd = -1;
		mark_clear(reg);
		if (err != ENOENT || access("/proc/self/fd", F_OK) == 0)
			goto done;	/* EEXIST: held; or a real failure */
	} else if ((err = errno) == ENOENT) {
		goto done;	/* no directory yet */
	}
	/* no O_TMPFILE here, or no /proc: made by name and recorded right after */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	err = fd < 0 ? errno : 0;
	if (fd >= 0)
		mark_set(reg, fd, path, relpath);
done:
	free(dir);
	errno = err;
	return fd;
}

/* The branch HEAD names (refs/heads/...), from .git/HEAD alone; false when it names none. */
static bool head_branch(char *out, size_t n, mreg_registry *reg)
{
	static const char prefix[] = "ref: refs/heads/";
	mreg_buf b = MREG_BUF_INIT;
	char *path = mreg_strfmt("%sHEAD", reg->gitdir);
	bool ok = path && mreg_fs_read(&b, path, 512) == 0 && b.size > sizeof(prefix) &&
		  !memcmp(b.ptr, prefix, sizeof(prefix) - 1) && b.ptr[b.size - 1] == '\n' && b.size - 5 < n &&
		  !memchr(b.ptr, '\0', b.size) && !strstr(b.ptr, "..");
	if (ok) {
		memcpy(out, b.ptr + 5, b.size - 6);
		out[b.size - 6] = '\0';
	}
	mreg_error_clear();
	mreg_buf_dispose(&b);
	free(path);
	return ok;
}

int mreg_lockfile_create(int *out, mreg_registry *reg, const char *relpath)
{
	char *path = mreg_strfmt("%s%s.lock", reg->gitdir, relpath);
	int64_t deadline = mreg_fs_now_usec() + (int64_t)reg->lock_timeout_ms * 1000;
	bool made_dirs = false;
	int rc = 0;
	*out = -1;
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	for (;;) {
		int fd = make_lock_file(reg, path, relpath);
		if (fd >= 0) {
			*out = fd;
			break;
		}
		if (errno == ENOENT && !made_dirs) {
			made_dirs = true;
			if ((rc = mreg_fs_mkparents(path)) < 0)
				break;
			continue;
		}
		if (errno != EEXIST) {
			rc = mreg_error_set(MREG_ERROR, "cannot create '%s.lock' in '%s': %s", relpath, reg->path,
					    strerror(errno));
			break;
		}
		if ((rc = wait_git_lock(reg, relpath, deadline)) < 0)
			break;
	}
	free(path);
	return rc;
}

void mreg_lockfile_done(mreg_registry *reg)
{
	mark_clear(reg);
}

int mreg_lock(mreg_registry *reg)
{
	char *path;
	int rc;
	if (reg->lockfd >= 0) {
		reg->lockdepth++;
		return 0;
	}
	if (!reg->settings && (rc = mreg_registry_need_git(reg)) < 0)	/* the lock's timeout is a setting */
		return rc;
	if (!(path = mreg_strfmt("%slock", reg->mregdir)))
		return mreg_error_set(MREG_ERROR, "out of memory");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT) {	/* a clone: .git/mreg/ is not there yet */
		if ((rc = mreg_fs_mkdirs(reg->mregdir)) < 0) {
			free(path);
			return rc;
		}
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	}
	free(path);
	if (fd < 0)
		return mreg_error_set(MREG_ERROR, "cannot open the lock of '%s': %s", reg->path, strerror(errno));
	int64_t start = mreg_fs_now_usec();
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			close(fd);
			return mreg_error_set(MREG_ERROR, "cannot lock '%s': %s", reg->path, strerror(errno));
		}
		if (mreg_fs_now_usec() - start >= (int64_t)reg->lock_timeout_ms * 1000) {
			close(fd);
			return mreg_error_set(MREG_ELOCKED,
					      "registry is locked by another writer: '%s' (gave up after %d s; see git config mreg.lockTimeout)",
					      reg->path, reg->lock_timeout_ms / 1000);
		}
		struct timespec ts = { 0, 2 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	reg->lockfd = fd;
	reg->lockdepth = 1;
	if ((rc = mreg_load_node(reg)) < 0) {
		mreg_unlock(reg);
		return rc;
	}
	/*
	 * A lock file a killed mreg left goes now; one a git command holds is
	 * waited for before anything is read, so that a `git commit` moving the
	 * branch right now is seen rather than raced.
	 */
	recover_dead_lock(reg);
	char branch[256];
	int64_t deadline = mreg_fs_now_usec() + (int64_t)reg->lock_timeout_ms * 1000;
	if ((head_branch(branch, sizeof(branch), reg) && (rc = wait_git_lock(reg, branch, deadline)) < 0) ||
	    (rc = wait_git_lock(reg, "index", deadline)) < 0) {
		mreg_unlock(reg);
		return rc;
	}
	return 0;
}

void mreg_unlock(mreg_registry *reg)
{
	if (reg->lockfd >= 0 && --reg->lockdepth <= 0) {
		mark_clear(reg);	/* whatever this process made is renamed or removed by now */
		close(reg->lockfd);
		reg->lockfd = -1;
		reg->lockdepth = 0;
		reg->known = false;	/* others may move the branch from here on */
	}
}

int mreg_object_read(mreg_buf *out, git_object_t *type, mreg_registry *reg, const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1];
	bool opened = !reg->lodb;
	int rc = 0;
	if (opened) {
		char *objdir = mreg_strfmt("%sobjects/", reg->gitdir);
		rc = objdir ? mreg_odb_open(&reg->lodb, objdir) : mreg_error_set(MREG_ERROR, "out of memory");
		free(objdir);
	}
	if (rc == 0)
		rc = mreg_odb_read(out, type, reg->lodb, id);
	/* a miss in a pack list read earlier: packs written or merged since, by this process or another */
	if (rc == 1 && !opened && (rc = mreg_odb_refresh(reg->lodb)) == 0)
		rc = mreg_odb_read(out, type, reg->lodb, id);
	if (rc != 1)
		return rc;
	/* not in any pack or loose file: libgit2 looks too, where it may see more (alternates...) */
	git_odb_object *o = NULL;
	if (mreg_odb_unsure(reg->lodb) && (rc = mreg_registry_need_git(reg)) < 0)
		return rc;
	if (!mreg_odb_unsure(reg->lodb) || git_odb_read(&o, reg->odb, id) < 0)
		return mreg_error_set(MREG_ECORRUPT, "object %s is missing from '%s'", git_oid_tostr(hex, sizeof(hex), id),
				      reg->path);
	*type = git_odb_object_type(o);
	mreg_buf_clear(out);
	mreg_buf_put(out, git_odb_object_data(o), git_odb_object_size(o));
	git_odb_object_free(o);
	return mreg_buf_oom(out) ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

int mreg_tree_path(git_oid *out, unsigned *mode, mreg_registry *reg, const git_oid *tree, const char *path)
{
	mreg_buf b = MREG_BUF_INIT;
	git_object_t type;
	git_oid cur = *tree;
	int rc = 1;
	*mode = 040000;
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");
		if (*mode != 040000) {
			rc = 1;	/* a file where the path wants a directory */
			break;
		}
		if ((rc = mreg_object_read(&b, &type, reg, &cur)) < 0)
			break;
		if (type != GIT_OBJECT_TREE) {
			rc = mreg_error_set(MREG_ECORRUPT, "corrupt tree in '%s'", reg->path);
			break;
		}
		mreg_git_tree_entry te;
		if (!mreg_git_tree_find(&te, b.ptr, b.size, p, n)) {
			rc = 1;
			break;
		}
		cur = te.id;
		*mode = te.mode;
		rc = 0;
		p += n;
		while (*p == '/')
			p++;
	}
	if (rc == 0)
		*out = cur;
	mreg_buf_dispose(&b);
	return rc;
}

int mreg_head_policy_doc(cJSON **out, mreg_registry *reg)
{
	git_oid c, t, id;
	git_object_t type;
	mreg_buf b = MREG_BUF_INIT;
	int rc = mreg_head(&c, &t, reg);
	*out = NULL;
	if (rc < 0)
		return rc;
	if ((rc = mreg_object_read(&b, &type, reg, &t)) < 0)
		goto done;
	if (type != GIT_OBJECT_TREE) {
		rc = mreg_error_set(MREG_ECORRUPT, "HEAD of '%s' has no tree", reg->path);
		goto done;
	}
	mreg_git_tree_entry te;
	if (!mreg_git_tree_find(&te, b.ptr, b.size, "mreg.json", 9) || te.mode == 040000)
		goto done;	/* none: the defaults */
	id = te.id;
	if ((rc = mreg_object_read(&b, &type, reg, &id)) < 0)
		goto done;
	*out = type == GIT_OBJECT_BLOB ? cJSON_ParseWithLength(b.ptr, b.size) : NULL;
	if (!cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		rc = mreg_error_set(MREG_EINVALID, "invalid mreg.json in '%s': not a JSON object", reg->path);
	}
done:
	mreg_buf_dispose(&b);
	return rc;
}

const char *mreg_branch_ref(mreg_registry *reg, char *buf, size_t n)
{
	git_reference *head = NULL;
	const char *name = "refs/heads/main";
	char head_hex[41];
	if (reg->light && quick_head(head_hex, reg->gitdir, buf, n) == 0)
		return buf;
	if (mreg_registry_need_git(reg) < 0)
		mreg_error_clear();	/* the default name, and the next call says what is wrong */
	else if (git_reference_lookup(&head, reg->repo, "HEAD") == 0 &&
	    git_reference_type(head) == GIT_REFERENCE_SYMBOLIC)
		name = git_reference_symbolic_target(head);
	size_t len = strlen(name);
	if (len >= n)
		len = n - 1;
	memcpy(buf, name, len);
	buf[len] = '\0';
	git_reference_free(head);
	return buf;
}

/* HEAD's commit and tree without libgit2: the tree from a stamp of that commit, else from the commit. 1: ask libgit2. */
static int light_head(git_oid *commit, git_oid *tree, mreg_registry *reg)
{
	char hex[41];
	git_object_t type;
	mreg_buf b = MREG_BUF_INIT;
	if (quick_head(hex, reg->gitdir, NULL, 0) != 0 || git_oid_fromstr(commit, hex) < 0)
		return 1;
	if (reg->known && git_oid_equal(&reg->known_commit, commit)) {
		*tree = reg->known_tree;
		return 0;
	}
	if (mreg_cache_tree_of(tree, reg, hex))
		return 0;
	int rc = mreg_object_read(&b, &type, reg, commit);
	if (rc == 0 && (type != GIT_OBJECT_COMMIT || b.size < 46 || memcmp(b.ptr, "tree ", 5) || b.ptr[45] != '\n' ||
			git_oid_fromstrn(tree, b.ptr + 5, 40) < 0))
		rc = mreg_error_set(MREG_ECORRUPT, "HEAD of '%s' is not a commit", reg->path);
	mreg_buf_dispose(&b);
	return rc;
}

int mreg_head(git_oid *commit, git_oid *tree, mreg_registry *reg)
{
	git_commit *c = NULL;
	int rc;
	if (reg->light && (rc = light_head(commit, tree, reg)) <= 0)
		return rc;
	if ((rc = mreg_registry_need_git(reg)) < 0)
		return rc;
	int err = git_reference_name_to_id(commit, reg->repo, "HEAD");
	if (err == GIT_ENOTFOUND || err == GIT_EUNBORNBRANCH)
		return mreg_error_set(MREG_ENOTFOUND, "registry '%s' has no commits", reg->path);
	if (err < 0)
		return mreg_git_error("cannot read HEAD of", reg->path);
	if (git_commit_lookup(&c, reg->repo, commit) < 0)
		return mreg_git_error("cannot read the HEAD commit of", reg->path);
	git_oid_cpy(tree, git_commit_tree_id(c));
	git_commit_free(c);
	return 0;
}

/*
 * Before writing <relpath> through a lock file that is not made by
 * mreg_lockfile_create (libgit2's index writes): wait for the lock file to
 * go, as above. A lock file a killed mreg left was removed when the flock
 * was taken.
 */
int mreg_clear_stale_lock(mreg_registry *reg, const char *relpath)
{
	return wait_git_lock(reg, relpath, mreg_fs_now_usec() + (int64_t)reg->lock_timeout_ms * 1000);
}
