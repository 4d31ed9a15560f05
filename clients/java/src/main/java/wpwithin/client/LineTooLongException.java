package wpwithin.client;

/** The daemon sent a line longer than the client's limit (default 16 MiB); the connection was closed. */
public class LineTooLongException extends WPWithinClientException {
    private static final long serialVersionUID = 1L;

    public LineTooLongException(String message, String socketPath) {
        super("lineTooLong", message, socketPath, null);
    }

    public LineTooLongException(String message, String socketPath, Throwable cause) {
        super("lineTooLong", message, socketPath, cause);
    }
}
