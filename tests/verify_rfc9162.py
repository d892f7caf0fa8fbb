#!/usr/bin/env python3
"""verify_rfc9162.py - an independent verifier for jido-auditor's proofs and checkpoints,
written from RFC 9162 (sections 2.1.1, 2.1.3.2, 2.1.4.2) and the log format in
docs/ARCHITECTURE.md, sharing no code with the service (hashlib + cryptography only).

  verify_rfc9162.py inclusion PROOF.json LOG     proof = audit.inclusion_proof reply data
  verify_rfc9162.py consistency PROOF.json [LOG] proof = audit.consistency_proof reply data;
                                                 a tree size without a signed checkpoint
                                                 gets its head recomputed from LOG
  verify_rfc9162.py root LOG                     print MTH over every record of LOG

Exit 0 when the proof holds, 1 when it does not, 2 on bad input.
"""
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def sha256(b):
    return hashlib.sha256(b).digest()


def leaf_hash(entry):  # RFC 9162 2.1.1: MTH({d(0)}) = SHA-256(0x00 || d(0))
    return sha256(b"\x00" + entry)


def node_hash(left, right):  # SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
    return sha256(b"\x01" + left + right)


def mth(leaves):
    """The Merkle Tree Hash of a list of leaf hashes, recursively as in 2.1.1."""
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def record_entry(line):
    """The bytes a record's leaf covers: the line without its trailing ,"leaf":"<hex>"
    member (the object closed right after the member before it)."""
    line = line.rstrip(b"\n")
    i = line.rfind(b',"leaf":"')
    if i < 0 or not line.endswith(b'"}'):
        raise ValueError("not a record line")
    return line[:i] + b"}", bytes.fromhex(line[i + 9:-2].decode())


def record_lines(path):
    """The record lines of a log: without checkpoints, and without the fragment of a torn
    write together with the {"torn":...} marker the auditor put after it."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")[:-1]
    out = []
    for i, line in enumerate(lines):
        if line.startswith(b'{"checkpoint":') or line.startswith(b'{"torn":'):
            continue
        if i + 1 < len(lines) and lines[i + 1].startswith(b'{"torn":'):
            continue
        out.append(line)
    return out


def log_leaves(path):
    return [leaf_hash(record_entry(line)[0]) for line in record_lines(path)]


def checkpoint_ok(cp):
    """The checkpoint's Ed25519 signature over its text form, with its own key."""
    msg = "jido-audit-checkpoint/v1\n%d\n%s\n%s\n" % (cp["tree_size"], cp["root"], cp["time"])
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(cp["key"])).verify(
            bytes.fromhex(cp["sig"]), msg.encode())
        return True
    except (InvalidSignature, ValueError):
        return False


def verify_inclusion(leaf_index, tree_size, leaf, path, root):
    """RFC 9162 2.1.3.2."""
    if leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_hash, second_hash, path):
    """RFC 9162 2.1.4.2."""
    if first == second:
        return not path and first_hash == second_hash
    if first == 0 or first > second or not path:
        return False
    if first & (first - 1) == 0:  # an exact power of 2
        path = [first_hash] + path
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


def main(argv):
    if len(argv) >= 4 and argv[1] == "inclusion":
        p = json.load(open(argv[2]))
        cp = p["checkpoint"]
        # the leaf comes from the log itself, not from the service's answer
        lines = record_lines(argv[3])
        entry, stored = record_entry(lines[p["seq"] - 1])
        leaf = leaf_hash(entry)
        ok = (leaf == stored and cp is not None and checkpoint_ok(cp)
              and cp["tree_size"] == p["tree_size"]
              and verify_inclusion(p["seq"] - 1, p["tree_size"], leaf,
                                   [bytes.fromhex(h) for h in p["path"]],
                                   bytes.fromhex(cp["root"])))
    elif len(argv) >= 3 and argv[1] == "consistency":
        p = json.load(open(argv[2]))
        leaves = log_leaves(argv[3]) if len(argv) >= 4 else None

        def head(cp, size):
            """A tree head we trust: a signed checkpoint, else recomputed from the log."""
            if cp is not None:
                return bytes.fromhex(cp["root"]) if checkpoint_ok(cp) and \
                    cp["tree_size"] == size else None
            return mth(leaves[:size]) if leaves is not None and size <= len(leaves) else None
        h1 = head(p["from_checkpoint"], p["from"])
        h2 = head(p["to_checkpoint"], p["to"])
        ok = (h1 is not None and h2 is not None
              and verify_consistency(p["from"], p["to"], h1, h2,
                                     [bytes.fromhex(h) for h in p["proof"]]))
    elif len(argv) >= 3 and argv[1] == "root":
        print(mth(log_leaves(argv[2])).hex())
        return 0
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print("ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
