package wpwithin.client;

import java.util.List;

/**
 * A value read from the daemon that keeps the JSON object it came from. Every generated result type
 * implements it, whether its schema lists the members (a record with one component per member) or is
 * still a bare {@code object} (a record around the JSON object): the accessor helpers below work for
 * both, so code written against a bare result keeps compiling once its schema is complete.
 */
public interface JsonBacked {
    /** The JSON object as the daemon sent it (members the schema does not list included). */
    JsonObject json();

    default boolean has(String name) {
        return json().containsKey(name);
    }

    default Object get(String name) {
        return json().get(name);
    }

    default String getString(String name) {
        return json().getString(name);
    }

    default Long getLong(String name) {
        return json().getLong(name);
    }

    default Double getDouble(String name) {
        return json().getDouble(name);
    }

    default Boolean getBoolean(String name) {
        return json().getBoolean(name);
    }

    default JsonObject getObject(String name) {
        return json().getObject(name);
    }

    default List<Object> getList(String name) {
        return json().getList(name);
    }
}
