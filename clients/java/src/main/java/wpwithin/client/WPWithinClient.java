package wpwithin.client;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * A client for the {@code wpwithind} socket: JSON-RPC 2.0, one JSON value per line, over a Unix socket.
 *
 * <pre>{@code
 * try (WPWithinClient client = new WPWithinClient()) {      // $WPWITHIN_SOCKET, else /run/wpwithin.sock
 *     Quote quote = client.selectService(serverId, null, 1, 1, 3);
 *     Purchase purchase = client.makePayment(quote.getString("paymentReferenceId"));
 *     CompletableFuture<Status> status = client.getStatusAsync();
 * }
 * }</pre>
 *
 * <p>Every daemon method is a blocking method and a {@code ...Async} method returning a
 * {@link CompletableFuture}, with the daemon's parameter names; arguments are checked against the
 * method's schemas before anything is sent ({@link IllegalArgumentException}). Calls from many threads
 * are pipelined on one connection and matched by id. Every call has a timeout (default 60 s; a call
 * with {@code timeoutMs} gets that plus 10 s): none waits for ever.
 *
 * <p>The daemon's refusals are {@link WPWithinException}s, one subclass per stable code; the client's
 * own failures are {@link WPWithinClientException}s. A call whose connection is lost fails with
 * {@link ConnectionLostException} and is not resent (its outcome is not known: only some methods are
 * idempotent); the next call connects again. {@link #subscribe} opens an {@link EventStream} on a
 * connection of its own that resumes after a daemon restart.
 */
public class WPWithinClient extends WPWithinMethods implements AutoCloseable {
    /** Where the daemon listens unless told otherwise. */
    public static final String DEFAULT_SOCKET_PATH = "/run/wpwithin.sock";
    /** The environment variable that overrides {@link #DEFAULT_SOCKET_PATH}. */
    public static final String SOCKET_ENVIRONMENT_VARIABLE = "WPWITHIN_SOCKET";
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(5);
    public static final Duration DEFAULT_RECONNECT_TIMEOUT = Duration.ofSeconds(30);
    /** The longest line accepted from the daemon (16 MiB, as the Swift and Node.js clients). */
    public static final int DEFAULT_MAX_LINE_LENGTH = 16 * 1024 * 1024;
    /** Events an {@link EventStream} holds for a slow reader before it stops reading (the daemon then drops and it resumes). */
    public static final int DEFAULT_EVENT_BUFFER = 10_000;

    final String socketPath;
    final Duration timeout;
    final Duration connectTimeout;
    final Duration reconnectTimeout;
    final int maxLineLength;
    final int eventBuffer;

    private final Object lock = new Object();
    private final AtomicLong ids = new AtomicLong();
    private final ConcurrentHashMap<Long, Pending> pending = new ConcurrentHashMap<>();
    private final Set<EventStream> streams = ConcurrentHashMap.newKeySet();
    private final ExecutorService callbacks = Executors.newCachedThreadPool(task -> {
        Thread thread = new Thread(task, "wpwithin-callback");
        thread.setDaemon(true);
        return thread;
    });
    private Connection connection; // guarded by lock
    private volatile boolean closed;

    /** A client of {@code $WPWITHIN_SOCKET}, else {@code /run/wpwithin.sock}; it connects at the first call. */
    public WPWithinClient() {
        this(builder());
    }

    /** A client of {@code socketPath} (null: the default rule); it connects at the first call. */
    public WPWithinClient(String socketPath) {
        this(builder().socketPath(socketPath));
    }

    private WPWithinClient(Builder builder) {
        this.socketPath = resolveSocketPath(builder.socketPath);
        this.timeout = positive(builder.timeout, "timeout");
        this.connectTimeout = positive(builder.connectTimeout, "connectTimeout");
        this.reconnectTimeout = builder.reconnectTimeout;
        if (builder.maxLineLength <= 0 || builder.eventBuffer <= 0) {
            throw new IllegalArgumentException("maxLineLength and eventBuffer must be positive");
        }
        this.maxLineLength = builder.maxLineLength;
        this.eventBuffer = builder.eventBuffer;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Options: socket path, timeouts, limits. */
    public static final class Builder {
        private String socketPath;
        private Duration timeout = DEFAULT_TIMEOUT;
        private Duration connectTimeout = DEFAULT_CONNECT_TIMEOUT;
        private Duration reconnectTimeout = DEFAULT_RECONNECT_TIMEOUT;
        private int maxLineLength = DEFAULT_MAX_LINE_LENGTH;
        private int eventBuffer = DEFAULT_EVENT_BUFFER;

        private Builder() {}

        /** The daemon's socket (null: {@code $WPWITHIN_SOCKET}, else {@code /run/wpwithin.sock}). */
        public Builder socketPath(String socketPath) {
            this.socketPath = socketPath;
            return this;
        }

        /** How long a call may take (default 60 s). */
        public Builder timeout(Duration timeout) {
            this.timeout = timeout;
            return this;
        }

        /** How long connecting may take (default 5 s). */
        public Builder connectTimeout(Duration connectTimeout) {
            this.connectTimeout = connectTimeout;
            return this;
        }

        /** How long an event stream keeps trying to resubscribe after losing the daemon (default 30 s). */
        public Builder reconnectTimeout(Duration reconnectTimeout) {
            this.reconnectTimeout = reconnectTimeout;
            return this;
        }

        /** The longest line accepted from the daemon (default 16 MiB). */
        public Builder maxLineLength(int maxLineLength) {
            this.maxLineLength = maxLineLength;
            return this;
        }

        /** Events an event stream buffers for its reader (default 10 000). */
        public Builder eventBuffer(int eventBuffer) {
            this.eventBuffer = eventBuffer;
            return this;
        }

        public WPWithinClient build() {
            return new WPWithinClient(this);
        }
    }

    /** {@code explicit} if not empty, else {@code $WPWITHIN_SOCKET}, else {@code /run/wpwithin.sock}. */
    public static String resolveSocketPath(String explicit) {
        if (explicit != null && !explicit.isEmpty()) {
            return explicit;
        }
        String environment = System.getenv(SOCKET_ENVIRONMENT_VARIABLE);
        return environment != null && !environment.isEmpty() ? environment : DEFAULT_SOCKET_PATH;
    }

    private static Duration positive(Duration value, String name) {
        if (value == null || value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException(name + " must be a positive duration");
        }
        return value;
    }

    public String socketPath() {
        return socketPath;
    }

    /** True while a connection is open. */
    public boolean isConnected() {
        synchronized (lock) {
            return connection != null && connection.isOpen();
        }
    }

    /** Connects now (calls connect by themselves); throws a {@link ConnectFailedException} subclass. */
    public void connect() {
        synchronized (lock) {
            closed = false;
            connection();
        }
    }

    /** Closes the connection and every event stream of this client; calls still waiting fail. Safe twice. */
    @Override
    public void close() {
        Connection open;
        synchronized (lock) {
            closed = true;
            open = connection;
            connection = null;
        }
        if (open != null) {
            open.close();
        }
        for (EventStream stream : new ArrayList<>(streams)) {
            stream.close();
        }
        // The callback threads end by themselves when idle (a closed client may connect again).
    }

    // ------------------------------------------------------------------------------------------ calls

    /**
     * Calls any method by name with named params (no checks beyond JSON) and returns its result as read:
     * a {@link JsonObject}, a {@code List}, a String, Long, Double, Boolean or null.
     */
    public Object call(String method, Map<String, ?> params) {
        return await(callAsync(method, params, null));
    }

    /** {@link #call} with a timeout of its own. */
    public Object call(String method, Map<String, ?> params, Duration timeout) {
        return await(callAsync(method, params, timeout));
    }

    /** {@link #call} as a future. {@code timeout} null: the client's (stretched by a {@code timeoutMs} param). */
    public CompletableFuture<Object> callAsync(String method, Map<String, ?> params, Duration timeout) {
        JsonObject sent = params == null ? null : new JsonObject(params);
        return onCallbackThread(send(method, sent, timeout == null ? callTimeout(sent) : positive(timeout, "timeout").toMillis()),
                Function.identity());
    }

    @Override
    <T> CompletableFuture<T> invoke(String method, JsonObject params, Function<Object, T> decode) {
        JsonObject checked = ParamCheck.check(method, params);
        return onCallbackThread(send(method, checked, callTimeout(checked)), decode);
    }

    /**
     * The answer decoded on a callback thread, whether it is a result or a failure: what the caller chains
     * on the future never runs on the connection's reader (a blocking call there would stall it).
     */
    private <T> CompletableFuture<T> onCallbackThread(CompletableFuture<Object> answer, Function<Object, T> decode) {
        return answer.handleAsync((result, error) -> {
            if (error != null) {
                throw error instanceof CompletionException ? (CompletionException) error : new CompletionException(error);
            }
            return decode.apply(result);
        }, callbacks);
    }

    @Override
    <T> T await(CompletableFuture<T> future) {
        try {
            return future.get(); // always completes: every call has a timer
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
            throw new WPWithinClientException("interrupted", "interrupted while waiting for the daemon", socketPath, interrupted);
        } catch (ExecutionException failed) {
            throw unwrap(failed.getCause());
        }
    }

    static RuntimeException unwrap(Throwable error) {
        while ((error instanceof CompletionException || error instanceof ExecutionException) && error.getCause() != null) {
            error = error.getCause();
        }
        if (error instanceof RuntimeException) {
            return (RuntimeException) error;
        }
        return new WPWithinClientException("failed", String.valueOf(error), null, error);
    }

    /** The timeout of a call: the client's, stretched to cover a {@code timeoutMs} the daemon will wait. */
    long callTimeout(Map<String, ?> params) {
        long millis = timeout.toMillis();
        Object waits = params == null ? null : params.get("timeoutMs");
        if (waits instanceof Number && ((Number) waits).longValue() > 0) {
            millis = Math.max(millis, ((Number) waits).longValue() + 10_000);
        }
        return millis;
    }

    private Connection connection() {
        synchronized (lock) {
            if (closed) {
                throw new ClientClosedException("the client was closed", socketPath);
            }
            if (connection == null || !connection.isOpen()) {
                MainListener listener = new MainListener();
                connection = Connection.open(socketPath, connectTimeout.toMillis(), maxLineLength, listener);
            }
            return connection;
        }
    }

    private CompletableFuture<Object> send(String method, JsonObject params, long timeoutMillis) {
        if (method == null) {
            throw new IllegalArgumentException("method is null");
        }
        long id = ids.incrementAndGet();
        JsonObject request = JsonObject.of("jsonrpc", "2.0", "id", id, "method", method);
        if (params != null) {
            request.put("params", params);
        }
        String line;
        try {
            line = Json.write(request);
        } catch (Json.JsonException error) {
            throw new IllegalArgumentException(method + ": " + error.getMessage(), error);
        }
        CompletableFuture<Object> future = new CompletableFuture<>();
        Connection conn;
        try {
            conn = connection();
        } catch (WPWithinClientException error) {
            future.completeExceptionally(error);
            return future;
        }
        Pending call = new Pending(method, future, conn);
        pending.put(id, call);
        call.timer = Connection.Timers.schedule(timeoutMillis, () -> {
            if (pending.remove(id, call)) {
                future.completeExceptionally(new CallTimeoutException(
                        method + ": no answer within " + Duration.ofMillis(timeoutMillis).toString().substring(2).toLowerCase(), socketPath));
            }
        });
        if (!conn.send(line) && pending.remove(id, call)) {
            call.timer.cancel(false);
            future.completeExceptionally(lost(conn, method));
        }
        return future;
    }

    private WPWithinClientException lost(Connection conn, String method) {
        WPWithinClientException cause = conn.closeCause();
        if (closed || cause instanceof ClientClosedException) {
            return new ClientClosedException(method + ": the client was closed", socketPath);
        }
        if (cause instanceof LineTooLongException || cause instanceof InvalidResponseException) {
            return cause;
        }
        return new ConnectionLostException(method + ": " + (cause == null ? "connection lost" : cause.getMessage().replace(" [" + socketPath + "]", "")), socketPath, cause);
    }

    private static final class Pending {
        final String method;
        final CompletableFuture<Object> future;
        final Connection connection;
        volatile ScheduledFuture<?> timer;

        Pending(String method, CompletableFuture<Object> future, Connection connection) {
            this.method = method;
            this.future = future;
            this.connection = connection;
        }
    }

    /** Answers to calls, matched by id; at the end of the connection, every call still waiting fails. */
    private final class MainListener implements Connection.Listener {
        private volatile WPWithinException closingError;

        @Override
        public void message(JsonObject message) {
            if (!message.containsKey("result") && !message.containsKey("error")) {
                return; // a notification: this connection never subscribes
            }
            Object id = message.get("id");
            if (id == null) {
                if (message.get("error") instanceof JsonObject) {
                    // An error the daemon could not tie to a call (line too long, overloaded); it closes next.
                    closingError = toException(message.getObject("error"), null);
                }
                return;
            }
            Pending call = id instanceof Long ? pending.remove(id) : null;
            if (call == null) {
                return; // the late answer of a call that timed out
            }
            call.timer.cancel(false);
            if (message.get("error") != null) {
                call.future.completeExceptionally(toException(message.getObject("error"), call.method));
            } else {
                call.future.complete(message.get("result"));
            }
        }

        @Override
        public void closed(WPWithinClientException cause) {
            for (Map.Entry<Long, Pending> entry : pending.entrySet()) {
                Pending call = entry.getValue();
                if (call.connection.closeCause() == cause && pending.remove(entry.getKey(), call)) {
                    call.timer.cancel(false);
                    WPWithinException daemonSaid = closingError;
                    call.future.completeExceptionally(daemonSaid != null
                            ? Errors.fromError(daemonSaid.code(), daemonSaid.daemonMessage(), daemonSaid.data(), call.method)
                            : lost(call.connection, call.method));
                }
            }
        }
    }

    static WPWithinException toException(JsonObject error, String method) {
        Long code = error.get("code") instanceof Long ? (Long) error.get("code") : null;
        String message = error.get("message") instanceof String ? (String) error.get("message") : "";
        return Errors.fromError(code == null ? 0 : code.intValue(), message, error.get("data"), method);
    }

    // ----------------------------------------------------------------------------------------- events

    /**
     * Subscribes to the daemon's events on a connection of its own and returns once the daemon accepted
     * the subscription. {@code types}: only these (null: all; see {@link EventTypes}); {@code resumeFrom}:
     * replay the kept events after this seq (null: from now). The stream resubscribes from the last seq it
     * delivered after a lost connection, a daemon restart or {@code subscriptionLost}, so each event comes
     * once, in order.
     */
    public EventStream subscribe(Collection<String> types, Long resumeFrom) {
        return subscribe(types, resumeFrom, true);
    }

    /** All events, from now. */
    public EventStream subscribe() {
        return subscribe(null, null, true);
    }

    /**
     * {@link #subscribe(Collection, Long)}; with {@code reconnect} false the stream ends with
     * {@link ConnectionLostException} / {@link SubscriptionLostException} instead of resuming.
     */
    public EventStream subscribe(Collection<String> types, Long resumeFrom, boolean reconnect) {
        if (closed) {
            throw new ClientClosedException("the client was closed", socketPath);
        }
        JsonObject checked = subscribeParams(types, resumeFrom);
        @SuppressWarnings("unchecked")
        List<String> typeList = (List<String>) (List<?>) checked.getList("types");
        EventStream stream = new EventStream(this, typeList, resumeFrom, reconnect);
        streams.add(stream);
        stream.onClose(() -> streams.remove(stream));
        stream.start();
        return stream;
    }

    /** {@link #subscribe(Collection, Long)} as a future (argument errors are thrown at once). */
    public CompletableFuture<EventStream> subscribeAsync(Collection<String> types, Long resumeFrom) {
        subscribeParams(types, resumeFrom);
        return CompletableFuture.supplyAsync(() -> subscribe(types, resumeFrom), callbacks);
    }

    /** subscribe's params, checked against its schema (known event types, resumeFrom >= 0). */
    private static JsonObject subscribeParams(Collection<String> types, Long resumeFrom) {
        JsonObject params = new JsonObject();
        params.put("types", types == null ? null : new ArrayList<>(types));
        params.put("resumeFrom", resumeFrom);
        return ParamCheck.check("subscribe", params);
    }
}
