#!/usr/bin/env python3
"""Generates the Swift client's result and event types from the OpenRPC snapshot (issue 14).

    python3 scripts/generate-swift-types.py          # writes Sources/WPWithinClient/GeneratedTypes.swift
    python3 scripts/generate-swift-types.py --check  # exit 1 when the file is stale

Reads clients/python/openrpc.json (scripts/regenerate-clients.sh refreshes it from a daemon, then runs this).
Every named result schema becomes a `Decodable` struct nested in `WPWithinClient`; every `Event.<type>`
schema a struct in `WPWithinClient.Events` and a case of `WPWithinClient.Event.Payload`. No Foundation: the
client decodes with WPWithinCore's JSONValueDecoder. Unknown members are ignored (a newer daemon may add
some); a member the schema does not require, or that may be null, is an Optional. Integers are `Int`, except
money in minor units, sequence numbers and purchase ids, which are `Int64`.
"""
import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SNAPSHOT = os.path.join(REPO, "clients", "python", "openrpc.json")
OUTPUT = os.path.join(REPO, "Sources", "WPWithinClient", "GeneratedTypes.swift")

INT64 = {"purchaseId", "seq", "fleetSeq", "lastSeq", "lastDeliveredSeq", "amount", "totalPrice", "totalPaid",
         "totalAmount", "refundAmount", "amountRefunded", "freeBytes", "replayed"}
#: Result schemas written inline in a method: the type each gets.
INLINE_RESULTS = {"startServiceBroadcast": "Broadcasting", "stopServiceBroadcast": "Broadcasting",
                  "removeService": "Removal"}
#: Named schemas that are not results or events (error data, the event union), or are typed by hand.
SKIPPED = {"Event", "Metrics"}
#: Members every event has: on `Event` itself, not in its payload.
EVENT_COMMON = {"seq", "type", "time", "fleetSeq", "member"}

RESERVED = {"description"}  # fine as a stored property name; listed for clarity, nothing is renamed


def upper_first(name):
    return name[0].upper() + name[1:]


def camel(parts):
    return parts[0] + "".join(upper_first(p) for p in parts[1:])


def singular(name):
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


