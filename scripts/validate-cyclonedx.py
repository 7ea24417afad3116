#!/usr/bin/env python3
"""Validates CycloneDX 1.5 JSON files against the official JSON schema.

usage: validate-cyclonedx.py SCHEMA_DIR FILE...

SCHEMA_DIR holds the schema files of npm's @cyclonedx/cyclonedx-library
(res/schema: bom-1.5.SNAPSHOT.schema.json and the spdx and jsf schemas it
references); scripts/install-deps.sh fetches them into
~/.cache/sifstore-cyclonedx. Needs Debian's python3-jsonschema. Prints
"valid: FILE" or every schema error; exits 1 when any file is invalid.
"""
import json
import os
import sys

import jsonschema
from referencing import Registry, Resource


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    schema_dir = sys.argv[1]
    resources = []
    schema = None
    for name in os.listdir(schema_dir):
        if not name.endswith(".schema.json"):
            continue
        with open(os.path.join(schema_dir, name)) as f:
            doc = json.load(f)
        uri = "http://cyclonedx.org/schema/" + name
        resources.append((uri, Resource.from_contents(doc)))
        if name.startswith("bom-1.5") and "strict" not in name:
            schema = doc
    if schema is None:
        print("no bom-1.5 schema in " + schema_dir, file=sys.stderr)
        return 2
    registry = Registry().with_resources(resources)
    validator = jsonschema.Draft7Validator(
        schema, registry=registry, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    bad = 0
    for path in sys.argv[2:]:
        with open(path) as f:
            bom = json.load(f)
        errors = sorted(validator.iter_errors(bom), key=lambda e: list(e.path))
        for e in errors:
            print("%s: %s: %s" % (path, "/".join(str(p) for p in e.path), e.message))
        if errors:
            bad += 1
        else:
            print("valid: " + path)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
