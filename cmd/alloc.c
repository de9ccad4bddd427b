/*
 * The release binary's allocator: jemalloc, linked statically (Makefile,
 * CLI_ALLOC). A fold reads events on one thread and frees them on another,
 * a million times at a million events; glibc's allocator then takes its
 * arena locks and coalesces on every free (a fifth of refresh --full's CPU
 * was malloc and free), jemalloc does not. Measured at a million events,
 * alternating: refresh --full 6.7-6.9 s against 10.2-10.6 s, restore-from
 * 14.4 s against 16.8-17.6 s (README, Performance).
 *
 * A command is one short process: freed memory is kept for the process's
 * life rather than handed back to the kernel page by page while a fold
 * runs (decay off). The commands that write one event put their heap on
 * transparent huge pages: they touch a few hundred fresh pages (the state
 * files they read and write), and on a virtual machine each first touch of
 * a 4 KiB page is a fault of 10-30 us, where one fault brings 2 MiB. So do
 * the commands that fold the whole log (fsck, restore-from, clone, refresh
 * --full), whose state takes about a gigabyte at a million events: on the
 * machine of the README's later measurements each ran about a tenth
 * faster with them, measured alternating (on an earlier machine a fold had
 * run slower). The other commands do not: clearing a huge page costs
 * about half a millisecond on some machines, more than a short read
 * touches. The commands that run until stopped (serve, watch, sync
 * --every) turn the decay back on: cli_alloc_long_running.
 *
 * jemalloc reads its settings once, in a constructor of its own, before
 * main(); choose_settings runs before it (a constructor of a higher
 * priority) and picks them by the command word. Only jemalloc reads
 * malloc_conf, and mallctl is a weak reference: the sanitizer build, which
 * keeps its own allocator, runs the same code.
 */
#include "cli.h"

#include <stddef.h>

#define DECAY_OFF "dirty_decay_ms:-1,muzzy_decay_ms:-1"

const char *malloc_conf = DECAY_OFF;

extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) __attribute__((weak));

#ifdef __GLIBC__	/* glibc calls the functions of .init_array with the program's argc and argv */
__attribute__((constructor(101))) static void choose_settings(int argc, char **argv)
{
	int i = argv ? cli_command_at(argc, argv) : argc;
	if (i < argc && (cli_writes_one_event(argv[i]) || cli_folds_whole_log(argc - i, argv + i)))
		malloc_conf = DECAY_OFF ",thp:always";
}
#endif

/* One decay setting: the default for new arenas, then each arena there is (those never used refuse it). */
static int set_decay(const char *which, ssize_t ms)
{
	char name[64];
	unsigned n = 0;
	size_t len = sizeof(n);
	snprintf(name, sizeof(name), "arenas.%s_decay_ms", which);
	if (mallctl(name, NULL, NULL, &ms, sizeof(ms)) != 0 || mallctl("arenas.narenas", &n, &len, NULL, 0) != 0)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "arena.%u.%s_decay_ms", i, which);
		if (mallctl(name, NULL, NULL, &ms, sizeof(ms)) != 0 && i == 0)
			return -1;
	}
	return 0;
}

void cli_alloc_long_running(void)
{
	/*
	 * jemalloc's own defaults: pages unused for about 10 s go back to the
	 * kernel at once (no lazy MADV_FREE stage), and a thread of its own
	 * does it, so that an idle process (watch waiting on inotify, sync
	 * between rounds) hands them back too. Without jemalloc, nothing to do.
	 */
	bool on = true;
	if (!mallctl)
		return;
	if (set_decay("dirty", 10000) < 0 || set_decay("muzzy", 0) < 0 ||
	    mallctl("background_thread", NULL, NULL, &on, sizeof(on)) != 0)
		fprintf(stderr, "mreg: warning: the allocator keeps the memory it frees: %s\n",
			"its decay or its background thread could not be set");
}
