/*
 * mreg.h: the stable C API of libmreg.so, for bindings (the Python package
 * in bindings/python) and programs that embed a registry.
 *
 * A handle is opened on a registry directory. Every call takes a method
 * name and its arguments as a JSON object, and gives back either a JSON
 * document (the objects `mreg ... --json` prints) or an error message; both
 * are strings the caller frees with mreg_free. The handle keeps the folded
 * state in memory between calls and reads it again only when the registry's
 * branch moved (one ref read per call), so reads in a loop cost no file
 * reads. A handle is thread-safe: calls on one handle are serialized; use a
 * handle per thread to read in parallel. Other processes may write to the
 * same registry at the same time: a call sees their writes.
 *
 * This header is the whole interface; nothing else of the library is
 * exported from the shared object. MREG_API_VERSION changes only when a
 * call changes incompatibly (the soname's number follows it); methods and
 * members are added without a change.
 */
#ifndef MREG_PUBLIC_H
#define MREG_PUBLIC_H

#ifdef __cplusplus
extern "C" {
#endif

#define MREG_API_VERSION 1

/* Result codes: 0 success, else one of these (the CLI exits 1 for all but usage, 2). */
#define MREG_API_OK 0
#define MREG_API_ERROR (-1)		/* anything unexpected: I/O, out of memory */
#define MREG_API_ENOTFOUND (-3)		/* no such model, version, backup */
#define MREG_API_EEXISTS (-4)		/* already there */
#define MREG_API_ETRANSITION (-5)	/* the stage table or the rollback policy refuses */
#define MREG_API_EINVALID (-6)		/* bad input: an argument, a name, a value, a file */
#define MREG_API_ELOCKED (-7)		/* another writer held the lock past the timeout */
#define MREG_API_EUSAGE (-8)		/* a method or argument the API does not know */
#define MREG_API_ECONFLICT (-9)		/* a concurrent change got there first */
#define MREG_API_ECORRUPT (-10)		/* stored data failed its own checks */

typedef struct mreg_handle mreg_handle;

/* MREG_API_VERSION of the library loaded. */
int mreg_api_version(void);

/*
 * Open the registry in dir (NULL: $MREG_DIR, else data/model_registry).
 * With create nonzero, a directory without a registry gets a new one. On
 * error *error (when error is not NULL) holds the message.
 */
int mreg_open(mreg_handle **out, const char *dir, int create, char **error);
void mreg_close(mreg_handle *h);

/*
 * Call method with args (a JSON object, NULL: {}). On success *result holds
 * the JSON document (may be "null"); on error *error the message, one line
 * naming the problem and its subject. Methods: see the README, "The C API".
 */
int mreg_call(mreg_handle *h, const char *method, const char *args, char **result, char **error);

/* Free a string the library returned. */
void mreg_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
