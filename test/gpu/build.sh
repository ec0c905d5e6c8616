#!/bin/sh
# Builds the GPU test programs into .gpu/bin: libvidaction and OpenBLAS linked
# in statically, the CUDA libraries (cuDNN, cuBLAS) dynamically, so that the
# programs run on a GPU machine that has the CUDA libraries but not this
# machine's Debian packages. Needs the CUDA backend compiled (nvcc + cuDNN).
# The library is built for this in a copy of the tree (.gpu/tree) without MPI
# (MPI=0, which leaves NCCL out too): the lent GPU machines have no MPI.
set -eu
cd "$(dirname "$0")/../.."
MAKE=${MAKE:-make}
mkdir -p .gpu/tree
# the working tree's sources (committed or not), then an incremental build there
tar -cf - Makefile include src pkgconfig examples | tar -xf - -C .gpu/tree
$MAKE -C .gpu/tree -s -j2 MPI=0 lib/libvidaction.a >/dev/null
LIBA=.gpu/tree/lib/libvidaction.a
nm $LIBA 2>/dev/null | grep -q ' T vidai_cuda_create' || {
    echo "test/gpu/build.sh: $LIBA has no CUDA backend (nvcc or cuDNN not found, or CUDA=0)" >&2
    exit 1
}
NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$NVCC")")}
BLAS_A=$(ls /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.a /usr/lib/x86_64-linux-gnu/libopenblas.a 2>/dev/null | head -1)
CFLAGS="-std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -Iinclude -Isrc -Itest -Itest/unit -DVIDA_HAVE_CUDA -pthread"
LIBS="$LIBA $BLAS_A -Wl,-Bstatic -lgfortran -lquadmath -Wl,-Bdynamic \
 -L$CUDA_HOME/lib64 -lcudnn -lcublas -lcudart_static -ldl -lrt -lstdc++ -lm -pthread"
mkdir -p .gpu/bin
cc $CFLAGS -o .gpu/bin/test_cuda_ops test/gpu/test_cuda_ops.c $LIBS
cc $CFLAGS -o .gpu/bin/test_cuda_model test/gpu/test_cuda_model.c test/test_main.c $LIBS
cc $CFLAGS -o .gpu/bin/bench_forward test/bench/bench_forward.c $LIBS
# issue 10's benchmark programs (test/bench/gpu)
BENCHES=""
for src in test/bench/gpu/bench_gpu.c test/bench/gpu/bench_convs.c; do
    [ -f "$src" ] || continue
    b=.gpu/bin/$(basename "$src" .c)
    cc $CFLAGS -I"$CUDA_HOME/include" -o "$b" "$src" $LIBS
    BENCHES="$BENCHES $b"
done
# BASE=REV: bench_gpu also built against the library of git revision REV (.gpu/bin/bench_gpu_base),
# so that one run on a GPU compares the working tree with it
if [ -n "${BASE:-}" ]; then
    rm -rf .gpu/base && mkdir -p .gpu/base
    git archive "$BASE" Makefile include src pkgconfig examples | tar -xf - -C .gpu/base
    $MAKE -C .gpu/base -s -j2 MPI=0 lib/libvidaction.a >/dev/null
    BLIBS=$(printf '%s' "$LIBS" | sed "s|$LIBA|.gpu/base/lib/libvidaction.a|")
    BFLAGS=$(printf '%s' "$CFLAGS" | sed 's|-Iinclude -Isrc|-I.gpu/base/include -I.gpu/base/src|')
    cc $BFLAGS -DBENCH_NO_PROFILE -I"$CUDA_HOME/include" -o .gpu/bin/bench_gpu_base \
        test/bench/gpu/bench_gpu.c $BLIBS
    BENCHES="$BENCHES .gpu/bin/bench_gpu_base"
    git rev-parse --short "$BASE" > .gpu/bin/base_rev
fi
for b in .gpu/bin/test_cuda_ops .gpu/bin/test_cuda_model .gpu/bin/bench_forward $BENCHES; do
    # nothing but libc, libstdc++/libgcc and the CUDA libraries may be needed at run time
    extra=$(ldd "$b" | awk '{print $1}' | grep -v -E '^(linux-vdso|/lib64/ld-linux|libc\.|libm\.|libdl\.|librt\.|libpthread\.|libstdc\+\+|libgcc_s|libcudnn|libcublas)' || true)
    [ -z "$extra" ] || { echo "test/gpu/build.sh: $b needs $extra" >&2; exit 1; }
done
strip --strip-debug .gpu/bin/test_cuda_ops .gpu/bin/test_cuda_model .gpu/bin/bench_forward $BENCHES
# one compressed file to carry to a GPU machine (test/gpu/run.sh unpacks it when .gpu/bin is missing)
tar -C .gpu -cf - bin | xz -T2 -6 > .gpu/bin.tar.xz
echo "built .gpu/bin/test_cuda_ops .gpu/bin/test_cuda_model (.gpu/bin.tar.xz: $(du -k .gpu/bin.tar.xz | cut -f1) kB)"
