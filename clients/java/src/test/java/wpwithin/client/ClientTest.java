package wpwithin.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import wpwithin.client.types.Device;
import wpwithin.client.types.Status;

/** Connecting, pipelining, timeouts, a lost connection, the daemon's own limits; against a lone daemon. */
class ClientTest {
    static Harness.Daemon daemon;

    @BeforeAll
    static void start() throws IOException {
        daemon = Harness.lone();
    }

    @AfterAll
    static void stop() {
        daemon.close();
    }

    @Test
    void typedResultsAndPipelinedCallsFromManyThreads() throws Exception {
        try (WPWithinClient client = daemon.client()) {
            Device device = client.getDevice();
            assertEquals(36, device.serverId().length());
            assertEquals(List.of("producer", "consumer"), device.roles());
            Status status = client.getStatus();
            assertTrue(status.ready());
            assertEquals(daemon.socketPath, status.socketPath());
            assertNotNull(status.health().store());
            assertNotNull(status.pid());
            assertTrue(status.json().containsKey("health"));
            assertTrue(client.getMetrics().text().contains("# TYPE"));
            assertEquals(Schemas.DAEMON_VERSION, client.discover().getObject("info").getString("version"));

            List<CompletableFuture<Device>> calls = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                calls.add(client.getDeviceAsync());
            }
            for (CompletableFuture<Device> call : calls) {
                assertEquals(device, call.get(10, TimeUnit.SECONDS));
            }
            // What is chained on a future never runs on the connection's reader (a callback thread, or the
            // caller's when the future is already complete): a blocking call there is fine.
            String nested = client.getDeviceAsync().thenApply(d -> Thread.currentThread().getName() + " " + client.getStatus().ready())
                    .get(10, TimeUnit.SECONDS);
            assertTrue(nested.endsWith(" true") && !nested.startsWith("wpwithin-reader"), nested);
            ExecutionException refused = assertThrows(ExecutionException.class,
                    () -> client.callAsync("removeService", JsonObject.of("serviceId", 424242), null)
                            .whenComplete((r, e) -> assertTrue(!Thread.currentThread().getName().startsWith("wpwithin-reader")))
                            .get(10, TimeUnit.SECONDS));
            assertInstanceOf(NotFoundException.class, refused.getCause());
        }
    }

    @Test
    void aCallThatTakesLongerThanItsTimeoutFailsAndTheConnectionGoesOn() throws Exception {
        try (WPWithinClient client = daemon.client()) {
            long started = System.nanoTime();
            CallTimeoutException timeout = assertThrows(CallTimeoutException.class,
                    () -> client.call("deviceDiscovery", JsonObject.of("timeoutMs", 3000), Duration.ofMillis(300)));
            long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
            assertTrue(tookMillis < 2500, "took " + tookMillis + " ms");
            assertTrue(timeout.getMessage().contains("deviceDiscovery"));
            assertEquals("timeout", timeout.code());
            // The late answer is dropped; the connection serves the next calls.
            assertNotNull(client.getDevice().serverId());
            assertTrue(client.isConnected());
        }
    }

    @Test
    void aDaemonThatNeverAnswersCannotHangACall() throws Exception {
        Path dir = Harness.tempDir("wpw-jmute-");
        Path socket = dir.resolve("mute.sock");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket));
            List<SocketChannel> accepted = new ArrayList<>();
            Thread acceptor = new Thread(() -> {
                try {
                    while (true) {
                        accepted.add(server.accept()); // reads nothing, answers nothing
                    }
                } catch (IOException closed) {
                    // done
                }
            });
            acceptor.setDaemon(true);
            acceptor.start();
            try (WPWithinClient client = WPWithinClient.builder().socketPath(socket.toString()).timeout(Duration.ofMillis(400)).build()) {
                assertThrows(CallTimeoutException.class, client::getDevice);
                ExecutionException failed = assertThrows(ExecutionException.class, () -> client.getStatusAsync().get(10, TimeUnit.SECONDS));
                assertInstanceOf(CallTimeoutException.class, failed.getCause());
                // Subscribing waits for the answer no longer than the timeout either.
                assertThrows(CallTimeoutException.class, () -> client.subscribe());
            }
        } finally {
            Harness.deleteTree(dir);
        }
    }

    @Test
    void connectFailuresSayWhy() throws IOException {
        Path dir = Harness.tempDir("wpw-jconn-");
        try {
            SocketNotFoundException missing = assertThrows(SocketNotFoundException.class,
                    () -> new WPWithinClient(dir.resolve("none.sock").toString()).getDevice());
            assertTrue(missing.getMessage().contains("no such socket"));
            assertEquals("noSuchSocket", missing.code());
            assertTrue(missing.isConnectFailure());

            Path stale = dir.resolve("stale.sock");
            ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(stale));
            server.close(); // the file stays, nobody listens
            assertThrows(StaleSocketException.class, () -> new WPWithinClient(stale.toString()).connect());

            Path file = Files.writeString(dir.resolve("file"), "x");
            assertThrows(NotASocketException.class, () -> new WPWithinClient(file.toString()).connect());
            String longPath = "/tmp/" + "x".repeat(120) + ".sock";
            assertThrows(SocketPathTooLongException.class, () -> new WPWithinClient(longPath).connect());

            // The future style fails the same way, without throwing at the call.
            ExecutionException failed = assertThrows(ExecutionException.class,
                    () -> new WPWithinClient(dir.resolve("none.sock").toString()).getDeviceAsync().get(5, TimeUnit.SECONDS));
            assertInstanceOf(SocketNotFoundException.class, failed.getCause());
        } finally {
            Harness.deleteTree(dir);
        }
    }

    @Test
    void aLostConnectionFailsTheCallsWaitingAndTheNextCallReconnects() throws Exception {
        try (Harness.Daemon own = Harness.lone(); WPWithinClient client = own.client()) {
            String before = client.getDevice().serverId();
            CompletableFuture<?> waiting = client.deviceDiscoveryAsync(5000L);
            Harness.sleep(200);
            own.stop(true);
            ExecutionException failed = assertThrows(ExecutionException.class, () -> waiting.get(10, TimeUnit.SECONDS));
            assertInstanceOf(ConnectionLostException.class, failed.getCause());
            assertFalse(client.isConnected());
            assertThrows(StaleSocketException.class, client::getDevice); // killed: its socket file stays
            own.start();
            assertEquals(before, client.getDevice().serverId()); // connects again by itself
        }
    }

    @Test
    void aLineOverTheDaemonsLimitIsMessageTooLarge() {
        try (WPWithinClient client = daemon.client()) {
            MessageTooLargeException tooLarge = assertThrows(MessageTooLargeException.class,
                    () -> client.call("getDevice", JsonObject.of("pad", "x".repeat(1_100_000))));
            assertEquals(-32001, tooLarge.code());
            assertNotNull(client.getDevice()); // a new connection
        }
    }

    @Test
    void aClosedClientRefusesCalls() {
        WPWithinClient client = daemon.client();
        client.getDevice();
        client.close();
        client.close();
        assertThrows(ClientClosedException.class, client::getDevice);
    }

    @Test
    void theSocketPathRule() {
        assertEquals("/x.sock", WPWithinClient.resolveSocketPath("/x.sock"));
        String environment = System.getenv("WPWITHIN_SOCKET");
        assertEquals(environment == null || environment.isEmpty() ? "/run/wpwithin.sock" : environment, WPWithinClient.resolveSocketPath(null));
    }
}
