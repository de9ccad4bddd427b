/*
 * The release binary's allocator: jemalloc, linked statically (Makefile,
 * CLI_ALLOC). A fold reads events on one thread and frees them on another,
 * a million times at a million events; glibc's allocator then takes its
 * arena locks and coalesces on every free (a fifth of refresh --full's CPU
 * was malloc and free), jemalloc does not. Measured at a million events,
 * alternating: refresh --full 6.4-6.7 s against 8.9-9.4 s, restore-from
 * 14.8-16.5 s against 17.4-20.1 s (README, Performance).
 *
 * A command is one short process: freed memory is kept for the process's
 * life rather than handed back to the kernel page by page while a fold
 * runs (decay off). The commands that run until stopped (serve, watch)
 * turn the decay back on: cli_alloc_long_running.
 *
 * Only jemalloc reads malloc_conf, and mallctl is a weak reference: the
 * sanitizer build, which keeps its own allocator, runs the same code.
 */
#include "cli.h"

#include <stddef.h>

const char *malloc_conf = "dirty_decay_ms:-1,muzzy_decay_ms:-1";

extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) __attribute__((weak));

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
