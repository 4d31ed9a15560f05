import java.util.List;
import java.util.Map;

import wpwithin.client.JsonObject;
import wpwithin.client.WPWithinClient;
import wpwithin.client.WPWithinClientException;
import wpwithin.client.WPWithinException;
import wpwithin.client.types.DeliveryBegun;
import wpwithin.client.types.DeliveryEnded;
import wpwithin.client.types.DiscoveredDevice;
import wpwithin.client.types.Purchase;
import wpwithin.client.types.Quote;

/**
 * A consumer that buys car washes through wpwithind: discover, select, pay, then use the washes.
 *
 * <p>Finds the producer (searchForDevice by --name or --server-id, else the first one deviceDiscovery
 * hears), lists its services and prices, selects --units units of the first price, pays, and uses the
 * units in two delivery sessions. Prints each phase; exits 0 when every unit was delivered.
 *
 * <pre>
 *   javac -cp CLIENT -d out clients/java/examples/*.java     # CLIENT: the client's classes or jar
 *   java -cp CLIENT:out Consumer --socket /run/wpwithin.sock --name carwash
 * </pre>
 */
public final class Consumer {
    private Consumer() {}

    static void say(String text) {
        System.out.println(text);
        System.out.flush();
    }

    static int run(Map<String, String> options) {
        long units = Long.parseLong(options.getOrDefault("--units", "3"));
        long timeoutMs = Long.parseLong(options.getOrDefault("--timeout-ms", "20000"));
        if (units < 1) {
            System.err.println("Consumer: --units must be at least 1");
            return 2;
        }
        try (WPWithinClient client = new WPWithinClient(options.get("--socket"))) {
            // 1. Discover.
            DiscoveredDevice device;
            if (options.containsKey("--server-id") || options.containsKey("--name")) {
                device = client.searchForDevice(options.get("--server-id"), options.get("--name"), timeoutMs);
            } else {
                List<DiscoveredDevice> devices = client.deviceDiscovery(timeoutMs);
                if (devices.isEmpty()) {
                    System.err.println("Consumer: no producer found");
                    return 1;
                }
                device = devices.get(0);
            }
            String server = device.serverId();
            say("discovered: " + device.deviceName() + " (" + server + ") at " + device.url());
            List<Object> services = client.requestServices(server, null).getList("services");
            for (Object s : services) {
                JsonObject service = (JsonObject) s;
                say("service " + service.getLong("serviceId") + ": " + service.getString("name") + " - " + service.getString("description"));
            }
            if (services.isEmpty()) {
                System.err.println("Consumer: the producer offers no service");
                return 1;
            }
            long serviceId = ((JsonObject) services.get(0)).getLong("serviceId");
            List<Object> prices = client.getServicePrices(server, null, serviceId).getList("prices");
            for (Object p : prices) {
                JsonObject price = (JsonObject) p;
                say("price " + price.getLong("priceId") + ": " + price.getString("description") + ", "
                        + Money.format(price.getLong("amount"), price.getString("currencyCode")) + " per " + price.getString("unitDescription"));
            }
            if (prices.isEmpty()) {
                System.err.println("Consumer: the service has no price");
                return 1;
            }
            long priceId = ((JsonObject) prices.get(0)).getLong("priceId");

            // 2. Select.
            Quote quote = client.selectService(server, null, serviceId, priceId, units);
            say("selected: " + quote.getLong("unitsToSupply") + " unit(s) for " + Money.format(quote.getLong("totalPrice"), quote.getString("currencyCode"))
                    + " (reference " + quote.getString("paymentReferenceId") + ")");

            // 3. Pay.
            Purchase purchase = client.makePayment(quote.getString("paymentReferenceId"));
            long purchaseId = purchase.getLong("purchaseId");
            say("paid: purchase " + purchaseId + ", " + Money.format(purchase.getLong("totalPaid"), purchase.getString("currencyCode"))
                    + ", " + purchase.getLong("unitsBought") + " unit(s)");

            // 4. Deliver, in two sessions.
            long firstSession = units - units / 2;
            long[] sessions = {firstSession, units - firstSession};
            DeliveryEnded ended = null;
            for (int i = 0; i < sessions.length; i++) {
                if (sessions[i] == 0) {
                    continue;
                }
                DeliveryBegun begun = client.beginServiceDelivery(purchaseId, sessions[i]);
                say("delivery " + (i + 1) + " begun: " + begun.getLong("unitsToSupply") + " unit(s)");
                ended = client.endServiceDelivery(purchaseId, begun.getLong("unitsToSupply"));
                say("delivery " + (i + 1) + " ended: " + ended.getLong("unitsDelivered") + " delivered, " + ended.getLong("unitsRemaining") + " remaining");
            }
            if (ended == null || ended.getLong("unitsRemaining") != 0) {
                System.err.println("Consumer: not every unit was delivered");
                return 1;
            }
        } catch (WPWithinException | WPWithinClientException error) {
            System.err.println("Consumer: " + error.getMessage());
            return 1;
        }
        say("done");
        return 0;
    }

    public static void main(String[] args) {
        System.exit(run(Money.options(args, "--socket", "--name", "--server-id", "--units", "--timeout-ms")));
    }
}
