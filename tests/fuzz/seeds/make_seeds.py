#!/usr/bin/python3
"""Writes the hand-made seeds (named gen-*) of the fuzz targets that have no captured
traffic: resolver_frame (nsm's own sidecar protocol, layout of
src/lib/resolver/protocol.cc), nfs_conf (nfs.conf samples, optionally followed by a
NUL and NUL-separated command-line arguments) and legacy_sm (nfs-utils sm/ files,
line format of nsm-reference.md section 3).

Usage: make_seeds.py CORPUS_DIR
"""
import glob
import os
import socket
import struct
import sys


def frame(mtype, mid, payload, version=1):
    return struct.pack(">HHIQ", version, mtype, len(payload), mid) + payload


def answer(status, addrs=(), detail=b""):
    p = bytes([status, len(addrs)])
    for a in addrs:
        if ":" in a:
            name, _, scope = a.partition("%")
            p += b"\x06" + socket.inet_pton(socket.AF_INET6, name) + struct.pack(">I", int(scope or 0))
        else:
            p += b"\x04" + socket.inet_pton(socket.AF_INET, a)
    return p + bytes([len(detail)]) + detail


RESOLVER = {
    "hello": frame(1, 0, struct.pack(">III", 4242, 65534, 65534)),
    "resolve-localhost": frame(2, 1, b"localhost"),
    "resolve-idn": frame(2, 77, "b\u00fccher.example".encode()),
    "resolve-long": frame(2, 2**63, b"a" * 200 + b".example.org"),
    "answer-v4": frame(3, 1, answer(0, ["127.0.0.1"])),
    "answer-mixed": frame(3, 9, answer(0, ["192.0.2.1", "2001:db8::1", "fe80::1%2",
                                           "::ffff:198.18.0.1"])),
    "answer-notfound": frame(3, 2, answer(1, detail=b"Name or service not known")),
    "answer-temporary": frame(3, 3, answer(2, detail=b"Temporary failure in name resolution")),
    "answer-failed": frame(3, 4, answer(3)),
    "log-warning": frame(4, 0, b"\x03getaddrinfo took 5012 ms"),
    "log-debug": frame(4, 0, b"\x00x"),
    "bad-version": frame(1, 0, struct.pack(">III", 1, 2, 3), version=2),
    "bad-length": frame(2, 5, b"name")[:-1],
}