class Generator:
    def __init__(self, document):
        self.document = document
        self.schemas = document["components"]["schemas"]
        self.out = []

    def swift_type(self, schema, name, nested, indent):
        """The Swift type of a member; nested object types are appended to `nested`."""
        types = schema.get("type")
        types = types if isinstance(types, list) else [types] if types else []
        nullable = "null" in types
        types = [t for t in types if t != "null"]
        if "$ref" in schema:
            base = schema["$ref"].rsplit("/", 1)[-1]
        elif types == ["string"]:
            base = "String"
        elif types == ["integer"]:
            base = "Int64" if name in INT64 else "Int"
        elif types == ["number"]:
            base = "Double"
        elif types == ["boolean"]:
            base = "Bool"
        elif types == ["array"]:
            item = schema.get("items", {})
            base = "[" + self.swift_type(item, singular(name), nested, indent).rstrip("?") + "]"
        elif types == ["object"] and "properties" in schema:
            base = upper_first(name)
            nested.append(self.struct(base, schema, indent, f"The `{name}` member."))
        else:
            base = "JSONValue"
        return base + ("?" if nullable else "")

    def struct(self, name, schema, indent, doc, skip=frozenset()):
        pad = "    " * indent
        required = set(schema.get("required", []))
        nested = []
        members = []
        for prop, sub in schema.get("properties", {}).items():
            if prop in skip:
                continue
            swift = self.swift_type(sub, prop, nested, indent + 1)
            if prop not in required and not swift.endswith("?"):
                swift += "?"
            notes = []
            if "enum" in sub and len(sub["enum"]) == 1:
                notes.append("always " + json.dumps(sub["enum"][0]))
            elif "enum" in sub:
                notes.append("one of " + ", ".join(json.dumps(v) for v in sub["enum"]))
            if "minimum" in sub and "maximum" in sub:
                notes.append(f"{sub['minimum']}…{sub['maximum']}")
            elif "minimum" in sub:
                notes.append(f"≥ {sub['minimum']}")
            elif "maximum" in sub:
                notes.append(f"≤ {sub['maximum']}")
            if prop in required and swift.endswith("?") and "null" in (sub.get("type") if isinstance(sub.get("type"), list) else []):
                notes.append("null when not applicable")
            members.append((prop, swift, "; ".join(notes)))
        lines = [f"{pad}/// {doc}", f"{pad}public struct {name}: Decodable, Sendable, Hashable {{"]
        for prop, swift, note in members:
            if note:
                lines.append(f"{pad}    /// {note[0].upper() + note[1:]}.")
            lines.append(f"{pad}    public var {prop}: {swift}")
        if members:
            lines.append("")
            params = ", ".join(f"{p}: {t}" + (" = nil" if t.endswith("?") else "") for p, t, _ in members)
            lines.append(f"{pad}    public init({params}) {{")
            for prop, _, _ in members:
                lines.append(f"{pad}        self.{prop} = {prop}")
            lines.append(f"{pad}    }}")
        else:
            lines.append(f"{pad}    public init() {{}}")
        for block in nested:
            lines.append("")
            lines.append(block)
        lines.append(f"{pad}}}")
        return "\n".join(lines)

    def result_types(self):
        uses = {}
        for method in self.document["methods"]:
            schema = method["result"]["schema"]
            ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
            if ref and ref.startswith("#/"):
                uses.setdefault(ref.rsplit("/", 1)[-1], []).append(method["name"])
        blocks = []
        for name in sorted(self.schemas):
            if name in SKIPPED or name.startswith(("Event.", "ErrorData.")):
                continue
            methods = uses.get(name)
            doc = ("The result of " + ", ".join(f"`{m}`" for m in methods) + ".") if methods else f"`{name}` in rpc.discover."
            blocks.append(self.struct(name, self.schemas[name], 1, doc))
        done = set()
        for method in self.document["methods"]:
            name = INLINE_RESULTS.get(method["name"])
            if name and name not in done:
                done.add(name)
                users = [m for m, n in INLINE_RESULTS.items() if n == name]
                doc = "The result of " + ", ".join(f"`{m}`" for m in users) + "."
                blocks.append(self.struct(name, method["result"]["schema"], 1, doc))
        return blocks

    def events(self):
        names = sorted(n for n in self.schemas if n.startswith("Event."))
        blocks = []
        cases = []
        for schema_name in names:
            event_type = schema_name[len("Event."):]
            swift = upper_first(camel(event_type.split(".")))
            case = camel(event_type.split("."))
            blocks.append(self.struct(swift, self.schemas[schema_name], 1,
                                      f"The payload of a `{event_type}` event.", skip=EVENT_COMMON))
            cases.append((event_type, swift, case))
        return blocks, cases

    def render(self):
        results = self.result_types()
        events, cases = self.events()
        out = [
            "// Generated by scripts/generate-swift-types.py from clients/python/openrpc.json: do not edit.",
            "// scripts/regenerate-clients.sh runs it after the daemon's document changes.",
            "",
            "import WPWithinCore",
            "",
            "extension WPWithinClient {",
            "\n\n".join(results),
            "}",
            "",
            "extension WPWithinClient {",
            "    /// The payload of each event type the daemon documents (`Event.<type>` in rpc.discover), without the",
            "    /// members every event has (`seq`, `type`, `time`, `fleetSeq`, `member`: see `Event`).",
            "    public enum Events {",
            "\n\n".join("    " + b.replace("\n", "\n    ") for b in events),
            "    }",
            "}",
            "",
            "extension WPWithinClient.Event {",
            "    /// An event's typed payload: one case per documented type; `.other` for a type this client does not",
            "    /// know (a newer daemon), `.malformed` when a known type's params do not decode (`reason` says why).",
            "    public enum Payload: Sendable, Hashable {",
        ]
        for event_type, swift, case in cases:
            out.append(f"        /// `{event_type}`")
            out.append(f"        case {case}(WPWithinClient.Events.{swift})")
        out += [
            "        case other(type: String, params: JSONValue)",
            "        case malformed(type: String, params: JSONValue, reason: String)",
            "",
            "        /// Every event type this client decodes.",
            "        public static let knownTypes: [String] = [",
        ]
        out += [f'            "{t}",' for t, _, _ in cases]
        out += [
            "        ]",
            "",
            "        /// Decodes `params` (a whole event notification's params) as the payload of `type`.",
            "        public init(type: String, params: JSONValue) {",
            "            do {",
            "                switch type {",
        ]
        for event_type, swift, case in cases:
            out.append(f'                case "{event_type}": self = .{case}(try WPWithinClient.decodeValue(params))')
        out += [
            "                default: self = .other(type: type, params: params)",
            "                }",
            "            } catch {",
            "                self = .malformed(type: type, params: params, reason: WPWithinClient.describeDecodingError(error))",
            "            }",
            "        }",
            "    }",
            "}",
            "",
        ]
        return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    with open(SNAPSHOT) as f:
        text = Generator(json.load(f)).render()
    if args.check:
        with open(OUTPUT) as f:
            if f.read() != text:
                print(f"{OUTPUT} is stale: run scripts/generate-swift-types.py", file=sys.stderr)
                return 1
        return 0
    with open(OUTPUT, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
