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
 * a 4 KiB page is a fault of 10-30 us, where one fault brings 2 MiB. The
 * others do not: clearing a huge page costs about half a millisecond here,
 * more than a short read touches, and a fold ran slower with them. The
 * commands that run until stopped (serve, watch) turn the decay back on:
 * cli_alloc_long_running.
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

/* glibc calls the functions of .init_array with the program's argc and argv */
__attribute__((constructor(101))) static void choose_settings(int argc, char **argv)
{
	int i = argv ? cli_command_at(argc, argv) : argc;
	if (i < argc && cli_writes_one_event(argv[i]))
		malloc_conf = DECAY_OFF ",thp:always";
}

/* jemalloc's arena index for "every arena" (MALLCTL_ARENAS_ALL) */
#define ARENAS_ALL "4096"

void cli_alloc_long_running(void)
{
	static const char *const names[] = { "arenas.dirty_decay_ms", "arenas.muzzy_decay_ms",
					     "arena." ARENAS_ALL ".dirty_decay_ms", "arena." ARENAS_ALL ".muzzy_decay_ms" };
	ssize_t ms = 10000;	/* jemalloc's own default: unused pages go back after about 10 s */
	if (!mallctl)
		return;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		mallctl(names[i], NULL, NULL, &ms, sizeof(ms));
}
