/*
 * The stamps in .git/mreg/ that say which tree the state files (`stamp`)
 * and the work tree and index (`mirror`) were last brought to, and whether
 * they are current at HEAD (cache.c keeps the files they vouch for). Both
 * are written last, after those files, and the state stamp is removed
 * before they are touched, so a crash in between leaves no stamp and the
 * next command folds afresh.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * This boot of the machine (the kernel's boot id), "" where unknown. The
 * work tree copies and the git index are never fsynced; a power cut may
 * leave a file cut short behind an index entry that survived. A mirror
 * stamp written in another boot vouches for nothing, and the next command
 * checks every file against the index (as `mreg refresh` does).
 */
static const char *boot_id(void)
{
	static char id[40];
	static bool read;
	if (!read) {
		mreg_buf b = MREG_BUF_INIT;
		if (mreg_fs_read(&b, "/proc/sys/kernel/random/boot_id", 64) == 0 && b.size >= 36 &&
		    strspn(b.ptr, "0123456789abcdef-") == 36)
			memcpy(id, b.ptr, 36);
		mreg_error_clear();
		mreg_buf_dispose(&b);
		read = true;
	}
	return id;
}

/*
 * A stamp is "<tree>\n<commit>\n" (the mirror's adds "<boot id>\n"): the
 * tree the files were made from and the commit HEAD was at. The commit
 * gives the fast check (one ref read, no object read); the tree decides when
 * HEAD moved to a commit with the same content (a merge of nothing new, a
 * rebase). A mirror stamp from another boot names no commit (*other_boot).
 */
int mreg_cache_read_stamp(char tree[41], char commit[41], bool *other_boot, mreg_registry *reg, const char *name)
{
	mreg_buf b = MREG_BUF_INIT;
	char *path = mreg_strfmt("%s%s", reg->mregdir, name);
	int rc = path ? mreg_fs_read(&b, path, 160) : MREG_ERROR;
	tree[0] = '\0';
	if (commit)
		commit[0] = '\0';
	if (other_boot)
		*other_boot = false;
	if (rc == 0 && b.size >= 40 && strspn(b.ptr, "0123456789abcdef") >= 40) {
		memcpy(tree, b.ptr, 40);
		tree[40] = '\0';
		if (commit && b.size >= 82 && b.ptr[40] == '\n' && strspn(b.ptr + 41, "0123456789abcdef") >= 40) {
			memcpy(commit, b.ptr + 41, 40);
			commit[40] = '\0';
		}
		const char *boot = b.size >= 82 + 37 ? b.ptr + 82 : NULL;
		if (boot && boot_id()[0] && (memcmp(boot, boot_id(), 36) || boot[36] != '\n')) {
			if (commit)
				commit[0] = '\0';
			if (other_boot)
				*other_boot = true;
		}
	}
	mreg_error_clear();
	mreg_buf_dispose(&b);
	free(path);
	return 0;
}

static int read_stamp(char out[41], mreg_registry *reg, const char *name)
{
	return mreg_cache_read_stamp(out, NULL, NULL, reg, name);
}

int mreg_cache_write_stamp(mreg_registry *reg, const char *name, const git_oid *tree)
{
	char line[128];
	git_oid commit, t;
	git_oid_fmt(line, tree);
	line[40] = '\n';
	size_t n = 41;
	/* HEAD's commit, if HEAD's tree is the one stamped (known without a look when this process just moved it) */
	bool known = reg->known && git_oid_equal(&reg->known_tree, tree);
	if (known)
		commit = reg->known_commit;
	if (known || (mreg_head_read(&commit, &t, reg) == 0 && git_oid_equal(&t, tree))) {
		git_oid_fmt(line + 41, &commit);
		line[81] = '\n';
		n = 82;
		/* files not fsynced that a power cut may cut short: the mirror's, and a lean registry's model files (the stamp's) */
		if ((!strcmp(name, "mirror") || reg->lean) && boot_id()[0]) {
			memcpy(line + 82, boot_id(), 36);
			line[118] = '\n';
			n = 119;
		}
	}
	char *path = mreg_strfmt("%s%s", reg->mregdir, name);
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	int rc = mreg_fs_write_atomic(path, line, n, false);
	free(path);
	return rc;
}

bool mreg_cache_fresh_at(mreg_registry *reg, const char *head)
{
	char tree[41], commit[41];
	if (!mreg_cache_sound(reg))
		return false;
	mreg_cache_read_stamp(tree, commit, NULL, reg, "stamp");
	if (strcmp(commit, head))
		return false;
	if (!reg->workdir || reg->lean)
		return true;
	mreg_cache_read_stamp(tree, commit, NULL, reg, "mirror");
	return !strcmp(commit, head);
}

bool mreg_cache_tree_of(git_oid *tree, mreg_registry *reg, const char *commit)
{
	static const char *const names[] = { "stamp", "mirror" };
	char t[41], c[41];
	for (size_t i = 0; i < 2; i++) {
		mreg_cache_read_stamp(t, c, NULL, reg, names[i]);
		if (!strcmp(c, commit) && git_oid_fromstr(tree, t) == 0)
			return true;
	}
	return false;
}

int mreg_cache_stamp(char out[41], mreg_registry *reg)
{
	return read_stamp(out, reg, "stamp");
}

int mreg_cache_mirror_stamp(char out[41], mreg_registry *reg)
{
	return read_stamp(out, reg, "mirror");
}

int mreg_cache_set_mirror(mreg_registry *reg, const git_oid *tree)
{
	return mreg_cache_write_stamp(reg, "mirror", tree);
}

int mreg_cache_unstamp(mreg_registry *reg)
{
	int rc = 0;
	char *path = mreg_strfmt("%sstamp", reg->mregdir);
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	if (unlink(path) < 0 && errno != ENOENT)
		rc = mreg_error_set(MREG_ERROR, "cannot remove '%s': %s", path, strerror(errno));
	free(path);
	return rc;
}
