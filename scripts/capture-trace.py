#!/usr/bin/env python3
"""Records real trace_pipe_raw pages of sock:inet_sock_set_state for the
ring-buffer parser tests: one IPv4 and one IPv6 connection opened and
closed on loopback, in a tracing instance of its own (removed after).
Writes the pages (concatenated, one sub-buffer each) and the two format
files next to them. Linux, root."""
import os, socket, sys, time, glob

out = sys.argv[1] if len(sys.argv) > 1 else "src/source/trace/fixtures"
root = "/sys/kernel/tracing"
inst = f"{root}/instances/tcpscope-capture-{os.getpid()}"
os.mkdir(inst)
try:
    def w(f, v):
        with open(f"{inst}/{f}", "w") as fh: fh.write(v)
    w("trace_clock", "mono")
    w("events/sock/inet_sock_set_state/filter", "protocol == 6")
    w("events/sock/inet_sock_set_state/enable", "1")
    for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        l = socket.socket(fam); l.bind((host, 0)); l.listen()
        c = socket.create_connection(l.getsockname()[:2]); s, _ = l.accept()
        c.close(); time.sleep(0.01); s.close(); l.close()
    time.sleep(0.05)
    w("events/sock/inet_sock_set_state/enable", "0")
    size = int(open(f"{inst}/buffer_subbuf_size_kb").read()) * 1024 if os.path.exists(f"{inst}/buffer_subbuf_size_kb") else 4096
    pages = b""
    for f in sorted(glob.glob(f"{inst}/per_cpu/cpu*/trace_pipe_raw")):
        fd = os.open(f, os.O_RDONLY | os.O_NONBLOCK)
        while True:
            try: chunk = os.read(fd, size)
            except BlockingIOError: break
            if not chunk: break
            pages += chunk.ljust(size, b"\0")
        os.close(fd)
    open(f"{out}/pages.bin", "wb").write(pages)
    open(f"{out}/format.txt", "w").write(open(f"{root}/events/sock/inet_sock_set_state/format").read())
    open(f"{out}/header_page.txt", "w").write(open(f"{root}/events/header_page").read())
    print(f"{len(pages) // size} pages of {size} bytes")
finally:
    os.rmdir(inst)
