package wpwithin.client;

/** ECONNREFUSED: a socket file with no daemon behind it (a stale socket). */
public class StaleSocketException extends ConnectFailedException {
    private static final long serialVersionUID = 1L;

    public StaleSocketException(String message, String socketPath, Throwable cause) {
        super("connectionRefused", message, socketPath, cause);
    }
}
