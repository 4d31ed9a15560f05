// The generator of src/Generated.cs: reads the daemon's OpenRPC document (the committed snapshot
// clients/dotnet/openrpc.json, or a daemon's live rpc.discover) and writes
//
//   * MethodTable: every method's params (name, required, JSON schema) for the checks made before sending;
//   * one class per result type: typed properties for every member the schema describes, and, where a
//     schema is still a bare {"type":"object"}, a typed wrapper around the JSON object (JsonBacked) so the
//     type exists and its name is stable; when the document describes its members the same class gets them;
//   * classes for components/schemas (named by their key, for "$ref"s) and for event payloads described under
//     "x-events" (event type -> schema), plus EventTypes (constants of every event type);
//   * WPWithinClient's typed methods: FooAsync (Task) and Foo (blocking) for every method.
//
// Build and run (scripts/test-dotnet.sh does, with --check):
//   mcs -out:Generate.exe tools/Generate.cs src/Json.cs && mono Generate.exe openrpc.json src/Generated.cs [--check]
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using WPWithin;

namespace WPWithin.Tools
{
    public static class Generate
    {
        /// <summary>Result type names: the OpenRPC document names results ("device", "services") but reuses a
        /// name for different shapes, so the C# names are chosen here, as the Node.js generator does.</summary>
        static readonly Dictionary<string, string> ResultNames = new Dictionary<string, string>
        {
            { "getDevice", "Device" }, { "getStatus", "Status" }, { "getMetrics", "Metrics" },
            { "startServiceBroadcast", "BroadcastStarted" }, { "stopServiceBroadcast", "BroadcastStopped" },
            { "deviceDiscovery", "DiscoveredDevice[]" }, { "searchForDevice", "DiscoveredDevice" },
            { "addService", "Service" }, { "removeService", "Removed" }, { "listServices", "Service[]" },
            { "requestServices", "ServiceList" }, { "getServicePrices", "PriceList" },
            { "selectService", "Quote" }, { "makePayment", "Purchase" },
            { "beginServiceDelivery", "DeliveryBegun" }, { "endServiceDelivery", "DeliveryEnded" },
            { "listPurchases", "Purchase[]" }, { "subscribe", "Subscription" }, { "unsubscribe", "Unsubscribed" },
        };

        /// <summary>Names for nested object types (else Parent + Member, and + "Item" for array items).</summary>
        static readonly Dictionary<string, string> NestedNames = new Dictionary<string, string>
        {
            { "ServiceList.services[]", "ServiceSummary" }, { "PriceList.prices[]", "Price" }, { "Service.prices[]", "ServicePrice" },
        };

        /// <summary>Methods written by hand in Client.cs (they need more than one call: the event stream).</summary>
        static readonly HashSet<string> HandWritten = new HashSet<string> { "subscribe", "unsubscribe" };

        static readonly HashSet<string> Keywords = new HashSet<string>
        {
            "abstract", "base", "bool", "class", "const", "decimal", "default", "event", "object", "params", "string", "operator",
            "out", "ref", "in", "is", "as", "new", "this", "void", "checked", "fixed", "lock", "namespace", "internal", "public",
        };

        sealed class TypeInfo
        {
            public string Cs;          // the C# type of a property / result
            public bool IsValue;       // long, double, bool
            public string Converter;   // Func<JsonValue, string, T> expression
        }

        sealed class ClassDef
        {
            public string Name;
            public string Summary;
            public JsonObject Schema;
            public string Key;         // the schema text, to tell two definitions with one name apart
            public List<string> Users = new List<string>();
        }

        static readonly Dictionary<string, ClassDef> Classes = new Dictionary<string, ClassDef>();
        static readonly List<string> ClassOrder = new List<string>();
        static JsonObject Components = new JsonObject();

