package wpwithin.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import wpwithin.client.types.DeliveryBegun;
import wpwithin.client.types.DeliveryEnded;
import wpwithin.client.types.DiscoveredDevice;
import wpwithin.client.types.PriceList;
import wpwithin.client.types.Purchase;
import wpwithin.client.types.Quote;
import wpwithin.client.types.ServiceList;

/** Discover -> services -> prices -> select -> pay -> deliver, blocking and with futures; refusals as exceptions. */
class PurchaseTest {
    static Harness.World world;

    @BeforeAll
    static void start() throws IOException {
        world = new Harness.World(Harness.sandbox(), JsonObject.of("producer", JsonObject.of("services", List.of(Harness.robowash(1)))), "producer");
    }

    @AfterAll
    static void stop() {
        world.close();
    }

    @Test
    void aConsumerBuysThreeUnitsAndUsesThemInTwoSessions() throws IOException {
        try (WPWithinClient producer = world.producer.client(); WPWithinClient consumer = world.consumer.client();
                EventStream deliveries = producer.subscribe(List.of(EventTypes.PRODUCER_DELIVERY_BEGUN, EventTypes.PRODUCER_DELIVERY_ENDED), null)) {
            // Discover.
            producer.startServiceBroadcast(0L);
            DiscoveredDevice device = consumer.searchForDevice(world.serverId, null, 20000L);
            assertEquals(world.serverId, device.serverId());
            assertEquals("127.0.0.1", device.hostname());
            ServiceList services = consumer.requestServices(world.serverId, null);
            JsonObject service = (JsonObject) services.getList("services").get(0);
            assertEquals("RoboWash", service.getString("name"));
            PriceList prices = consumer.getServicePrices(world.serverId, null, service.getLong("serviceId"));
            JsonObject price = (JsonObject) prices.getList("prices").get(0);
            assertEquals(500L, price.getLong("amount"));
            assertEquals("GBP", price.getString("currencyCode"));

            // Select.
            Quote quote = consumer.selectService(world.serverId, null, 1, price.getLong("priceId"), 3);
            assertEquals(1500L, quote.getLong("totalPrice"));
            assertEquals(3L, quote.getLong("unitsToSupply"));

            // Pay, twice: the same purchase, charged once.
            Purchase purchase = consumer.makePayment(quote.getString("paymentReferenceId"));
            assertEquals(3L, purchase.getLong("unitsBought"));
            assertEquals(1500L, purchase.getLong("totalPaid"));
            long id = purchase.getLong("purchaseId");
            assertEquals(id, consumer.makePayment(quote.getString("paymentReferenceId")).getLong("purchaseId"));

            // Deliver: 2 units, then 1.
            DeliveryBegun begun = consumer.beginServiceDelivery(id, 2);
            assertEquals(2L, begun.getLong("unitsToSupply"));
            assertEquals(1L, consumer.endServiceDelivery(id, 2).getLong("unitsRemaining"));
            assertEquals(1L, consumer.beginServiceDelivery(id, 1).getLong("unitsToSupply"));
            DeliveryEnded ended = consumer.endServiceDelivery(id, 1);
            assertEquals(0L, ended.getLong("unitsRemaining"));
            assertEquals(3L, ended.getLong("unitsDelivered"));
            Purchase listed = consumer.listPurchases().stream().filter(p -> p.getLong("purchaseId") == id).findFirst().orElseThrow();
            assertEquals(3L, listed.getLong("unitsDelivered"));

            // The producer's app heard every begin and end, in order.
            List<String> types = new java.util.ArrayList<>();
            for (int i = 0; i < 4; i++) {
                types.add(deliveries.next(Duration.ofSeconds(10)).type());
            }
            assertEquals(List.of("producer.deliveryBegun", "producer.deliveryEnded", "producer.deliveryBegun", "producer.deliveryEnded"), types);
            // No PAN in the daemons' logs (the client itself logs nothing), nor in what the client got.
            for (Harness.Daemon daemon : List.of(world.consumer, world.producer)) {
                assertTrue(!java.nio.file.Files.readString(daemon.log).contains("4444333322221111"), daemon.name);
            }
            assertTrue(!consumer.getStatus().json().toJson().contains("4444333322221111"));
        }
    }

