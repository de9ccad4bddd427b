/*
 * mreg serve: /metrics, /health and the read-only JSON API (fsstore/api.c)
 * over HTTP, with libmicrohttpd (opened when a server starts, see mhd_open).
 *
 * Answers are built by the library from the state files and kept, each
 * with the HEAD commit it was made at: a request reads HEAD (two small
 * files) and gets the kept answer while HEAD has not moved, so the server
 * follows the registry without a restart, whatever moved it (a write, a
 * sync, a git pull, a restore); a thread woken by inotify (fsstore/watch.c)
 * brings the state files up to HEAD meanwhile. /metrics and /health also hold what moves
 * without HEAD (sync records, backups, the parity check): they are kept
 * one second at most. A background thread runs the parity check (mreg
 * fsck) on a schedule; /health reports its last outcome.
 *
 * Bounded: only GET and HEAD; connections, request headers (memory per
 * connection) and idle time are limited by libmicrohttpd; a path names a
 * model only through a checked id. Loopback unless --listen says
 * otherwise (then a warning); a bearer token from git config
 * mreg.serveToken or --token-file guards every path when set. SIGTERM
 * or SIGINT stops it cleanly.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "../fsstore/mreg.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * libmicrohttpd is opened when a server starts, not linked: linked in, it
 * and the TLS libraries it brings (GnuTLS, p11-kit, nettle, gmp...) cost
 * every command about 1 ms before main (a program linked with it starts in
 * 1.8 ms here, without it in 0.7 ms). Its header still gives the types.
 */
#define MHD_FUNCS(X)                                                                                 \
	X(MHD_start_daemon) X(MHD_stop_daemon) X(MHD_get_daemon_info) X(MHD_create_response_from_buffer) \
	X(MHD_destroy_response) X(MHD_add_response_header) X(MHD_queue_response) X(MHD_lookup_connection_value)
static struct {
#define MHD_FIELD(f) __typeof__(&f) f;
	MHD_FUNCS(MHD_FIELD)
#undef MHD_FIELD
} mhd;

static int mhd_open(void)
{
	void *h = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		h = dlopen("libmicrohttpd.so", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "mreg: serve needs libmicrohttpd (Debian: libmicrohttpd12): %s\n", dlerror());
		return -1;
	}
#define MHD_LOAD(f)                                                                      \
	if (!(mhd.f = (__typeof__(mhd.f))dlsym(h, #f))) {                                \
		fprintf(stderr, "mreg: serve: libmicrohttpd has no %s: %s\n", #f, dlerror()); \
		return -1;                                                               \
	}
	MHD_FUNCS(MHD_LOAD)
#undef MHD_LOAD
	return 0;
}

#define CACHE_SLOTS 64
#define LIVE_USEC 1000000	/* /metrics and /health kept this long at most */

typedef struct {
	char key[256];
	char head[41];
	uint64_t generation;	/* s->generation when made */
	int64_t made, checked;	/* when made, and when HEAD was last read for it */
	int status;
	const char *type;
	mreg_buf body;
	struct MHD_Response *response;	/* made once from body, queued for every request it answers */
} answer;

typedef struct {
	const char *dir;
	char token[256];
	double sync_max_age;
	int parity_every;	/* seconds */
	pthread_mutex_t lock;	/* stopping, generation (with the condition) */
	pthread_cond_t wake;
	pthread_rwlock_t cache_lock;	/* the kept answers: read by every request, written to remake one */
	bool stopping;
	uint64_t generation;	/* bumped by the inotify thread on every change */
	mreg_registry *head_reg;	/* for HEAD reads only */
	mreg_handle *api;	/* the C API's handle: the state kept between answers (mreg.h) */
	answer cache[CACHE_SLOTS];
	size_t next;
} server;

const cli_opt opts_serve[] = {
	{ "listen", 0, true, "ADDR:PORT  where to listen (default 127.0.0.1:9464; not loopback: a warning)" },
	{ "token-file", 0, true, "FILE  a bearer token every request must carry (else git config mreg.serveToken)" },
	{ "parity-every", 0, true, "SECONDS  how often the parity check (mreg fsck) runs (default 3600)" },
	{ "timeout", 0, true, "SECONDS  an idle connection is closed after this long (default 10)" },
	{ NULL, 0, false, NULL }
};

/* Equal without telling how much matched by its time. */
static bool same_secret(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	unsigned char diff = n != m;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(a[i] ^ b[i % (m ? m : 1)]);
	return diff == 0;
}

/*
 * A kept answer good as it is for key (under a read lock), else NULL: made
 * at the HEAD commit there is now (read by hand, two small files: the
 * inotify thread may not have seen a write that just returned), or for a
 * live one (/metrics, /health) less than a second ago.
 */
static answer *kept(server *s, const char *key, bool live, uint64_t generation, int64_t now)
{
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		answer *a = &s->cache[i];
		if (strcmp(a->key, key))
			continue;
		if (!a->response || a->generation != generation)
			return NULL;
		if (live)
			return now - a->made < LIVE_USEC && now - a->checked < LIVE_USEC ? a : NULL;
		char head[41];
		return mreg_head_peek(head, s->head_reg) == 0 && !strcmp(head, a->head) ? a : NULL;
	}
	return NULL;
}

/* {"error": message} with its HTTP status. */
static void api_error(mreg_buf *out, int *status, int code, const char *message)
{
	mreg_jsonw w;
	mreg_buf_clear(out);
	mreg_jsonw_init(&w, out);
	mreg_jsonw_obj_begin(&w, NULL);
	mreg_jsonw_str(&w, "error", message);
	mreg_jsonw_obj_end(&w);
	mreg_jsonw_finish(&w);
	*status = code;
}

/* A version number in a path: 1 to 9 digits, no sign, no leading zero; 0 when it is not one. */
static int version_of(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 9 || s[0] == '0' || strspn(s, "0123456789") < n)
		return 0;
	return atoi(s);
}

