package wpwithin.client;

/**
 * The client itself failed: it could not connect, the connection was lost, the daemon sent something
 * unreadable or too long, a call took longer than its timeout, or the client was closed. Kept apart
 * from the daemon's refusals ({@link WPWithinException}). {@link #code()} names the failure as the
 * Swift and Node.js clients do ({@code noSuchSocket}, {@code connectionClosed}, ...).
 */
public class WPWithinClientException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String code;
    private final String socketPath;

    public WPWithinClientException(String code, String message, String socketPath, Throwable cause) {
        super(socketPath == null ? message : message + " [" + socketPath + "]", cause);
        this.code = code;
        this.socketPath = socketPath;
    }

    /** What failed: {@code noSuchSocket}, {@code connectionRefused}, {@code connectionClosed}, ... */
    public String code() {
        return code;
    }

    /** The daemon's socket path. */
    public String socketPath() {
        return socketPath;
    }

    /** True when connecting failed (the daemon is not there, or the socket is not usable). */
    public boolean isConnectFailure() {
        return this instanceof ConnectFailedException;
    }
}
