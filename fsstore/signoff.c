/*
 * Who may move a version where: the protected stages of mreg.json, judged
 * commit by commit for mreg check and for sync (DESIGN: promotions through
 * pull requests).
 *
 * "protect": {"production": {"signers": ".mreg/allowed_signers"}} names,
 * per stage, the allowed-signers file whose keys may sign a commit that
 * moves a version into it. A commit is judged by the policy *as of its
 * parent*: its own changes to the policy take effect after it, so nobody
 * adds their key and uses it in one push. A change to a signers file, or to
 * the protect section, is itself protected (signed by a signer of every
 * protected stage's file as of the parent). An event into a stage the
 * parent leaves open but the range's base protects (what the branch
 * enforces now) needs a signer as of the base: a branch made before the
 * protection does not bring promotions in unsigned by being merged. A root
 * commit has no parent, and no policy: it is the trust anchor.
 *
 * Policies are read once per commit and signatures checked once per commit
 * and signers file (sign.c runs ssh-keygen).
 */
#define _GNU_SOURCE
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	git_oid commit;
	mreg_policy policy;	/* its mreg.json's policy (defaults when it has none or an invalid one) */
	cJSON *protect;		/* its protect section, as written (NULL: none) */
	git_oid tree;
} parent_policy;

typedef struct {
	git_oid commit;
	char signers[MREG_SIGNERS_PATH_MAX];
	char *who;		/* the principal that signed, or NULL */
	char *why;		/* why not, when who is NULL */
} verdict;

struct mreg_signoff {
	mreg_registry *reg;
	mreg_signoff_cb cb;
	void *payload;
	size_t nproblems;
	parent_policy **pols;	/* each its own allocation: pointers to them stay valid as more come */
	size_t npols;
	verdict *verdicts;
	size_t nverdicts;
	const parent_policy *base;	/* the policy at the range's base, or NULL */
};

