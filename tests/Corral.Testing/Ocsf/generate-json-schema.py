#!/usr/bin/env python3
"""Derives the JSON Schema of OCSF event classes from a compiled OCSF schema (the export ocsf-lib-py caches).

Usage: generate-json-schema.py COMPILED.json PROFILE[,PROFILE] CLASS... > out  (writes CLASS.schema.json beside this file)

Rules (those of the OCSF server's JSON Schema export): an attribute is kept when it has no profile or its profile is
one of those given; "required" attributes are required; an *_id attribute with an enum allows only its values; an
object attribute refers to the object's definition; constraints become anyOf (at_least_one) / oneOf (just_one);
nothing else is allowed (additionalProperties: false), except in "unmapped", which is free-form.
"""
import json
import os
import sys

SCALARS = {"boolean_t": "boolean", "float_t": "number", "integer_t": "integer", "long_t": "integer", "string_t": "string"}


def main():
    compiled, profiles, classes = sys.argv[1], set(sys.argv[2].split(",")), sys.argv[3:]
    schema = json.load(open(compiled))
    here = os.path.dirname(os.path.abspath(__file__))
    for name in classes:
        defs = {}
        cls = schema["classes"][name]
        root = shape(schema, cls, profiles, defs)
        root = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": f"https://schema.ocsf.io/{schema['version']}/classes/{name}",
                "title": f"{cls['caption']} ({cls['uid']}), OCSF {schema['version']}, profiles: {', '.join(sorted(profiles))}",
                **root, "$defs": dict(sorted(defs.items()))}
        with open(os.path.join(here, f"{name}.schema.json"), "w") as out:
            json.dump(root, out, indent=1, sort_keys=False)
            out.write("\n")


def shape(schema, thing, profiles, defs):
    props, required = {}, []
    for attr, spec in sorted(thing["attributes"].items()):
        if spec.get("profile") and spec["profile"] not in profiles:
            continue
        props[attr] = attribute(schema, spec, profiles, defs)
        if spec.get("requirement") == "required":
            required.append(attr)
    result = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        result["required"] = required
    constraints = thing.get("constraints") or {}
    if "at_least_one" in constraints:
        result["anyOf"] = [{"required": [a]} for a in constraints["at_least_one"] if a in props]
    if "just_one" in constraints:
        result["oneOf"] = [{"required": [a]} for a in constraints["just_one"] if a in props]
    return result


def attribute(schema, spec, profiles, defs):
    if spec.get("object_type"):
        target = spec["object_type"]
        if target == "object":
            item = {"type": "object"}  # "unmapped": the producer's own fields
        else:
            key = target.replace("/", "_")
            if key not in defs:
                defs[key] = {}  # placeholder: objects refer to each other
                defs[key] = shape(schema, schema["objects"][target], profiles, defs)
            item = {"$ref": f"#/$defs/{key}"}
    else:
        item = scalar(schema, spec["type"])
        if spec.get("enum"):
            values = list(spec["enum"].keys())
            item["enum"] = sorted(int(v) for v in values) if item.get("type") == "integer" else sorted(values)
    return {"type": "array", "items": item} if spec.get("is_array") else item


def scalar(schema, type_name):
    if type_name in SCALARS:
        return {"type": SCALARS[type_name]}
    if type_name == "json_t":
        return {}
    t = schema["types"][type_name]
    result = scalar(schema, t["type"]) if t.get("type") and t["type"] != type_name else {"type": "string"}
    if t.get("range"):
        result["minimum"], result["maximum"] = t["range"]
    return result


if __name__ == "__main__":
    main()
