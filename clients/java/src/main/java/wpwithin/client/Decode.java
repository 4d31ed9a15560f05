package wpwithin.client;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Reads JSON values into the generated result types. A value of the wrong type, or a member the schema
 * requires that is missing or null, raises {@link InvalidResponseException} naming the member. Used by
 * the generated code; public because the generated records live in another package.
 */
public final class Decode {
    private Decode() {}

    public static Object any(Object value) {
        return value;
    }

    public static JsonObject object(Object value) {
        if (value instanceof JsonObject) {
            return (JsonObject) value;
        }
        if (value instanceof Map) {
            @SuppressWarnings("unchecked")
            Map<String, ?> map = (Map<String, ?>) value;
            return new JsonObject(map);
        }
        throw wrong("an object", value);
    }

    public static String string(Object value) {
        if (value instanceof String) {
            return (String) value;
        }
        throw wrong("a string", value);
    }

    public static Long integer(Object value) {
        if (value instanceof Long || value instanceof Integer) {
            return ((Number) value).longValue();
        }
        if (value instanceof BigInteger && ((BigInteger) value).bitLength() < 64) {
            return ((BigInteger) value).longValue();
        }
        throw wrong("a 64-bit integer", value);
    }

    public static Double number(Object value) {
        if (value instanceof Number) {
            return ((Number) value).doubleValue();
        }
        throw wrong("a number", value);
    }

    public static Boolean bool(Object value) {
        if (value instanceof Boolean) {
            return (Boolean) value;
        }
        throw wrong("a boolean", value);
    }

    public static <T> List<T> list(Object value, Function<Object, T> item) {
        if (!(value instanceof List)) {
            throw wrong("an array", value);
        }
        List<T> out = new ArrayList<>();
        int index = 0;
        for (Object element : (List<?>) value) {
            try {
                out.add(element == null ? null : item.apply(element));
            } catch (InvalidResponseException error) {
                throw new InvalidResponseException("[" + index + "]: " + error.getMessage(), null);
            }
            index++;
        }
        return Collections.unmodifiableList(out);
    }

    /** A member the schema requires, not null. */
    public static <T> T required(JsonObject object, String name, Function<Object, T> decode) {
        Object value = object.get(name);
        if (value == null) {
            throw new InvalidResponseException("member '" + name + "' is " + (object.containsKey(name) ? "null" : "missing"), null);
        }
        return member(name, value, decode);
    }

    /** A member that may be missing or null (then null). */
    public static <T> T optional(JsonObject object, String name, Function<Object, T> decode) {
        Object value = object.get(name);
        return value == null ? null : member(name, value, decode);
    }

    private static <T> T member(String name, Object value, Function<Object, T> decode) {
        try {
            return decode.apply(value);
        } catch (InvalidResponseException error) {
            throw new InvalidResponseException("member '" + name + "': " + error.getMessage(), null);
        }
    }

    private static InvalidResponseException wrong(String expected, Object value) {
        return new InvalidResponseException("expected " + expected + ", got "
                + (value == null ? "null" : value.getClass().getSimpleName()), null);
    }
}
