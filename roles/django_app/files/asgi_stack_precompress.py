"""Compresses a release's static files ahead of time.

asgi.stack.django_app installs this file as the command asgi-stack-precompress,
run by the host's python3 (the shebang is added then).

For nginx to send them as they are (gzip_static, brotli_static): NAME.gz
(gzip, level 9) and NAME.br (brotli, quality 11) beside each file of DIR
whose extension is one of EXT, each with its file's modification time. A copy
that is not smaller than its file is not kept. A file with a copy, and none
older than the file, is left alone. Prints each file it compressed.

With --like LIVE (the static files of the release being served), a file
that LIVE holds too, with the same content and compressed, takes LIVE's
copies instead of being compressed again: a new release of the same static
files costs no compression (brotli's quality 11 costs seconds of CPU for
Django's admin alone).

    asgi-stack-precompress [--like LIVE] DIR EXT...
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys

import brotli

COPIES = {
    ".gz": lambda data: gzip.compress(data, compresslevel=9, mtime=0),
    ".br": lambda data: brotli.compress(data, quality=11),
}


def compressed(path: str) -> bool:
    """Whether PATH has a copy, and none older than it (to the second, as the copies are dated)."""
    mtime = int(os.stat(path).st_mtime)
    copies = [path + suffix for suffix in COPIES if os.path.exists(path + suffix)]
    return bool(copies) and all(int(os.stat(copy).st_mtime) >= mtime for copy in copies)


def read(path: str) -> bytes:
    with open(path, "rb") as source:
        return source.read()


def copies_in(like: str | None, path: str, data: bytes) -> dict[str, bytes | None] | None:
    """LIVE's copies of PATH (None for one not kept there), if LIVE holds the same file compressed."""
    if like is None:
        return None
    theirs = os.path.join(like, path)
    if not os.path.isfile(theirs) or not compressed(theirs) or read(theirs) != data:
        return None
    return {suffix: read(theirs + suffix) if os.path.exists(theirs + suffix) else None for suffix in COPIES}


def write(path: str, body: bytes, mtime_ns: int) -> None:
    """Writes PATH whole, dated MTIME_NS, or not at all."""
    partial = f"{path}.partial"
    with open(partial, "wb") as out:
        out.write(body)
    os.utime(partial, ns=(mtime_ns, mtime_ns))
    os.replace(partial, path)


def precompress(directory: str, extensions: list[str], like: str | None = None) -> list[str]:
    """Compresses DIR's files with these extensions; returns the paths (relative to DIR) it made copies for."""
    suffixes = tuple(f".{extension.lower()}" for extension in extensions)
    if not suffixes:
        return []
    if like is not None and (not os.path.isdir(like) or os.path.samefile(like, directory)):
        like = None
    done = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            if not name.lower().endswith(suffixes) or compressed(path):
                continue
            data = read(path)
            theirs = copies_in(like, os.path.relpath(path, directory), data)
            mtime_ns = os.stat(path).st_mtime_ns
            kept = False
            for suffix, compress in COPIES.items():
                body = theirs[suffix] if theirs is not None else compress(data)
                if body is not None and len(body) < len(data):
                    write(path + suffix, body, mtime_ns)
                    kept = True
                elif os.path.exists(path + suffix):
                    os.remove(path + suffix)
            if kept:
                done.append(os.path.relpath(path, directory))
    return done


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="asgi-stack-precompress", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--like", help="the static files of the release being served, whose copies may be taken")
    parser.add_argument("directory", metavar="DIR")
    parser.add_argument("extensions", metavar="EXT", nargs="*")
    arguments = parser.parse_args(argv)
    for path in precompress(arguments.directory, arguments.extensions, arguments.like):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
