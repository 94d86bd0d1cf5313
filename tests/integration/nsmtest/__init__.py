"""nsmtest: integration-test harness for nsm (NFS status monitor, program 100024).

Modules:
  xdr       XDR packer/unpacker
  rpc       ONC RPC client (UDP/TCP, record marking, AUTH_NONE/AUTH_SYS, raw bytes)
  portmap   portmap v2 / rpcbind v4 GETPORT, GETADDR, SET, UNSET, DUMP
  nsm       NSM XDR types, StatdClient (calls statd like the kernel)
  lockd     lockd emulator (callback receiver + kernel-like client)
  dns       DNS stub (refuse / blackhole) on 127.0.0.53
  nsutil    unshare/setns/PDEATHSIG through ctypes
  procs     child processes with logs, teardown
  hosts     isolated session host and veth-linked peer hosts
  daemons   which rpc.statd is tested, state dirs, sm/ records, sm-notify
  capture   dumpcap/tshark capture and field decoding
Stdlib only; run with /usr/bin/python3 as root (see tests/integration/README.md).

TIME_SCALE ($NSM_TIME_SCALE, default 1) multiplies the latency bounds that only a slow
build can miss (make tsan sets it: ThreadSanitizer runs the daemon several times slower).
"""
import os

TIME_SCALE = float(os.environ.get("NSM_TIME_SCALE") or "1")