        public static int Main(string[] args)
        {
            var positional = args.Where(a => !a.StartsWith("--")).ToArray();
            var check = args.Contains("--check");
            if (positional.Length != 2)
            {
                Console.Error.WriteLine("usage: Generate.exe openrpc.json Generated.cs [--check]");
                return 2;
            }
            var document = JsonValue.Parse(File.ReadAllText(positional[0], Encoding.UTF8)) as JsonObject;
            if (document == null) { Console.Error.WriteLine("generate: the document is not a JSON object"); return 2; }
            string text;
            try { text = Render(document); }
            catch (InvalidOperationException error) { Console.Error.WriteLine("generate: " + error.Message); return 1; }
            if (check)
            {
                var current = File.Exists(positional[1]) ? File.ReadAllText(positional[1], Encoding.UTF8) : "";
                if (current != text)
                {
                    Console.Error.WriteLine("generate: " + positional[1] + " is stale: regenerate it from " + positional[0]);
                    return 1;
                }
                return 0;
            }
            File.WriteAllText(positional[1], text, new UTF8Encoding(false));
            Console.Error.WriteLine("generate: wrote " + positional[1]);
            return 0;
        }

        static string Render(JsonObject document)
        {
            Components = (document["components"] as JsonObject ?? new JsonObject())["schemas"] as JsonObject ?? new JsonObject();
            var methods = (document["methods"] as JsonArray ?? new JsonArray()).Select(m => (JsonObject)m).ToList();
            var sb = new StringBuilder();
            sb.Append("// GENERATED by clients/dotnet/tools/Generate.cs from the daemon's OpenRPC document (openrpc.json,\n");
            sb.Append("// version " + (document["info"]["version"].AsStringOrEmpty()) + "). Do not edit: change the generator or the document and regenerate.\n");
            sb.Append("using System;\nusing System.Collections.Generic;\nusing System.Threading;\nusing System.Threading.Tasks;\n\nnamespace WPWithin\n{\n");

            foreach (var component in Components) Define(Pascal(component.Key), component.Value as JsonObject, "components/schemas/" + component.Key, null);

            // The client's methods.
            var client = new StringBuilder();
            var eventTypes = new List<string>();
            foreach (var method in methods)
            {
                var name = method["name"].AsString();
                var result = method["result"] as JsonObject ?? new JsonObject();
                var schema = result["schema"] as JsonObject ?? new JsonObject();
                if (name == "subscribe")
                {
                    foreach (var p in method["params"].AsArray())
                        if (p["name"].AsString() == "types")
                            foreach (var e in (p["schema"]["items"]["enum"] as JsonArray ?? new JsonArray())) eventTypes.Add(e.AsString());
                }
                var type = ResultType(name, schema);
                if (HandWritten.Contains(name)) continue;
                RenderMethod(client, method, name, type);
            }

            // Event payload types (when the document describes them).
            var events = document["x-events"] as JsonObject;
            var eventClasses = new List<KeyValuePair<string, string>>();
            if (events != null)
            {
                foreach (var e in events)
                {
                    var schema = e.Value as JsonObject;
                    if (schema == null) continue;
                    if (schema["schema"] is JsonObject) schema = (JsonObject)schema["schema"];
                    var className = Pascal(e.Key.Replace('.', '_')) + "Event";
                    var info = TypeOf(schema, className, "x-events/" + e.Key, true);
                    eventClasses.Add(new KeyValuePair<string, string>(e.Key, info.Cs));
                    if (!eventTypes.Contains(e.Key)) eventTypes.Add(e.Key);
                }
            }

            // Param table.
            sb.Append("    /// <summary>Every method's params as rpc.discover describes them (used by ParamCheck).</summary>\n");
            sb.Append("    public static class MethodTable\n    {\n");
            sb.Append("        /// <summary>Every method of the document, in its order.</summary>\n");
            sb.Append("        public static readonly IReadOnlyList<string> Methods = new[]\n        {\n");
            foreach (var method in methods) sb.Append("            " + Literal(method["name"].AsString()) + ",\n");
            sb.Append("        };\n\n");
            sb.Append("        public static readonly IReadOnlyDictionary<string, IList<ParamSpec>> Params = new Dictionary<string, IList<ParamSpec>>\n        {\n");
            foreach (var method in methods)
            {
                sb.Append("            { " + Literal(method["name"].AsString()) + ", new List<ParamSpec>\n                {\n");
                foreach (var p in method["params"].AsArray())
                {
                    var required = p["required"].AsBoolean() ?? false;
                    sb.Append("                    new ParamSpec(" + Literal(p["name"].AsString()) + ", " + (required ? "true" : "false") +
                              ", (JsonObject)JsonValue.Parse(" + Literal(Canonical(p["schema"])) + ")),\n");
                }
                sb.Append("                }\n            },\n");
            }
            sb.Append("        };\n    }\n\n");

            // Event types.
            sb.Append("    /// <summary>The event types (subscribe's types enum).</summary>\n");
            sb.Append("    public static class EventTypes\n    {\n");
            foreach (var e in eventTypes) sb.Append("        public const string " + Pascal(e.Replace('.', '_')) + " = " + Literal(e) + ";\n");
            sb.Append("\n        public static readonly IReadOnlyList<string> All = new[] { " + string.Join(", ", eventTypes.Select(Literal)) + " };\n");
            sb.Append("\n        /// <summary>The event's payload as its generated type, or null when the document does not describe it.</summary>\n");
            sb.Append("        public static JsonBacked Payload(WPWithinEvent e)\n        {\n            switch (e.Type)\n            {\n");
            foreach (var kv in eventClasses) sb.Append("                case " + Literal(kv.Key) + ": return " + kv.Value + ".FromJson(e.Json, e.Type);\n");
            sb.Append("                default: return null;\n            }\n        }\n    }\n\n");

            // Classes.
            foreach (var name in ClassOrder) RenderClass(sb, Classes[name]);

            sb.Append("    public sealed partial class WPWithinClient\n    {\n");
            sb.Append("        /// <summary>The RPC methods this client was generated for (rpc.discover's list).</summary>\n");
            sb.Append("        public static IReadOnlyList<string> Methods { get { return MethodTable.Methods; } }\n");
            sb.Append(client);
            sb.Append("    }\n}\n");
            return sb.ToString();
        }