    @Test
    void theSameFlowWithFutures() throws Exception {
        try (WPWithinClient consumer = world.consumer.client(); WPWithinClient producer = world.producer.client()) {
            producer.startServiceBroadcastAsync(0L).get(10, TimeUnit.SECONDS);
            consumer.searchForDevice(world.serverId, null, 20000L);
            EventStream events = consumer.subscribeAsync(List.of(EventTypes.CONSUMER_PURCHASE_RECORDED, EventTypes.CONSUMER_DELIVERY_ENDED), null)
                    .get(10, TimeUnit.SECONDS);
            CompletableFuture<DeliveryEnded> flow = consumer.selectServiceAsync(world.serverId, null, 1, 1, 2)
                    .thenCompose(quote -> consumer.makePaymentAsync(quote.getString("paymentReferenceId")))
                    .thenCompose(purchase -> consumer.beginServiceDeliveryAsync(purchase.getLong("purchaseId"), 2)
                            .thenCompose(begun -> consumer.endServiceDeliveryAsync(purchase.getLong("purchaseId"), begun.getLong("unitsToSupply"))));
            assertEquals(0L, flow.get(30, TimeUnit.SECONDS).getLong("unitsRemaining"));
            Event recorded = events.next(Duration.ofSeconds(10));
            Event ended = events.next(Duration.ofSeconds(10));
            assertEquals("consumer.purchaseRecorded", recorded.type());
            assertEquals("consumer.deliveryEnded", ended.type());
            assertTrue(recorded.seq() < ended.seq());
            events.close();
        }
    }

    @Test
    void theDaemonsRefusalsAreTypedAndChangeNothing() throws IOException {
        try (WPWithinClient consumer = world.consumer.client(); WPWithinClient producer = world.producer.client()) {
            world.discover(consumer);
            String server = world.serverId;
            int purchases = consumer.listPurchases().size();
            int services = producer.listServices().size();

            NotFoundException unknown = assertThrows(NotFoundException.class,
                    () -> consumer.requestServices("00000000-0000-4000-8000-000000000000", null));
            assertEquals(-32010, unknown.code());
            assertEquals("notFound", unknown.codeName());
            assertEquals("requestServices", unknown.method());
            assertThrows(NotFoundException.class, () -> consumer.selectService(server, null, 1, 9, 1));
            assertThrows(NotFoundException.class, () -> consumer.makePayment("no-such-reference"));
            assertThrows(NotFoundException.class, () -> consumer.beginServiceDelivery(999999, 1));
            AlreadyExistsException taken = assertThrows(AlreadyExistsException.class, () -> producer.addService(Harness.robowash(1)));
            assertTrue(taken instanceof WPWithinException);
            assertThrows(RoleDisabledException.class, () -> consumer.listServices());
            assertThrows(RoleDisabledException.class, () -> producer.selectService(null, "http://127.0.0.1:9", 1, 1, 1));

            // Sent raw (no checks in call()), the daemon refuses a bad parameter by name.
            InvalidParamsException invalid = assertThrows(InvalidParamsException.class,
                    () -> consumer.call("beginServiceDelivery", JsonObject.of("purchaseId", 1, "units", 0)));
            assertEquals("units", invalid.dataObject().getString("field"));
            assertThrows(MethodNotFoundException.class, () -> consumer.call("noSuchMethod", null));

            // Caught before sending: nothing reaches the daemon.
            assertThrows(IllegalArgumentException.class, () -> consumer.beginServiceDelivery(1, 0));
            assertThrows(IllegalArgumentException.class, () -> consumer.selectService(server, null, 1, 1, 1L << 31));
            assertThrows(IllegalArgumentException.class, () -> consumer.makePayment(null));
            assertThrows(IllegalArgumentException.class, () -> consumer.endServiceDelivery(1, -1));
            assertThrows(IllegalArgumentException.class, () -> consumer.deviceDiscovery(600001L));
            assertThrows(IllegalArgumentException.class, () -> consumer.subscribe(List.of("no.such.event"), null));
            assertThrows(IllegalArgumentException.class, () -> consumer.subscribe(null, -1L));
            assertThrows(IllegalArgumentException.class, () -> producer.addService(java.util.Map.of("id", new Object())));

            assertEquals(purchases, consumer.listPurchases().size());
            assertEquals(services, producer.listServices().size());
        }
    }
}
