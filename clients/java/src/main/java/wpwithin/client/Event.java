package wpwithin.client;

import java.time.Instant;

/**
 * One event of the daemon's stream: {@code seq} (strictly increasing; it carries on across daemon
 * restarts), {@code type} (an {@link EventTypes} constant, e.g. {@code producer.deliveryBegun}),
 * {@code time} (RFC 3339, UTC) and {@code params}, the whole notification params (the payload plus
 * seq, type and time); read the payload with the {@link JsonBacked} helpers:
 * {@code event.getLong("unitsGranted")}.
 */
public record Event(long seq, String type, String time, JsonObject params) implements JsonBacked {
    @Override
    public JsonObject json() {
        return params;
    }

    /** {@link #time} parsed. */
    public Instant instant() {
        return Instant.parse(time);
    }

    static Event fromParams(Object params) {
        if (!(params instanceof JsonObject)) {
            return null;
        }
        JsonObject object = (JsonObject) params;
        Object seq = object.get("seq");
        Object type = object.get("type");
        if (!(seq instanceof Long) || !(type instanceof String)) {
            return null;
        }
        Object time = object.get("time");
        return new Event((Long) seq, (String) type, time instanceof String ? (String) time : "", object);
    }
}