/*
 * An API path as the C API call that answers it (mreg.h, over the handle's
 * kept state), or the 400 or 404 it deserves:
 *   /api/v1/models                     models: every model's summary
 *   /api/v1/models/ID                  model: its summary and every version
 *   /api/v1/models/ID/versions/N       model with a version: as `mreg show ID:N --json`
 *   /api/v1/production                 production: as `mreg list --stage production --json`
 *   /api/v1/events?since=EVENT&limit=N events: after EVENT (default: from the first), N (100, at most 1,000)
 * A path names a model only through its id, checked as every command checks
 * one; no part of a path becomes a file name. 0, or an error code after a
 * 500 answer.
 */
static int api_answer(mreg_buf *out, int *status, mreg_handle *h, const char *path, const char *since, const char *limit)
{
	static const char models_prefix[] = "/api/v1/models/", versions[] = "/versions/";
	const char *method = NULL;
	cJSON *args = cJSON_CreateObject();
	char id[MREG_ID_MAX + 1], *json = NULL, *result = NULL, *error = NULL;
	int version = 0, rc = 0;
	*status = 200;
	if (!args) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	} else if (!strcmp(path, "/api/v1/models") || !strcmp(path, "/api/v1/production")) {
		method = path + 8;
	} else if (!strcmp(path, "/api/v1/events")) {
		char *end = NULL;
		long n = limit ? strtol(limit, &end, 10) : 100;
		if (limit && (*end || !*limit || n < 1 || n > 1000))
			api_error(out, status, 400, "limit must be a whole number from 1 to 1000");
		else if (since && (strlen(since) != 32 || strspn(since, "0123456789abcdef") != 32))
			api_error(out, status, 400, "since must be an event id (32 hex digits)");
		else
			method = "events";
		cJSON_AddStringToObject(args, "since", since ? since : "");
		cJSON_AddNumberToObject(args, "limit", (double)n);
	} else if (!strncmp(path, models_prefix, sizeof(models_prefix) - 1)) {
		const char *p = path + sizeof(models_prefix) - 1, *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		snprintf(id, sizeof(id), "%.*s", (int)(n > MREG_ID_MAX ? 0 : n), p);
		if (n > MREG_ID_MAX || mreg_id_problem(id))
			api_error(out, status, 404, "no such model");
		else if (slash && (strncmp(slash, versions, sizeof(versions) - 1) ||
				   !(version = version_of(slash + sizeof(versions) - 1))))
			api_error(out, status, 404, "no such path");
		else
			method = "model";
		cJSON_AddStringToObject(args, "model", id);
		cJSON_AddNumberToObject(args, "version", version);
	} else {
		api_error(out, status, 404, "no such path");
	}
	if (method && !(json = cJSON_PrintUnformatted(args)))
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	if (method && json && (rc = mreg_call(h, method, json, &result, &error)) == 0) {
		if (!strcmp(result, "null\n") || !strcmp(result, "null"))
			api_error(out, status, 404, version ? "no such version" : "no such model");
		else
			mreg_buf_clear(out), mreg_buf_puts(out, result);
	} else if (method && json && rc == MREG_ENOTFOUND && !strcmp(method, "events")) {
		api_error(out, status, 404, "no such event");
		rc = 0;
	} else if (rc < 0) {
		mreg_error_set(rc, "%s", error ? error : mreg_error_last());
		api_error(out, status, 500, mreg_error_last());
	}
	mreg_free(result);
	mreg_free(error);
	cJSON_free(json);
	cJSON_Delete(args);
	return rc;
}

