"""The C API of libmreg.so (mreg.h), through ctypes: one handle, one call.

The library is found, in order: $MREG_LIBRARY (a path), a copy beside this
package, the one ``make install`` put three directories up
(PREFIX/lib/libmreg.so.1 beside PREFIX/lib/python3*/dist-packages/mreg),
then the system's libmreg.so.1. Nothing is compiled when the package is
installed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
from typing import Any

from . import errors

API_VERSION = 1


def _load() -> ctypes.CDLL:
    tried = []
    env = os.environ.get("MREG_LIBRARY")
    names = [env] if env else []
    here = os.path.dirname(os.path.abspath(__file__))
    names.append(os.path.join(here, "libmreg.so.%d" % API_VERSION))
    names.append(os.path.normpath(os.path.join(here, "..", "..", "..", "libmreg.so.%d" % API_VERSION)))
    names.append("libmreg.so.%d" % API_VERSION)
    found = ctypes.util.find_library("mreg")
    if found:
        names.append(found)
    for name in names:
        if name != env and os.sep in name and not os.path.exists(name):
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError as e:
            tried.append("%s (%s)" % (name, e))
            continue
        lib.mreg_api_version.restype = ctypes.c_int
        lib.mreg_api_version.argtypes = []
        if lib.mreg_api_version() != API_VERSION:
            tried.append("%s (API version %d, this package needs %d)" % (name, lib.mreg_api_version(), API_VERSION))
            continue
        lib.mreg_open.restype = ctypes.c_int
        lib.mreg_open.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_int,
                                  ctypes.POINTER(ctypes.c_void_p)]
        lib.mreg_close.restype = None
        lib.mreg_close.argtypes = [ctypes.c_void_p]
        lib.mreg_call.restype = ctypes.c_int
        lib.mreg_call.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                  ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p)]
        lib.mreg_free.restype = None
        lib.mreg_free.argtypes = [ctypes.c_void_p]
        return lib
    raise ImportError("mreg: cannot load libmreg.so.%d (set MREG_LIBRARY, or run make install): %s"
                      % (API_VERSION, "; ".join(tried) or "not found"))


_lib = _load()


def _take(p: ctypes.c_void_p) -> str | None:
    """The string the library returned at p, freed."""
    if not p.value:
        return None
    try:
        return ctypes.string_at(p.value).decode("utf-8")
    finally:
        _lib.mreg_free(p.value)


class Handle:
    """An open registry: mreg_open / mreg_call / mreg_close."""

    def __init__(self, path: str | os.PathLike | None, create: bool) -> None:
        h = ctypes.c_void_p()
        err = ctypes.c_void_p()
        raw = None if path is None else os.fsencode(path)
        rc = _lib.mreg_open(ctypes.byref(h), raw, 1 if create else 0, ctypes.byref(err))
        message = _take(err)
        if rc != 0:
            raise errors.from_code(rc, message or "cannot open the registry")
        self._h: int | None = h.value

    def call(self, method: str, **args: Any) -> Any:
        if self._h is None:
            raise errors.Error("the registry is closed", -8)
        doc = json.dumps({k: v for k, v in args.items() if v is not None})
        out = ctypes.c_void_p()
        err = ctypes.c_void_p()
        rc = _lib.mreg_call(self._h, method.encode(), doc.encode(), ctypes.byref(out), ctypes.byref(err))
        result, message = _take(out), _take(err)
        if rc != 0:
            raise errors.from_code(rc, message or "%s failed" % method)
        return json.loads(result) if result is not None else None

    def close(self) -> None:
        if self._h is not None:
            _lib.mreg_close(self._h)
            self._h = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
