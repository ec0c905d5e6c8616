# Sourced by test/gpu/run.sh and test/bench/gpu/run.sh (bash, from the repository root):
# finds cuDNN 9, cuBLAS 13 and NVRTC 13 and exports LD_LIBRARY_PATH with their folders.

# Prints the folder that holds shared library $1 (nothing if none does).
find_lib() {
    local d py
    for py in python3 python; do
        command -v "$py" >/dev/null 2>&1 || continue
        d=$("$py" -c 'import glob, os, sys, nvidia
r = [f for p in nvidia.__path__ for f in sorted(glob.glob(os.path.join(p, "*", "lib", sys.argv[1])))]
print(os.path.dirname(r[0])) if r else sys.exit(1)' "$1" 2>/dev/null) && [ -n "$d" ] && {
            echo "$d"
            return
        }
    done
    if [ -e "/usr/local/cuda/lib64/$1" ]; then
        echo /usr/local/cuda/lib64
        return
    fi
    d=$(timeout 120 find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o -name "$1" -print \
        2>/dev/null | head -1)
    [ -n "$d" ] && dirname "$d"
}

libpath="$PWD/.gpu/lib"
for lib in libcudnn.so.9 libcublas.so.13 libcublasLt.so.13 libnvrtc.so.13; do
    dir=$(find_lib "$lib")
    if [ -n "$dir" ]; then
        echo "$lib: $dir"
        case ":$libpath:" in *":$dir:"*) ;; *) libpath="$libpath:$dir" ;; esac
    elif ldconfig -p 2>/dev/null | grep -q "$lib"; then
        echo "$lib: in the system's library cache"
    else
        echo "$lib: NOT FOUND"
    fi
done
export LD_LIBRARY_PATH="$libpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
