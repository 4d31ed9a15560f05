package wpwithin.client;

/** Connecting to the daemon's socket failed; the subclasses say why ({@link #code()}). */
public class ConnectFailedException extends WPWithinClientException {
    private static final long serialVersionUID = 1L;

    public ConnectFailedException(String code, String message, String socketPath, Throwable cause) {
        super(code, message, socketPath, cause);
    }

    public ConnectFailedException(String message, String socketPath, Throwable cause) {
        super("connectFailed", message, socketPath, cause);
    }
}