        // ---- types --------------------------------------------------------------------------------------------

        static TypeInfo ResultType(string method, JsonObject schema)
        {
            if (method == "rpc.discover") return new TypeInfo { Cs = "JsonObject", Converter = "JsonRead.AnyObject" };
            string name;
            if (!ResultNames.TryGetValue(method, out name)) name = Pascal(method) + "Result";
            if (name.EndsWith("[]"))
            {
                var items = schema["items"] as JsonObject ?? new JsonObject();
                var item = TypeOf(items, name.Substring(0, name.Length - 2), method + " result item", true);
                return ListOf(item);
            }
            return TypeOf(schema, name, method + " result", true);
        }

        static TypeInfo ListOf(TypeInfo item)
        {
            return new TypeInfo
            {
                Cs = "IReadOnlyList<" + item.Cs + ">",
                Converter = "(v, w) => JsonRead.List(v, w, " + item.Converter + ")",
            };
        }

        /// <summary>The C# type for a schema. <paramref name="className"/> names an object type; a bare object
        /// gets a named wrapper only when <paramref name="named"/> (results, components, events).</summary>
        static TypeInfo TypeOf(JsonObject schema, string className, string user, bool named, string itemName = null)
        {
            var reference = schema["$ref"].AsStringOrEmpty();
            if (reference.StartsWith("#/components/schemas/"))
            {
                var key = reference.Substring("#/components/schemas/".Length);
                var target = Components[key] as JsonObject;
                if (target == null) throw new InvalidOperationException(user + ": no components/schemas/" + key);
                return TypeOf(target, Pascal(key), user, true);
            }
            if (reference.Length > 0) return new TypeInfo { Cs = "JsonObject", Converter = "JsonRead.AnyObject" };
            var types = Types(schema);
            var kind = types.FirstOrDefault(t => t != "null");
            switch (kind)
            {
                case "string": return new TypeInfo { Cs = "string", Converter = "JsonRead.StringItem" };
                case "integer": return new TypeInfo { Cs = "long", IsValue = true, Converter = "JsonRead.Int64Item" };
                case "number": return new TypeInfo { Cs = "double", IsValue = true, Converter = "(v, w) => JsonRead.Double(new JsonObject { { \"v\", v } }, \"v\", true, w).Value" };
                case "boolean": return new TypeInfo { Cs = "bool", IsValue = true, Converter = "(v, w) => JsonRead.Boolean(new JsonObject { { \"v\", v } }, \"v\", true, w).Value" };
                case "array":
                    var items = schema["items"] as JsonObject ?? new JsonObject();
                    if (itemName == null) itemName = className + "Item";
                    return ListOf(TypeOf(items, itemName, user + "[]", named));
                case "object":
                    if (schema["properties"] is JsonObject || named)
                    {
                        Define(className, schema, user, schema["description"].AsStringOrEmpty());
                        return new TypeInfo { Cs = className, Converter = className + ".FromJson" };
                    }
                    return new TypeInfo { Cs = "JsonObject", Converter = "JsonRead.AnyObject" };
                default:
                    return new TypeInfo { Cs = "JsonValue", Converter = "JsonRead.Any" };
            }
        }

