package wpwithin.client;

/**
 * The daemon refused a call: it answered with a JSON-RPC {@code error} object.
 *
 * <p>{@link #code()} is the daemon's stable code (docs/rpc.md, "Errors"); switch on it (or catch the
 * subclass: one per documented code, e.g. {@link NotFoundException}, {@link PaymentDeclinedException}),
 * never on the message. A code this client does not know yet arrives as a plain
 * {@code WPWithinException}. {@link #data()} is the error's {@code data} ({@code null} when absent),
 * e.g. {@code data.field} for {@link InvalidParamsException}.
 */
public class WPWithinException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int code;
    private final String daemonMessage;
    private final transient Object data;
    private final String method;

    public WPWithinException(int code, String message, Object data, String method) {
        super(describe(code, message, data, method));
        this.code = code;
        this.daemonMessage = message;
        this.data = data;
        this.method = method;
    }

    /** The stable error code. */
    public int code() {
        return code;
    }

    /** The code's name in docs/rpc.md ({@code "notFound"}), or {@code "error"} for an unknown code. */
    public String codeName() {
        return "error";
    }

    /** The daemon's message, for humans. */
    public String daemonMessage() {
        return daemonMessage;
    }

    /** The error's {@code data}: a {@link JsonObject}, another JSON value, or {@code null}. */
    public Object data() {
        return data;
    }

    /** The error's {@code data} when it is an object, else an empty object. */
    public JsonObject dataObject() {
        return data instanceof JsonObject ? (JsonObject) data : new JsonObject();
    }

    /** The method that failed, when known. */
    public String method() {
        return method;
    }

    @Override
    public String getMessage() {
        return describe(code, daemonMessage, data, method, codeName());
    }

    private static String describe(int code, String message, Object data, String method) {
        return describe(code, message, data, method, "error");
    }

    private static String describe(int code, String message, Object data, String method, String name) {
        StringBuilder text = new StringBuilder();
        if (method != null) {
            text.append(method).append(": ");
        }
        text.append(message).append(" (").append(name).append(' ').append(code).append(')');
        if (data != null) {
            text.append(" data=").append(Json.write(data));
        }
        return text.toString();
    }
}