/*
 * The answer for key, under s->cache_lock written. Kept while nothing changed: no inotify
 * event since it was made (s->generation), and HEAD still the commit it was
 * made at (read for every request); live answers (/metrics, /health) a
 * second at most whatever happens, HEAD read once a second at most.
 */
static answer *answer_for(server *s, const char *key, bool live, const char *path, const char *since, const char *limit,
			  uint64_t generation)
{
	int64_t now = cli_now_usec();
	answer *a = NULL;
	for (size_t i = 0; i < CACHE_SLOTS && !a; i++)
		if (!strcmp(s->cache[i].key, key))
			a = &s->cache[i];
	if (a && a->response && a->generation == generation && (!live || now - a->made < LIVE_USEC)) {
		if (live && now - a->checked < LIVE_USEC)
			return a;
		char head[41] = "";
		if (mreg_head_now(head, s->head_reg) < 0)
			mreg_error_clear();
		if (!strcmp(a->head, head)) {
			a->checked = now;
			return a;
		}
	}
	if (!a) {
		a = &s->cache[s->next++ % CACHE_SLOTS];
		snprintf(a->key, sizeof(a->key), "%s", key);
	}
	char head[41] = "";
	if (mreg_head_now(head, s->head_reg) < 0)
		mreg_error_clear();
	mreg_registry *reg = NULL;
	int rc = mreg_registry_open_read(&reg, s->dir);
	a->type = "application/json";
	if (rc == 0 && !strcmp(path, "/metrics")) {
		a->type = "text/plain; version=0.0.4; charset=utf-8";
		a->status = 200;
		rc = mreg_metrics_text(&a->body, reg);
	} else if (rc == 0 && !strcmp(path, "/health")) {
		rc = mreg_api_health(&a->body, &a->status, reg, s->sync_max_age);
	} else if (rc == 0) {
		rc = api_answer(&a->body, &a->status, s->api, path, since, limit);
	}
	if (rc < 0) {
		mreg_buf_clear(&a->body);
		mreg_buf_printf(&a->body, "{\"error\": \"cannot read the registry\"}\n");
		fprintf(stderr, "mreg: serve: %s\n", mreg_error_last());
		mreg_error_clear();
		a->status = 500;
		a->type = "application/json";
		a->key[0] = '\0';	/* not kept */
	}
	mreg_registry_free(reg);
	snprintf(a->head, sizeof(a->head), "%s", head);
	a->generation = generation;
	a->made = a->checked = now;
	if (a->response)
		mhd.MHD_destroy_response(a->response);	/* connections still sending it hold their own reference */
	a->response = mhd.MHD_create_response_from_buffer(a->body.size, a->body.ptr, MHD_RESPMEM_MUST_COPY);
	if (a->response) {
		mhd.MHD_add_response_header(a->response, "Content-Type", a->type);
		mhd.MHD_add_response_header(a->response, "Cache-Control", "no-store");
	}
	return a;
}

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *type, const void *body, size_t len)
{
	struct MHD_Response *r = mhd.MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	mhd.MHD_add_response_header(r, "Content-Type", type);
	mhd.MHD_add_response_header(r, "Cache-Control", "no-store");
	if (status == 401)
		mhd.MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"mreg\"");
	enum MHD_Result ret = mhd.MHD_queue_response(c, (unsigned)status, r);
	mhd.MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result error_reply(struct MHD_Connection *c, int status, const char *message)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "{\"error\": \"%s\"}\n", message);
	return reply(c, status, "application/json", body, (size_t)n);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			      const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	server *s = cls;
	static int seen;
	(void)version;
	(void)upload;
	if (!*con_cls) {	/* the headers are in: decide once the body (if any) has been offered */
		*con_cls = &seen;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return error_reply(c, 413, "this server takes no request bodies");
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return error_reply(c, 405, "only GET and HEAD");
	if (s->token[0]) {
		const char *auth = mhd.MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
		if (!auth || strncmp(auth, "Bearer ", 7) || !same_secret(auth + 7, s->token))
			return error_reply(c, 401, "a bearer token is required");
	}
	bool live = !strcmp(url, "/metrics") || !strcmp(url, "/health");
	if (!live && strncmp(url, "/api/v1/", 8))
		return error_reply(c, 404, "no such path");
	const char *since = mhd.MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
	const char *limit = mhd.MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	char key[256];
	if (strlen(url) > 160 || (since && strlen(since) > 40) || (limit && strlen(limit) > 12))
		return error_reply(c, 414, "request too long");
	snprintf(key, sizeof(key), "%s?%s&%s", url, since ? since : "", limit ? limit : "");
	pthread_mutex_lock(&s->lock);
	uint64_t generation = s->generation;
	pthread_mutex_unlock(&s->lock);
	int64_t now = cli_now_usec();
	pthread_rwlock_rdlock(&s->cache_lock);
	answer *a = kept(s, key, live, generation, now);
	if (a) {
		enum MHD_Result ret = mhd.MHD_queue_response(c, (unsigned)a->status, a->response);
		pthread_rwlock_unlock(&s->cache_lock);
		return ret;
	}
	pthread_rwlock_unlock(&s->cache_lock);
	pthread_rwlock_wrlock(&s->cache_lock);
	a = answer_for(s, key, live, url, since, limit, generation);
	enum MHD_Result ret = a->response ? mhd.MHD_queue_response(c, (unsigned)a->status, a->response)
					  : reply(c, a->status, a->type, a->body.ptr, a->body.size);
	pthread_rwlock_unlock(&s->cache_lock);
	return ret;
}

