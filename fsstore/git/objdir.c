/*
 * What the object directories hold: the packs of objects/pack (and what
 * lies beside each: its .idx, a .keep), the directories objects/info/
 * alternates adds, the loose objects of objects/00 to ff.
 */
#define _GNU_SOURCE
#include "git.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool has_suffix(const char *name, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len > n && !strcmp(name + len - n, suffix);
}

int mreg_git_pack_list(mreg_git_packfile **out, size_t *n, bool *midx, const char *packdir)
{
	DIR *d = opendir(packdir);
	struct dirent *de;
	char **names = NULL;
	size_t nn = 0, an = 0, np = 0;
	mreg_git_packfile *packs = NULL;
	int rc = 0;

	*out = NULL;
	*n = 0;
	*midx = false;
	if (!d)
		return 0;	/* no pack directory: no packs */
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (!strncmp(de->d_name, "multi-pack-index", 16))
			*midx = true;
		if (nn == an) {
			an = an ? an * 2 : 64;
			char **more = realloc(names, an * sizeof(*names));
			if (!more) {
				rc = mreg_error_set(MREG_ERROR, "out of memory");
				break;
			}
			names = more;
		}
		if (!(names[nn] = mreg_strdup(de->d_name))) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			break;
		}
		nn++;
	}
	closedir(d);
	if (rc == 0 && nn && !(packs = calloc(nn, sizeof(*packs))))
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	for (size_t i = 0; i < nn && rc == 0; i++) {
		size_t len = strlen(names[i]), base = len - 5;
		if (!has_suffix(names[i], len, ".pack") || base >= sizeof(packs->name))
			continue;
		mreg_git_packfile *p = &packs[np];
		memcpy(p->name, names[i], base);
		p->name[base] = '\0';
		p->idx = p->kept = false;
		for (size_t k = 0; k < nn; k++) {	/* the pack's siblings: <name>.idx, .keep, .promisor */
			if (strncmp(names[k], names[i], base) || names[k][base] != '.')
				continue;
			const char *ext = names[k] + base;
			p->idx |= !strcmp(ext, ".idx");
			p->kept |= !strcmp(ext, ".keep") || !strcmp(ext, ".promisor");
		}
		struct stat sb;
		char *full = mreg_strfmt("%s/%s", packdir, names[i]);
		if (!full) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
		} else if (stat(full, &sb) == 0 && S_ISREG(sb.st_mode)) {	/* else gone meanwhile */
			p->size = (int64_t)sb.st_size;
			p->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
			np++;
		}
		free(full);
	}
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	if (rc < 0) {
		free(packs);
		return rc;
	}
	*out = packs;
	*n = np;
	return 0;
}

int mreg_git_object_dirs(char ***out, size_t *n, const char *objdir)
{
	mreg_buf alt = MREG_BUF_INIT;
	char *own = mreg_strdup(objdir), *ap = mreg_strfmt("%s/info/alternates", objdir);
	char **v = calloc(17, sizeof(*v));
	size_t k = 0;
	*out = NULL;
	*n = 0;
	if (!own || !ap || !v) {
		free(own);
		free(ap);
		free(v);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	v[k++] = own;
	if (mreg_fs_read(&alt, ap, 1 << 16) == 0) {
		for (char *line = alt.ptr, *nl; line && *line && k < 16; line = nl) {
			nl = strchr(line, '\n');
			if (nl)
				*nl++ = '\0';
			if (!*line || *line == '#')
				continue;
			/* a relative alternate is relative to objects/ */
			if (!(v[k] = line[0] == '/' ? mreg_strdup(line) : mreg_strfmt("%s/%s", own, line)))
				break;
			k++;
		}
	}
	mreg_error_clear();
	mreg_buf_dispose(&alt);
	free(ap);
	*out = v;
	*n = k;
	return 0;
}

char *mreg_git_loose_path(const char *objdir, const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1];
	size_t n = strlen(objdir);
	git_oid_tostr(hex, sizeof(hex), id);
	return mreg_strfmt("%s%s%.2s/%s", objdir, n && objdir[n - 1] == '/' ? "" : "/", hex, hex + 2);
}

int mreg_git_loose_each(const char *objdir, bool rmdir_empty,
			int (*fn)(const git_oid *id, const char *path, const char *name, void *payload), void *payload)
{
	static const char digits[] = "0123456789abcdef";
	size_t olen = strlen(objdir);
	const char *sep = olen && objdir[olen - 1] == '/' ? "" : "/";
	int rc = 0;
	for (int f = 0; f < 256 && rc == 0; f++) {
		char fan[3] = { digits[f >> 4], digits[f & 15], '\0' };
		char *dir = mreg_strfmt("%s%s%s", objdir, sep, fan);
		DIR *d = dir ? opendir(dir) : NULL;
		struct dirent *de;
		if (!dir)
			return mreg_error_set(MREG_ERROR, "out of memory");
		while (d && rc == 0 && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			bool object = strlen(de->d_name) == 38 && strspn(de->d_name, digits) == 38;
			char hex[GIT_OID_HEXSZ + 1];
			git_oid id;
			memcpy(hex, fan, 2);
			memcpy(hex + 2, de->d_name, object ? 39 : 1);
			char *path = mreg_strfmt("%s/%s", dir, de->d_name);
			if (!path)
				rc = mreg_error_set(MREG_ERROR, "out of memory");
			else
				rc = fn(object && git_oid_fromstr(&id, hex) == 0 ? &id : NULL, path, de->d_name, payload);
			free(path);
		}
		if (d) {
			closedir(d);
			if (rmdir_empty)
				rmdir(dir);	/* fails unless empty */
		}
		free(dir);
	}
	return rc;
}
