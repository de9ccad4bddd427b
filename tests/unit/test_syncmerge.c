/*
 * The one file two nodes can both change, merged by sync (fsstore/merge.c):
 * a fan-out directory's .gitattributes, when each node stored a large file
 * there. Content-addressed names put two files in one directory only when
 * their hashes share four hex digits, so the test finds two such contents
 * first, with large files made tiny by mreg.json (artifact_max_bytes 16).
 *
 * Each node registers its file; then A merges B's history and, on copies
 * made before, B merges A's. Both merges must hold the union of the lines
 * (the merge=union line first, the rest sorted) and the same tree, and the
 * node that fast-forwards to the other's merge must end with that tree too.
 */
#include "store.h"
#include "fsutil.h"
#include "test_gitutil.h"

/* Two contents whose xxh128 names start with the same four hex digits. */
static void find_pair(char *a, char *b, size_t n)
{
	static int seen[65536];
	for (size_t i = 0; i < 65536; i++)
		seen[i] = -1;
	for (int i = 0; i < 1000000; i++) {
		char text[64], hex[33];
		snprintf(text, sizeof(text), "a model file, number %d, long enough\n", i);
		mreg_hash128(hex, text, strlen(text));
		unsigned v = (unsigned)strtoul((char[5]){ hex[0], hex[1], hex[2], hex[3], 0 }, NULL, 16);
		if (seen[v] >= 0) {
			snprintf(a, n, "a model file, number %d, long enough\n", seen[v]);
			snprintf(b, n, "%s", text);
			return;
		}
		seen[v] = i;
	}
	fail_msg("no two names share a fan-out directory");
}

static void node_register(const char *dir, const char *file)
{
	mreg_registry *reg = NULL;
	mreg_register_opts o = MREG_REGISTER_OPTS_INIT;
	o.name = "m";
	o.file = file;
	assert_int_equal(mreg_registry_open(&reg, dir), 0);
	if (mreg_register(NULL, NULL, reg, &o) != 0)
		fail_msg("register in %s: %s", dir, mreg_error_last());
	mreg_registry_free(reg);
}

/* dir syncs from the remote called name at url; what the round reported of it. */
static char *node_sync(const char *dir, const char *name, const char *url)
{
	mreg_registry *reg = NULL;
	cJSON *report = NULL;
	const char *names[] = { name };
	mreg_sync_opts o = { names, 1, false, true, false, -1 };
	assert_int_equal(mreg_registry_open(&reg, dir), 0);
	assert_int_equal(mreg_remote_add(reg, name, url), 0);
	mreg_registry_free(reg);
	assert_int_equal(mreg_registry_open(&reg, dir), 0);
	if (mreg_sync(&report, reg, &o) != 0)
		fail_msg("sync in %s: %s", dir, mreg_error_last());
	const cJSON *one = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(report, "remotes"), 0);
	char *how = mreg_strdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(one, "how")));
	const char *err = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(one, "error"));
	if (err)
		fail_msg("sync in %s: %s", dir, err);
	cJSON_Delete(report);
	mreg_registry_free(reg);
	return how;
}

static char *rev(const char *dir, const char *what)
{
	char *s = tg_capture(NULL, "git -C '%s' rev-parse '%s'", dir, what);
	s[strcspn(s, "\n")] = '\0';
	return s;
}

static void test_gitattributes_union(void **state)
{
	char a[64], b[64], path[512], dir[256];
	(void)state;
	find_pair(a, b, sizeof(a));
	tg_sh("rm -rf A B A2 B2");
	snprintf(path, sizeof(path), "%s/A", tg_base);
	assert_int_equal(mreg_registry_init(path), 0);
	/* a full checkout (a lean registry has no mreg.json to edit in place) */
	tg_sh("cd A && git config core.bare false && git reset -q --hard && sed -i 's/\"artifact_max_bytes\": 1048576/\"artifact_max_bytes\": 16/' mreg.json && "
	      "grep -q '\"artifact_max_bytes\": 16' mreg.json && git commit -qam 'policy: large files from 16 bytes' && "
	      "cd .. && git clone -q A B");
	tg_puts(tg_fmt(path, sizeof(path), "%s/a.pt", tg_base), a);
	tg_puts(tg_fmt(path, sizeof(path), "%s/b.pt", tg_base), b);
	node_register(tg_fmt(dir, sizeof(dir), "%s/A", tg_base), tg_fmt(path, sizeof(path), "%s/a.pt", tg_base));
	node_register(tg_fmt(dir, sizeof(dir), "%s/B", tg_base), tg_fmt(path, sizeof(path), "%s/b.pt", tg_base));
	char hex[33];
	mreg_hash128(hex, a, strlen(a));
	char attr[64];
	tg_fmt(attr, sizeof(attr), "artifacts/%.2s/%.2s/.gitattributes", hex, hex + 2);
	tg_sh("cp -a A A2 && cp -a B B2");

	/* A merges B; on the copies, B merges A */
	char *how = node_sync(tg_fmt(dir, sizeof(dir), "%s/A", tg_base), "b", tg_fmt(path, sizeof(path), "%s/B", tg_base));
	assert_string_equal(how, "merge");
	free(how);
	how = node_sync(tg_fmt(dir, sizeof(dir), "%s/B2", tg_base), "a", tg_fmt(path, sizeof(path), "%s/A2", tg_base));
	assert_string_equal(how, "merge");
	free(how);

	char *ta = rev("A", "HEAD^{tree}"), *tb = rev("B2", "HEAD^{tree}");
	assert_string_equal(ta, tb);	/* the same tree, whoever merged */
	char *lines = tg_capture(NULL, "git -C A show 'HEAD:%s'", attr);
	char *first = tg_capture(NULL, "git -C A show 'HEAD:%s' | head -n 1", attr);
	assert_string_equal(first, "/.gitattributes merge=union\n");
	char *sorted = tg_capture(NULL, "git -C A show 'HEAD:%s' | tail -n +2 | LC_ALL=C sort -c && echo sorted", attr);
	assert_string_equal(sorted, "sorted\n");
	char *count = tg_capture(NULL, "git -C A show 'HEAD:%s' | grep -c 'filter=lfs'", attr);
	assert_string_equal(count, "2\n");	/* both nodes' files */
	assert_non_null(strstr(lines, hex));
	/* the merge holds both files, and git lfs sees both pointers */
	char *ls = tg_capture(NULL, "cd A && git lfs ls-files -n 2>/dev/null | grep -c '^artifacts/%.2s/%.2s/' || true", hex, hex + 2);
	assert_string_equal(ls, "2\n");

	/* B fast-forwards to A's merge: the same tree */
	how = node_sync(tg_fmt(dir, sizeof(dir), "%s/B", tg_base), "a", tg_fmt(path, sizeof(path), "%s/A", tg_base));
	assert_string_equal(how, "fast-forward");
	free(how);
	char *tb2 = rev("B", "HEAD^{tree}");
	assert_string_equal(ta, tb2);
	tg_sh("cd B && test -z \"$(git status --porcelain)\"");
	free(ta);
	free(tb);
	free(tb2);
	free(lines);
	free(first);
	free(sorted);
	free(count);
	free(ls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gitattributes_union),
	};
	return cmocka_run_group_tests(tests, tg_setup_group, tg_teardown_group);
}
