package wpwithin.client;

/** The connection ended (the daemon stopped or closed it) while a call waited, or it broke; the call's outcome is not known and it is not retried. The next call connects again. */
public class ConnectionLostException extends WPWithinClientException {
    private static final long serialVersionUID = 1L;

    public ConnectionLostException(String message, String socketPath) {
        super("connectionClosed", message, socketPath, null);
    }

    public ConnectionLostException(String message, String socketPath, Throwable cause) {
        super("connectionClosed", message, socketPath, cause);
    }
}