        static List<string> Types(JsonObject schema)
        {
            var type = schema["type"];
            if (type == null) return new List<string>();
            if (type.AsString() != null) return new List<string> { type.AsString() };
            return type.AsArray().Select(t => t.AsString()).ToList();
        }

        static void Define(string name, JsonObject schema, string user, string summary)
        {
            if (schema == null) return;
            var key = Canonical(schema);
            ClassDef existing;
            if (Classes.TryGetValue(name, out existing))
            {
                if (existing.Key != key)
                    throw new InvalidOperationException("the type " + name + " is used for two different schemas (" + string.Join(", ", existing.Users) +
                        " and " + user + "): give one of them another name in ResultNames / NestedNames, or one schema in components/schemas");
                existing.Users.Add(user);
                return;
            }
            var def = new ClassDef { Name = name, Schema = schema, Key = key, Summary = summary };
            def.Users.Add(user);
            Classes[name] = def;
            ClassOrder.Add(name);
            // Nested types are defined as the class is rendered; resolve them now so the order is stable.
            var properties = schema["properties"] as JsonObject;
            if (properties != null)
                foreach (var p in properties) PropertyType(def, p.Key, p.Value as JsonObject ?? new JsonObject());
        }

        static TypeInfo PropertyType(ClassDef owner, string property, JsonObject schema)
        {
            string nested;
            if (!NestedNames.TryGetValue(owner.Name + "." + property, out nested)) nested = owner.Name + Pascal(property);
            string item;
            NestedNames.TryGetValue(owner.Name + "." + property + "[]", out item);
            return TypeOf(schema, nested, owner.Name + "." + property, false, item);
        }

