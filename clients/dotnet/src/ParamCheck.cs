// Argument checks before anything is sent, against each method's params in the OpenRPC document (the generated
// MethodTable): unknown names, missing required params, wrong JSON types, integer ranges and enums.
using System;
using System.Collections.Generic;

namespace WPWithin
{
    /// <summary>One param of a method, as rpc.discover describes it.</summary>
    public sealed class ParamSpec
    {
        public string Name { get; private set; }
        public bool Required { get; private set; }
        public JsonObject Schema { get; private set; }
        public ParamSpec(string name, bool required, JsonObject schema) { Name = name; Required = required; Schema = schema; }
    }

    public static class ParamCheck
    {
        /// <summary>Throws ArgumentException (ArgumentNullException for a missing required param,
        /// ArgumentOutOfRangeException for a value out of range) when <paramref name="parameters"/> do not fit
        /// <paramref name="method"/>'s params. A method this client does not know is not checked.</summary>
        public static void Check(string method, JsonObject parameters)
        {
            IList<ParamSpec> specs;
            if (!MethodTable.Params.TryGetValue(method, out specs)) return;
            var byName = new Dictionary<string, ParamSpec>();
            foreach (var spec in specs) byName[spec.Name] = spec;
            if (parameters != null)
            {
                foreach (var member in parameters)
                {
                    ParamSpec spec;
                    if (!byName.TryGetValue(member.Key, out spec))
                        throw new ArgumentException(method + ": unknown parameter '" + member.Key + "'", member.Key);
                    CheckValue(method + ": " + member.Key, member.Key, member.Value, spec.Schema);
                }
            }
            foreach (var spec in specs)
            {
                if (spec.Required && (parameters == null || parameters[spec.Name] == null || parameters[spec.Name].IsNull))
                    throw new ArgumentNullException(spec.Name, method + ": the parameter '" + spec.Name + "' is required");
            }
        }

        private static void CheckValue(string where, string name, JsonValue value, JsonObject schema)
        {
            if (schema == null) return;
            var types = new List<string>();
            var type = schema["type"];
            if (type != null && type.AsString() != null) types.Add(type.AsString());
            else if (type != null && type.AsArray() != null) foreach (var t in type.AsArray()) types.Add(t.AsString());
            if (types.Count > 0 && !Fits(value, types))
                throw new ArgumentException(where + " must be " + string.Join(" or ", types.ToArray()) + ", not " + JsonValue.Describe(value), name);
            if (value.Kind == JsonKind.Array)
            {
                var items = schema["items"] as JsonObject;
                var index = 0;
                foreach (var item in value.AsArray()) CheckValue(where + "[" + index++ + "]", name, item, items);
            }
            var properties = schema["properties"] as JsonObject;
            if (properties != null && value.Kind == JsonKind.Object)
            {
                foreach (var member in value.AsObject())
                    CheckValue(where + "." + member.Key, name, member.Value, properties[member.Key] as JsonObject);
                var required = schema["required"] as JsonArray;
                if (required != null)
                    foreach (var r in required)
                        if (value[r.AsString() ?? ""] == null)
                            throw new ArgumentException(where + "." + r.AsString() + " is required", name);
            }
            var options = schema["enum"] as JsonArray;
            if (options != null)
            {
                var found = false;
                foreach (var option in options) found |= option.Equals(value);
                if (!found) throw new ArgumentException(where + ": " + value.ToJson() + " is not one of " + Join(options), name);
            }
            var number = value.AsDouble();
            if (number.HasValue)
            {
                var minimum = schema["minimum"] == null ? null : schema["minimum"].AsDouble();
                var maximum = schema["maximum"] == null ? null : schema["maximum"].AsDouble();
                if (minimum.HasValue && number.Value < minimum.Value)
                    throw new ArgumentOutOfRangeException(name, value.ToJson(), where + " must be >= " + schema["minimum"].ToJson());
                if (maximum.HasValue && number.Value > maximum.Value)
                    throw new ArgumentOutOfRangeException(name, value.ToJson(), where + " must be <= " + schema["maximum"].ToJson());
            }
        }

        private static bool Fits(JsonValue value, List<string> types)
        {
            foreach (var t in types)
            {
                switch (t)
                {
                    case "null": if (value.Kind == JsonKind.Null) return true; break;
                    case "boolean": if (value.Kind == JsonKind.Boolean) return true; break;
                    case "integer": if (value.Kind == JsonKind.Integer) return true; break;
                    case "number": if (value.Kind == JsonKind.Integer || value.Kind == JsonKind.Number) return true; break;
                    case "string": if (value.Kind == JsonKind.String) return true; break;
                    case "array": if (value.Kind == JsonKind.Array) return true; break;
                    case "object": if (value.Kind == JsonKind.Object) return true; break;
                    default: return true;
                }
            }
            return false;
        }

        private static string Join(JsonArray values)
        {
            var parts = new List<string>();
            foreach (var v in values) parts.Add(v.AsString() ?? v.ToJson());
            return string.Join(", ", parts.ToArray());
        }
    }

