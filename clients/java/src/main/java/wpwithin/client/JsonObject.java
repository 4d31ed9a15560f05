package wpwithin.client;

import java.math.BigInteger;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A JSON object: an insertion-ordered map with typed getters. What {@link Json#parse} gives for a JSON
 * object, and what the client accepts wherever the daemon takes an object ({@code addService}'s
 * {@code service}). A getter whose member has another type throws an {@link IllegalStateException}
 * naming the member.
 *
 * <pre>{@code
 * JsonObject price = JsonObject.of("id", 1, "amount", 500, "currencyCode", "GBP", "stock", null);
 * long amount = price.getLong("amount");
 * }</pre>
 */
public final class JsonObject extends LinkedHashMap<String, Object> {
    private static final long serialVersionUID = 1L;

    public JsonObject() {}

    public JsonObject(Map<String, ?> members) {
        super(members);
    }

    /** An object of alternating names and values: {@code of("a", 1, "b", "two")}. */
    public static JsonObject of(Object... namesAndValues) {
        if (namesAndValues.length % 2 != 0) {
            throw new IllegalArgumentException("JsonObject.of takes names and values in pairs");
        }
        JsonObject object = new JsonObject();
        for (int i = 0; i < namesAndValues.length; i += 2) {
            if (!(namesAndValues[i] instanceof String)) {
                throw new IllegalArgumentException("member name " + i / 2 + " is not a String");
            }
            object.put((String) namesAndValues[i], namesAndValues[i + 1]);
        }
        return object;
    }

    /** Parses a JSON text that must hold an object. */
    public static JsonObject parse(String text) {
        Object value = Json.parse(text);
        if (!(value instanceof JsonObject)) {
            throw new Json.JsonException("not a JSON object");
        }
        return (JsonObject) value;
    }

    /** Adds a member and returns this object (for chaining). */
    public JsonObject with(String name, Object value) {
        put(name, value);
        return this;
    }

    /** The member is there and not null. */
    public boolean isPresent(String name) {
        return get(name) != null;
    }

    public String getString(String name) {
        return typed(name, String.class);
    }

    /** An integer member, exactly (fails on a fraction or a value beyond 64 bits). */
    public Long getLong(String name) {
        Object value = get(name);
        if (value == null) {
            return null;
        }
        if (value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte) {
            return ((Number) value).longValue();
        }
        if (value instanceof BigInteger && ((BigInteger) value).bitLength() < 64) {
            return ((BigInteger) value).longValue();
        }
        throw wrongType(name, "an integer", value);
    }

    /** {@link #getLong} or {@code fallback} when the member is missing or null. */
    public long getLong(String name, long fallback) {
        Long value = getLong(name);
        return value == null ? fallback : value;
    }

    public Double getDouble(String name) {
        Object value = get(name);
        if (value == null) {
            return null;
        }
        if (value instanceof Number) {
            return ((Number) value).doubleValue();
        }
        throw wrongType(name, "a number", value);
    }

    public Boolean getBoolean(String name) {
        return typed(name, Boolean.class);
    }

    public JsonObject getObject(String name) {
        Object value = get(name);
        if (value == null || value instanceof JsonObject) {
            return (JsonObject) value;
        }
        if (value instanceof Map) {
            @SuppressWarnings("unchecked")
            Map<String, ?> map = (Map<String, ?>) value;
            return new JsonObject(map);
        }
        throw wrongType(name, "an object", value);
    }

    @SuppressWarnings("unchecked")
    public List<Object> getList(String name) {
        Object value = get(name);
        if (value == null || value instanceof List) {
            return (List<Object>) value;
        }
        throw wrongType(name, "an array", value);
    }

    /** The compact JSON text. */
    public String toJson() {
        return Json.write(this);
    }

    private <T> T typed(String name, Class<T> type) {
        Object value = get(name);
        if (value == null || type.isInstance(value)) {
            return type.cast(value);
        }
        throw wrongType(name, "a " + type.getSimpleName(), value);
    }

    private static IllegalStateException wrongType(String name, String expected, Object value) {
        return new IllegalStateException("member '" + name + "' is not " + expected + " but " + value.getClass().getSimpleName());
    }
}