        static void RenderClass(StringBuilder sb, ClassDef def)
        {
            var properties = def.Schema["properties"] as JsonObject;
            var required = new HashSet<string>((def.Schema["required"] as JsonArray ?? new JsonArray()).Select(r => r.AsString()));
            var summary = string.IsNullOrEmpty(def.Summary) ? def.Name + ": " + string.Join(", ", def.Users) + "." : def.Summary;
            if (properties == null)
                summary += " Its schema in the OpenRPC document is still a bare object: read its members with the indexer or Json.";
            sb.Append("    /// <summary>" + Xml(summary) + "</summary>\n");
            sb.Append("    public sealed partial class " + def.Name + " : JsonBacked\n    {\n");
            var assignments = new StringBuilder();
            if (properties != null)
            {
                foreach (var p in properties)
                {
                    var schema = p.Value as JsonObject ?? new JsonObject();
                    var info = PropertyType(def, p.Key, schema);
                    var nullable = Types(schema).Contains("null");
                    var isRequired = required.Contains(p.Key);
                    var member = Pascal(p.Key);
                    if (member == def.Name || member == "Json") member += "Value";
                    var cs = info.Cs;
                    string read;
                    var name = Literal(p.Key);
                    switch (info.Cs)
                    {
                        case "string": read = "JsonRead.String(o, " + name + ", " + Bool(isRequired) + ", where)"; break;
                        case "long": read = "JsonRead.Int64(o, " + name + ", " + Bool(isRequired) + ", where)"; break;
                        case "double": read = "JsonRead.Double(o, " + name + ", " + Bool(isRequired) + ", where)"; break;
                        case "bool": read = "JsonRead.Boolean(o, " + name + ", " + Bool(isRequired) + ", where)"; break;
                        case "JsonValue": read = "o[" + name + "]"; break;
                        default: read = "JsonRead.Nested(o, " + name + ", " + Bool(isRequired) + ", where, " + info.Converter + ")"; break;
                    }
                    if (info.IsValue)
                    {
                        if (isRequired && !nullable) read = "JsonRead.NotNull(" + read + ", o, " + name + ", where)";
                        else cs += "?";
                    }
                    var doc = new List<string>();
                    doc.Add("<c>" + Xml(p.Key) + "</c>");
                    var description = schema["description"].AsStringOrEmpty();
                    if (description.Length > 0) doc.Add(Xml(description));
                    var options = schema["enum"] as JsonArray;
                    if (options != null) doc.Add(Xml("One of: " + string.Join(", ", options.Select(o => o.ToJson())) + "."));
                    if (!isRequired) doc.Add("May be absent (null).");
                    else if (nullable) doc.Add("May be null.");
                    sb.Append("        /// <summary>" + string.Join(" ", doc) + "</summary>\n");
                    sb.Append("        public " + cs + " " + member + " { get; private set; }\n");
                    assignments.Append("            " + member + " = " + read + ";\n");
                }
                sb.Append("\n");
            }
            sb.Append("        /// <summary>Wraps a JSON object without checking it.</summary>\n");
            sb.Append("        public " + def.Name + "(JsonObject json) : base(json) { }\n\n");
            sb.Append("        private " + def.Name + "(JsonObject o, string where) : base(o)\n        {\n" + assignments + "        }\n\n");
            sb.Append("        /// <summary>Reads one from the daemon's JSON; FormatException when it does not fit the schema.</summary>\n");
            sb.Append("        public static " + def.Name + " FromJson(JsonValue value, string where)\n        {\n");
            sb.Append("            return new " + def.Name + "(JsonRead.Object(value, where), where);\n        }\n    }\n\n");
        }

        // ---- methods ------------------------------------------------------------------------------------------

