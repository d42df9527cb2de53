#!/usr/bin/env python3
"""Checks of a drill's HTML report (tests/integration/test-drill.sh), stdlib only.

  reportcheck.py pngs REPORT.html   every inlined data:image/png decoded (chunk
                                    walk, CRCs, zlib, unfiltering): one JSON line
                                    per image {alt, width, height, stddev, colors}
  reportcheck.py refs REPORT.html   every reference to anything but data: or a
                                    fragment (src, href, srcset, action, poster,
                                    url(), @import); exit 1 if there is one
  reportcheck.py trap LOG           an HTTP proxy that answers 502 and logs each
                                    request line to LOG; prints its port
"""
import http.server
import json
import re
import socketserver
import struct
import sys
import zlib
import base64


def png_decode(data):
    """(width, height, rows of RGB tuples) of an 8-bit RGB/RGBA/grey PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("no PNG signature")
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError("truncated chunk header")
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = data[pos + 8 + length:pos + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise ValueError("truncated chunk %r" % ctype)
        if zlib.crc32(ctype + body) != struct.unpack(">I", crc)[0]:
            raise ValueError("bad CRC in chunk %r" % ctype)
        if ctype == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat += body
        elif ctype == b"IEND":
            break
        pos += 12 + length
    if not ihdr:
        raise ValueError("no IHDR")
    w, h, depth, color, _, _, interlace = ihdr
    channels = {0: 1, 2: 3, 6: 4}.get(color)
    if depth != 8 or channels is None or interlace:
        raise ValueError("unsupported PNG: depth %d colour %d interlace %d" % (depth, color, interlace))
    raw = zlib.decompress(idat)
    stride = w * channels
    if len(raw) != h * (stride + 1):
        raise ValueError("IDAT holds %d bytes, %dx%d needs %d" % (len(raw), w, h, h * (stride + 1)))
    prev = bytearray(stride)
    rows = []
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[x] = (line[x] + pred) & 255
            elif f != 0:
                raise ValueError("bad filter type %d" % f)
        rows.append([tuple(line[i:i + min(channels, 3)]) if channels >= 3 else (line[i],) * 3
                     for i in range(0, stride, channels)])
        prev = line
    return w, h, rows


def cmd_pngs(path):
    html = open(path, encoding="utf-8").read()
    imgs = re.findall(r'<img\b([^>]*)>', html)
    found = 0
    for attrs in imgs:
        m = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', attrs)
        if not m:
            continue
        alt = re.search(r'alt="([^"]*)"', attrs)
        w, h, rows = png_decode(base64.b64decode(m.group(1), validate=True))
        lum = [0.299 * r + 0.587 * g + 0.114 * b for row in rows for (r, g, b) in row]
        mean = sum(lum) / len(lum)
        sd = (sum((v - mean) ** 2 for v in lum) / len(lum)) ** 0.5
        colors = len({px for row in rows for px in row})
        print(json.dumps({"alt": alt.group(1) if alt else None, "width": w, "height": h,
                          "stddev": round(sd, 2), "colors": colors}))
        found += 1
    return 0 if found else 1


EXTERNAL = [
    r'\b(?:src|href|action|poster|data|background|formaction)\s*=\s*["\']?(?!data:|#)([^"\'\s>]+)',
    r'\bsrcset\s*=\s*["\']([^"\']+)',
    r'url\(\s*["\']?(?!data:)([^)"\']+)',
    r'@import\s+["\']?([^"\';]+)',
]


def cmd_refs(path):
    html = open(path, encoding="utf-8").read()
    bad = [m for pat in EXTERNAL for m in re.findall(pat, html, re.I)]
    for ref in bad:
        print("external reference: %s" % ref[:200])
    return 1 if bad else 0


class Trap(http.server.BaseHTTPRequestHandler):
    log = None

    def answer(self):
        with open(Trap.log, "a") as f:
            f.write("%s %s\n" % (self.command, self.path))
        self.send_response(502)
        self.end_headers()

    do_GET = do_POST = do_HEAD = do_CONNECT = answer

    def log_message(self, *args):
        pass


def cmd_trap(log):
    Trap.log = log
    open(log, "a").close()
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Trap)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("pngs", "refs", "trap"):
        sys.exit(__doc__)
    sys.exit({"pngs": cmd_pngs, "refs": cmd_refs, "trap": cmd_trap}[sys.argv[1]](sys.argv[2]))
