#!/usr/bin/env python3
"""gateway_slow_client.py - a deliberately slow stream client for tests/e2e/gateway.sh:
POST a streamed /v1/messages over the gateway's unix socket, read nothing until the file
GO exists, then read the whole answer and print how many bytes came and whether the
stream ended with message_stop. Usage: gateway_slow_client.py SOCK KEY BODY GO"""
import os
import socket
import sys
import time

sock_path, key, body, go = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # keep the kernel's share small
s.connect(sock_path)
b = body.encode()
s.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: gw\r\nx-api-key: " + key.encode() +
          b"\r\nanthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"
          b"Connection: close\r\nContent-Length: " + str(len(b)).encode() + b"\r\n\r\n" + b)
deadline = time.time() + 60
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.05)
got = bytearray()
s.settimeout(60)
while True:
    chunk = s.recv(1 << 20)
    if not chunk:
        break
    got += chunk
print(len(got), b"event: message_stop" in got)
