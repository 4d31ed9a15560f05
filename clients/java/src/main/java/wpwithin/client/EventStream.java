package wpwithin.client;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import wpwithin.client.types.Subscription;

/**
 * The daemon's events, in seq order, each once (see {@link WPWithinClient#subscribe}).
 *
 * <p>A thread of the stream holds a connection of its own: it subscribes, reads the events into a
 * buffer ({@link WPWithinClient.Builder#eventBuffer}; when the buffer is full it stops reading, the
 * daemon drops the subscription, and the stream resumes once there is room: nothing is lost), and when
 * the connection ends (the daemon restarted, or was killed) it connects again with backoff (100 ms
 * doubling to 2 s) for up to the client's reconnect timeout and subscribes with {@code resumeFrom} = the
 * last seq delivered. If the daemon's journal went back (a state directory restored from a backup: its
 * {@code lastSeq} is below the seq to resume from) the stream replays the journal from its start.
 *
 * <p>{@link #next(Duration)} waits for the next event (a {@link CallTimeoutException} after the timeout;
 * nothing is lost); iterating blocks until the next event and ends when the stream is closed.
 */
public final class EventStream implements AutoCloseable, Iterable<Event> {
    private static final Object LOST = new Object();

    private final WPWithinClient client;
    private final List<String> types;
    private final boolean reconnect;
    private final LinkedBlockingQueue<Event> events;
    private final CompletableFuture<Void> ready = new CompletableFuture<>();
    private final List<Runnable> onClose = new ArrayList<>();
    private final Thread thread;
    /** The last seq queued by the reader thread (what a resubscription resumes from). */
    private volatile Long lastSeq;
    /** The seq of the last event handed to the caller, or the subscription's starting point before any. */
    private volatile Long lastReturned;
    private volatile Subscription subscription;
    private volatile int reconnects;
    private volatile int restarts;
    private Long pid;
    private volatile boolean closed;
    private volatile RuntimeException failure;
    private volatile Connection connection;
    private long ids;

    EventStream(WPWithinClient client, List<String> types, Long resumeFrom, boolean reconnect) {
        this.client = client;
        this.types = types;
        this.lastSeq = resumeFrom;
        this.lastReturned = resumeFrom;
        this.reconnect = reconnect;
        this.events = new LinkedBlockingQueue<>(client.eventBuffer);
        this.thread = new Thread(this::run, "wpwithin-events");
        this.thread.setDaemon(true);
    }

    void onClose(Runnable action) {
        onClose.add(action);
    }

    /** Starts the stream's thread and waits for the first subscription (or its failure). */
    void start() {
        thread.start();
        try {
            ready.get();
        } catch (InterruptedException interrupted) {
            close();
            Thread.currentThread().interrupt();
            throw new ClientClosedException("interrupted while subscribing", client.socketPath);
        } catch (java.util.concurrent.ExecutionException failed) {
            close();
            throw WPWithinClient.unwrap(failed.getCause());
        }
    }

    /**
     * The seq of the last event {@link #next} returned (or the resume point before any): subscribe from here
     * to go on. Events already read from the daemon but not taken yet are not counted, so resuming from here
     * loses none of them.
     */
    public Long lastSeq() {
        return lastReturned;
    }

    private Event handOut(Event event) {
        lastReturned = event.seq();
        return event;
    }

    /** The daemon's answer to the latest subscribe ({@code lastSeq}, {@code replayed}, {@code truncated}). */
    public Subscription subscription() {
        return subscription;
    }

    /** How many times the stream resubscribed after a lost connection or subscription. */
    public int reconnects() {
        return reconnects;
    }

    /** How many daemon restarts the stream saw (a new pid in {@code getStatus} when it reconnected). */
    public int daemonRestarts() {
        return restarts;
    }

    public boolean isClosed() {
        return closed;
    }

    /**
     * The next event, waiting at most {@code timeout} (null: until there is one, the stream fails or it is
     * closed). Throws {@link CallTimeoutException} when none came in time, {@link ClientClosedException}
     * once the stream is closed, and the stream's failure (e.g. {@link ConnectionLostException} after the
     * reconnect timeout) once the events before it are read.
     */
    public Event next(Duration timeout) {
        long deadline = timeout == null ? Long.MAX_VALUE : System.nanoTime() + timeout.toNanos();
        while (true) {
            Event event = events.poll();
            if (event != null) {
                return handOut(event);
            }
            if (closed) {
                throw new ClientClosedException("the event stream was closed", client.socketPath);
            }
            if (failure != null) {
                throw failure;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new CallTimeoutException("no event within " + timeout.toMillis() + " ms", client.socketPath);
            }
            try {
                event = events.poll(Math.min(left, TimeUnit.MILLISECONDS.toNanos(50)), TimeUnit.NANOSECONDS);
            } catch (InterruptedException interrupted) {
                Thread.currentThread().interrupt();
                throw new ClientClosedException("interrupted while waiting for an event", client.socketPath);
            }
            if (event != null) {
                return handOut(event);
            }
        }
    }

