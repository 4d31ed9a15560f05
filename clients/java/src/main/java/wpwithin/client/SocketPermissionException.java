package wpwithin.client;

/** EACCES/EPERM: this user may not connect to the socket. */
public class SocketPermissionException extends ConnectFailedException {
    private static final long serialVersionUID = 1L;

    public SocketPermissionException(String message, String socketPath, Throwable cause) {
        super("permissionDenied", message, socketPath, cause);
    }
}
