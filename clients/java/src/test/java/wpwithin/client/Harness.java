package wpwithin.client;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Real daemons for the tests: a sandbox gateway, producer and consumer {@code wpwithind}s on loopback,
 * from the binaries in {@code $WPW_BIN} (default {@code <repo>/.build/debug}), as the Python and Node.js
 * tests start them. Network rule: HTE on 127.0.0.1 port 0, discovery broadcasts to 127.255.255.255 from
 * 127.0.0.1 on a free UDP port, the gateway on 127.0.0.1 port 0. Sockets, state and credentials (mode
 * 0600) in temp dirs under /tmp (short: a socket path holds at most 107 bytes).
 */
final class Harness {
    static final String CLIENT_KEY = "T_C_97e8cbaa-14e0-4b1c-b2af-469daf8f1356";
    static final String SERVICE_KEY = "T_S_3bdadc9c-54e0-4587-8d91-29813060fecd";
    static final String CARD = "{\"firstName\":\"Joe\",\"lastName\":\"Bloggs\",\"expMonth\":12,\"expYear\":2099,"
            + "\"cardNumber\":\"4444333322221111\",\"type\":\"Card\",\"cvc\":\"123\"}";
    static final List<Process> PROCESSES = new ArrayList<>();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            synchronized (PROCESSES) {
                for (Process process : PROCESSES) {
                    process.destroyForcibly();
                }
            }
        }));
    }

    private Harness() {}

    static JsonObject robowash(long id) {
        return JsonObject.of("id", id, "name", id == 1 ? "RoboWash" : "Wash " + id, "description", "Car washed by robot",
                "serviceType", "car-wash", "prices", List.of(JsonObject.of("id", 1, "description", "Car wash", "amount", 500,
                        "currencyCode", "GBP", "unitId", 1, "unitDescription", "Single wash", "stock", null)));
    }

    static Path repo() {
        String configured = System.getProperty("wpw.repo");
        Path start = Path.of(configured != null ? configured : "").toAbsolutePath();
        for (Path dir = start; dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve("docs/rpc.md")) && Files.isDirectory(dir.resolve("clients/java"))) {
                return dir;
            }
        }
        throw new IllegalStateException("cannot find the repository from " + start);
    }

    static Path bin(String name) {
        String configured = System.getenv("WPW_BIN");
        Path dir = configured != null && !configured.isEmpty() ? Path.of(configured) : repo().resolve(".build/debug");
        Path path = dir.resolve(name);
        if (!Files.isExecutable(path)) {
            throw new IllegalStateException(path + " is not there: build first (swift build) or set WPW_BIN");
        }
        return path;
    }

    static Path tempDir(String prefix) throws IOException {
        return Files.createTempDirectory(Path.of("/tmp"), prefix);
    }

    static void deleteTree(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        } catch (IOException ignored) {
            // best effort
        }
    }

    static int freeUdpPort() throws IOException {
        try (DatagramSocket socket = new DatagramSocket(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0))) {
            return socket.getLocalPort();
        }
    }

    /** A credentials file, mode 0600 from its creation. */
    static Path writePrivate(Path path, String json) throws IOException {
        Files.deleteIfExists(path);
        Files.createFile(path, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(path, json);
        return path;
    }

    static Map<String, String> loopbackDiscovery(int port, String roles) {
        Map<String, String> env = new HashMap<>();
        env.put("WPWITHIND_ROLES", roles);
        env.put("WPWITHIND_BROADCAST_ADDRESS", "127.255.255.255");
        env.put("WPWITHIND_BROADCAST_SOURCE", "127.0.0.1");
        env.put("WPWITHIND_DISCOVERY_PORT", String.valueOf(port));
        env.put("WPWITHIND_SCAN_BIND_ADDRESS", "127.255.255.255");
        env.put("WPWITHIND_ADVERTISED_HOST", "127.0.0.1");
        env.put("WPWITHIND_HTE_HOST", "127.0.0.1");
        return env;
    }

    static Process spawn(List<String> args, Map<String, String> env, Path log, boolean pipeStdout) throws IOException {
        ProcessBuilder builder = new ProcessBuilder(args);
        builder.environment().clear();
        builder.environment().putAll(env);
        builder.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        builder.redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()));
        builder.redirectOutput(pipeStdout ? ProcessBuilder.Redirect.PIPE : ProcessBuilder.Redirect.DISCARD);
        Process process = builder.start();
        synchronized (PROCESSES) {
            PROCESSES.add(process);
        }
        return process;
    }

    /** One call on a fresh connection, without the client (the harness must not depend on it). */
    static JsonObject rawCall(String socketPath, String method, JsonObject params) throws IOException {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(socketPath));
            JsonObject request = JsonObject.of("jsonrpc", "2.0", "id", 1, "method", method);
            if (params != null) {
                request.put("params", params);
            }
            channel.write(ByteBuffer.wrap((Json.write(request) + "\n").getBytes(StandardCharsets.UTF_8)));
            CompletableFuture<JsonObject> answer = CompletableFuture.supplyAsync(() -> {
                StringBuilder data = new StringBuilder();
                ByteBuffer buffer = ByteBuffer.allocate(65536);
                try {
                    while (true) {
                        buffer.clear();
                        int read = channel.read(buffer);
                        if (read < 0) {
                            throw new IOException("closed");
                        }
                        data.append(new String(buffer.array(), 0, read, StandardCharsets.UTF_8));
                        int newline;
                        while ((newline = data.indexOf("\n")) >= 0) {
                            JsonObject message = JsonObject.parse(data.substring(0, newline));
                            data.delete(0, newline + 1);
                            if (Long.valueOf(1).equals(message.get("id"))) {
                                return message;
                            }
                        }
                    }
                } catch (IOException error) {
                    throw new java.io.UncheckedIOException(error);
                }
            });
            try {
                return answer.get(5, TimeUnit.SECONDS);
            } catch (Exception error) {
                throw new IOException(method + ": " + error, error);
            }
        }
    }

    /** A {@code wpwithind} on a temp socket and state dir; restartable on the same state. */
    static final class Daemon implements AutoCloseable {
        final String name;
        final Path dir;
        final String socketPath;
        final Path stateDir;
        final Path log;
        final Map<String, String> env = new HashMap<>();
        final List<String> extraArgs = new ArrayList<>();
        Process process;

        Daemon(String name, Map<String, String> env, JsonObject config) throws IOException {
            this.name = name;
            this.dir = tempDir("wpw-j" + name.substring(0, Math.min(4, name.length())) + "-");
            this.socketPath = dir.resolve("rpc.sock").toString();
            this.stateDir = dir.resolve("state");
            this.log = dir.resolve("daemon.log");
            if (config != null) {
                Path configPath = dir.resolve("config.json");
                Files.writeString(configPath, config.toJson());
                extraArgs.addAll(List.of("--config", configPath.toString()));
            }
            for (Map.Entry<String, String> entry : System.getenv().entrySet()) {
                String key = entry.getKey();
                if (!(key.startsWith("WPWITHIND_") || key.startsWith("LISTEN_") || key.startsWith("WATCHDOG_")
                        || key.equals("CREDENTIALS_DIRECTORY") || key.equals("NOTIFY_SOCKET") || key.equals("WPWITHIN_SOCKET"))) {
                    this.env.put(key, entry.getValue());
                }
            }
            this.env.putAll(Map.of("WPWITHIND_HTE_HOST", "127.0.0.1", "WPWITHIND_HTE_PORT", "0",
                    "WPWITHIND_STORE_SYNCHRONOUS", "normal", "WPWITHIND_DEVICE_NAME", name));
            this.env.putAll(env);
            start();
        }

        void start() throws IOException {
            List<String> args = new ArrayList<>(List.of(bin("wpwithind").toString(), "--socket", socketPath,
                    "--state-dir", stateDir.toString(), "--log-level", "debug"));
            args.addAll(extraArgs);
            process = spawn(args, env, log, false);
            waitReady();
        }

        void waitReady() throws IOException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (System.nanoTime() < deadline) {
                if (!process.isAlive()) {
                    throw new IllegalStateException(name + " exited with " + process.exitValue() + ":\n" + log());
                }
                try {
                    JsonObject result = rawCall(socketPath, "getStatus", null).getObject("result");
                    if (result != null && Boolean.TRUE.equals(result.getBoolean("ready"))) {
                        return;
                    }
                } catch (IOException | RuntimeException notYet) {
                    // starting
                }
                sleep(20);
            }
            throw new IllegalStateException(name + " did not get ready:\n" + log());
        }

        /** SIGTERM (or SIGKILL when {@code kill}); returns the exit status. */
        int stop(boolean kill) {
            if (process == null || !process.isAlive()) {
                return process == null ? -1 : process.exitValue();
            }
            if (kill) {
                process.destroyForcibly();
            } else {
                process.destroy();
            }
            try {
                if (!process.waitFor(15, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    process.waitFor();
                }
            } catch (InterruptedException interrupted) {
                Thread.currentThread().interrupt();
            }
            return process.exitValue();
        }

        String log() {
            try {
                String text = Files.readString(log);
                return text.substring(Math.max(0, text.length() - 4000));
            } catch (IOException error) {
                return "";
            }
        }

        WPWithinClient client() {
            return new WPWithinClient(socketPath);
        }

        @Override
        public void close() {
            stop(false);
            deleteTree(dir);
        }
    }

    /** The sandbox gateway on 127.0.0.1, port 0 (it prints {"port": N} on its first line). */
    static final class Sandbox implements AutoCloseable {
        final Path dir;
        final Process process;
        final String endpoint;

        Sandbox() throws IOException {
            dir = tempDir("wpw-jgw-");
            process = spawn(List.of(bin("wpw-sandbox-gateway").toString(), "--host", "127.0.0.1", "--port", "0"),
                    System.getenv(), dir.resolve("sandbox.log"), true);
            BufferedReader reader = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            CompletableFuture<String> line = CompletableFuture.supplyAsync(() -> {
                try {
                    return reader.readLine();
                } catch (IOException error) {
                    return null;
                }
            });
            String first;
            try {
                first = line.get(30, TimeUnit.SECONDS);
            } catch (Exception error) {
                throw new IOException("the sandbox gateway did not say where it listens", error);
            }
            if (first == null) {
                throw new IOException("the sandbox gateway exited");
            }
            endpoint = "http://127.0.0.1:" + JsonObject.parse(first).getLong("port");
        }

        @Override
        public void close() {
            process.destroy();
            deleteTree(dir);
        }
    }

    /** A sandbox gateway, a producer and a consumer that find each other on loopback. */
    static final class World implements AutoCloseable {
        final Path dir;
        final Daemon producer;
        final Daemon consumer;
        final String serverId;

        World(Sandbox sandbox, JsonObject producerConfig, String name) throws IOException {
            dir = tempDir("wpw-jcred-");
            Path merchant = writePrivate(dir.resolve("merchant.json"),
                    JsonObject.of("clientKey", CLIENT_KEY, "serviceKey", SERVICE_KEY).toJson());
            Path card = writePrivate(dir.resolve("card.json"), CARD);
            int port = freeUdpPort();
            Map<String, String> producerEnv = loopbackDiscovery(port, "producer");
            producerEnv.put("WPWITHIND_GATEWAY_ENDPOINT", sandbox.endpoint);
            producerEnv.put("WPWITHIND_MERCHANT_FILE", merchant.toString());
            producer = new Daemon(name, producerEnv, producerConfig);
            Map<String, String> consumerEnv = loopbackDiscovery(port, "consumer");
            consumerEnv.put("WPWITHIND_GATEWAY_ENDPOINT", sandbox.endpoint);
            consumerEnv.put("WPWITHIND_CARD_FILE", card.toString());
            consumer = new Daemon("consumer", consumerEnv, null);
            serverId = rawCall(producer.socketPath, "getDevice", null).getObject("result").getString("serverId");
        }

        /** Starts the producer's broadcast and waits until the consumer hears it. */
        void discover(WPWithinClient consumerClient) throws IOException {
            rawCall(producer.socketPath, "startServiceBroadcast", JsonObject.of("timeoutMs", 0));
            consumerClient.searchForDevice(serverId, null, 20000L);
        }

        @Override
        public void close() {
            producer.close();
            consumer.close();
            deleteTree(dir);
        }
    }

    /** Shared by the test classes: one gateway for the whole run. */
    static synchronized Sandbox sandbox() throws IOException {
        if (sharedSandbox == null) {
            sharedSandbox = new Sandbox();
            Runtime.getRuntime().addShutdownHook(new Thread(sharedSandbox::close));
        }
        return sharedSandbox;
    }

    private static Sandbox sharedSandbox;

    /** A lone daemon (both roles, no credentials) that a test may stop, kill and restart. */
    static Daemon lone() throws IOException {
        return new Daemon("lone", loopbackDiscovery(freeUdpPort(), "producer,consumer"), null);
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
