"""The example application: prints the versions of the packages its image holds."""

import sys
from importlib import metadata

from tabulate import tabulate


def main(argv):
    names = argv or ["numpy", "PyYAML", "requests", "tabulate"]
    rows = []
    for name in names:
        try:
            rows.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    print(tabulate(rows, headers=("package", "version")))


if __name__ == "__main__":
    main(sys.argv[1:])
