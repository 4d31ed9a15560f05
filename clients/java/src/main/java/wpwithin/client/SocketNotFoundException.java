package wpwithin.client;

/** ENOENT: there is no socket at the path (is wpwithind running?). */
public class SocketNotFoundException extends ConnectFailedException {
    private static final long serialVersionUID = 1L;

    public SocketNotFoundException(String message, String socketPath, Throwable cause) {
        super("noSuchSocket", message, socketPath, cause);
    }
}
