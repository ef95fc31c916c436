#!/usr/bin/env bash
# Builds a small FFmpeg with only what Zoetrope calls, from Debian 12's own source of the
# FFmpeg it links against (5.1, the same sonames and symbol versions), for the lent GPU
# machines, which have no FFmpeg: Debian's libavcodec pulls in some 130 libraries (x265,
# codec2, rav1e, ...), 55 MB even with xz, too much to carry to them with the tests. This
# one is a few MB: libx264 for MP4, PNG and y4m out, PNG/JPEG/WebP/BMP pictures in.
#
#   tools/gpu/build-ffmpeg-min.sh [--out DIR]
#
# DIR (default .gpu/ffmpeg-min, which git ignores) gets lib/ with libavcodec.so.59,
# libavformat.so.59, libavutil.so.57, libswscale.so.6, libswresample.so.4 and
# libx264.so.164. Programs built against Debian's FFmpeg run on them unchanged
# (LD_LIBRARY_PATH). Needs deb.debian.org for the source and libx264-dev; installs it.
set -euo pipefail
cd "$(dirname "$0")/../.."

out=.gpu/ffmpeg-min
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    *) echo "build-ffmpeg-min: unknown option $1" >&2; exit 2 ;;
  esac
done
out=$(realpath -m "$out")
if [ -f "$out/lib/libavcodec.so.59" ]; then
  echo "build-ffmpeg-min: $out already built"
  exit 0
fi

ver=$(dpkg-query -W -f '${Version}' libavcodec-dev 2>/dev/null) ||
  { echo "build-ffmpeg-min: libavcodec-dev is not installed (scripts/deps.sh)" >&2; exit 1; }
case "$ver" in
  *:5.1.*) ;;
  *) echo "build-ffmpeg-min: Debian's FFmpeg is $ver, this script knows 5.1 (Debian 12)" >&2
     exit 1 ;;
esac
dpkg-query -W -f '${Status}' libx264-dev 2>/dev/null | grep -q "ok installed" ||
  apt-get install -y -q libx264-dev >/dev/null ||
  { echo "build-ffmpeg-min: cannot install libx264-dev" >&2; exit 1; }

work=$(mktemp -d /tmp/ffmpeg-min.XXXXXX)
trap 'rm -rf "$work"' EXIT
# the source through a sources list of our own: the system's apt configuration has no
# deb-src lines, and is left as it is
mkdir -p "$work/lists/partial"
printf '%s\n' \
  "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main" \
  "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main" \
  >"$work/src.list"
apt_src=(-q -o Dir::Etc::SourceList="$work/src.list" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$work/lists" -o APT::Sandbox::User=root)
apt-get "${apt_src[@]}" update >/dev/null ||
  { echo "build-ffmpeg-min: apt-get update of the source lists failed" >&2; exit 1; }
(cd "$work" && apt-get "${apt_src[@]}" source --download-only "ffmpeg=$ver" >/dev/null) ||
  { echo "build-ffmpeg-min: cannot download the source of ffmpeg $ver" >&2; exit 1; }
tar -xJf "$work"/ffmpeg_*.orig.tar.xz -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'ffmpeg-*' | head -1)

# What src/io uses: video_writer.c (libx264, png, wrapped_avframe for y4m; the mp4,
# yuv4mpegpipe and image2 muxers), image.c (pictures through image2 and the pipe
# demuxers), hash.c (SHA-256 in libavutil), swscale for both. No assembly: nasm is not
# needed, and these libraries only carry tests and a benchmark's output.
(cd "$src" && ./configure --prefix="$work/install" --enable-shared --disable-static \
  --disable-programs --disable-doc --disable-x86asm --disable-autodetect --enable-gpl \
  --enable-zlib --enable-libx264 --disable-everything \
  --enable-encoder=libx264,png,wrapped_avframe,rawvideo \
  --enable-decoder=png,mjpeg,webp,bmp,rawvideo \
  --enable-parser=png,mjpeg,webp,bmp \
  --enable-demuxer=image2,png_pipe,jpeg_pipe,webp_pipe,bmp_pipe \
  --enable-muxer=mp4,yuv4mpegpipe,image2 --enable-protocol=file,pipe \
  --enable-swscale --enable-swresample >"$work/configure.log" 2>&1) ||
  { tail -20 "$work/configure.log" >&2; echo "build-ffmpeg-min: configure failed" >&2; exit 1; }
make -C "$src" -j"$(nproc)" >"$work/make.log" 2>&1 && make -C "$src" install >>"$work/make.log" 2>&1 ||
  { tail -20 "$work/make.log" >&2; echo "build-ffmpeg-min: build failed" >&2; exit 1; }

mkdir -p "$out/lib"
for l in libavcodec.so.59 libavformat.so.59 libavutil.so.57 libswscale.so.6 libswresample.so.4; do
  cp -L "$work/install/lib/$l" "$out/lib/"
done
cp -L "$(ldconfig -p | awk '/libx264\.so\.164 .*x86-64/ {print $NF; exit}')" "$out/lib/"
strip "$out"/lib/*.so.*
du -sh "$out/lib"
