/*
 * Trees and commits, as git writes them.
 *
 * A write edits the trees on its paths as bytes: the old tree's entries
 * parsed (odb.c's parser), one set or replaced in git's order, the entries
 * written back. A commit is a few header lines and a message. Nothing here
 * reads or stores an object; fsstore/tree.c does, through the object
 * reader and the pack writer.
 */
#include "git.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_dir(const mreg_git_tree_entry *e)
{
	return e->mode == 040000;
}

int mreg_git_tree_cmp(const mreg_git_tree_entry *a, const mreg_git_tree_entry *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->name, b->name, n);
	if (c)
		return c;
	unsigned ca = a->len > n ? (unsigned char)a->name[n] : is_dir(a) ? '/' : 0;
	unsigned cb = b->len > n ? (unsigned char)b->name[n] : is_dir(b) ? '/' : 0;
	return ca < cb ? -1 : ca > cb;
}

void mreg_git_tree_entry_init(mreg_git_tree_entry *e, const char *name, size_t len, bool dir, const git_oid *id)
{
	e->name = name;
	e->len = len;
	e->mode = dir ? 040000 : 0100644;
	e->rawmode = dir ? "40000" : "100644";
	e->rawlen = dir ? 5 : 6;
	e->id = *id;
}

int mreg_git_tree_parse(mreg_git_tree_entry **out, size_t *n, size_t extra, const char *data, size_t len)
{
	mreg_git_tree_entry one;
	const char *p = data, *end = data + len;
	size_t count = 0;
	int r;
	*out = NULL;
	*n = 0;
	while ((r = mreg_git_tree_next(&one, &p, end)) == 1)
		count++;
	if (r < 0)
		return MREG_GIT_UNSURE;
	mreg_git_tree_entry *e = calloc(count + extra + 1, sizeof(*e));
	if (!e)
		return mreg_error_set(MREG_ERROR, "out of memory");
	p = data;
	for (size_t i = 0; i < count; i++)
		mreg_git_tree_next(&e[i], &p, end);
	*out = e;
	*n = count;
	return 0;
}

void mreg_git_tree_set(mreg_git_tree_entry *e, size_t *n, const mreg_git_tree_entry *x)
{
	/* an entry of the same name but the other kind sorts elsewhere: look for it by name */
	for (size_t k = 0; k < *n; k++)
		if (e[k].len == x->len && !memcmp(e[k].name, x->name, x->len) && is_dir(&e[k]) != is_dir(x)) {
			memmove(&e[k], &e[k + 1], (*n - k - 1) * sizeof(*e));
			(*n)--;
			break;
		}
	size_t i = 0;
	while (i < *n && mreg_git_tree_cmp(&e[i], x) < 0)
		i++;
	if (i < *n && !mreg_git_tree_cmp(&e[i], x)) {
		e[i] = *x;
		return;
	}
	memmove(&e[i + 1], &e[i], (*n - i) * sizeof(*e));
	e[i] = *x;
	(*n)++;
}

int mreg_git_tree_write(mreg_buf *out, const mreg_git_tree_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* the mode as it was written: executables, symbolic links and submodules stay what they are */
		mreg_buf_put(out, e[i].rawmode, e[i].rawlen);
		mreg_buf_put(out, " ", 1);
		mreg_buf_put(out, e[i].name, e[i].len);
		mreg_buf_put(out, "", 1);
		mreg_buf_put(out, e[i].id.id, 20);
	}
	return mreg_buf_oom(out) ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

int mreg_git_commit_write(mreg_buf *out, const git_oid *tree, const git_oid *parent, const char *name,
			  const char *email, int64_t seconds, const char *message)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), tree);
	mreg_buf_printf(out, "tree %s\n", hex);
	if (parent) {
		git_oid_tostr(hex, sizeof(hex), parent);
		mreg_buf_printf(out, "parent %s\n", hex);
	}
	mreg_buf_printf(out, "author %s <%s> %lld +0000\n", name, email, (long long)seconds);
	mreg_buf_printf(out, "committer %s <%s> %lld +0000\n\n%s", name, email, (long long)seconds, message);
	return mreg_buf_oom(out) ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

int mreg_git_commit_sign(mreg_buf *out, const char *commit, size_t len, const char *sig)
{
	/* after the last header, before the blank line: where git puts gpgsig; each line after the first indented */
	size_t head = len;
	for (size_t i = 0; i + 1 < len && head == len; i++)
		if (commit[i] == '\n' && commit[i + 1] == '\n')
			head = i + 1;
	mreg_buf_clear(out);
	mreg_buf_put(out, commit, head);
	mreg_buf_puts(out, "gpgsig");
	for (const char *p = sig; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		mreg_buf_putc(out, ' ');
		mreg_buf_put(out, p, n);
		mreg_buf_putc(out, '\n');
		p += n + (nl != NULL);
	}
	mreg_buf_put(out, commit + head, len - head);
	return mreg_buf_oom(out) ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

bool mreg_git_commit_tree(git_oid *out, const char *data, size_t len)
{
	return len >= 46 && !memcmp(data, "tree ", 5) && data[45] == '\n' && git_oid_fromstrn(out, data + 5, 40) == 0;
}

int mreg_git_commit_next_parent(git_oid *out, const char **p, const char *end)
{
	if (end - *p < 7 || memcmp(*p, "parent ", 7))
		return 0;
	if (end - *p < 48 || (*p)[47] != '\n' || git_oid_fromstrn(out, *p + 7, 40) < 0)
		return -1;
	*p += 48;
	return 1;
}
