/*
 * The floor for `mreg serve` in make bench: libmicrohttpd with the settings
 * cmd/serve.c uses (internal polling thread, epoll, a pool of two threads,
 * the same limits), answering every GET with one fixed body read from a
 * file (one response object, queued for every request), until SIGTERM.
 * What mreg serve adds on top (finding the kept answer under its lock,
 * HEAD read again once a second) is the difference wrk measures.
 *
 *   serve_floor PORT FILE
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *body;
static size_t len;
static struct MHD_Response *response;	/* made once and queued for every request, as mreg serve does */

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			      const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	static int seen;
	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload;
	(void)upload_size;
	if (!*con_cls) {
		*con_cls = &seen;
		return MHD_YES;
	}
	return MHD_queue_response(c, 200, response);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: serve_floor PORT FILE\n");
		return 2;
	}
	FILE *f = fopen(argv[2], "rb");
	if (!f || fseek(f, 0, SEEK_END) != 0 || (len = (size_t)ftell(f), fseek(f, 0, SEEK_SET)) != 0 ||
	    !(body = malloc(len + 1)) || fread(body, 1, len, f) != len) {
		fprintf(stderr, "serve_floor: cannot read %s\n", argv[2]);
		return 1;
	}
	fclose(f);
	response = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(response, "Content-Type", "application/json");
	MHD_add_response_header(response, "Cache-Control", "no-store");
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, 2u,
		MHD_OPTION_CONNECTION_LIMIT, 128u, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 64u,
		MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "serve_floor: cannot listen on port %s\n", argv[1]);
		return 1;
	}
	int sig;
	sigwait(&sigs, &sig);
	MHD_stop_daemon(d);
	MHD_destroy_response(response);
	free(body);
	return 0;
}
