#!/usr/bin/env python3
"""Generates the typed method layer of the Python client from the daemon's ``rpc.discover`` document.

    python3 clients/python/tools/generate.py --socket /path/to/wpwithin.sock   # from a live daemon (both roles)
    python3 clients/python/tools/generate.py                                    # from clients/python/openrpc.json
    python3 clients/python/tools/generate.py --check                           # exit 1 if the code is stale

A daemon lists only the methods of the roles it runs: fetch from one that runs both (the default).
With ``--socket`` the daemon's document is saved to ``clients/python/openrpc.json`` first. The output is
``clients/python/src/wpwithin/_generated.py`` (committed): one method per RPC method on ``SyncMethods``
and ``AsyncMethods`` (keyword-only parameters named exactly as the daemon expects, type hints from the
JSON schemas, docstrings from the summaries), result ``TypedDict``s, and ``PARAMS`` (the schemas the
client checks arguments against before sending). Standard library only.
"""

import argparse
import json
import keyword
import pprint
import socket
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
PACKAGE_ROOT = HERE.parent
SNAPSHOT = PACKAGE_ROOT / "openrpc.json"
OUTPUT = PACKAGE_ROOT / "src" / "wpwithin" / "_generated.py"

#: Methods the client implements by hand: ``subscribe`` returns an event stream that reconnects.
HANDWRITTEN = ("subscribe",)

# The error classes, by code, for the docstrings (kept in step with wpwithin/errors.py by the tests).
sys.path.insert(0, str(PACKAGE_ROOT / "src"))


