package wpwithin.client;

/** The daemon sent something that is not JSON, not a JSON-RPC message, or a result that does not fit its type. */
public class InvalidResponseException extends WPWithinClientException {
    private static final long serialVersionUID = 1L;

    public InvalidResponseException(String message, String socketPath) {
        super("invalidResponse", message, socketPath, null);
    }

    public InvalidResponseException(String message, String socketPath, Throwable cause) {
        super("invalidResponse", message, socketPath, cause);
    }
}
