#!/usr/bin/env python3
"""Records a real sock_diag dump for the netlink-format tests: a listener on
127.0.0.1, one established connection (both ends) and one TIME_WAIT, dumped
with a port filter and the INFO and CONG extensions. Writes the raw netlink
datagrams, concatenated, to the path given (default: the fixture file).
Linux only; needs no root."""
import socket, struct, sys, time

out = sys.argv[1] if len(sys.argv) > 1 else "src/source/sockdiag/fixtures/inet_port_dump.bin"
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(4)
port = srv.getsockname()[1]
c = socket.create_connection(("127.0.0.1", port)); a, _ = srv.accept()
c.sendall(b"hello"); time.sleep(0.05)           # 5 unread bytes in a's Recv-Q
tc = socket.create_connection(("127.0.0.1", port)); ta, _ = srv.accept()
tc.close(); time.sleep(0.05); ta.close(); time.sleep(0.1)  # tc's end: TIME_WAIT

def op(code, yes, no): return struct.pack("=BBH", code, yes, no)
bc = op(11, 8, 12) + op(0, 0, port) + op(1, 4, 12) + op(12, 8, 12) + op(0, 0, port)
attr = struct.pack("=HH", 4 + len(bc), 1) + bc
req = struct.pack("=BBBBI", socket.AF_INET, 6, (1 << 1) | (1 << 3), 0, 0xffffffff) + bytes(48)
body = req + attr
msg = struct.pack("=IHHII", 16 + len(body), 20, 0x301, 1, 0) + body
nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4)
nl.send(msg)
data = b""
while True:
    chunk = nl.recv(262144)
    data += chunk
    if struct.unpack_from("=H", chunk, 4)[0] == 3 or struct.unpack_from("=H", chunk, len(chunk) - 16 + 4)[0] == 3:
        break
    if any(struct.unpack_from("=H", chunk, i + 4)[0] == 3 for i in range(0, len(chunk) - 15, 4)
           if struct.unpack_from("=I", chunk, i)[0] == 20):
        break
open(out, "wb").write(data)
print(f"wrote {len(data)} bytes for port {port} to {out}")
