package wpwithin.client;

/** A call got no answer within its timeout (the answer, if it comes late, is dropped), or an event stream's next() waited its whole timeout (nothing is lost). */
public class CallTimeoutException extends WPWithinClientException {
    private static final long serialVersionUID = 1L;

    public CallTimeoutException(String message, String socketPath) {
        super("timeout", message, socketPath, null);
    }

    public CallTimeoutException(String message, String socketPath, Throwable cause) {
        super("timeout", message, socketPath, cause);
    }
}
