package wpwithin.client;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One connection to the daemon: newline-delimited JSON both ways. A reader thread splits what arrives
 * into lines (at most {@code maxLineLength} bytes each), parses each into a JSON object and hands it to
 * the listener; a writer thread writes queued lines, so no caller ever blocks on a full socket. When
 * the connection ends, for whatever reason, {@link Listener#closed} is called once, with the cause.
 */
final class Connection implements AutoCloseable {
    interface Listener {
        void message(JsonObject message);

        void closed(WPWithinClientException cause);
    }

    private static final byte[] CLOSE = new byte[0];

    private final String path;
    private final SocketChannel channel;
    private final int maxLineLength;
    private final Listener listener;
    private final LinkedBlockingQueue<byte[]> outbox = new LinkedBlockingQueue<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile WPWithinClientException closeCause;
    private volatile boolean writeFailed;

    private Connection(String path, SocketChannel channel, int maxLineLength, Listener listener) {
        this.path = path;
        this.channel = channel;
        this.maxLineLength = maxLineLength;
        this.listener = listener;
    }

    /** Connects, or throws a {@link ConnectFailedException} subclass naming why. Never longer than the timeout. */
    static Connection open(String path, long connectTimeoutMillis, int maxLineLength, Listener listener) {
        if (path.getBytes(StandardCharsets.UTF_8).length > 107) {
            throw new SocketPathTooLongException("socket path longer than a sockaddr_un holds (107 bytes)", path, null);
        }
        Path file = Path.of(path);
        if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS) && !Files.exists(file)) {
            throw new SocketNotFoundException("no such socket (is wpwithind running?)", path, null);
        }
        try {
            Object mode = Files.getAttribute(file, "unix:mode");
            if (mode instanceof Integer && (((Integer) mode) & 0170000) != 0140000) {
                throw new NotASocketException("the path is a file but not a socket", path, null);
            }
        } catch (UnsupportedOperationException | IllegalArgumentException | IOException ignored) {
            // no unix attributes here: let connect say
        }
        SocketChannel channel;
        try {
            channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        } catch (IOException error) {
            throw new ConnectFailedException("cannot open a Unix socket: " + error.getMessage(), path, error);
        }
        // A connect to a listener whose backlog is full blocks: close the channel at the timeout.
        ScheduledFuture<?> watchdog = Timers.schedule(connectTimeoutMillis, () -> {
            try {
                channel.close();
            } catch (IOException ignored) {
                // closing
            }
        });
        try {
            channel.connect(UnixDomainSocketAddress.of(path));
        } catch (IOException | RuntimeException error) {
            watchdog.cancel(false);
            try {
                channel.close();
            } catch (IOException ignored) {
                // already failing
            }
            throw connectError(error, path, connectTimeoutMillis);
        }
        if (!watchdog.cancel(false) && !channel.isOpen()) {
            throw new CallTimeoutException("connect did not finish within " + connectTimeoutMillis + " ms", path);
        }
        Connection connection = new Connection(path, channel, maxLineLength, listener);
        connection.start();
        return connection;
    }

    static WPWithinClientException connectError(Exception error, String path, long timeoutMillis) {
        String text = String.valueOf(error.getMessage()).toLowerCase();
        if (error instanceof java.nio.channels.AsynchronousCloseException) {
            return new CallTimeoutException("connect did not finish within " + timeoutMillis + " ms", path);
        }
        if (text.contains("no such file")) {
            return new SocketNotFoundException("no such socket (is wpwithind running?)", path, error);
        }
        if (text.contains("refused")) {
            return new StaleSocketException("stale socket, daemon not running", path, error);
        }
        if (text.contains("permission") || text.contains("not permitted")) {
            return new SocketPermissionException("permission denied", path, error);
        }
        return new ConnectFailedException(String.valueOf(error.getMessage()), path, error);
    }

    private void start() {
        Thread reader = new Thread(this::readLoop, "wpwithin-reader");
        reader.setDaemon(true);
        reader.start();
        Thread writer = new Thread(this::writeLoop, "wpwithin-writer");
        writer.setDaemon(true);
        writer.start();
    }

    boolean isOpen() {
        return !closed.get() && !writeFailed;
    }

    String path() {
        return path;
    }

    /** Queues one line (the newline is added). False when the connection is closed. */
    boolean send(String json) {
        if (closed.get() || writeFailed) {
            return false;
        }
        outbox.add((json + "\n").getBytes(StandardCharsets.UTF_8));
        return !closed.get();
    }

    @Override
    public void close() {
        fail(new ClientClosedException("the connection was closed", path));
    }

    /** Ends the connection with {@code cause} (the first cause wins). */
    void fail(WPWithinClientException cause) {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        closeCause = cause;
        outbox.add(CLOSE);
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        listener.closed(cause);
    }

    WPWithinClientException closeCause() {
        return closeCause;
    }

    private void writeLoop() {
        try {
            while (true) {
                byte[] line = outbox.take();
                if (line == CLOSE) {
                    return;
                }
                ByteBuffer buffer = ByteBuffer.wrap(line);
                while (buffer.hasRemaining()) {
                    channel.write(buffer);
                }
            }
        } catch (InterruptedException error) {
            Thread.currentThread().interrupt();
        } catch (IOException error) {
            // The daemon may have said why before closing (messageTooLarge): let the reader read that for
            // a moment, then end the connection whatever it found.
            writeFailed = true;
            ConnectionLostException lost = new ConnectionLostException("connection lost while sending: " + error.getMessage(), path, error);
            Timers.schedule(500, () -> fail(lost));
        }
    }

    private void readLoop() {
        ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        try {
            while (!closed.get()) {
                buffer.clear();
                int read = channel.read(buffer);
                if (read < 0) {
                    String middle = line.size() > 0 ? " in the middle of a message" : "";
                    fail(new ConnectionLostException("the daemon closed the connection" + middle, path));
                    return;
                }
                byte[] bytes = buffer.array();
                int start = 0;
                for (int i = 0; i < read; i++) {
                    if (bytes[i] == '\n') {
                        line.write(bytes, start, i - start);
                        start = i + 1;
                        if (line.size() > maxLineLength) {
                            tooLong();
                            return;
                        }
                        byte[] complete = line.toByteArray();
                        line.reset();
                        if (!deliver(complete)) {
                            return;
                        }
                    }
                }
                line.write(bytes, start, read - start);
                if (line.size() > maxLineLength) {
                    tooLong();
                    return;
                }
            }
        } catch (IOException error) {
            fail(new ConnectionLostException("connection lost: " + error.getMessage(), path, error));
        } catch (RuntimeException error) {
            fail(new InvalidResponseException("the client failed reading the connection: " + error, path, error));
        }
    }

    private void tooLong() {
        fail(new LineTooLongException("the daemon sent a line longer than " + maxLineLength + " bytes; connection closed", path));
    }

    private boolean deliver(byte[] bytes) {
        int length = bytes.length;
        if (length > 0 && bytes[length - 1] == '\r') {
            length--;
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes, 0, length))
                    .toString();
        } catch (CharacterCodingException error) {
            fail(new InvalidResponseException("the daemon sent a line that is not UTF-8", path, error));
            return false;
        }
        if (text.isBlank()) {
            return true;
        }
        Object message;
        try {
            message = Json.parse(text);
        } catch (Json.JsonException error) {
            fail(new InvalidResponseException("the daemon sent a line that is not JSON: " + error.getMessage(), path, error));
            return false;
        }
        if (!(message instanceof JsonObject)) {
            fail(new InvalidResponseException("the daemon sent a JSON value that is not a JSON-RPC message object", path));
            return false;
        }
        listener.message((JsonObject) message);
        return true;
    }

    /** The shared timer thread (timeouts, connect watchdogs). */
    static final class Timers {
        private static final java.util.concurrent.ScheduledThreadPoolExecutor TIMER = create();

        private static java.util.concurrent.ScheduledThreadPoolExecutor create() {
            java.util.concurrent.ScheduledThreadPoolExecutor timer = new java.util.concurrent.ScheduledThreadPoolExecutor(1, task -> {
                Thread thread = new Thread(task, "wpwithin-timer");
                thread.setDaemon(true);
                return thread;
            });
            timer.setRemoveOnCancelPolicy(true);
            return timer;
        }

        static ScheduledFuture<?> schedule(long millis, Runnable task) {
            return TIMER.schedule(task, millis, TimeUnit.MILLISECONDS);
        }
    }
}
