"""Emulator + network floor: round trips of a minimal HTTP client to one emulated camera (bench only).

Run inside the car namespace: ``python -m bench.floor --iface wlan1 --count 30``.
One kept-alive connection bound to the interface (as the daemon's bind
mode), TCP_NODELAY, requests ``locate?p=0`` (harmless) and prints a JSON
list of round-trip times in milliseconds. With the emulator's answer delay
D ms, anything above D is what the emulator, the kernel and this client add:
the part of the daemon's latency the daemon cannot remove.
"""

from __future__ import annotations

import argparse
import json
import socket
import time

SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iface", required=True)
    p.add_argument("--address", default="10.5.5.9")
    p.add_argument("--count", type=int, default=30)
    p.add_argument("--pause", type=float, default=0.05, help="seconds between requests")
    args = p.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, args.iface.encode() + b"\0")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(5.0)
    sock.connect((args.address, 80))
    request = (f"GET /gp/gpControl/command/system/locate?p=0 HTTP/1.1\r\nHost: {args.address}\r\n"
               "Connection: keep-alive\r\n\r\n").encode()
    rtts = []
    for _ in range(args.count):
        t = time.monotonic()
        sock.sendall(request)
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, _, body = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        while len(body) < length:
            body += sock.recv(65536)
        rtts.append((time.monotonic() - t) * 1000.0)
        time.sleep(args.pause)
    sock.close()
    print(json.dumps(rtts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