    /// <summary>Reads a result's members into the generated types' properties. A member whose JSON type does not
    /// fit throws FormatException (reported as an InvalidResponse WPWithinClientException).</summary>
    public static class JsonRead
    {
        public static JsonObject Object(JsonValue value, string where)
        {
            var o = value as JsonObject;
            if (o == null) throw new FormatException(where + " is " + JsonValue.Describe(value) + ", not an object");
            return o;
        }

        public static JsonArray Array(JsonValue value, string where)
        {
            var a = value as JsonArray;
            if (a == null) throw new FormatException(where + " is " + JsonValue.Describe(value) + ", not an array");
            return a;
        }

        private static JsonValue Member(JsonObject o, string name, bool required, string where)
        {
            var v = o[name];
            if (v == null && required) throw new FormatException(where + "." + name + " is missing");
            return v;
        }

        /// <summary>A member that must fit (or be absent or null: then the C# null).</summary>
        private static JsonValue Typed(JsonObject o, string name, bool required, string where, Func<JsonValue, bool> fits, string what)
        {
            var v = Member(o, name, required, where);
            if (v == null || v.IsNull) return null;
            if (!fits(v)) throw new FormatException(where + "." + name + " is " + JsonValue.Describe(v) + ", not " + what);
            return v;
        }

        public static string String(JsonObject o, string name, bool required, string where)
        {
            var v = Typed(o, name, required, where, x => x.Kind == JsonKind.String, "a string");
            return v == null ? null : v.AsString();
        }

        public static long? Int64(JsonObject o, string name, bool required, string where)
        {
            var v = Typed(o, name, required, where, x => x.Kind == JsonKind.Integer, "an integer");
            return v == null ? null : v.AsInt64();
        }

        public static double? Double(JsonObject o, string name, bool required, string where)
        {
            var v = Typed(o, name, required, where, x => x.AsDouble().HasValue, "a number");
            return v == null ? null : v.AsDouble();
        }

        public static bool? Boolean(JsonObject o, string name, bool required, string where)
        {
            var v = Typed(o, name, required, where, x => x.Kind == JsonKind.Boolean, "a boolean");
            return v == null ? null : v.AsBoolean();
        }

        /// <summary>A required member that may not be null.</summary>
        public static T NotNull<T>(T? value, JsonObject o, string name, string where) where T : struct
        {
            if (!value.HasValue) throw new FormatException(where + "." + name + " is null");
            return value.Value;
        }

        public static T Nested<T>(JsonObject o, string name, bool required, string where, Func<JsonValue, string, T> convert) where T : class
        {
            var v = Member(o, name, required, where);
            if (v == null || v.IsNull) return null;
            return convert(v, where + "." + name);
        }

        public static IReadOnlyList<T> List<T>(JsonValue value, string where, Func<JsonValue, string, T> convert)
        {
            var a = Array(value, where);
            var list = new List<T>(a.Count);
            var index = 0;
            foreach (var item in a) { list.Add(convert(item, where + "[" + index + "]")); index++; }
            return list.AsReadOnly();
        }

        public static string StringItem(JsonValue v, string where)
        {
            if (v.Kind != JsonKind.String) throw new FormatException(where + " is " + JsonValue.Describe(v) + ", not a string");
            return v.AsString();
        }

        public static long Int64Item(JsonValue v, string where)
        {
            if (v.Kind != JsonKind.Integer) throw new FormatException(where + " is " + JsonValue.Describe(v) + ", not an integer");
            return v.AsInt64().Value;
        }

        public static JsonValue Any(JsonValue v, string where) { return v; }
        public static JsonObject AnyObject(JsonValue v, string where) { return Object(v, where); }
    }

    /// <summary>The base of every generated result type: the JSON object it was read from stays reachable
    /// (<see cref="Json"/>, the indexer), so members newer than this client are never lost.</summary>
    public abstract class JsonBacked
    {
        /// <summary>The whole object as the daemon sent it.</summary>
        public JsonObject Json { get; private set; }
        protected JsonBacked(JsonObject json) { Json = json; }
        /// <summary>A member by name (null when absent).</summary>
        public JsonValue this[string name] { get { return Json[name]; } }
        /// <summary>A string member, or null when absent, null or not a string.</summary>
        public string GetString(string name) { var v = Json[name]; return v == null ? null : v.AsString(); }
        /// <summary>An integer member, or null when absent, null or not an integer.</summary>
        public long? GetInt64(string name) { var v = Json[name]; return v == null ? null : v.AsInt64(); }
        /// <summary>A number member, or null.</summary>
        public double? GetDouble(string name) { var v = Json[name]; return v == null ? null : v.AsDouble(); }
        /// <summary>A boolean member, or null.</summary>
        public bool? GetBoolean(string name) { var v = Json[name]; return v == null ? null : v.AsBoolean(); }
        public override string ToString() { return GetType().Name + Json.ToJson(); }
    }
}
