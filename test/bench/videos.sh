# Sourced by bench_decode.sh and bench_loader.sh: the benchmark videos.
# Defines SOURCES (name|lavfi source|filters before format=yuv420p) and
# make_bench_videos DIR, which encodes every source into DIR/gop250 and
# DIR/gop16 with the ffmpeg program (604x340 "340p" H.264, x264 medium crf 23,
# 10 s at 30 fps; x264's default GOP or -g 16) unless DIR/recipe says they are
# already there.
SOURCES='testsrc2|testsrc2=size=604x340:rate=30|noise=alls=8:allf=t+u
testsrc2-hue|testsrc2=size=604x340:rate=30|noise=alls=14:allf=t+u,hue=H=t
mandelbrot|mandelbrot=size=604x340:rate=30|null
mandelbrot-deep|mandelbrot=size=604x340:rate=30:start_x=-0.743643887037151:start_y=0.13182590420533|noise=alls=4:allf=t+u
gradients|gradients=size=604x340:rate=30:speed=0.03:seed=5|noise=alls=16:allf=t+u
gradients-2|gradients=size=604x340:rate=30:speed=0.05:seed=9:nb_colors=4|noise=alls=12:allf=t+u
cellauto|cellauto=size=604x340:rate=30:rule=30:seed=7|noise=alls=10:allf=t+u
cellauto-110|cellauto=size=604x340:rate=30:rule=110:seed=3|noise=alls=10:allf=t+u'

make_bench_videos() {
    recipe="x264 medium crf23 10s 30fps v1
$SOURCES"
    if [ "$(cat "$1/recipe" 2>/dev/null)" != "$recipe" ]; then
        echo "making the benchmark videos in $1 ..." >&2
        rm -rf "$1"
        mkdir -p "$1/gop250" "$1/gop16"
        echo "$SOURCES" | while IFS='|' read -r name src filt; do
            for gop in 250 16; do
                g=""
                [ "$gop" = 16 ] && g="-g 16"
                # shellcheck disable=SC2086
                ffmpeg -nostdin -v error -y -f lavfi -i "$src" -t 10 -vf "$filt,format=yuv420p" \
                    -c:v libx264 -preset medium -crf 23 $g "$1/gop$gop/$name.mp4"
            done
        done
        echo "$recipe" > "$1/recipe"
    fi
}
