"""The example application: greets, and prints the versions of the packages
its image holds (Debian's, pip's and npm's)."""

import json
import sys
from importlib import metadata

import greeting


def main(argv):
    print(greeting.greet(argv[0] if argv else "world"))
    for name in ("greeting", "PyYAML"):
        print("%-10s %s (pip)" % (name, metadata.version(name)))
    with open("/usr/local/lib/node_modules/is-number/package.json") as f:
        print("%-10s %s (npm)" % ("is-number", json.load(f)["version"]))


if __name__ == "__main__":
    main(sys.argv[1:])
