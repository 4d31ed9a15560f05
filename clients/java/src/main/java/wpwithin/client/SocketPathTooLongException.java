package wpwithin.client;

/** The path is longer than a sockaddr_un holds (107 bytes). */
public class SocketPathTooLongException extends ConnectFailedException {
    private static final long serialVersionUID = 1L;

    public SocketPathTooLongException(String message, String socketPath, Throwable cause) {
        super("pathTooLong", message, socketPath, cause);
    }
}