        static void RenderMethod(StringBuilder sb, JsonObject method, string name, TypeInfo result)
        {
            var cs = name == "rpc.discover" ? "Discover" : Pascal(name);
            var parameters = method["params"].AsArray().Select(p => (JsonObject)p).ToList();
            var ordered = parameters.Where(p => p["required"].AsBoolean() == true).Concat(parameters.Where(p => p["required"].AsBoolean() != true)).ToList();
            var signature = new List<string>();
            var arguments = new List<string>();
            var fill = new StringBuilder();
            var docs = new StringBuilder();
            foreach (var p in ordered)
            {
                var pname = p["name"].AsString();
                var required = p["required"].AsBoolean() == true;
                var schema = p["schema"] as JsonObject ?? new JsonObject();
                var kind = Types(schema).FirstOrDefault(t => t != "null");
                string type;
                switch (kind)
                {
                    case "string": type = "string"; break;
                    case "integer": type = required ? "long" : "long?"; break;
                    case "number": type = required ? "double" : "double?"; break;
                    case "boolean": type = required ? "bool" : "bool?"; break;
                    case "array":
                        var items = Types(schema["items"] as JsonObject ?? new JsonObject()).FirstOrDefault();
                        type = items == "string" ? "IEnumerable<string>" : items == "integer" ? "IEnumerable<long>" : "IEnumerable<JsonValue>";
                        break;
                    default: type = kind == "object" ? "JsonObject" : "JsonValue"; break;
                }
                var id = Keywords.Contains(pname) ? "@" + pname : pname;
                signature.Add(type + " " + id + (required ? "" : " = null"));
                arguments.Add(id);
                string value;
                if (type.StartsWith("IEnumerable")) value = "ToArray(" + id + ")";
                else if (type.EndsWith("?")) value = id + ".Value";
                else value = id;
                var nullable = !(type == "long" || type == "double" || type == "bool");
                if (nullable) fill.Append("            if (" + id + " != null) p.Add(" + Literal(pname) + ", " + value + ");\n");
                else fill.Append("            p.Add(" + Literal(pname) + ", " + value + ");\n");
                var summary = p["summary"].AsStringOrEmpty();
                var range = new List<string>();
                if (schema["minimum"] != null) range.Add(">= " + schema["minimum"].ToJson());
                if (schema["maximum"] != null) range.Add("<= " + schema["maximum"].ToJson());
                docs.Append("        /// <param name=\"" + pname + "\">" + Xml((summary.Length > 0 ? summary + " " : "") + (required ? "Required." : "Optional.") +
                    (range.Count > 0 ? " " + string.Join(", ", range) + "." : "")) + "</param>\n");
            }
            var summaryText = method["summary"].AsStringOrEmpty();
            var errors = (method["errors"] as JsonArray ?? new JsonArray()).Select(e => e["message"].AsStringOrEmpty() + " (" + e["code"].ToJson() + ")").ToList();
            var head = "        /// <summary><c>" + Xml(name) + "</c>: " + Xml(summaryText) + (errors.Count > 0 ? " Errors: " + Xml(string.Join(", ", errors)) + "." : "") + "</summary>\n";
            foreach (var e in method["errors"] as JsonArray ?? new JsonArray())
                docs.Append("        /// <exception cref=\"" + Pascal(e["message"].AsStringOrEmpty()) + "Exception\">" + Xml(e["message"].AsStringOrEmpty()) + " (" + e["code"].ToJson() + ")</exception>\n");
            var withToken = new List<string>(signature) { "CancellationToken cancellationToken = default(CancellationToken)" };
            sb.Append("\n" + head + docs);
            sb.Append("        public Task<" + result.Cs + "> " + cs + "Async(" + string.Join(", ", withToken) + ")\n        {\n");
            sb.Append("            var p = new JsonObject();\n" + fill);
            sb.Append("            return InvokeAsync(" + Literal(name) + ", p, " + Converter(result) + ", cancellationToken);\n        }\n\n");
            sb.Append(head + docs);
            sb.Append("        public " + result.Cs + " " + cs + "(" + string.Join(", ", signature) + ")\n        {\n");
            sb.Append("            return Wait(" + cs + "Async(" + string.Join(", ", arguments.Concat(new[] { "CancellationToken.None" })) + "));\n        }\n");
        }

        static string Converter(TypeInfo info)
        {
            return info.Converter.StartsWith("(") ? "(Func<JsonValue, string, " + info.Cs + ">)(" + info.Converter + ")" : "(Func<JsonValue, string, " + info.Cs + ">)" + info.Converter;
        }

        // ---- text ---------------------------------------------------------------------------------------------

        static string Pascal(string name)
        {
            var sb = new StringBuilder();
            var upper = true;
            foreach (var c in name)
            {
                if (!char.IsLetterOrDigit(c)) { upper = true; continue; }
                sb.Append(upper ? char.ToUpperInvariant(c) : c);
                upper = false;
            }
            return sb.ToString();
        }

        static string Bool(bool b) { return b ? "true" : "false"; }

        static string Literal(string s)
        {
            var sb = new StringBuilder("\"");
            foreach (var c in s)
            {
                if (c == '"') sb.Append("\\\"");
                else if (c == '\\') sb.Append("\\\\");
                else if (c < 0x20 || c > 0x7e) sb.Append("\\u").Append(((int)c).ToString("x4"));
                else sb.Append(c);
            }
            return sb.Append('"').ToString();
        }

        static string Xml(string s) { return s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;"); }

        /// <summary>The schema as compact JSON with members sorted (so equal schemas compare equal).</summary>
        static string Canonical(JsonValue value)
        {
            var o = value as JsonObject;
            if (o != null)
            {
                var sorted = new JsonObject();
                foreach (var k in o.Keys.OrderBy(k => k, StringComparer.Ordinal)) sorted.Add(k, JsonValue.Parse(Canonical(o[k])));
                return sorted.ToJson();
            }
            var a = value as JsonArray;
            if (a != null) return new JsonArray(a.Select(v => JsonValue.Parse(Canonical(v)))).ToJson();
            return value == null ? "null" : value.ToJson();
        }

        static string AsStringOrEmpty(this JsonValue v) { return v == null ? "" : v.AsString() ?? ""; }
    }
}
