package wpwithin.client;

/** The path is a file but not a socket. */
public class NotASocketException extends ConnectFailedException {
    private static final long serialVersionUID = 1L;

    public NotASocketException(String message, String socketPath, Throwable cause) {
        super("notASocket", message, socketPath, cause);
    }
}