    /** Blocks for each event; ends when the stream is closed; throws the stream's failure. */
    @Override
    public Iterator<Event> iterator() {
        return new Iterator<>() {
            private Event next;

            @Override
            public boolean hasNext() {
                if (next == null) {
                    try {
                        next = EventStream.this.next(null);
                    } catch (ClientClosedException closedNow) {
                        return false;
                    }
                }
                return true;
            }

            @Override
            public Event next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                Event event = next;
                next = null;
                return event;
            }
        };
    }

    /** Ends the stream (the daemon drops the subscription with the connection). Safe from any thread, twice. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        Connection open = connection;
        if (open != null) {
            open.close();
        }
        thread.interrupt();
        for (Runnable action : onClose) {
            action.run();
        }
    }

    // ------------------------------------------------------------------------------- the stream's thread

    /** What the reader thread hands the stream's thread: messages, then LOST. */
    private static final class Inbox implements Connection.Listener {
        final LinkedBlockingQueue<Object> queue;
        volatile WPWithinClientException cause;

        Inbox(int capacity) {
            queue = new LinkedBlockingQueue<>(capacity);
        }

        @Override
        public void message(JsonObject message) {
            try {
                // Blocks the reader while the stream's thread is behind: the daemon then waits (or drops us).
                while (cause == null && !queue.offer(message, 100, TimeUnit.MILLISECONDS)) {
                    continue;
                }
            } catch (InterruptedException interrupted) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public void closed(WPWithinClientException cause) {
            this.cause = cause;
            queue.offer(LOST);
        }

        /** The next message; throws the connection's end, or CallTimeoutException after the timeout (negative: none). */
        JsonObject take(long timeoutNanos, String path) throws InterruptedException {
            boolean forever = timeoutNanos < 0;
            long deadlineNanos = System.nanoTime() + Math.max(0, timeoutNanos);
            while (true) {
                long wait = forever ? TimeUnit.MILLISECONDS.toNanos(100)
                        : Math.max(0, Math.min(deadlineNanos - System.nanoTime(), TimeUnit.MILLISECONDS.toNanos(100)));
                Object item = queue.poll(wait, TimeUnit.NANOSECONDS);
                if (item instanceof JsonObject) {
                    return (JsonObject) item;
                }
                if (item == LOST || (item == null && cause != null && queue.isEmpty())) {
                    WPWithinClientException end = cause;
                    throw end instanceof ConnectionLostException || end instanceof ClientClosedException
                            ? end : new ConnectionLostException(end.getMessage(), path, end);
                }
                if (!forever && System.nanoTime() - deadlineNanos >= 0) {
                    throw new CallTimeoutException("the daemon did not answer in time", path);
                }
            }
        }
    }

    private void run() {
        boolean first = true;
        long lostSince = -1;
        long delay = 100;
        while (!closed) {
            Inbox inbox = new Inbox(Math.min(client.eventBuffer, 4096));
            try {
                connection = Connection.open(client.socketPath, client.connectTimeout.toMillis(), client.maxLineLength, inbox);
                if (closed) {
                    connection.close();
                    return;
                }
                List<JsonObject> early = new ArrayList<>();
                Object status = call(inbox, "getStatus", null, early);
                Long newPid = status instanceof JsonObject ? ((JsonObject) status).getLong("pid") : null;
                if (pid != null && newPid != null && !pid.equals(newPid)) {
                    restarts++;
                }
                pid = newPid;
                subscribe(inbox, early);
                if (!first) {
                    reconnects++;
                }
                first = false;
                lostSince = -1;
                delay = 100;
                ready.complete(null);
                deliverAll(inbox, early);
            } catch (InterruptedException interrupted) {
                return;
            } catch (ClientClosedException | ConnectFailedException | ConnectionLostException | CallTimeoutException
                    | UnavailableException | LineTooLongException | InvalidResponseException error) {
                Connection open = connection;
                if (open != null) {
                    open.close();
                }
                if (closed) {
                    return;
                }
                if (first || !reconnect) {
                    end(error);
                    return;
                }
                long now = System.nanoTime();
                if (lostSince < 0) {
                    lostSince = now;
                }
                if (now - lostSince > client.reconnectTimeout.toNanos()) {
                    end(new ConnectionLostException("could not resubscribe for " + client.reconnectTimeout.toMillis()
                            + " ms: " + error.getMessage(), client.socketPath, error));
                    return;
                }
                try {
                    Thread.sleep(delay);
                } catch (InterruptedException interrupted) {
                    return;
                }
                delay = Math.min(delay * 2, 2000);
            } catch (RuntimeException error) {
                Connection open = connection;
                if (open != null) {
                    open.close();
                }
                end(error);
                return;
            }
        }
    }

    private void end(RuntimeException error) {
        failure = error;
        ready.completeExceptionally(error);
    }

    /** Subscribes with resumeFrom = the last seq; if the journal went back, from its start. */
    private void subscribe(Inbox inbox, List<JsonObject> early) throws InterruptedException {
        JsonObject params = new JsonObject();
        if (types != null) {
            params.put("types", types);
        }
        if (lastSeq != null) {
            params.put("resumeFrom", lastSeq);
        }
        Subscription answer = Subscription.fromJson(call(inbox, "subscribe", params, early));
        Long journalEnd = answer.getLong("lastSeq");
        if (journalEnd == null) {
            throw new InvalidResponseException("subscribe answered without lastSeq", client.socketPath);
        }
        if (lastSeq != null && journalEnd < lastSeq) {
            // A journal restored from a backup: replay it from its start.
            lastSeq = 0L;
            lastReturned = 0L;
            early.clear();
            answer = Subscription.fromJson(call(inbox, "subscribe", JsonObject.of("types", types, "resumeFrom", 0L), early));
        }
        subscription = answer;
        if (lastSeq == null) {
            lastSeq = journalEnd;
            lastReturned = journalEnd;
        }
    }

    /** One call on the stream's connection; notifications that come meanwhile go to {@code early}. */
    private Object call(Inbox inbox, String method, JsonObject params, List<JsonObject> early) throws InterruptedException {
        long id = ++ids;
        JsonObject request = JsonObject.of("jsonrpc", "2.0", "id", id, "method", method);
        if (params != null) {
            params.values().removeIf(java.util.Objects::isNull);
            request.put("params", params);
        }
        if (!connection.send(Json.write(request))) {
            throw new ConnectionLostException(method + ": connection lost", client.socketPath);
        }
        long deadline = System.nanoTime() + client.timeout.toNanos();
        while (true) {
            JsonObject message = inbox.take(Math.max(0, deadline - System.nanoTime()), client.socketPath);
            if (message.containsKey("result") || message.containsKey("error")) {
                Object answerId = message.get("id");
                if (answerId != null && !answerId.equals(id)) {
                    continue;
                }
                if (message.get("error") instanceof JsonObject) {
                    throw WPWithinClient.toException(message.getObject("error"), method);
                }
                if (answerId != null) {
                    return message.get("result");
                }
            } else {
                early.add(message);
            }
        }
    }

    private void deliverAll(Inbox inbox, List<JsonObject> early) throws InterruptedException {
        while (!closed) {
            JsonObject message = early.isEmpty() ? inbox.take(-1, client.socketPath) : early.remove(0);
            Object method = message.get("method");
            if ("event".equals(method)) {
                Event event = Event.fromParams(message.get("params"));
                Long seen = lastSeq;
                if (event != null && (seen == null || event.seq() > seen)) {
                    while (!events.offer(event, 100, TimeUnit.MILLISECONDS)) {
                        if (closed) {
                            return;
                        }
                    }
                    lastSeq = event.seq();
                }
            } else if ("subscriptionLost".equals(method)) {
                if (!reconnect) {
                    throw new SubscriptionLostException("the daemon dropped the event subscription (" + reason(message)
                            + "); subscribe again with resumeFrom=" + lastSeq, client.socketPath, lastSeq);
                }
                reconnects++;
                subscribe(inbox, early);
            }
        }
    }

    private static String reason(JsonObject message) {
        JsonObject params = message.getObject("params");
        return params == null || params.getString("reason") == null ? "unknown" : params.getString("reason");
    }
}
