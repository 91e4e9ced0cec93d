#!/usr/bin/env bash
# Renders a patchlens HTML report in a real headless browser (Debian's chromium) and checks the
# screenshot: it must exist, be a PNG of the requested size, and not be blank (enough non-white
# pixels and colours).
#
#   scripts/check-report.sh REPORT.html OUT.png
#
# Installs chromium with apt-get when it is missing (needs root). Environment:
#   WINDOW_SIZE   viewport "width,height" (default 1400,2400); the screenshot is that viewport
#   CHROMIUM      browser binary (default: chromium)
#   MIN_INK       minimal fraction of non-white pixels (default 0.02)
#   MIN_COLOURS   minimal number of distinct colours (default 16)
set -euo pipefail

if [ "$#" -ne 2 ]; then
    echo "usage: $0 REPORT.html OUT.png" >&2
    exit 2
fi
report=$1
out=$2
size=${WINDOW_SIZE:-1400,2400}
browser=${CHROMIUM:-chromium}

if [ ! -s "$report" ]; then
    echo "check-report: $report is missing or empty" >&2
    exit 1
fi
if ! command -v "$browser" >/dev/null 2>&1; then
    echo "check-report: $browser not found, installing Debian's chromium" >&2
    apt-get install -y chromium >/dev/null || {
        apt-get update >/dev/null && apt-get install -y chromium >/dev/null
    }
fi

abs_report=$(realpath "$report")
mkdir -p "$(dirname "$out")"
abs_out=$(realpath -m "$out")
rm -f "$abs_out"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

# No network, no background services: the report is self-contained.
timeout 180 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-default-apps --disable-extensions --hide-scrollbars --mute-audio \
    --user-data-dir="$profile" --window-size="$size" --screenshot="$abs_out" \
    "file://$abs_report" >"$profile/chromium.log" 2>&1 || {
    echo "check-report: chromium failed; its log:" >&2
    cat "$profile/chromium.log" >&2
    exit 1
}

if [ ! -s "$abs_out" ]; then
    echo "check-report: no screenshot written to $abs_out; chromium's log:" >&2
    cat "$profile/chromium.log" >&2
    exit 1
fi

# Decode the PNG (8-bit greyscale/RGB/RGBA, non-interlaced, as chromium writes it) with the
# standard library only and measure how much of it is not white.
python3 - "$abs_out" "$size" "${MIN_INK:-0.02}" "${MIN_COLOURS:-16}" <<'PY'
import struct, sys, zlib

path, size, min_ink, min_colours = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
data = open(path, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"check-report: {path} is not a PNG")
pos, idat, hdr = 8, b"", None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        hdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
w, h, depth, ctype, _, _, interlace = hdr
channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
if depth != 8 or channels is None or interlace:
    sys.exit(f"check-report: unsupported PNG (depth {depth}, colour type {ctype}, interlace {interlace})")
want_w, want_h = (int(v) for v in size.split(","))
if (w, h) != (want_w, want_h):
    sys.exit(f"check-report: screenshot is {w}x{h}, expected {want_w}x{want_h}")
raw = zlib.decompress(idat)
stride = w * channels
prev = bytearray(stride)
ink, colours, off = 0, set(), 0
for _ in range(h):
    f = raw[off]
    line = bytearray(raw[off + 1:off + 1 + stride])
    off += 1 + stride
    for i in range(stride):
        a = line[i - channels] if i >= channels else 0
        b = prev[i]
        c = prev[i - channels] if i >= channels else 0
        if f == 1:
            line[i] = (line[i] + a) & 255
        elif f == 2:
            line[i] = (line[i] + b) & 255
        elif f == 3:
            line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, channels):
        px = bytes(line[x:x + min(channels, 3)])
        if len(colours) < 4096:
            colours.add(px)
        if min(px) < 240:
            ink += 1
    prev = line
frac = ink / (w * h)
print(f"check-report: {path}: {w}x{h}, {frac:.1%} non-white pixels, {len(colours)}{'+' if len(colours) >= 4096 else ''} colours")
if frac < min_ink or len(colours) < min_colours:
    sys.exit(f"check-report: screenshot looks blank (need >= {min_ink:.0%} non-white pixels and >= {min_colours} colours)")
PY
