import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import wpwithin.client.AlreadyExistsException;
import wpwithin.client.Event;
import wpwithin.client.EventStream;
import wpwithin.client.EventTypes;
import wpwithin.client.JsonObject;
import wpwithin.client.WPWithinClient;
import wpwithin.client.WPWithinClientException;
import wpwithin.client.WPWithinException;
import wpwithin.client.types.Service;

/**
 * A car wash that sells washes through wpwithind (the producer side of Worldpay Within).
 *
 * <p>Registers a car-wash service with its daemon (addService), broadcasts it on the discovery port
 * (startServiceBroadcast) and prints every delivery the daemon reports: a consumer that paid begins a
 * delivery (the wash starts) and ends it (the washes it received). Exits after --deliveries finished
 * deliveries (0: run until Ctrl-C). JDK only, plus the wpwithin client.
 *
 * <pre>
 *   javac -cp CLIENT -d out clients/java/examples/*.java     # CLIENT: the client's classes or jar
 *   java -cp CLIENT:out CarwashProducer --socket /run/wpwithin.sock --deliveries 2
 * </pre>
 */
public final class CarwashProducer {
    private CarwashProducer() {}

    static JsonObject carWash(long serviceId, long amount, String currency) {
        return JsonObject.of("id", serviceId, "name", "Car wash", "description", "Car washed by robot", "serviceType", "car-wash",
                "prices", List.of(JsonObject.of("id", 1, "description", "One wash", "amount", amount, "currencyCode", currency,
                        "unitId", 1, "unitDescription", "Single wash", "stock", null)));
    }

    static void say(String text) {
        System.out.println(text);
        System.out.flush();
    }

    public static void main(String[] args) throws InterruptedException {
        Map<String, String> options = Money.options(args, "--socket", "--deliveries", "--service-id", "--amount", "--currency");
        long deliveries = Long.parseLong(options.getOrDefault("--deliveries", "0"));
        long serviceId = Long.parseLong(options.getOrDefault("--service-id", "1"));
        long amount = Long.parseLong(options.getOrDefault("--amount", "500"));
        String currency = options.getOrDefault("--currency", "GBP");
        CountDownLatch stopped = new CountDownLatch(1);
        AtomicBoolean exiting = new AtomicBoolean();
        WPWithinClient client = new WPWithinClient(options.get("--socket"));
        EventStream[] stream = new EventStream[1];
        // Ctrl-C (SIGINT) or SIGTERM: end the event loop, let it stop broadcasting and close, exit 0.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (exiting.get()) {
                return;
            }
            say("interrupted");
            if (stream[0] != null) {
                stream[0].close();
            }
            try {
                stopped.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException ignored) {
                // exiting anyway
            }
            Runtime.getRuntime().halt(0);
        }));
        int status = 0;
        long finished = 0;
        try {
            var device = client.getDevice();
            say("producer: " + device.name() + " (" + device.serverId() + ")");
            // Subscribe first, so no delivery that follows is missed.
            stream[0] = client.subscribe(List.of(EventTypes.PRODUCER_DELIVERY_BEGUN, EventTypes.PRODUCER_DELIVERY_ENDED), null);
            try {
                Service service = client.addService(carWash(serviceId, amount, currency));
                say("service " + service.getLong("id") + " registered: " + service.getString("name") + ", "
                        + Money.format(amount, currency) + " a wash");
            } catch (AlreadyExistsException exists) {
                say("service " + serviceId + " already registered");
            }
            client.startServiceBroadcast(0L);
            say("ready: broadcasting, waiting for customers");
            for (Event event : stream[0]) {
                if (event.type().equals(EventTypes.PRODUCER_DELIVERY_BEGUN)) {
                    say("delivery begun: " + event.getLong("unitsGranted") + " wash(es) for payment " + event.getString("paymentReferenceId"));
                } else {
                    finished++;
                    say("delivery ended: " + event.getLong("unitsCommitted") + " wash(es) done, "
                            + event.getLong("unitsDelivered") + " of " + event.getLong("unitsPurchased") + " delivered");
                    if (deliveries > 0 && finished >= deliveries) {
                        break;
                    }
                }
            }
            try {
                client.stopServiceBroadcast();
            } catch (WPWithinException | WPWithinClientException ignored) {
                // the daemon may be gone
            }
            say("stopped after " + finished + " deliveries");
        } catch (WPWithinException | WPWithinClientException error) {
            System.err.println("CarwashProducer: " + error.getMessage());
            status = 1;
        } finally {
            if (stream[0] != null) {
                stream[0].close();
            }
            client.close();
            stopped.countDown();
        }
        exiting.set(true);
        System.exit(status); // on a signal this waits for the hook, which exits 0
    }
}
