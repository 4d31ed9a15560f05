// A small JSON reader/writer (RFC 8259) for the client: no dependency beyond the base library, so it builds on
// Mono (where System.Text.Json is not available) and on every .NET from netstandard2.0 on.
//
// Integers stay exact: a number without fraction or exponent that fits in a long is kept as a long (ids and
// minor-unit amounts never pass through a double). Objects keep their members' order.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace WPWithin
{
    /// <summary>The kinds of JSON value.</summary>
    public enum JsonKind { Null, Boolean, Integer, Number, String, Array, Object }

    /// <summary>One JSON value. Build them with the implicit conversions (<c>JsonValue v = 5;</c>) or the
    /// <see cref="JsonObject"/> / <see cref="JsonArray"/> collection initialisers.</summary>
    public abstract class JsonValue : IEquatable<JsonValue>
    {
        public abstract JsonKind Kind { get; }

        /// <summary>The JSON null (a value, never a C# null).</summary>
        public static readonly JsonValue Null = new JsonNull();
        public static readonly JsonValue True = new JsonBoolean(true);
        public static readonly JsonValue False = new JsonBoolean(false);

        public static implicit operator JsonValue(string value) { return value == null ? Null : new JsonString(value); }
        public static implicit operator JsonValue(long value) { return new JsonInteger(value); }
        public static implicit operator JsonValue(int value) { return new JsonInteger(value); }
        public static implicit operator JsonValue(bool value) { return value ? True : False; }
        public static implicit operator JsonValue(double value) { return JsonNumber.Of(value); }

        public bool IsNull { get { return Kind == JsonKind.Null; } }

        /// <summary>The member <paramref name="key"/> of an object, or null (C#) when absent or not an object.</summary>
        public virtual JsonValue this[string key]
        {
            get { return null; }
            set { throw new InvalidOperationException("not a JSON object"); }
        }
        /// <summary>Element <paramref name="index"/> of an array, or null (C#) when out of range or not an array.</summary>
        public virtual JsonValue this[int index] { get { return null; } }

        public JsonObject AsObject() { return this as JsonObject; }
        public JsonArray AsArray() { return this as JsonArray; }
        /// <summary>The string, or null when this is not a string.</summary>
        public string AsString() { var s = this as JsonString; return s == null ? null : s.Value; }
        /// <summary>The integer, or null when this is not an integer (a number with a fraction is not).</summary>
        public long? AsInt64() { var i = this as JsonInteger; return i == null ? (long?)null : i.Value; }
        /// <summary>The number as a double (integers too), or null when this is not a number.</summary>
        public double? AsDouble()
        {
            var i = this as JsonInteger; if (i != null) return i.Value;
            var n = this as JsonNumber; return n == null ? (double?)null : n.Value;
        }
        public bool? AsBoolean() { var b = this as JsonBoolean; return b == null ? (bool?)null : b.Value; }

        /// <summary>Compact JSON text (UTF-16; write it as UTF-8).</summary>
        public override string ToString() { var sb = new StringBuilder(); Write(sb); return sb.ToString(); }
        public string ToJson() { return ToString(); }
        internal abstract void Write(StringBuilder sb);

        public abstract bool Equals(JsonValue other);
        public override bool Equals(object obj) { return Equals(obj as JsonValue); }
        public abstract override int GetHashCode();

        /// <summary>Parses one JSON text (whitespace around it allowed). Throws <see cref="FormatException"/>.</summary>
        public static JsonValue Parse(string text) { return new JsonReader(text).ReadDocument(); }
        /// <summary>Parses UTF-8 bytes. Throws <see cref="FormatException"/> for bad UTF-8 or JSON.</summary>
        public static JsonValue Parse(byte[] utf8, int offset, int count)
        {
            string text;
            try { text = StrictUtf8.GetString(utf8, offset, count); }
            catch (ArgumentException) { throw new FormatException("not UTF-8"); }
            return Parse(text);
        }

        internal static readonly UTF8Encoding StrictUtf8 = new UTF8Encoding(false, true);

        /// <summary>The name of a kind, for messages ("an integer", "a string").</summary>
        internal static string Describe(JsonValue value)
        {
            if (value == null) return "missing";
            switch (value.Kind)
            {
                case JsonKind.Null: return "null";
                case JsonKind.Boolean: return "a boolean";
                case JsonKind.Integer: return "an integer";
                case JsonKind.Number: return "a number";
                case JsonKind.String: return "a string";
                case JsonKind.Array: return "an array";
                default: return "an object";
            }
        }
    }

    public sealed class JsonNull : JsonValue
    {
        internal JsonNull() { }
        public override JsonKind Kind { get { return JsonKind.Null; } }
        internal override void Write(StringBuilder sb) { sb.Append("null"); }
        public override bool Equals(JsonValue other) { return other is JsonNull; }
        public override int GetHashCode() { return 0; }
    }

    public sealed class JsonBoolean : JsonValue
    {
        public bool Value { get; private set; }
        internal JsonBoolean(bool value) { Value = value; }
        public override JsonKind Kind { get { return JsonKind.Boolean; } }
        internal override void Write(StringBuilder sb) { sb.Append(Value ? "true" : "false"); }
        public override bool Equals(JsonValue other) { var b = other as JsonBoolean; return b != null && b.Value == Value; }
        public override int GetHashCode() { return Value ? 1 : 2; }
    }

    /// <summary>An integer that fits in a long (kept exact).</summary>
    public sealed class JsonInteger : JsonValue
    {
        public long Value { get; private set; }
        public JsonInteger(long value) { Value = value; }
        public override JsonKind Kind { get { return JsonKind.Integer; } }
        internal override void Write(StringBuilder sb) { sb.Append(Value.ToString(CultureInfo.InvariantCulture)); }
        public override bool Equals(JsonValue other)
        {
            var i = other as JsonInteger; if (i != null) return i.Value == Value;
            var n = other as JsonNumber; return n != null && n.Value == Value;
        }
        public override int GetHashCode() { return ((double)Value).GetHashCode(); }
    }

    /// <summary>Any other number (a fraction, an exponent, or an integer beyond a long), as a double.</summary>
    public sealed class JsonNumber : JsonValue
    {
        public double Value { get; private set; }
        private JsonNumber(double value) { Value = value; }
        public static JsonValue Of(double value)
        {
            if (double.IsNaN(value) || double.IsInfinity(value)) throw new ArgumentException("JSON has no NaN or infinity");
            return new JsonNumber(value);
        }
        public override JsonKind Kind { get { return JsonKind.Number; } }
        internal override void Write(StringBuilder sb)
        {
            var text = Value.ToString("R", CultureInfo.InvariantCulture);
            sb.Append(text);
            if (text.IndexOfAny(new[] { '.', 'E', 'e' }) < 0) sb.Append(".0");
        }
        public override bool Equals(JsonValue other)
        {
            var n = other as JsonNumber; if (n != null) return n.Value == Value;
            var i = other as JsonInteger; return i != null && i.Value == Value;
        }
        public override int GetHashCode() { return Value.GetHashCode(); }
    }

    public sealed class JsonString : JsonValue
    {
        public string Value { get; private set; }
        public JsonString(string value) { if (value == null) throw new ArgumentNullException("value"); Value = value; }
        public override JsonKind Kind { get { return JsonKind.String; } }
        internal override void Write(StringBuilder sb) { WriteString(sb, Value); }
        public override bool Equals(JsonValue other) { var s = other as JsonString; return s != null && s.Value == Value; }
        public override int GetHashCode() { return Value.GetHashCode(); }

        internal static void WriteString(StringBuilder sb, string value)
        {
            sb.Append('"');
            foreach (var c in value)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    case '\b': sb.Append("\\b"); break;
                    case '\f': sb.Append("\\f"); break;
                    default:
                        // Control characters, and the line separators some readers take for newlines.
                        if (c < 0x20 || c == '\u2028' || c == '\u2029') sb.Append("\\u").Append(((int)c).ToString("x4"));
                        else sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
        }
    }

    /// <summary>A JSON array.</summary>
    public sealed class JsonArray : JsonValue, IEnumerable<JsonValue>
    {
        private readonly List<JsonValue> items = new List<JsonValue>();
        public JsonArray() { }
        public JsonArray(IEnumerable<JsonValue> values) { foreach (var v in values) Add(v); }
        public override JsonKind Kind { get { return JsonKind.Array; } }
        public int Count { get { return items.Count; } }
        public void Add(JsonValue value) { items.Add(value ?? Null); }
        public override JsonValue this[int index] { get { return index >= 0 && index < items.Count ? items[index] : null; } }
        public IEnumerator<JsonValue> GetEnumerator() { return items.GetEnumerator(); }
        IEnumerator IEnumerable.GetEnumerator() { return items.GetEnumerator(); }
        internal override void Write(StringBuilder sb)
        {
            sb.Append('[');
            for (var i = 0; i < items.Count; i++) { if (i > 0) sb.Append(','); items[i].Write(sb); }
            sb.Append(']');
        }
        public override bool Equals(JsonValue other)
        {
            var a = other as JsonArray;
            if (a == null || a.items.Count != items.Count) return false;
            for (var i = 0; i < items.Count; i++) if (!items[i].Equals(a.items[i])) return false;
            return true;
        }
        public override int GetHashCode() { return items.Count; }
    }

    /// <summary>A JSON object; members keep the order they were added (or parsed) in.</summary>
    public sealed class JsonObject : JsonValue, IEnumerable<KeyValuePair<string, JsonValue>>
    {
        private readonly List<string> keys = new List<string>();
        private readonly Dictionary<string, JsonValue> map = new Dictionary<string, JsonValue>(StringComparer.Ordinal);
        public override JsonKind Kind { get { return JsonKind.Object; } }
        public int Count { get { return keys.Count; } }
        public IEnumerable<string> Keys { get { return keys; } }
        public bool ContainsKey(string key) { return map.ContainsKey(key); }

        /// <summary>Adds or replaces a member (a C# null is stored as JSON null).</summary>
        public void Add(string key, JsonValue value) { this[key] = value; }
        public bool Remove(string key)
        {
            if (!map.Remove(key)) return false;
            keys.Remove(key);
            return true;
        }

        public override JsonValue this[string key]
        {
            get { JsonValue v; return key != null && map.TryGetValue(key, out v) ? v : null; }
            set
            {
                if (key == null) throw new ArgumentNullException("key");
                if (!map.ContainsKey(key)) keys.Add(key);
                map[key] = value ?? Null;
            }
        }

        public IEnumerator<KeyValuePair<string, JsonValue>> GetEnumerator()
        {
            foreach (var k in keys) yield return new KeyValuePair<string, JsonValue>(k, map[k]);
        }
        IEnumerator IEnumerable.GetEnumerator() { return GetEnumerator(); }

        internal override void Write(StringBuilder sb)
        {
            sb.Append('{');
            var first = true;
            foreach (var k in keys)
            {
                if (!first) sb.Append(',');
                first = false;
                JsonString.WriteString(sb, k);
                sb.Append(':');
                map[k].Write(sb);
            }
            sb.Append('}');
        }
        public override bool Equals(JsonValue other)
        {
            var o = other as JsonObject;
            if (o == null || o.map.Count != map.Count) return false;
            foreach (var kv in map)
            {
                JsonValue v;
                if (!o.map.TryGetValue(kv.Key, out v) || !kv.Value.Equals(v)) return false;
            }
            return true;
        }
        public override int GetHashCode() { return map.Count; }
    }

    /// <summary>The parser. Strict: no comments, no trailing commas, no NaN; nesting limited to 512.</summary>
    internal sealed class JsonReader
    {
        private const int MaxDepth = 512;
        private readonly string s;
        private int i;

        internal JsonReader(string text) { if (text == null) throw new ArgumentNullException("text"); s = text; }

        internal JsonValue ReadDocument()
        {
            SkipSpace();
            var value = ReadValue(0);
            SkipSpace();
            if (i != s.Length) throw Error("unexpected text after the value");
            return value;
        }

        private FormatException Error(string what) { return new FormatException("invalid JSON at offset " + i + ": " + what); }

        private void SkipSpace()
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
        }

        private JsonValue ReadValue(int depth)
        {
            if (depth > MaxDepth) throw Error("nested too deeply");
            if (i >= s.Length) throw Error("unexpected end");
            var c = s[i];
            switch (c)
            {
                case '{': return ReadObject(depth);
                case '[': return ReadArray(depth);
                case '"': return new JsonString(ReadString());
                case 't': Expect("true"); return JsonValue.True;
                case 'f': Expect("false"); return JsonValue.False;
                case 'n': Expect("null"); return JsonValue.Null;
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) return ReadNumber();
                    throw Error("unexpected character '" + c + "'");
            }
        }

        private void Expect(string word)
        {
            if (string.CompareOrdinal(s, i, word, 0, word.Length) != 0) throw Error("expected " + word);
            i += word.Length;
        }

        private JsonObject ReadObject(int depth)
        {
            var o = new JsonObject();
            i++;
            SkipSpace();
            if (i < s.Length && s[i] == '}') { i++; return o; }
            while (true)
            {
                SkipSpace();
                if (i >= s.Length || s[i] != '"') throw Error("expected a member name");
                var key = ReadString();
                SkipSpace();
                if (i >= s.Length || s[i] != ':') throw Error("expected ':'");
                i++;
                SkipSpace();
                o.Add(key, ReadValue(depth + 1));
                SkipSpace();
                if (i >= s.Length) throw Error("unexpected end in an object");
                if (s[i] == ',') { i++; continue; }
                if (s[i] == '}') { i++; return o; }
                throw Error("expected ',' or '}'");
            }
        }

        private JsonArray ReadArray(int depth)
        {
            var a = new JsonArray();
            i++;
            SkipSpace();
            if (i < s.Length && s[i] == ']') { i++; return a; }
            while (true)
            {
                SkipSpace();
                a.Add(ReadValue(depth + 1));
                SkipSpace();
                if (i >= s.Length) throw Error("unexpected end in an array");
                if (s[i] == ',') { i++; continue; }
                if (s[i] == ']') { i++; return a; }
                throw Error("expected ',' or ']'");
            }
        }

        private string ReadString()
        {
            i++; // opening quote
            StringBuilder sb = null;
            var start = i;
            while (true)
            {
                if (i >= s.Length) throw Error("unterminated string");
                var c = s[i];
                if (c == '"')
                {
                    string result = sb == null ? s.Substring(start, i - start) : sb.Append(s, start, i - start).ToString();
                    i++;
                    return result;
                }
                if (c < 0x20) throw Error("control character in a string");
                if (c != '\\') { i++; continue; }
                if (sb == null) sb = new StringBuilder();
                sb.Append(s, start, i - start);
                i++;
                if (i >= s.Length) throw Error("unterminated escape");
                var e = s[i++];
                switch (e)
                {
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        if (i + 4 > s.Length) throw Error("short \\u escape");
                        int code;
                        if (!int.TryParse(s.Substring(i, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out code))
                            throw Error("bad \\u escape");
                        sb.Append((char)code);
                        i += 4;
                        break;
                    default: throw Error("bad escape");
                }
                start = i;
            }
        }

        private JsonValue ReadNumber()
        {
            var start = i;
            if (s[i] == '-') i++;
            if (i >= s.Length) throw Error("bad number");
            if (s[i] == '0') i++;
            else if (s[i] >= '1' && s[i] <= '9') { while (i < s.Length && char.IsDigit(s[i]) && s[i] <= '9') i++; }
            else throw Error("bad number");
            var integral = true;
            if (i < s.Length && s[i] == '.')
            {
                integral = false;
                i++;
                var digits = i;
                while (i < s.Length && s[i] >= '0' && s[i] <= '9') i++;
                if (i == digits) throw Error("bad fraction");
            }
            if (i < s.Length && (s[i] == 'e' || s[i] == 'E'))
            {
                integral = false;
                i++;
                if (i < s.Length && (s[i] == '+' || s[i] == '-')) i++;
                var digits = i;
                while (i < s.Length && s[i] >= '0' && s[i] <= '9') i++;
                if (i == digits) throw Error("bad exponent");
            }
            var text = s.Substring(start, i - start);
            long l;
            if (integral && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l)) return new JsonInteger(l);
            double d;
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out d) || double.IsInfinity(d)) throw Error("number out of range");
            return JsonNumber.Of(d);
        }
    }
}