def error_class_names() -> Dict[int, str]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("_wpw_errors", PACKAGE_ROOT / "src" / "wpwithin" / "errors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {code: cls.__name__ for code, cls in module.ERRORS_BY_CODE.items()}


def fetch(socket_path: str) -> Dict[str, Any]:
    """``rpc.discover`` from a live daemon."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(socket_path)
        sock.sendall(b'{"jsonrpc":"2.0","id":1,"method":"rpc.discover"}\n')
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit(f"{socket_path}: connection closed before the answer")
            data += chunk
    answer = json.loads(data)
    if "result" not in answer:
        raise SystemExit(f"{socket_path}: rpc.discover failed: {answer}")
    return answer["result"]


def python_name(name: str) -> str:
    """A Python identifier for a daemon name: ``rpc.discover`` -> ``rpc_discover``; keywords get ``_``."""
    ident = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    if not ident.isidentifier() or keyword.iskeyword(ident):
        ident += "_"
    return ident


def capitalized(name: str) -> str:
    ident = python_name(name).strip("_")
    return "".join(part[:1].upper() + part[1:] for part in ident.split("_"))


SCHEMA_REF = "#/components/schemas/"
#: Component names whose class name would clash with the client's own (``wpwithin.Event`` is the stream's event).
RENAMED = {"Event": "EventParams"}
SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}


def type_identifier(name: str) -> str:
    """A class name for a component schema: ``Purchase``; ``Event.producer.paymentSucceeded`` ->
    ``EventProducerPaymentSucceeded``; ``ErrorData.notFound`` -> ``ErrorDataNotFound``."""
    parts = [p for p in "".join(c if c.isalnum() else " " for c in name).split() if p]
    return "".join(part[:1].upper() + part[1:] for part in parts)


class Emitter:
    """Turns JSON schemas into type hints, writing a ``TypedDict`` for each object schema (named after its
    component, or after where it appears) before the types that use it."""

    def __init__(self, components: Optional[Dict[str, Any]] = None) -> None:
        self.components = components or {}
        self.typeddicts: List[str] = []
        self.named: Dict[str, str] = {}  # component name -> class name, once emitted

    def param_type(self, schema: Dict[str, Any]) -> str:
        kind = schema.get("type")
        if kind == "array":
            return f"Sequence[{self.param_type(schema.get('items', {}))}]"
        if kind == "object":
            return "Mapping[str, Any]"
        return {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}.get(kind, "Any")

    def component(self, name: str) -> str:
        if name not in self.named:
            if name not in self.components:
                raise SystemExit(f"$ref to {name}, which components/schemas lacks")
            identifier = RENAMED.get(name) or type_identifier(name)
            self.named[name] = identifier
            text = self.result_type(self.components[name], identifier, doc=f"``components/schemas/{name}``.")
            if text != identifier:  # not an object: an alias (a union, a mapping)
                self.typeddicts.append(f"#: ``components/schemas/{name}``.\n{identifier} = {text}\n")
        return self.named[name]

    def result_type(self, schema: Dict[str, Any], name: str, doc: str = "") -> str:
        ref = schema.get("$ref", "")
        if ref.startswith(SCHEMA_REF):
            return self.component(ref[len(SCHEMA_REF):])
        if ref:  # rpc.discover: the OpenRPC meta-schema
            return "Dict[str, Any]"
        if "oneOf" in schema:
            options = schema["oneOf"]
            inner = [self.result_type(option, name) for option in options if option.get("type") != "null"]
            text = inner[0] if len(inner) == 1 else f"Union[{', '.join(inner)}]"
            return f"Optional[{text}]" if len(inner) < len(options) else text
        kind = schema.get("type")
        if "enum" in schema:
            values = [v for v in schema["enum"] if v is not None]
            text = f"Literal[{', '.join(repr(v) for v in values)}]"
            nullable = None in schema["enum"] or (isinstance(kind, list) and "null" in kind)
            return f"Optional[{text}]" if nullable else text
        if isinstance(kind, list):  # e.g. ["string", "null"]
            kinds = [k for k in kind if k != "null"]
            inner = self.result_type({**schema, "type": kinds[0]} if len(kinds) == 1 else {}, name)
            return f"Optional[{inner}]" if "null" in kind else inner
        if kind == "array":
            return f"List[{self.result_type(schema.get('items', {}), name + 'Item')}]"
        if kind == "object":
            properties = schema.get("properties")
            if not properties:
                return "Dict[str, Any]"
            self.typeddicts.append(self.typeddict(name, schema, doc))
            return name
        return SCALARS.get(kind, "Any")

    def typeddict(self, name: str, schema: Dict[str, Any], doc: str) -> str:
        properties = schema["properties"]
        required = set(schema.get("required", []))
        fields = {prop: self.result_type(prop_schema, name + capitalized(prop)) for prop, prop_schema in properties.items()}
        if schema.get("additionalProperties") is not False:
            doc = (doc + " " if doc else "") + "Other members may appear."
        if not all(prop.isidentifier() and not keyword.iskeyword(prop) for prop in fields):
            body = "\n".join(f"        {prop!r}: {text}," for prop, text in fields.items())
            total = "" if required >= set(properties) else ", total=False"
            return f"{name} = TypedDict(\n    {name!r},\n    {{\n{body}\n    }}{total},\n)\n"

        def body(props: List[str]) -> str:
            lines = [f'    """{doc}"""', ""] if doc else []
            return "\n".join(lines + [f"    {prop}: {fields[prop]}" for prop in props] or ["    pass"])

        mandatory = [p for p in fields if p in required]
        optional = [p for p in fields if p not in required]
        if not optional:
            return f"class {name}(TypedDict):\n{body(mandatory)}\n"
        if not mandatory:
            return f"class {name}(TypedDict, total=False):\n{body(optional)}\n"
        base = f"_{name}Required"
        return (f"class {base}(TypedDict):\n" + "\n".join(f"    {p}: {fields[p]}" for p in mandatory) + "\n\n\n"
                f"class {name}({base}, total=False):\n{body(optional)}\n")


def constraint_text(schema: Dict[str, Any]) -> str:
    parts = []
    if "minimum" in schema:
        parts.append(f">= {schema['minimum']}")
    if "maximum" in schema:
        parts.append(f"<= {schema['maximum']}")
    items = schema.get("items", {})
    if "enum" in items:
        parts.append("each one of EVENT_TYPES" if len(items["enum"]) > 6 else "each one of " + ", ".join(items["enum"]))
    return f" ({', '.join(parts)})" if parts else ""


def method_source(method: Dict[str, Any], emitter: Emitter, errors: Dict[int, str], is_async: bool) -> str:
    name = method["name"]
    params = method.get("params", [])
    signature = ["self"]
    if params:
        signature.append("*")
    arguments = []
    for param in params:
        pyname = python_name(param["name"])
        hint = emitter.param_type(param.get("schema", {}))
        signature.append(f"{pyname}: {hint}" if param.get("required") else f"{pyname}: Optional[{hint}] = None")
        arguments.append(f"{param['name']!r}: {pyname}")
    result = method.get("result", {})
    returns = emitter.result_type(result.get("schema", {}), capitalized(name) + "Result")
    doc = [method.get("summary", "").strip() or f"The daemon's {name}."]
    doc += ["", f"Calls ``{name}``."]
    if params:
        doc += ["", "Args:"]
        for param in params:
            summary = (param.get("summary") or "").strip()
            optional = "" if param.get("required") else " Optional."
            doc.append(f"    {python_name(param['name'])}: {summary}{constraint_text(param.get('schema', {}))}{optional}".rstrip())
    doc += ["", f"Returns: {result.get('name', 'result')}."]
    if method.get("errors"):
        doc += ["", "Raises:"]
        for error in method["errors"]:
            doc.append(f"    {errors.get(error['code'], 'WPWithinError')}: {error['code']} {error.get('message', '')}".rstrip())
    doc_text = "\n        ".join(line for line in doc).replace("\n        \n", "\n\n")
    prefix = f"    {'async ' if is_async else ''}def {python_name(name)}("
    if len(signature) == 1:
        header = f"{prefix}self) -> {returns}:"
    else:
        header = prefix + "\n        " + ",\n        ".join(signature) + f",\n    ) -> {returns}:"
    body = f"return {'await ' if is_async else ''}self._invoke({name!r}, {{{', '.join(arguments)}}})"
    return f'{header}\n        """{doc_text}\n        """\n        {body}\n'


def generate(document: Dict[str, Any]) -> str:
    errors = error_class_names()
    methods = document["methods"]
    components = document.get("components", {}).get("schemas", {})
    emitter = Emitter(components)
    # Every named schema, in name order (each after the ones it uses): results, events, error data.
    for name in sorted(components):
        emitter.component(name)
    event_names = [n for n in sorted(components) if n.startswith("Event.")]
    error_data = {n[len("ErrorData."):]: n for n in sorted(components) if n.startswith("ErrorData.")}
    sync_methods, async_methods = [], []
    for method in methods:
        if method["name"] in HANDWRITTEN:
            continue
        sync_methods.append(method_source(method, emitter, errors, is_async=False))
        emitter.typeddicts, saved = [], emitter.typeddicts  # the async pass repeats the same types
        async_methods.append(method_source(method, emitter, errors, is_async=True))
        emitter.typeddicts = saved
    params = {m["name"]: {p["name"]: {"required": bool(p.get("required")), "schema": p.get("schema", {})} for p in m.get("params", [])} for m in methods}
    event_types: Tuple[str, ...] = ()
    for method in methods:
        if method["name"] == "subscribe":
            for param in method.get("params", []):
                if param["name"] == "types":
                    event_types = tuple(param["schema"].get("items", {}).get("enum", []))
    info = document.get("info", {})
    event_types_map = {n[len("Event."):]: emitter.named[n] for n in event_names}
    error_map = {code: emitter.named[name] for code, name in sorted(error_data.items())}
    type_names = sorted(set(emitter.named.values()))
    typing_section = (
        f"#: The params of each event type's notification (``components/schemas/Event.<type>``).\n"
        f"EVENT_PARAMS: Dict[str, type] = {{\n" + "".join(f"    {k!r}: {v},\n" for k, v in event_types_map.items()) + "}\n\n"
        f"#: The ``data`` of each error, by the error's name (``components/schemas/ErrorData.<name>``).\n"
        f"ERROR_DATA: Dict[str, type] = {{\n" + "".join(f"    {k!r}: {v},\n" for k, v in error_map.items()) + "}\n"
    )
    out = [
        f'"""Generated by clients/python/tools/generate.py from the rpc.discover document of {info.get("title", "wpwithind")} '
        f'{info.get("version", "")}.\n\nDo not edit: run the generator (see its docstring).\n"""\n',
        "from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, TypedDict, Union\n",
        "#: The named types below (results, events, error data), for ``from wpwithin import *`` users.\n"
        f"__all__ = {pprint.pformat(type_names + ['EVENT_PARAMS', 'ERROR_DATA'], width=110, compact=True)}\n",
        f"#: The daemon version the layer was generated from.\nDAEMON_VERSION = {info.get('version')!r}\n",
        f"#: Every method of rpc.discover (the daemon's names).\nMETHODS = {tuple(m['name'] for m in methods)!r}\n",
        f"#: The Python attribute of each method on Client and AsyncClient.\nPYTHON_NAMES = {pprint.pformat({m['name']: python_name(m['name']) for m in methods}, width=110, sort_dicts=False)}\n",
        f"#: Methods written by hand in client.py and aio.py (not below).\nHANDWRITTEN = {HANDWRITTEN!r}\n",
        f"#: The event types subscribe accepts.\nEVENT_TYPES = {pprint.pformat(event_types, width=110)}\n",
        f"#: Each method's parameters: name -> {{'required': bool, 'schema': JSON schema}}.\nPARAMS: Dict[str, Dict[str, Dict[str, Any]]] = {pprint.pformat(params, width=110, sort_dicts=False)}\n",
        "\n\n".join(emitter.typeddicts),
        typing_section,
        "class SyncMethods:\n    \"\"\"The typed RPC methods of Client.\"\"\"\n\n"
        "    def _invoke(self, method: str, params: Dict[str, Any]) -> Any:\n        raise NotImplementedError\n\n"
        + "\n".join(sync_methods),
        "class AsyncMethods:\n    \"\"\"The typed RPC methods of AsyncClient (coroutines).\"\"\"\n\n"
        "    async def _invoke(self, method: str, params: Dict[str, Any]) -> Any:\n        raise NotImplementedError\n\n"
        + "\n".join(async_methods),
    ]
    return "\n\n".join(part.rstrip("\n") + "\n" for part in out)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", help="fetch rpc.discover from this daemon socket and save it as the snapshot")
    parser.add_argument("--input", default=str(SNAPSHOT), help="the OpenRPC document (default: %(default)s)")
    parser.add_argument("--output", default=str(OUTPUT), help="default: %(default)s")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 when the output is stale")
    args = parser.parse_args(argv)
    if args.socket:
        document = fetch(args.socket)
        if not args.check:
            Path(args.input).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    else:
        document = json.loads(Path(args.input).read_text())
    code = generate(document)
    output = Path(args.output)
    if args.check:
        current = output.read_text() if output.exists() else ""
        if current != code:
            print(f"{output} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    output.write_text(code)
    print(f"wrote {output} ({len(document['methods'])} methods)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
