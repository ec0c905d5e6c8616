# libvidaction build. GNU make, parallel-safe (make -j2).
#
#   make                 lib/libvidaction.a, lib/libvidaction.so (SONAME libvidaction.so.0), bin/vidaction
#   make check           installs missing packages, builds, runs unit, golden, bad-file (ASan) and ABI checks,
#                        then each fuzz target for 60 s (CHECK_FUZZ_SECONDS=0: none)
#   make check-sanitize  the unit suite alone under ASan + UBSan + LSan
#   make demo            the end-to-end demo (bin/vidaction demo: SynthActions, pre-training, transfer)
#   make install PREFIX=DIR
#   make deps            apt-get the Debian packages the build and tests need (prints the command if not root)
#   make bench           CPU benchmark against PyTorch (not a test)
#   make bench-decode    decode + clip sampling benchmark against PyAV (not a test)
#   make bench-loader    loader throughput (clips/s) against a PyTorch DataLoader (not a test)
#   make bench-dist      data-parallel training step, 2 MPI ranks against 1 (not a test)
#   make fuzz            libFuzzer targets with ASan + UBSan, FUZZ_SECONDS each (default 60)
#   make check-gpu       builds and runs the GPU tests (test/gpu/run.sh; needs an NVIDIA GPU)
#
# The CUDA backend (src/backend/cuda) is compiled whenever nvcc and cuDNN are
# found (CUDA_HOME, default: nvcc's folder above bin); CUDA=0 leaves it out.

PREFIX ?= /usr/local
CC ?= cc
PYTHON ?= python3