NFS_CONF = {
    "debian-sample": """#
# This is a general configuration for the
# NFS daemons and tools
#
[general]
pipefs-directory=/run/rpc_pipefs
#
[nfsrahead]
# nfs=15000
#
[exports]
# rootdir=/export
#
[exportfs]
# debug=0
#
[gssd]
# verbosity=0
use-gss-proxy=1
#
[lockd]
# port=0
# udp-port=0
#
[mountd]
# manage-gids=n
#
[nfsd]
# threads=8
# vers4.0=y
#
[statd]
# debug=0
# port=0
# outgoing-port=0
# name=
# state-directory-path=/var/lib/nfs/statd
# ha-callout=
# no-notify=0
#
[sm-notify]
# debug=0
# force=0
# retry-time=900
# outgoing-port=
# outgoing-addr=
# lift-grace=y
""",
    "statd-full": """[statd]
port = 662
outgoing-port = 2020
name = nfs1.example.org
state-directory-path = /srv/ha/statd
ha-callout = /usr/lib/nfs/ha-callout
no-notify = yes
debug = all
[lockd]
port = 32803
udp-port = 32769
[sm-notify]
retry-time = 0
outgoing-port = 2021
outgoing-addr = 198.18.0.1
lift-grace = off
force = true
update-state = no
""",
    "quotes-comments": """[statd]
name = "quoted host" trailing ignored
ha-callout = '/usr/bin/callout'#not a comment inside quotes
port = 662 # comment
outgoing-port = 2020 ; another comment
  ; indented comment
	# tab comment
[ Lockd ]
PORT=4045
[sm-notify]
retry-time = "15
""",
    "subsections-env": """[environment]
STATEDIR = /var/lib/nfs
LOOP = $LOOP
[statd]
state-directory-path = $STATEDIR
name = $LOOP
[exports "/srv/data"]
rootdir = /srv
[ exports  "Other Sub" ]
key = value
[broken "sub
[general
orphan = 1
""",
    "continuations": """[statd] \\
port = 1
[sm-notify]
outgoing-addr = 127.0.0.1 \\
  more
retry-time = \\
5
no-section-line
= value without tag
""",
    "includes": """include = -missing-is-silent.conf
include = missing-warns.conf
[statd]
include = inc.conf
include = sub/nested.conf
include = loop.conf
""",
    "include-bad": """[statd]
include = nul.conf
""",
    "include-dir": """include = dir.conf
""",
    "include-device": """[statd]
include = /dev/null
""",
    "long-line": "[statd]\nname = " + "a" * 4100 + "\n",
    "long-joined-line": "[statd]\nname = " + ("b" * 1000 + "\\\n") * 5 + "\n",
    "bad-values": """[statd]
port = 70000
outgoing-port = -1
no-notify = maybe
state-directory-path = relative/dir
[sm-notify]
retry-time = 99999999999
lift-grace = 2
""",
    "no-final-newline": "[statd]\nport = 662",
    "argv-statd": "[statd]\nport = 662\n\0-F\0-d\0-p\0" "1000\0-o\0" "1001\0-n\0host\0-P\0/var/lib/nfs\0-T\0" "4045\0-U\0" "4046",
    "argv-long": "[sm-notify]\nretry-time=5\n\0--name=nfs1\0--port\0" "662\0--state-directory-path=/srv\0--config\0/dev/null\0--no-notify\0--ha-callout\0/bin/true",
    "argv-smnotify": "\0-d\0-f\0-m\0" "0\0-n\0-p\0" "850\0-v\0" "127.0.0.1\0-P\0/tmp/sm",
    "argv-bad": "\0-x\0--nope\0-p\0\0-m\0abc\0--na\0stray\0-?\0-h\0-V",
}

LEGACY_SM = {
    "reference": b"0100007f 000186b5 00000003 00000010 69300000000000000000000000000000 127.1.0.1 vm\n",
    "two-callbacks": (b"0100007f 000186b5 00000004 00000010 000102030405060708090a0b0c0d0e0f "
                      b"192.0.2.7 server\n"
                      b"0100007f 000186b5 00000003 00000018 ffffffffffffffffffffffffffffffff "
                      b"192.0.2.7 server\n"),
    "hostname": b"0100007f 000186b5 00000004 00000010 00000000000000000000000000000000 client.example.org nfs1\n",
    "ipv6": b"0100007f 000186b5 00000004 00000010 00112233445566778899aabbccddeeff fe80::1 ::1\n",
    "no-newline": b"0100007f 000186b5 00000004 00000010 00112233445566778899aabbccddeeff h n",
    "short-priv": b"0100007f 000186b5 00000004 00000010 0011 h n\n",
    "bad-hex": b"zz00007f 000186b5 00000004 00000010 00112233445566778899aabbccddeeff h n\n",
    "missing-fields": b"0100007f 000186b5\n\n   \n",
    "extra-fields": b"0100007f 000186b5 00000004 00000010 00112233445566778899aabbccddeeff h n extra\n",
    "tabs-crlf": b"0100007f\t000186b5\t00000004\t00000010\t00112233445566778899aabbccddeeff\th\tn\r\n",
}


def write(corpus, target, items):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    for old in glob.glob(os.path.join(d, "gen-*")):
        os.remove(old)
    for name, data in items.items():
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, "gen-" + name), "wb") as f:
            f.write(data)


def main():
    corpus = sys.argv[1]
    write(corpus, "resolver_frame", RESOLVER)
    write(corpus, "nfs_conf", NFS_CONF)
    write(corpus, "legacy_sm", LEGACY_SM)


if __name__ == "__main__":
    main()
