#!/bin/sh
# make install (into a staging directory, DESTDIR): the binary, the man page,
# libmreg.so with its soname, the header and pkg-config file a C program
# builds against, and the Python package where Debian's python3 finds it,
# loading the library installed beside it. pip's road: the package builds
# as a wheel with setuptools alone (no network, nothing compiled).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
ROOT=$(cd "$here/../.." && pwd)

D=$T/stage
check "make install DESTDIR PREFIX=/usr/local" make -s -C "$ROOT" install DESTDIR="$D" PREFIX=/usr/local
L=$D/usr/local/lib
site=$(ls -d "$L"/python3*/dist-packages 2>/dev/null | head -1)
check "the binary runs" "$D/usr/local/bin/mreg" --version
check "the man page" test -s "$D/usr/local/share/man/man1/mreg.1"
expect_eq "the library's soname" "$(objdump -p "$L/libmreg.so.1.0.0" | awk '/SONAME/ { print $2 }')" libmreg.so.1
expect_eq "the soname link" "$(readlink "$L/libmreg.so.1")" libmreg.so.1.0.0
expect_eq "it exports mreg.h's calls and nothing else" \
	"$(nm -D --defined-only "$L/libmreg.so.1.0.0" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort | tr '\n' ' ')" \
	"mreg_api_version mreg_call mreg_close mreg_free mreg_open "
expect_eq "pkg-config" "$(PKG_CONFIG_PATH=$L/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D pkg-config --cflags --libs mreg | sed "s/ *$//")" \
	"-I$D/usr/local/include -L$D/usr/local/lib -lmreg"

# a C program against the installed header and library
cat >"$T/prog.c" <<'CEOF'
#include <mreg.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	mreg_handle *h;
	char *out = NULL, *err = NULL;
	if (mreg_open(&h, argv[1], 1, &err) != 0 || mreg_call(h, "status", NULL, &out, &err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("%d %s\n", mreg_api_version(), out);
	mreg_free(out);
	mreg_close(h);
	return argc > 2;
}
CEOF
check "a C program builds against it" sh -c "cc -o '$T/prog' '$T/prog.c' \$(PKG_CONFIG_PATH='$L/pkgconfig' PKG_CONFIG_SYSROOT_DIR='$D' pkg-config --cflags --libs mreg)"
check "and runs" env LD_LIBRARY_PATH="$L" "$T/prog" "$T/creg"
expect_eq "the C API answers" "$(head -c 2 "$T/.out")" "1 "
expect_eq "the C API's status" "$(cut -d' ' -f2- "$T/.out" | jq -c '[.models, .versions]')" "[0,0]"

# Debian's python3, the installed package, the installed library (found beside it)
check "the Python package is installed" test -f "$site/mreg/__init__.py" -a -f "$site/mreg/compat/__init__.py"
check "python3 imports it and opens a registry" env -u MREG_LIBRARY PYTHONPATH="$site" /usr/bin/python3 -c \
	"import mreg, mreg.compat.model_registry; r = mreg.Registry('$T/preg'); print(r.status()['versions'])"
expect_eq "through the installed library" "$(cat "$T/.out")" 0

# pip's road, without pip: the wheel setuptools builds holds every module
rm -rf "$T/whl" && cp -r "$ROOT/bindings/python" "$T/whl"
check "a wheel builds with setuptools alone" sh -c "cd '$T/whl' && /usr/bin/python3 -c 'import setuptools.build_meta as b; print(b.build_wheel(\"dist\"))'"
whl=$(ls "$T"/whl/dist/*.whl 2>/dev/null | head -1)
expect_eq "the wheel holds the package and every compat module" \
	"$(/usr/bin/python3 -c "import zipfile,sys; print(' '.join(sorted(n for n in zipfile.ZipFile(sys.argv[1]).namelist() if n.endswith(('.py', '.sql')))))" "$whl")" \
	"$(cd "$ROOT/bindings/python" && ls mreg/*.py mreg/compat/*.py mreg/compat/*.sql | sort | tr '\n' ' ' | sed 's/ $//')"
finish
