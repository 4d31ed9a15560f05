package wpwithin.client;

/** The client (or event stream) was closed. */
public class ClientClosedException extends WPWithinClientException {
    private static final long serialVersionUID = 1L;

    public ClientClosedException(String message, String socketPath) {
        super("notConnected", message, socketPath, null);
    }

    public ClientClosedException(String message, String socketPath, Throwable cause) {
        super("notConnected", message, socketPath, cause);
    }
}
