#!/bin/sh
# The library from outside the tree: `make install PREFIX=<tmp>`, then
# examples/embed/embed.c built only with what pkg-config says, once against
# the shared library and once statically against libvidaction.a (pkg-config
# --static: Libs.private must name every library the archive needs, the CUDA
# ones too in a CUDA build). Both run; the static one needs no libvidaction.so.
# Prints "ok/FAIL name" per case and "N passed, N failed".
. test/testlib.sh
vt_begin embed
unset MAKEFLAGS MFLAGS MAKELEVEL
prefix=$tmp/prefix
src=examples/embed/embed.c
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
version=$(sed -n 's/^#define VIDA_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' include/vidaction/version.h | paste -sd. -)
strict='-std=c99 -Wall -Wextra -pedantic -Werror'

t make_install 'make -s install PREFIX="$prefix" &&
    for f in lib/pkgconfig/vidaction.pc lib/libvidaction.a lib/libvidaction.so.$version lib/libvidaction.so.0 \
        lib/libvidaction.so include/vidaction.h include/vidaction/model.h bin/vidaction; do
        [ -e "$prefix/$f" ] || { echo "$prefix/$f missing"; exit 1; }; done'
t pkgconfig_describes_install '[ "$(pkg-config --modversion vidaction)" = "$version" ] &&
    [ "$(pkg-config --cflags vidaction | sed "s/ *$//")" = "-I$prefix/include" ] &&
    pkg-config --libs vidaction | grep -q -- "-L$prefix/lib -lvidaction"'

t embed_shared 'cc $strict "$src" -o "$tmp/embed_shared" $(pkg-config --cflags --libs vidaction) &&
    LD_LIBRARY_PATH="$prefix/lib" "$tmp/embed_shared" > "$tmp/shared.out" && cat "$tmp/shared.out" &&
    grep -q "top class [0-4] of 5" "$tmp/shared.out" &&
    LD_LIBRARY_PATH="$prefix/lib" ldd "$tmp/embed_shared" | grep -q "libvidaction.so.0 => $prefix/lib/libvidaction.so.0"'

# pkg-config --static gives -lvidaction, which the linker would resolve to the
# .so beside the .a; -l:libvidaction.a names the archive.
t embed_static 'cc $strict "$src" -o "$tmp/embed_static" \
        $(pkg-config --static --cflags --libs vidaction | sed "s/-lvidaction\( \|$\)/-l:libvidaction.a\1/") &&
    "$tmp/embed_static" > "$tmp/static.out" && cat "$tmp/static.out" &&
    grep -q "top class [0-4] of 5" "$tmp/static.out" &&
    ldd "$tmp/embed_static" > "$tmp/static.ldd" && cat "$tmp/static.ldd" && ! grep -q libvidaction "$tmp/static.ldd"'

# A model file made by the installed program, loaded by both: the same answer.
t embed_static_and_shared_load_model_file '"$prefix/bin/vidaction" create --arch r2plus1d --depth 10 --width 0.25 \
        --classes 7 -o "$tmp/m.safetensors" &&
    "$tmp/embed_static" "$tmp/m.safetensors" > "$tmp/static7.out" &&
    LD_LIBRARY_PATH="$prefix/lib" "$tmp/embed_shared" "$tmp/m.safetensors" > "$tmp/shared7.out" &&
    cat "$tmp/static7.out" "$tmp/shared7.out" && grep -q "top class [0-6] of 7" "$tmp/static7.out" &&
    cmp "$tmp/static7.out" "$tmp/shared7.out"'
t embed_static_missing_file_is_reported '! "$tmp/embed_static" "$tmp/absent.safetensors" 2> "$tmp/err" &&
    cat "$tmp/err" && grep -q "absent.safetensors" "$tmp/err"'
vt_end
