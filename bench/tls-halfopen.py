#!/usr/bin/env python3
# Memory per TLS connection: opens N connections to a corvid -Z port (tcp: connect only;
# hello: a ClientHello, never finished; done: handshake completed) and prints the RSS
# growth of PID per connection. Usage: tls-halfopen.py PORT PID N tcp|hello|done
import socket, ssl, sys, time, os
port=int(sys.argv[1]); pid=int(sys.argv[2]); n=int(sys.argv[3]); mode=sys.argv[4]
def rss():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])
ctx=ssl.create_default_context(); ctx.check_hostname=False; ctx.verify_mode=ssl.CERT_NONE
time.sleep(0.5); before=rss(); keep=[]
for i in range(n):
    s=socket.create_connection(("127.0.0.1",port))
    if mode=="hello":
        s.setblocking(False); t=ctx.wrap_socket(s, do_handshake_on_connect=False)
        try: t.do_handshake()
        except ssl.SSLWantReadError: pass
        keep.append(t)
    elif mode=="done":
        t=ctx.wrap_socket(s); keep.append(t)
    else: keep.append(s)
time.sleep(1.5); after=rss()
print(mode, n, "KiB before", before, "after", after, "bytes/conn", (after-before)*1024//n)
