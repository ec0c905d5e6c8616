#!/bin/sh
# The library as a user sees it: exported symbols, SONAME, the headers in
# C99/C11/C++, and `make install` + pkg-config with shared and static linking.
# Prints "ok/FAIL name" per case and "N passed, N failed".
. test/testlib.sh
vt_begin abi
t only_vida_symbols_exported 'sh test/abi/check-symbols.sh lib/libvidaction.so'
t no_exported_variables '[ -z "$(nm -D --defined-only lib/libvidaction.so | awk "\$2 ~ /[BDGRS]/" )" ]'
printf '#include <vidaction.h>\nint main(void) { return vida_version_number() == VIDA_VERSION_NUMBER ? 0 : 1; }\n' > "$tmp/h.c"
t header_c99 'cc -std=c99 -Wall -Wextra -Werror -pedantic -Iinclude -c "$tmp/h.c" -o "$tmp/h99.o"'
t header_c11 'cc -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude -c "$tmp/h.c" -o "$tmp/h11.o"'
cp "$tmp/h.c" "$tmp/h.cpp"
t header_cxx 'c++ -std=c++11 -Wall -Wextra -Werror -Iinclude -c "$tmp/h.cpp" -o "$tmp/hxx.o"'
t make_install 'make -s install PREFIX="$tmp/prefix" && [ -f "$tmp/prefix/lib/pkgconfig/vidaction.pc" ] && [ -x "$tmp/prefix/bin/vidaction" ] && [ -f "$tmp/prefix/include/vidaction/model.h" ]'
cat > "$tmp/use.c" <<'C'
#include <stdio.h>
#include <vidaction.h>
int main(void)
{
    vida_context *ctx = NULL;
    vida_model *m = NULL;
    vida_model_params p;
    vida_model_params_init(&p);
    p.depth = 10;
    p.width = 0.125f;
    if (vida_context_create(&ctx, NULL) || vida_model_create(&m, ctx, &p)) {
        fprintf(stderr, "%s\n", vida_last_error());
        return 1;
    }
    printf("%s %lld\n", vida_version_string(), (long long)vida_model_num_params(m));
    vida_model_free(m);
    vida_context_free(ctx);
    return 0;
}
C
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
t pkgconfig_shared 'cc "$tmp/use.c" -o "$tmp/use_shared" $(pkg-config --cflags --libs vidaction) && LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/use_shared" && LD_LIBRARY_PATH="$tmp/prefix/lib" ldd "$tmp/use_shared" | grep -q "libvidaction.so.0 => $tmp/prefix/lib"'
t pkgconfig_static 'cc "$tmp/use.c" -o "$tmp/use_static" $(pkg-config --cflags vidaction) "$tmp/prefix/lib/libvidaction.a" $(pkg-config --libs-only-other --libs --static vidaction | sed "s/-lvidaction//") && "$tmp/use_static" && ! ldd "$tmp/use_static" | grep -q libvidaction'
vt_end
