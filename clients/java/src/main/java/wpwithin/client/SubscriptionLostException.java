package wpwithin.client;

/**
 * The daemon dropped the event subscription (the reader fell behind: {@code subscriptionLost}) and the
 * stream was opened without reconnecting. {@link #lastSeq()} is the seq to resume from.
 */
public class SubscriptionLostException extends WPWithinClientException {
    private static final long serialVersionUID = 1L;

    private final Long lastSeq;

    public SubscriptionLostException(String message, String socketPath, Long lastSeq) {
        super("subscriptionLost", message, socketPath, null);
        this.lastSeq = lastSeq;
    }

    /** The last seq delivered: subscribe again with {@code resumeFrom} = this. */
    public Long lastSeq() {
        return lastSeq;
    }
}