static void problem(mreg_signoff *s, const char *commit, const char *path, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void problem(mreg_signoff *s, const char *commit, const char *path, const char *event, const char *fmt, ...)
{
	char msg[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->nproblems++;
	if (s->cb)
		s->cb(commit, path, event, msg, s->payload);
}

/* The policy as of commit (cached): its mreg.json, the defaults when it has none or one that does not read. */
static int policy_of(const parent_policy **out, mreg_signoff *ck, const git_oid *commit)
{
	git_commit *c = NULL;
	mreg_buf b = MREG_BUF_INIT;
	for (size_t i = 0; i < ck->npols; i++)
		if (git_oid_equal(&ck->pols[i]->commit, commit)) {
			*out = ck->pols[i];
			return 0;
		}
	parent_policy **more = realloc(ck->pols, (ck->npols + 1) * sizeof(*more));
	if (!more)
		return mreg_error_set(MREG_ERROR, "out of memory");
	ck->pols = more;
	parent_policy *p = calloc(1, sizeof(*p));
	if (!p)
		return mreg_error_set(MREG_ERROR, "out of memory");
	if (git_commit_lookup(&c, ck->reg->repo, commit) < 0) {
		free(p);
		return mreg_libgit2_error("cannot read commit", git_oid_tostr_s(commit));
	}
	p->commit = *commit;
	p->tree = *git_commit_tree_id(c);
	p->policy = (mreg_policy)MREG_POLICY_INIT;
	p->protect = NULL;
	git_commit_free(c);
	int rc = mreg_sign_read_file(&b, ck->reg, &p->tree, "mreg.json");
	if (rc < 0) {
		mreg_buf_dispose(&b);
		free(p);
		return rc;
	}
	cJSON *doc = rc == 0 ? cJSON_ParseWithLength(b.ptr, b.size) : NULL;
	if (doc && mreg_policy_from_json(&p->policy, doc, NULL) < 0)
		mreg_error_clear();
	p->protect = cJSON_DetachItemFromObjectCaseSensitive(doc, "protect");
	cJSON_Delete(doc);
	mreg_buf_dispose(&b);
	ck->pols[ck->npols++] = p;
	*out = p;
	return 0;
}

/* Whether commit is signed by a key the signers file of tree allows (cached per commit and file). */
static int verdict_of(const verdict **out, mreg_signoff *ck, const git_oid *commit, const git_oid *tree, const char *signers)
{
	git_buf sig = GIT_BUF_INIT_CONST(NULL, 0), data = GIT_BUF_INIT_CONST(NULL, 0);
	mreg_buf allowed = MREG_BUF_INIT, why = MREG_BUF_INIT;
	git_commit *c = NULL;
	for (size_t i = 0; i < ck->nverdicts; i++)
		if (git_oid_equal(&ck->verdicts[i].commit, commit) && !strcmp(ck->verdicts[i].signers, signers)) {
			*out = &ck->verdicts[i];
			return 0;
		}
	verdict *more = realloc(ck->verdicts, (ck->nverdicts + 1) * sizeof(*more));
	if (!more)
		return mreg_error_set(MREG_ERROR, "out of memory");
	ck->verdicts = more;
	verdict *v = &ck->verdicts[ck->nverdicts];
	memset(v, 0, sizeof(*v));
	v->commit = *commit;
	snprintf(v->signers, sizeof(v->signers), "%s", signers);
	int rc = 0;
	if (git_commit_extract_signature(&sig, &data, ck->reg->repo, (git_oid *)commit, NULL) < 0) {
		git_error_clear();
		mreg_buf_puts(&why, "it is not signed");
	} else if ((rc = mreg_sign_read_file(&allowed, ck->reg, tree, signers)) == 1) {
		rc = 0;
		mreg_buf_printf(&why, "the signers file '%s' is not in the registry", signers);
	} else if (rc == 0 && git_commit_lookup(&c, ck->reg->repo, commit) < 0) {
		rc = mreg_libgit2_error("cannot read commit", git_oid_tostr_s(commit));
	} else if (rc == 0) {
		rc = mreg_sign_verify(&v->who, &why, ck->reg, allowed.ptr, allowed.size, sig.ptr, data.ptr,
				      (int64_t)git_commit_time(c));
		rc = rc == 1 ? 0 : rc;
	}
	if (rc == 0 && !v->who && !(v->why = mreg_strdup(why.ptr)))
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	git_commit_free(c);
	git_buf_dispose(&sig);
	git_buf_dispose(&data);
	mreg_buf_dispose(&allowed);
	mreg_buf_dispose(&why);
	if (rc < 0) {
		free(v->who);
		return rc;
	}
	ck->nverdicts++;
	*out = v;
	return 0;
}

/* The first parent's policy of commit (hex), or NULL for a root commit. */
static int parent_policy_of(const parent_policy **out, mreg_signoff *ck, const char *hex)
{
	git_commit *c = NULL;
	git_oid id;
	*out = NULL;
	if (git_oid_fromstr(&id, hex) < 0 || git_commit_lookup(&c, ck->reg->repo, &id) < 0)
		return mreg_libgit2_error("cannot read commit", hex);
	int rc = 0;
	if (git_commit_parentcount(c))
		rc = policy_of(out, ck, git_commit_parent_id(c, 0));
	git_commit_free(c);
	return rc;
}

/* A signature by a signer of file, as of pp (the parent, or the base): the signer's name, or a problem and NULL. */
static int need_signer(const char **who, mreg_signoff *ck, const char *commit, const parent_policy *pp, const char *as_of,
		       const char *file, const char *path, const char *event, const char *what)
{
	const verdict *v = NULL;
	git_oid id;
	git_oid_fromstr(&id, commit);
	int rc = verdict_of(&v, ck, &id, &pp->tree, file);
	if (rc < 0)
		return rc;
	*who = v->who;
	if (!v->who)
		problem(ck, commit, path, event, "%s needs a commit signed by an allowed signer of '%s' as of its %s: %s",
			what, file, as_of, v->why);
	return 0;
}

int mreg_signoff_new(mreg_signoff **out, mreg_registry *reg, const git_oid *base, mreg_signoff_cb cb, void *payload)
{
	mreg_signoff *s = calloc(1, sizeof(*s));
	int rc = 0;
	*out = NULL;
	if (!s)
		return mreg_error_set(MREG_ERROR, "out of memory");
	s->reg = reg;
	s->cb = cb;
	s->payload = payload;
	if (base && (rc = policy_of(&s->base, s, base)) < 0) {
		mreg_signoff_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void mreg_signoff_free(mreg_signoff *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->npols; i++) {
		cJSON_Delete(s->pols[i]->protect);
		free(s->pols[i]);
	}
	free(s->pols);
	for (size_t i = 0; i < s->nverdicts; i++) {
		free(s->verdicts[i].who);
		free(s->verdicts[i].why);
	}
	free(s->verdicts);
	free(s);
}

int mreg_signoff_file(const char **signed_by, mreg_signoff *ck, const mreg_incoming_item *it)
{
	const parent_policy *pp = NULL, *now = NULL;
	git_oid id;
	*signed_by = NULL;
	int rc = parent_policy_of(&pp, ck, it->commit);
	if (rc < 0 || git_oid_fromstr(&id, it->commit) < 0 || (rc = policy_of(&now, ck, &id)) < 0)
		return rc < 0 ? rc : mreg_error_set(MREG_ERROR, "bad commit id '%s'", it->commit);
	if (!strcmp(it->path, "mreg.json")) {
		mreg_buf b = MREG_BUF_INIT;
		mreg_policy p = MREG_POLICY_INIT;
		cJSON *doc = NULL;
		if ((rc = mreg_sign_read_file(&b, ck->reg, &now->tree, "mreg.json")) == 0 &&
		    (doc = cJSON_ParseWithLength(b.ptr, b.size)) && mreg_policy_from_json(&p, doc, NULL) < 0) {
			problem(ck, it->commit, it->path, NULL, "%s", mreg_error_last());
			mreg_error_clear();
		}
		cJSON_Delete(doc);
		mreg_buf_dispose(&b);
		if (rc < 0)
			return rc;
		rc = 0;
	}
	const char *who = NULL;
	bool protect_changed = !strcmp(it->path, "mreg.json") && !cJSON_Compare(pp ? pp->protect : NULL, now->protect, true) &&
			       (pp ? pp->protect : NULL) != now->protect;
	for (int s = 0; pp && s < MREG_STAGE_COUNT && rc == 0; s++) {
		const char *file = pp->policy.protect[s];
		bool seen = false;
		for (int k = 0; k < s; k++)
			seen |= !strcmp(pp->policy.protect[k], file);
		if (!*file || seen || !(protect_changed || !strcmp(it->path, file)))
			continue;
		rc = need_signer(&who, ck, it->commit, pp, "parent", file, it->path, NULL,
				 protect_changed ? "a change to the protect section" : "a change to a signers file");
		*signed_by = who;
	}
	return rc;
}

int mreg_signoff_event(mreg_stage *stage, const char **who, mreg_signoff *ck, const mreg_incoming_item *it)
{
	const mreg_event *ev = it->ev;
	const parent_policy *pp = NULL;
	*who = NULL;
	*stage = MREG_STAGE_NONE;
	int rc = parent_policy_of(&pp, ck, it->commit);
	if (rc < 0)
		return rc;
	const parent_policy *by = pp;
	unsigned mask = mreg_event_stages_entered(ev);
	mreg_stage s = pp ? mreg_policy_protected(&pp->policy, mask) : MREG_STAGE_NONE;
	if (s == MREG_STAGE_NONE && ck->base && (s = mreg_policy_protected(&ck->base->policy, mask)) != MREG_STAGE_NONE)
		by = ck->base;
	*stage = s;
	if (s == MREG_STAGE_NONE)
		return 0;
	char what[300];
	snprintf(what, sizeof(what), "moving a version into protected stage '%s'", mreg_stage_name(s));
	return need_signer(who, ck, it->commit, by, by == pp ? "parent" : "base", by->policy.protect[s], it->path, ev->id,
			   what);
}

/* sync's judge: the first problem, as one line */
typedef struct {
	char *buf;
	size_t n;
} first;

static void first_problem(const char *commit, const char *path, const char *event, const char *msg, void *payload)
{
	first *f = payload;
	if (f->buf[0])
		return;
	if (event)
		snprintf(f->buf, f->n, "commit %.12s: event %s: %s", commit, event, msg);
	else if (path && *path)
		snprintf(f->buf, f->n, "commit %.12s: '%s': %s", commit, path, msg);
	else
		snprintf(f->buf, f->n, "commit %.12s: %s", commit, msg);
}

int mreg_signoff_check(char *problem_out, size_t n, mreg_registry *reg, mreg_incoming *in, const git_oid *base)
{
	mreg_signoff *s = NULL;
	first f = { problem_out, n };
	const char *who;
	mreg_stage stage;
	problem_out[0] = '\0';
	int rc = mreg_signoff_new(&s, reg, base, first_problem, &f);
	for (size_t i = 0; i < in->nkept && rc == 0; i++)
		rc = in->kept[i].ev ? mreg_signoff_event(&stage, &who, s, &in->kept[i]) : mreg_signoff_file(&who, s, &in->kept[i]);
	if (rc == 0 && s->nproblems)
		rc = MREG_EINVALID;
	mreg_signoff_free(s);
	return rc;
}
