#!/usr/bin/env python3
"""A stand-in for journald's native socket, for sanitize-clone's tests.

    journal-listener.py listen SOCKET OUTPUT [TIMEOUT]   bind SOCKET, record every datagram
    journal-listener.py mark SOCKET                      tell the listener to stop

`listen` binds an AF_UNIX datagram socket at SOCKET (normally /run/systemd/journal/socket,
inside a private mount namespace) and appends each datagram to OUTPUT as
<64-bit little-endian length><bytes>, flushing after each one. An entry too large for one
datagram arrives, as sd_journal_sendv sends it, as a memfd passed with SCM_RIGHTS; its content
is recorded instead. It stops on the marker datagram `mark` sends (datagrams arrive in order, so
every entry sent before it has been recorded), or after TIMEOUT seconds without one (default 30).
The test parses the journal native protocol itself.
"""
import os
import socket
import struct
import sys

MARKER = b"SANITIZE_CLONE_TEST_LISTENER=stop\n"


def received_payload(data, ancillary):
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            descriptors = struct.unpack("%di" % (len(payload) // 4), payload[: len(payload) // 4 * 4])
            contents = b""
            for fd in descriptors:
                with os.fdopen(fd, "rb") as memfd:
                    memfd.seek(0)
                    contents += memfd.read()
            return contents
    return data


def listen(socket_path, output_path, timeout):
    os.makedirs(os.path.dirname(socket_path), exist_ok=True)
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    server.bind(socket_path)
    server.settimeout(timeout)
    with open(output_path, "wb") as output:
        while True:
            try:
                data, ancillary, _, _ = server.recvmsg(1 << 20, socket.CMSG_SPACE(16 * 4))
            except socket.timeout:
                print("journal-listener: no marker after %ss, stopping" % timeout, file=sys.stderr)
                return 1
            payload = received_payload(data, ancillary)
            if payload == MARKER:
                return 0
            output.write(struct.pack("<Q", len(payload)) + payload)
            output.flush()


def mark(socket_path):
    client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    client.sendto(MARKER, socket_path)
    return 0


def main(arguments):
    if len(arguments) >= 3 and arguments[0] == "listen":
        return listen(arguments[1], arguments[2], float(arguments[3]) if len(arguments) > 3 else 30.0)
    if len(arguments) == 2 and arguments[0] == "mark":
        return mark(arguments[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