VERSION_MAJOR := $(shell sed -n 's/^\#define VIDA_VERSION_MAJOR \([0-9]*\)/\1/p' include/vidaction/version.h)
VERSION_MINOR := $(shell sed -n 's/^\#define VIDA_VERSION_MINOR \([0-9]*\)/\1/p' include/vidaction/version.h)
VERSION_PATCH := $(shell sed -n 's/^\#define VIDA_VERSION_PATCH \([0-9]*\)/\1/p' include/vidaction/version.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
SONAME := libvidaction.so.$(VERSION_MAJOR)

BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
AV_PKGS := libavformat libavcodec libswscale libavutil
AV_CFLAGS := $(shell pkg-config --cflags $(AV_PKGS) 2>/dev/null)
AV_LIBS := $(shell pkg-config --libs $(AV_PKGS) 2>/dev/null || echo -lavformat -lavcodec -lswscale -lavutil)

# --- CUDA (auto-detected) ---------------------------------------------------------
CUDA ?= auto
NVCC ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDNN_H := $(firstword $(wildcard $(CUDA_HOME)/include/cudnn.h /usr/local/include/cudnn.h /usr/include/cudnn.h /usr/include/x86_64-linux-gnu/cudnn.h))
HAVE_CUDA :=
ifneq ($(CUDA),0)
ifneq ($(NVCC),)
ifneq ($(CUDNN_H),)
HAVE_CUDA := 1
endif
endif
endif
# sm_90 machine code (H100/H200), sm_80 machine code, and PTX for newer chips.
NVCC_ARCH ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_80,code=sm_80 \
    -gencode arch=compute_90,code=compute_90
CUDA_SRCS = $(if $(HAVE_CUDA),$(sort $(filter-out $(if $(HAVE_NCCL),,src/backend/cuda/nccl.cu),$(wildcard src/backend/cuda/*.cu))))
CUDA_OBJS = $(CUDA_SRCS:%.cu=build/obj/%.o)
CUDA_LIBDIR := $(CUDA_HOME)/lib64
ifneq ($(HAVE_CUDA),)
CUDA_LIBS := -L$(CUDA_LIBDIR) -Wl,-rpath,$(CUDA_LIBDIR) -lcudnn -lcublas -lcudart_static -ldl -lrt -lstdc++
endif
CUDA_DEFS := $(if $(HAVE_CUDA),-DVIDA_HAVE_CUDA)

# --- MPI (auto-detected: Open MPI or MPICH through mpicc; MPI=0 leaves it out) ------------
MPI ?= auto
MPICC ?= $(shell command -v mpicc 2>/dev/null)
HAVE_MPI :=
ifneq ($(MPI),0)
ifneq ($(MPICC),)
HAVE_MPI := 1
MPI_CFLAGS := $(shell $(MPICC) --showme:compile 2>/dev/null || $(MPICC) -compile-info 2>/dev/null | cut -d' ' -f2-)
MPI_LIBS := $(shell $(MPICC) --showme:link 2>/dev/null || $(MPICC) -link-info 2>/dev/null | cut -d' ' -f2-)
endif
endif
MPI_DEFS := $(if $(HAVE_MPI),-DVIDA_HAVE_MPI $(MPI_CFLAGS))
# NCCL: with the CUDA backend and MPI (which starts the communicator), when nccl.h is found.
NCCL_H := $(if $(and $(HAVE_CUDA),$(HAVE_MPI)),$(firstword $(wildcard $(CUDA_HOME)/include/nccl.h /usr/include/nccl.h)))
HAVE_NCCL := $(if $(NCCL_H),1)
NCCL_DEFS := $(if $(HAVE_NCCL),-DVIDA_HAVE_NCCL)
NCCL_LIBS := $(if $(HAVE_NCCL),-lnccl)

OPT ?= -O3
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -g $(WARN) -Iinclude -Isrc $(BLAS_CFLAGS) $(AV_CFLAGS) -pthread
# No identical-code folding (GCC at -O2 and above): two public functions with the same body
# (vida_synth_n_verbs and _n_nouns) would become aliases, and the exported ABI would depend on -O.
NO_ICF := $(shell $(CC) -Werror -fno-ipa-icf -x c -c /dev/null -o /dev/null 2>/dev/null && echo -fno-ipa-icf)
CFLAGS_LIB := $(BASE_CFLAGS) $(OPT) $(NO_ICF) -march=x86-64-v2 -fPIC -fvisibility=hidden $(CUDA_DEFS) $(MPI_DEFS) $(NCCL_DEFS) $(CFLAGS)
# CPU_LIBS: the sanitizer and fuzz builds, which leave the CUDA backend out.
CPU_LIBS := $(BLAS_LIBS) $(AV_LIBS) -lm -pthread
LIBS := $(CPU_LIBS) $(CUDA_LIBS) $(NCCL_LIBS) $(MPI_LIBS)

SRCS := $(sort $(wildcard src/core/*.c src/io/*.c src/backend/*.c src/backend/cpu/*.c src/nn/*.c src/video/*.c src/data/*.c src/train/*.c src/dist/*.c src/api/*.c src/synth/*.c))
OBJS := $(SRCS:%.c=build/obj/%.o) $(CUDA_OBJS)
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ASAN_OBJS := $(SRCS:%.c=build/asan/%.o)

HEADERS := $(wildcard include/*.h include/vidaction/*.h)
PRIV_HEADERS := $(wildcard src/*/*.h src/backend/cpu/*.h src/backend/cuda/*.h)

TEST_SRCS := $(sort $(wildcard test/unit/test_*.c))
# The GPU tests join make check in CUDA builds (they print SKIP and pass without a GPU,
# so CI keeps them compiling and linking).
GPU_TEST_BINS := $(if $(HAVE_CUDA),build/test/test_cuda_ops build/test/test_cuda_model)
TEST_BINS := $(TEST_SRCS:test/unit/%.c=build/test/%) $(GPU_TEST_BINS)
# issue 10's GPU benchmark programs: built by make check in CUDA builds (so that they keep
# compiling), run by make bench-gpu or test/bench/gpu/run.sh on a GPU machine
GPU_BENCH_BINS := $(if $(HAVE_CUDA),build/bench/gpu/bench_gpu build/bench/gpu/bench_convs)
# Every unit test also runs under ASan + UBSan + LSan (make check, make check-sanitize).
ASAN_TESTS := $(TEST_SRCS:test/unit/%.c=%)
ASAN_TEST_BINS := $(ASAN_TESTS:%=build/asan-test/%)

.PHONY: bench-gpu all check check-unit check-golden check-asan check-sanitize check-abi demo install uninstall deps \
        deps-check clean bench bench-decode bench-loader bench-dist fixtures test-videos fuzz check-gpu lua-cdef check-lua-cdef abi-baseline api-docs

# Keep the ASan objects between builds (they are intermediates of the test binaries).
.SECONDARY:

all: lib/libvidaction.a lib/libvidaction.so bin/vidaction bin/examples/minimal bin/examples/train bin/examples/features

build/obj/%.o: %.c $(HEADERS) $(PRIV_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_LIB) -c $< -o $@

build/obj/%.o: %.cu $(HEADERS) $(PRIV_HEADERS) src/backend/cuda/internal.cuh
	@mkdir -p $(dir $@)
	$(NVCC) -std=c++17 -O3 -Iinclude -Isrc $(NVCC_ARCH) -Xcompiler -fPIC,-fvisibility=hidden,-Wall -c $< -o $@

build/asan/%.o: %.c $(HEADERS) $(PRIV_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 $(ASAN_FLAGS) -c $< -o $@

lib/libvidaction.a: $(OBJS)
	@mkdir -p lib
	rm -f $@
	ar rcs $@ $(OBJS)

lib/libvidaction.so.$(VERSION): $(OBJS) src/libvidaction.map
	@mkdir -p lib
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=src/libvidaction.map \
	    -Wl,--no-undefined -o $@ $(OBJS) $(LIBS)

lib/$(SONAME): lib/libvidaction.so.$(VERSION)
	ln -sf libvidaction.so.$(VERSION) $@

lib/libvidaction.so: lib/$(SONAME)
	ln -sf $(SONAME) $@

bin/vidaction: examples/vidaction.c examples/study.c examples/cli.h lib/libvidaction.a $(HEADERS)
	@mkdir -p bin
	$(CC) $(BASE_CFLAGS) $(OPT) $(CFLAGS) -o $@ examples/vidaction.c examples/study.c lib/libvidaction.a $(LIBS)

# Small programs on the public API alone (examples/minimal.c, train.c, features.c), run by
# test/examples/test_examples.sh.
bin/examples/%: examples/%.c lib/libvidaction.a $(HEADERS)
	@mkdir -p bin/examples
	$(CC) $(BASE_CFLAGS) $(OPT) $(CFLAGS) -o $@ $< lib/libvidaction.a $(LIBS)

build/test/%: test/unit/%.c test/test_main.c test/test.h test/video/framecode.h lib/libvidaction.a
	@mkdir -p build/test
	$(CC) $(BASE_CFLAGS) $(OPT) -Itest -Itest/video -o $@ $< test/test_main.c lib/libvidaction.a $(LIBS)

build/test/test_cuda_ops: test/gpu/test_cuda_ops.c lib/libvidaction.a
	@mkdir -p build/test
	$(CC) $(BASE_CFLAGS) $(OPT) -DVIDA_HAVE_CUDA -o $@ $< lib/libvidaction.a $(LIBS)

build/bench/gpu/%: test/bench/gpu/%.c test/bench/bench.h lib/libvidaction.a $(HEADERS) $(PRIV_HEADERS)
	@mkdir -p build/bench/gpu
	$(CC) $(BASE_CFLAGS) $(OPT) -DVIDA_HAVE_CUDA -I$(dir $(CUDNN_H)) -I$(CUDA_HOME)/include -o $@ $< lib/libvidaction.a $(LIBS)

build/test/test_cuda_model: test/gpu/test_cuda_model.c test/test_main.c test/test.h test/unit/golden_util.h lib/libvidaction.a
	@mkdir -p build/test
	$(CC) $(BASE_CFLAGS) $(OPT) -DVIDA_HAVE_CUDA -Itest -Itest/unit -o $@ $< test/test_main.c lib/libvidaction.a $(LIBS)

build/bench/%: test/bench/%.c test/bench/bench.h lib/libvidaction.a $(HEADERS)
	@mkdir -p build/bench
	$(CC) $(BASE_CFLAGS) $(OPT) -o $@ $< lib/libvidaction.a $(LIBS)

build/asan-test/%: test/unit/%.c test/test_main.c test/test.h test/video/framecode.h $(ASAN_OBJS)
	@mkdir -p build/asan-test
	$(CC) $(BASE_CFLAGS) -O1 $(ASAN_FLAGS) -Itest -Itest/video -o $@ $< test/test_main.c $(ASAN_OBJS) $(CPU_LIBS)

# test_dataset and test_modelfile replay the manifest and model fuzz targets' corpora through the
# targets themselves
build/test/test_dataset build/asan-test/test_dataset: test/fuzz/fuzz_manifest.c
build/test/test_modelfile build/asan-test/test_modelfile: test/fuzz/fuzz_model.c

# --- packages -----------------------------------------------------------------
DEB_PACKAGES := gcc g++ make binutils pkg-config libopenblas-dev python3 python3-numpy \
    libavformat-dev libavcodec-dev libavutil-dev libswscale-dev ffmpeg luajit abigail-tools \
    libopenmpi-dev openmpi-bin
deps:
	@sh test/deps.sh install $(DEB_PACKAGES)
deps-check:
	@sh test/deps.sh ensure $(DEB_PACKAGES)

# --- tests --------------------------------------------------------------------
# make check ends with every libFuzzer target for CHECK_FUZZ_SECONDS each (0: none); the CI log
# shows their execution counts and "no findings".
CHECK_FUZZ_SECONDS ?= 60
check: deps-check
	$(MAKE) all $(TEST_BINS) $(ASAN_TEST_BINS) $(GPU_BENCH_BINS) test-videos
	@sh test/run-tests.sh $(TEST_BINS) -- $(ASAN_TEST_BINS)
	@if [ "$(CHECK_FUZZ_SECONDS)" != 0 ]; then $(MAKE) fuzz FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS); fi

check-unit: $(TEST_BINS)
	@sh test/run-tests.sh $(TEST_BINS) --

# The whole unit suite under ASan + UBSan + LSan (make check runs these too, after the plain build).
check-sanitize check-asan: $(ASAN_TEST_BINS)
	@VIDA_UNIT_ONLY=1 sh test/run-tests.sh -- $(ASAN_TEST_BINS)

# LuaJIT FFI declarations, generated from the public headers (committed; test/lua/test_lua.sh
# fails when they are stale, so a header change must come with `make lua-cdef`).
lua-cdef:
	CC='$(CC)' sh bindings/lua/gen-cdef.sh
check-lua-cdef:
	CC='$(CC)' sh bindings/lua/gen-cdef.sh --check

# The API reference docs/api.md, generated from the header comments (committed;
# test/doc/test_api_doc.sh fails when it is stale or a public function has no comment).
api-docs:
	PYTHON='$(PYTHON)' sh test/doc/gen-api.sh

# The GPU tests (docs/gpu.md): builds them and runs them on this machine's GPU.
check-gpu:
	sh test/gpu/build.sh
	sh test/gpu/run.sh

check-abi: all
	@sh test/abi/test_abi.sh && sh test/abi/test_embed.sh

# Rewrites the ABI baseline (test/abi): a deliberate act, recorded in docs/APIchanges.md in the
# same commit (docs/api-stability.md).
abi-baseline: all
	sh test/abi/update-baseline.sh

# --- fuzzing (libFuzzer + ASan + UBSan; clang from Debian) ----------------------
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc $(BLAS_CFLAGS) $(AV_CFLAGS) -pthread \
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_OBJS := $(SRCS:%.c=build/fuzz/obj/%.o)
build/fuzz/obj/%.o: %.c $(HEADERS) $(PRIV_HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
build/fuzz/fuzz_%: test/fuzz/fuzz_%.c $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(CPU_LIBS)
fuzz:
	@sh test/deps.sh ensure clang libclang-rt-14-dev $(DEB_PACKAGES)
	$(MAKE) build/fuzz/fuzz_video build/fuzz/fuzz_manifest build/fuzz/fuzz_model
	sh test/fuzz/run.sh $(FUZZ_SECONDS)

# Test videos: numbered frames (test/video/framecode.h) encoded by the ffmpeg
# program in every container/codec it supports; the tests read them from
# $(TEST_VIDEOS) (env VIDA_TEST_VIDEOS).
TEST_VIDEOS := build/testvideos
build/tools/vt_frames: test/video/vt_frames.c test/video/framecode.h
	@mkdir -p build/tools
	$(CC) -O2 -Wall -Wextra -o $@ test/video/vt_frames.c
$(TEST_VIDEOS)/.done: test/video/make-videos.sh build/tools/vt_frames
	@sh test/video/make-videos.sh $(TEST_VIDEOS) build/tools/vt_frames
	@touch $@
test-videos: $(TEST_VIDEOS)/.done

# Regenerates the golden fixtures (needs Debian's python3-torch and python3-torchvision).
fixtures:
	PYTHONPATH=bindings/python /usr/bin/python3 test/golden/make_fixtures.py test/golden

bench: all build/bench/bench_forward
	sh test/bench/bench_cpu.sh

# issue 10's GPU benchmark on this machine's GPU (about 7 minutes on an H100/H200; see
# test/bench/gpu/run.sh; on a lent GPU machine without this one's packages use test/gpu/build.sh)
bench-gpu: all $(GPU_BENCH_BINS)
	GPU_BIN=build/bench/gpu bash test/bench/gpu/run.sh

# Decode + clip sampling against PyAV (and decord when importable); not a test.
bench-decode: all build/bench/bench_decode build/tools/vt_frames
	sh test/bench/bench_decode.sh

bench-loader: all build/bench/bench_loader
	sh test/bench/bench_loader.sh

# 2 ranks x 1 thread against 1 rank x 2 threads on the CPU (Open MPI); not a test.
bench-dist: all build/bench/bench_dist
	sh test/bench/bench_dist.sh

# The main job: SynthActions data, pre-training, transfer, evaluation, a timeline (a few minutes;
# files in vidaction-demo/).
demo: deps-check all
	bin/vidaction demo --out vidaction-demo

# --- install ------------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(PREFIX)/include/vidaction $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/vidaction.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/vidaction/*.h $(DESTDIR)$(PREFIX)/include/vidaction/
	install -m 644 lib/libvidaction.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 lib/libvidaction.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libvidaction.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libvidaction.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' -e 's|@BLAS_LIBS@|$(BLAS_LIBS)|' -e 's|@AV_LIBS@|$(AV_LIBS)|' \
	    -e 's|@CUDA_LIBS@|$(CUDA_LIBS) $(NCCL_LIBS) $(MPI_LIBS)|' \
	    pkgconfig/vidaction.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/vidaction.pc
	install -m 755 bin/vidaction $(DESTDIR)$(PREFIX)/bin/

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/include/vidaction $(DESTDIR)$(PREFIX)/include/vidaction.h
	rm -f $(DESTDIR)$(PREFIX)/lib/libvidaction.* $(DESTDIR)$(PREFIX)/lib/pkgconfig/vidaction.pc
	rm -f $(DESTDIR)$(PREFIX)/bin/vidaction

clean:
	rm -rf build lib bin
