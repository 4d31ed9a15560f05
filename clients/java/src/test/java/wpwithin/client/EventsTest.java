package wpwithin.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/** Event streams: order, resumeFrom, resuming across a daemon restart, subscriptionLost, giving up. */
class EventsTest {
    static final List<String> ADDED = List.of(EventTypes.PRODUCER_SERVICE_ADDED);

    static List<Long> addedIds(List<Event> events) {
        List<Long> ids = new ArrayList<>();
        for (Event event : events) {
            if (event.type().equals(EventTypes.PRODUCER_SERVICE_ADDED)) {
                ids.add(event.getLong("serviceId"));
            }
        }
        return ids;
    }

    static List<Event> take(EventStream stream, int count) {
        List<Event> events = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            events.add(stream.next(Duration.ofSeconds(15)));
        }
        return events;
    }

    @Test
    void eventsComeInSeqOrderAndResumeFromReplays() throws IOException {
        try (Harness.Daemon daemon = Harness.lone(); WPWithinClient client = daemon.client(); EventStream stream = client.subscribe(ADDED, null)) {
            assertTrue(stream.subscription().subscribed());
            for (long i = 1; i <= 3; i++) {
                client.addService(Harness.robowash(i));
            }
            List<Event> events = take(stream, 3);
            assertEquals(List.of(1L, 2L, 3L), addedIds(events));
            assertTrue(events.get(0).seq() < events.get(1).seq() && events.get(1).seq() < events.get(2).seq());
            assertEquals(events.get(2).seq(), stream.lastSeq());
            assertTrue(events.get(0).time().endsWith("Z"));
            events.get(0).instant();
            // Nothing more is waiting: next times out, and nothing is lost by that.
            assertThrows(CallTimeoutException.class, () -> stream.next(Duration.ofMillis(200)));
            client.addService(Harness.robowash(4));
            Event fourth = stream.next(Duration.ofSeconds(10));
            assertEquals(4L, fourth.getLong("serviceId"));
            assertEquals(fourth.seq(), stream.lastSeq());

            try (EventStream again = client.subscribe(ADDED, events.get(0).seq())) {
                assertEquals(3L, again.subscription().replayed());
                assertEquals(List.of(2L, 3L, 4L), addedIds(take(again, 3)));
            }
        }
    }

    @Test
    void aStreamResumesAcrossADaemonRestart() throws IOException {
        try (Harness.Daemon daemon = Harness.lone(); WPWithinClient client = daemon.client();
                EventStream stream = client.subscribe(List.of("daemon.started", "daemon.stopping", "producer.serviceAdded"), null)) {
            client.addService(Harness.robowash(1));
            client.addService(Harness.robowash(2));
            assertEquals(List.of(1L, 2L), addedIds(take(stream, 2)));

            // SIGTERM, restart on the same state dir; events happen before the stream notices.
            assertEquals(0, daemon.stop(false));
            daemon.start();
            for (long i = 3; i <= 4; i++) {
                client.addService(Harness.robowash(i)); // the client connects again by itself
            }
            List<Event> seen = new ArrayList<>();
            while (addedIds(seen).size() < 2) {
                seen.add(stream.next(Duration.ofSeconds(30)));
            }
            List<String> types = new ArrayList<>();
            for (Event event : seen) {
                types.add(event.type());
            }
            assertEquals(List.of("daemon.stopping", "daemon.started", "producer.serviceAdded", "producer.serviceAdded"), types);
            assertEquals(List.of(3L, 4L), addedIds(seen));
            for (int i = 1; i < seen.size(); i++) {
                assertTrue(seen.get(i - 1).seq() < seen.get(i).seq(), "seqs carry on across the restart");
            }
            assertTrue(stream.reconnects() >= 1);
            assertEquals(1, stream.daemonRestarts());

            // Killed this time: the stream resumes again, nothing twice.
            daemon.stop(true);
            daemon.start();
            client.addService(Harness.robowash(5));
            Event next = stream.next(Duration.ofSeconds(30));
            while (!next.type().equals(EventTypes.PRODUCER_SERVICE_ADDED)) {
                next = stream.next(Duration.ofSeconds(30));
            }
            assertEquals(5L, next.getLong("serviceId"));
            assertThrows(CallTimeoutException.class, () -> stream.next(Duration.ofMillis(300)));
            assertEquals(2, stream.daemonRestarts());
        }
    }

    @Test
    void withoutReconnectAStreamEndsWithConnectionLost() throws IOException {
        try (Harness.Daemon daemon = Harness.lone(); WPWithinClient client = daemon.client()) {
            EventStream stream = client.subscribe(null, null, false);
            daemon.stop(true);
            assertThrows(ConnectionLostException.class, () -> {
                while (true) {
                    stream.next(Duration.ofSeconds(10));
                }
            });
            stream.close();
            assertThrows(ClientClosedException.class, () -> stream.next(Duration.ofSeconds(1)));
        }
    }

    @Test
    void aStreamGivesUpAfterTheReconnectTimeout() throws IOException {
        try (Harness.Daemon daemon = Harness.lone();
                WPWithinClient client = WPWithinClient.builder().socketPath(daemon.socketPath).reconnectTimeout(Duration.ofMillis(500)).build()) {
            EventStream stream = client.subscribe(ADDED, null);
            daemon.stop(true);
            ConnectionLostException lost = assertThrows(ConnectionLostException.class, () -> stream.next(Duration.ofSeconds(20)));
            assertTrue(lost.getMessage().contains("could not resubscribe"), lost.getMessage());
        }
    }

    @Test
    void subscriptionLostIsResumedWithoutLossOrDuplicates() throws Exception {
        JsonObject config = JsonObject.of("rpc", JsonObject.of("eventBufferPerSubscriber", 16));
        try (Harness.Daemon daemon = new Harness.Daemon("lossy", Harness.loopbackDiscovery(Harness.freeUdpPort(), "producer"), config);
                WPWithinClient client = daemon.client()) {
            // Tiny client-side buffers: the streams stop reading, the daemon drops them; one resumes, one raises.
            WPWithinClient small = WPWithinClient.builder().socketPath(daemon.socketPath).eventBuffer(8).build();
            List<String> types = List.of(EventTypes.PRODUCER_SERVICE_ADDED, EventTypes.PRODUCER_SERVICE_REMOVED);
            EventStream resuming = small.subscribe(types, null);
            EventStream raising = small.subscribe(types, null, false);
            long first = resuming.lastSeq();
            // Four workers add and remove a service of their own, 150 times each (a catalog that stays small).
            int workers = 4;
            int pairs = 150;
            List<Thread> threads = new ArrayList<>();
            List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
            for (int k = 1; k <= workers; k++) {
                long id = 100 + k;
                Thread worker = new Thread(() -> {
                    try {
                        for (int i = 0; i < pairs; i++) {
                            client.addService(Harness.robowash(id));
                            client.removeService(id);
                        }
                    } catch (RuntimeException error) {
                        failures.add(error);
                    }
                });
                worker.start();
                threads.add(worker);
            }
            for (Thread worker : threads) {
                worker.join(120_000);
            }
            assertEquals(List.of(), failures);
            int total = workers * pairs * 2;
            for (int i = 0; i < total; i++) {
                assertEquals(first + 1 + i, resuming.next(Duration.ofSeconds(20)).seq(), "each event once, in order");
            }
            assertThrows(CallTimeoutException.class, () -> resuming.next(Duration.ofMillis(200)));
            assertTrue(resuming.reconnects() >= 1, "the daemon never sent subscriptionLost: flood harder");

            SubscriptionLostException lost = assertThrows(SubscriptionLostException.class, () -> {
                while (true) {
                    raising.next(Duration.ofSeconds(20));
                }
            });
            assertTrue(lost.lastSeq() > first && lost.getMessage().contains("resumeFrom=" + lost.lastSeq()));
            resuming.close();
            raising.close();
            small.close();
        }
    }
}
