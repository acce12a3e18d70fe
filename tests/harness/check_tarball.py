"""Checks a built collection tarball before it is installed (scripts/lib.sh use_built_collection).

What Galaxy users get must hold only what the collection ships (no caches, keys or test files
of the checkout it was built from) and nothing in it may point at what the build leaves out:
no line outside a comment or a document names the repository's own directories for tests,
scripts or scenarios. Prints each finding and exits 1 if there is one.
"""

from __future__ import annotations

import re
import sys
import tarfile

# The top level of the tarball: what a collection ships (ansible-galaxy adds the two JSON files).
SHIPPED = {
    "CHANGELOG.rst", "FILES.json", "LICENSE", "MANIFEST.json", "README.md",
    "changelogs", "docs", "inventories", "meta", "playbooks", "plugins", "roles",
}  # fmt: skip
LEFT_OUT = re.compile(r"(?<![\w.-])(tests|scripts|molecule|\.ci)/")
DOCUMENTS = (".md", ".rst")
COMMENT = re.compile(r"^\s*(#|\{#)")


def findings(path: str) -> list[str]:
    found = []
    with tarfile.open(path) as tarball:
        for member in tarball.getmembers():
            top = member.name.split("/")[0]
            if top not in SHIPPED:
                found.append(f"{member.name}: not part of the collection (galaxy.yml build_ignore)")
                continue
            if not member.isfile() or member.name.endswith(DOCUMENTS) or top == "changelogs":
                continue
            text = tarball.extractfile(member).read().decode("utf-8", errors="replace")
            for number, line in enumerate(text.splitlines(), 1):
                if LEFT_OUT.search(line) and not COMMENT.match(line):
                    found.append(f"{member.name}:{number}: points at what the build leaves out: {line.strip()}")
    return found


def main() -> None:
    found = findings(sys.argv[1])
    for finding in found:
        print(finding)
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
