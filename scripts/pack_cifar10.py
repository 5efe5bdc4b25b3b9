"""Pack the CIFAR-10 JPEG tree into one uncompressed zip (about 60 MiB) to carry to a GPU machine.

    python scripts/pack_cifar10.py ../shared/data/cifar10 .carry/cifar10.zip
"""
import os
import sys
import zipfile

src, dst = sys.argv[1], sys.argv[2]
os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
base = os.path.dirname(os.path.abspath(src))
with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as z:
    for root, _, files in os.walk(src):
        for f in sorted(files):
            path = os.path.join(root, f)
            z.write(path, os.path.relpath(os.path.abspath(path), base))
print(dst, os.path.getsize(dst) // 2**20, "MiB")
