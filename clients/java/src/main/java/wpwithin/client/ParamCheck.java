package wpwithin.client;

import java.math.BigInteger;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * Checks a call's named parameters against the method's schemas from rpc.discover before anything is
 * sent: unknown names, missing required ones, types, integer ranges and enums. A parameter set to
 * {@code null} is left out. Failures are {@link IllegalArgumentException}s naming the method and the
 * parameter; the daemon never sees the call.
 */
final class ParamCheck {
    private ParamCheck() {}

    static JsonObject check(String method, Map<String, ?> params) {
        JsonObject specs = Schemas.PARAMS.getObject(method);
        if (specs == null) {
            throw new IllegalArgumentException("unknown method " + method);
        }
        JsonObject checked = new JsonObject();
        for (Map.Entry<String, ?> entry : params.entrySet()) {
            if (entry.getValue() == null) {
                continue;
            }
            JsonObject spec = specs.getObject(entry.getKey());
            if (spec == null) {
                throw new IllegalArgumentException(method + ": unknown parameter '" + entry.getKey() + "'");
            }
            checked.put(entry.getKey(), value(method + ": " + entry.getKey(), entry.getValue(), spec.getObject("schema")));
        }
        for (Map.Entry<String, Object> spec : specs.entrySet()) {
            if (Boolean.TRUE.equals(((JsonObject) spec.getValue()).getBoolean("required")) && !checked.containsKey(spec.getKey())) {
                throw new IllegalArgumentException(method + ": missing required parameter '" + spec.getKey() + "'");
            }
        }
        return checked;
    }

    /** The value as it will be sent (collections become lists), or IllegalArgumentException. */
    private static Object value(String where, Object value, JsonObject schema) {
        Object type = schema.get("type");
        String kind = type instanceof String ? (String) type : null;
        Object sent = value;
        if ("array".equals(kind)) {
            if (value instanceof Object[]) {
                value = List.of((Object[]) value);
            }
            if (!(value instanceof Collection)) {
                throw wrongType(where, "an array (a Collection)", value);
            }
            JsonObject items = schema.getObject("items");
            List<Object> list = new java.util.ArrayList<>();
            int index = 0;
            for (Object item : (Collection<?>) value) {
                if (item == null) {
                    throw new IllegalArgumentException(where + "[" + index + "] is null");
                }
                list.add(items == null ? item : value(where + "[" + index + "]", item, items));
                index++;
            }
            sent = list;
        } else if ("string".equals(kind)) {
            if (!(value instanceof String)) {
                throw wrongType(where, "a String", value);
            }
        } else if ("integer".equals(kind)) {
            if (!(value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte
                    || value instanceof BigInteger)) {
                throw wrongType(where, "an integer", value);
            }
        } else if ("number".equals(kind)) {
            if (!(value instanceof Number)) {
                throw wrongType(where, "a number", value);
            }
            double d = ((Number) value).doubleValue();
            if (Double.isNaN(d) || Double.isInfinite(d)) {
                throw new IllegalArgumentException(where + " must be finite");
            }
        } else if ("boolean".equals(kind)) {
            if (!(value instanceof Boolean)) {
                throw wrongType(where, "a boolean", value);
            }
        } else if ("object".equals(kind)) {
            if (!(value instanceof Map || value instanceof JsonBacked)) {
                throw wrongType(where, "an object (a Map)", value);
            }
            try {
                Json.write(value); // fails here, not on the wire, for a value JSON cannot hold
            } catch (Json.JsonException error) {
                throw new IllegalArgumentException(where + ": " + error.getMessage(), error);
            }
        }
        List<Object> allowed = schema.getList("enum");
        if (allowed != null && !allowed.contains(value)) {
            throw new IllegalArgumentException(where + ": " + Json.write(value) + " is not one of " + allowed);
        }
        if (value instanceof Number && !(value instanceof Double || value instanceof Float)) {
            BigInteger number = new BigInteger(value.toString());
            Long minimum = schema.getLong("minimum");
            Long maximum = schema.getLong("maximum");
            if (minimum != null && number.compareTo(BigInteger.valueOf(minimum)) < 0) {
                throw new IllegalArgumentException(where + " must be >= " + minimum + ", got " + value);
            }
            if (maximum != null && number.compareTo(BigInteger.valueOf(maximum)) > 0) {
                throw new IllegalArgumentException(where + " must be <= " + maximum + ", got " + value);
            }
            if ("integer".equals(kind) && number.bitLength() >= 64) {
                throw new IllegalArgumentException(where + " does not fit in 64 bits");
            }
        }
        return sent;
    }

    private static IllegalArgumentException wrongType(String where, String expected, Object value) {
        return new IllegalArgumentException(where + " must be " + expected + ", not " + value.getClass().getSimpleName());
    }
}
