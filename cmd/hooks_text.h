/*
 * The scripts of hooks/, carried in the binary (the Makefile generates
 * build/hooks_text.c from them), so `mreg hooks install` needs no source
 * tree and installs what this mreg was built with.
 */
#ifndef MREG_HOOKS_TEXT_H
#define MREG_HOOKS_TEXT_H

#include "../fsstore/store.h"

extern const mreg_hook_text mreg_hook_texts[];

#endif
