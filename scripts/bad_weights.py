#!/usr/bin/python3
"""Malformed and malicious torch.save files for the reader tests, written into --out.

Each file is small and differs from a valid torch.save file by one defect (the valid ones,
good.pth and strided.pth, are written too). Tensors are pickled exactly as torch.save pickles them (GLOBAL
torch._utils._rebuild_tensor_v2, storages as persistent ids), but their storages, offsets and
sizes are ours to choose. Run with Debian's /usr/bin/python3.
"""
import argparse
import collections
import io
import os
import pickle
import struct
import zipfile

import torch


class Storage:
    def __init__(self, key, numel, kind=torch.FloatStorage):
        self.key, self.numel, self.kind = key, numel, kind


class Tensor:
    """Pickles as torch.save pickles a tensor."""

    def __init__(self, storage, offset, size, stride=None):
        self.storage, self.offset, self.size = storage, offset, size
        self.stride = stride or tuple(int(torch.tensor(size[i + 1:]).prod()) for i in range(len(size)))

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, (self.storage, self.offset, tuple(self.size), tuple(self.stride), False, collections.OrderedDict())


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.kind, obj.key, "cpu", obj.numel)
        return None


class Evil:
    def __reduce__(self):
        return os.system, ("echo this must never run",)


def dumps(obj, protocol=2):
    buf = io.BytesIO()
    Pickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue()


def write_zip(path, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in entries.items():
            z.writestr(name, data)


def state(tensors):
    return collections.OrderedDict(tensors)


def patch_sizes(path, entry, size):
    """Rewrite an entry's uncompressed size in its local header and the central directory: a zip that lies."""
    data = bytearray(open(path, "rb").read())
    struct.pack_into("<I", data, zipfile.ZipFile(path).getinfo(entry).header_offset + 22, size)
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46:at + 46 + name_len].decode() == entry:
            struct.pack_into("<I", data, at + 24, size)
        at = data.find(b"PK\x01\x02", at + 4)
    open(path, "wb").write(bytes(data))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    p = lambda name: os.path.join(out, name)  # noqa: E731
    floats = struct.pack("<10f", *range(10))

    s = Storage("0", 10)
    write_zip(p("good.pth"), {"archive/data.pkl": dumps(state([("w", Tensor(s, 0, [10]))])), "archive/data/0": floats})
    # Valid, but not contiguous: a 3x2 view at offset 1, column-major (as .t() makes), and one that shares its storage.
    shared = state([("t", Tensor(Storage("0", 12), 1, [3, 2], [1, 3])), ("u", Tensor(Storage("0", 12), 6, [2, 2]))])
    write_zip(p("strided.pth"), {"archive/data.pkl": dumps(shared), "archive/data/0": struct.pack("<12f", *range(12))})
    write_zip(p("big-endian.pth"), {"archive/data.pkl": dumps(state([("w", Tensor(s, 0, [10]))])), "archive/byteorder": b"big", "archive/data/0": floats})
    # A pickle that would run os.system: by GLOBAL (protocol 2) and by STACK_GLOBAL (protocol 4).
    write_zip(p("forbidden-global.pth"), {"archive/data.pkl": dumps(state([("w", Evil())]), 2), "archive/data/0": floats})
    write_zip(p("forbidden-stack-global.pth"), {"archive/data.pkl": dumps(state([("w", Evil())]), 4), "archive/data/0": floats})
    # torch.save(model) instead of its state_dict: pickles the module classes.
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 2)), p("whole-model.pth"))
    write_zip(p("storage-short.pth"), {"archive/data.pkl": dumps(state([("w", Tensor(s, 0, [10]))])), "archive/data/0": floats[:24]})
    big = Storage("0", 2**30)
    write_zip(p("storage-gigabytes.pth"), {"archive/data.pkl": dumps(state([("w", Tensor(big, 0, [10]))])), "archive/data/0": floats})
    write_zip(p("view-beyond-storage.pth"), {"archive/data.pkl": dumps(state([("w", Tensor(s, 8, [10]))])), "archive/data/0": floats})
    # 32 tensors each viewing all of one 4 MiB storage: 128 MiB to decode from 4 MiB of data.
    repeated = Storage("0", 2**20)
    views = state([(f"w{i}", Tensor(repeated, 0, [2**20])) for i in range(32)])
    write_zip(p("repeated-views.pth"), {"archive/data.pkl": dumps(views), "archive/data/0": bytes(2**22)}, zipfile.ZIP_DEFLATED)
    complex_storage = Storage("0", 5, torch.ComplexFloatStorage)
    write_zip(p("complex-dtype.pth"), {"archive/data.pkl": dumps(state([("w", Tensor(complex_storage, 0, [5]))])), "archive/data/0": floats})
    write_zip(p("no-storage-entry.pth"), {"archive/data.pkl": dumps(state([("w", Tensor(s, 0, [10]))]))})
    # Zip bombs: 256 MiB of zeros deflated to ~256 KiB, for a tensor of 1024 floats; first honest
    # about the size, then lying (the directory claims 4096 bytes).
    k = Storage("0", 1024)
    bomb = {"archive/data.pkl": dumps(state([("w", Tensor(k, 0, [1024]))])), "archive/data/0": bytes(256 * 2**20)}
    write_zip(p("zip-bomb.pth"), bomb, zipfile.ZIP_DEFLATED)
    write_zip(p("zip-bomb-lying.pth"), bomb, zipfile.ZIP_DEFLATED)
    patch_sizes(p("zip-bomb-lying.pth"), "archive/data/0", 4096)
    good = open(p("good.pth"), "rb").read()
    open(p("truncated.pth"), "wb").write(good[: len(good) // 2])

    # Legacy serialisation: truncated inside the storage bytes, and a storage size claiming 2^40 elements.
    torch.save({"w": torch.arange(10, dtype=torch.float32)}, p("legacy-good.pth"), _use_new_zipfile_serialization=False)
    legacy = open(p("legacy-good.pth"), "rb").read()
    open(p("legacy-truncated.pth"), "wb").write(legacy[:-12])
    storage_at = len(legacy) - 8 - 40  # the last record: int64 count, then 10 floats
    assert struct.unpack_from("<q", legacy, storage_at)[0] == 10
    open(p("legacy-gigabytes.pth"), "wb").write(legacy[:storage_at] + struct.pack("<q", 2**40) + legacy[storage_at + 8:])


if __name__ == "__main__":
    main()