/*
 * The state files brought up to HEAD as soon as the registry changes
 * (inotify, fsstore/watch.c, as mreg watch does), so that the first
 * request after a change does not wait for the fold.
 */
static void *refresh_loop(void *arg)
{
	server *s = arg;
	mreg_watch *w = NULL;
	if (mreg_watch_open(&w, s->head_reg) < 0) {
		fprintf(stderr, "mreg: serve: %s (answers still follow HEAD)\n", mreg_error_last());
		mreg_error_clear();
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&s->lock);
		bool stop = s->stopping;
		pthread_mutex_unlock(&s->lock);
		if (stop)
			break;
		if (mreg_watch_wait(w, 500) <= 0)
			continue;
		pthread_mutex_lock(&s->lock);
		s->generation++;
		pthread_mutex_unlock(&s->lock);
		mreg_registry *reg = NULL;
		if (mreg_registry_open(&reg, s->dir) < 0 || mreg_registry_refresh(reg, false, NULL) < 0)
			mreg_error_clear();
		mreg_registry_free(reg);
	}
	mreg_watch_free(w);
	return NULL;
}

/* The parity check on its schedule, first soon after the start. */
static void *parity_loop(void *arg)
{
	server *s = arg;
	int wait = 1;
	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += wait;
		while (!s->stopping && pthread_cond_timedwait(&s->wake, &s->lock, &until) != ETIMEDOUT)
			;
		if (s->stopping)
			break;
		pthread_mutex_unlock(&s->lock);
		mreg_registry *reg = NULL;
		size_t n = 0;
		int rc = mreg_registry_open(&reg, s->dir);
		if (rc == 0)
			rc = mreg_parity_check(reg, &n);
		if (rc < 0) {
			fprintf(stderr, "mreg: serve: parity check: %s\n", mreg_error_last());
			mreg_error_clear();
		}
		mreg_registry_free(reg);
		pthread_mutex_lock(&s->lock);
		wait = rc == 1 ? 1 : s->parity_every;	/* 1: the registry moved under it, try again soon */
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* "ADDR:PORT" into an IPv4 address. */
static int parse_listen(struct sockaddr_in *sa, const char *spec)
{
	char host[64];
	const char *colon = strrchr(spec, ':');
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (!colon || (size_t)(colon - spec) >= sizeof(host))
		return -1;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || !colon[1] || port < 0 || port > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -1;
	sa->sin_port = htons((uint16_t)port);
	return 0;
}

static int read_token(char out[256], const char *file, mreg_registry *reg)
{
	mreg_buf b = MREG_BUF_INIT;
	int rc = 0;
	out[0] = '\0';
	if (file) {
		if ((rc = mreg_user_file_read(&b, file, "token file", 4096)) < 0)
			return rc;
	} else if ((rc = mreg_registry_setting(&b, reg, "mreg.servetoken")) <= 0) {
		mreg_buf_dispose(&b);
		return rc;
	}
	while (b.size && (b.ptr[b.size - 1] == '\n' || b.ptr[b.size - 1] == '\r' || b.ptr[b.size - 1] == ' '))
		b.ptr[--b.size] = '\0';
	if (!b.size || b.size >= 256 || strpbrk(b.ptr, "\r\n"))
		rc = mreg_error_set(MREG_EINVALID, "invalid serve token%s%s%s: one line of 1 to 255 bytes", file ? " in '" : "",
				    file ? file : "", file ? "'" : "");
	else
		memcpy(out, b.ptr, b.size + 1);
	mreg_buf_dispose(&b);
	return rc;
}

int cmd_serve(cli_globals *g, int argc, char **argv)
{
	cli_args a;
	server s;
	struct sockaddr_in sa;
	double every = 3600, timeout = 10;
	int rc;
	memset(&s, 0, sizeof(s));
	if ((rc = cli_parse(&a, "serve", argc, argv)))
		return rc;
	if (a.npositional)
		return cli_usage(a.cmd, "serve takes no arguments");
	const char *listen = cli_get(&a, "listen") ? cli_get(&a, "listen") : "127.0.0.1:9464";
	if (parse_listen(&sa, listen) < 0)
		return cli_usage(a.cmd, "invalid --listen '%s': expected an IPv4 ADDR:PORT", listen);
	if (cli_number_opt(&every, NULL, &a, "parity-every", 1, 1e7) < 0 ||
	    cli_number_opt(&timeout, NULL, &a, "timeout", 1, 3600) < 0)
		return 2;
	if ((rc = cli_open(&s.head_reg, g)))
		return rc;
	s.dir = mreg_registry_path(s.head_reg);
	char *api_error_message = NULL;
	if ((rc = mreg_open(&s.api, s.dir, 0, &api_error_message)) < 0) {
		fprintf(stderr, "mreg: %s\n", api_error_message ? api_error_message : "cannot open the registry");
		mreg_free(api_error_message);
		mreg_registry_free(s.head_reg);
		return 1;
	}
	s.parity_every = (int)every;
	s.sync_max_age = 1800;
	if ((rc = read_token(s.token, cli_get(&a, "token-file"), s.head_reg)) < 0) {
		mreg_close(s.api);
		mreg_registry_free(s.head_reg);
		return cli_fail(rc);
	}
	if (ntohl(sa.sin_addr.s_addr) >> 24 != 127)
		fprintf(stderr, "mreg: warning: serving on %s, not loopback: whoever reaches it reads the registry%s\n", listen,
			s.token[0] ? "" : " (no token is set: git config mreg.serveToken)");
	/* signals are taken by sigwait below, never by a server thread */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.wake, NULL);
	pthread_rwlock_init(&s.cache_lock, NULL);
	struct MHD_Daemon *d = NULL;
	if (mhd_open() < 0) {
		rc = 1;
		goto done;
	}
	d = mhd.MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, &s,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, 2u,
		MHD_OPTION_CONNECTION_LIMIT, 128u, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 64u,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "mreg: cannot listen on %s: %s\n", listen, strerror(errno));
		rc = 1;
		goto done;
	}
	const union MHD_DaemonInfo *info = mhd.MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	char host[64];
	inet_ntop(AF_INET, &sa.sin_addr, host, sizeof(host));
	printf("Serving %s on http://%s:%u/\n", s.dir, host, info ? info->port : ntohs(sa.sin_port));
	fflush(stdout);
	pthread_t parity, refresher;
	bool parity_started = pthread_create(&parity, NULL, parity_loop, &s) == 0;
	bool refresher_started = pthread_create(&refresher, NULL, refresh_loop, &s) == 0;
	int sig = 0;
	sigwait(&sigs, &sig);
	pthread_mutex_lock(&s.lock);
	s.stopping = true;
	pthread_cond_broadcast(&s.wake);
	pthread_mutex_unlock(&s.lock);
	if (parity_started)
		pthread_join(parity, NULL);
	if (refresher_started)
		pthread_join(refresher, NULL);
	mhd.MHD_stop_daemon(d);
	fprintf(stderr, "mreg: serve: stopped by %s\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
done:
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		mreg_buf_dispose(&s.cache[i].body);
		if (s.cache[i].response)
			mhd.MHD_destroy_response(s.cache[i].response);
	}
	pthread_mutex_destroy(&s.lock);
	pthread_cond_destroy(&s.wake);
	pthread_rwlock_destroy(&s.cache_lock);
	mreg_close(s.api);
	mreg_registry_free(s.head_reg);
	return rc;
}
