"""Validates JSON files against deploy/sidecar.schema.json with a real JSON Schema validator (Debian's python3-jsonschema).

usage: validate_schema.py SCHEMA YARP_SCHEMA YARP_URL FILE...
YARP's schema is served from the local NuGet package under its public URL, so no network is needed.
Prints "OK <file>" or "INVALID <file>: <path>: <message>" per file.
"""
import json
import sys

import jsonschema


def main():
    schema_path, yarp_path, yarp_url, *files = sys.argv[1:]
    with open(schema_path) as f:
        schema = json.load(f)
    with open(yarp_path, encoding="utf-8-sig") as f:
        yarp = json.load(f)
    resolver = jsonschema.RefResolver.from_schema(schema, store={yarp_url: yarp})
    validator = jsonschema.Draft7Validator(schema, resolver=resolver)
    for name in files:
        with open(name) as f:
            document = json.load(f)
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            print(f"INVALID {name}: {'/'.join(str(p) for p in first.absolute_path)}: {first.message}")
        else:
            print(f"OK {name}")


main()
