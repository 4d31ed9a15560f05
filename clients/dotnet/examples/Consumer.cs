// A consumer that buys car washes through wpwithind: discover, select, pay, then use the washes.
//
// Finds the producer (searchForDevice by --name or --server-id, else the first one deviceDiscovery hears), lists
// its services and prices, selects --units units of the first price, pays, and uses the units in two delivery
// sessions. Prints each phase; exits 0 when every unit was delivered.
//
//   mono Consumer.exe --socket /run/wpwithin.sock --name carwash
using System;
using WPWithin;

public static class Consumer
{
    static void Say(string text) { Console.WriteLine(text); Console.Out.Flush(); }

    sealed class Fatal : Exception { public Fatal(string message) : base(message) { } }

    public static int Main(string[] args)
    {
        string socket = null, name = null, serverId = null;
        long units = 3, timeoutMs = 20000;
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i])
            {
                case "--socket": socket = value; i++; break;
                case "--name": name = value; i++; break;
                case "--server-id": serverId = value; i++; break;
                case "--units": units = long.Parse(value); i++; break;
                case "--timeout-ms": timeoutMs = long.Parse(value); i++; break;
                default:
                    Console.Error.WriteLine("usage: Consumer.exe [--socket PATH] [--name NAME | --server-id ID] [--units N] [--timeout-ms MS]");
                    return 2;
            }
        }
        if (units < 1) { Console.Error.WriteLine("Consumer: --units must be at least 1"); return 2; }
        try
        {
            using (var client = new WPWithinClient(socket))
            {
                // 1. Discover.
                DiscoveredDevice device;
                if (serverId != null || name != null) device = client.SearchForDevice(serverId: serverId, name: name, timeoutMs: timeoutMs);
                else
                {
                    var devices = client.DeviceDiscovery(timeoutMs);
                    if (devices.Count == 0) throw new Fatal("no producer found");
                    device = devices[0];
                }
                var server = device.ServerId;
                Say("discovered: " + device.DeviceName + " (" + server + ") at " + device.Url);
                var services = client.RequestServices(serverId: server)["services"].AsArray();
                foreach (var s in services)
                    Say("service " + s["serviceId"].AsInt64() + ": " + s["name"].AsString() + " - " + s["description"].AsString());
                if (services.Count == 0) throw new Fatal("the producer offers no service");
                var serviceId = services[0]["serviceId"].AsInt64().Value;
                var prices = client.GetServicePrices(serviceId, serverId: server)["prices"].AsArray();
                foreach (var p in prices)
                    Say("price " + p["priceId"].AsInt64() + ": " + p["description"].AsString() + ", " +
                        WPWithinClient.FormatMoney(p["amount"].AsInt64().Value, p["currencyCode"].AsString()) + " per " + p["unitDescription"].AsString());
                if (prices.Count == 0) throw new Fatal("the service has no price");
                var priceId = prices[0]["priceId"].AsInt64().Value;

                // 2. Select.
                var quote = client.SelectService(serviceId, priceId, units, serverId: server);
                var reference = quote.GetString("paymentReferenceId");
                Say("selected: " + quote.GetInt64("unitsToSupply") + " unit(s) for " +
                    WPWithinClient.FormatMoney(quote.GetInt64("totalPrice").Value, quote.GetString("currencyCode")) + " (reference " + reference + ")");

                // 3. Pay.
                var purchase = client.MakePayment(reference);
                var purchaseId = purchase.GetInt64("purchaseId").Value;
                Say("paid: purchase " + purchaseId + ", " + WPWithinClient.FormatMoney(purchase.GetInt64("totalPaid").Value, purchase.GetString("currencyCode")) +
                    ", " + purchase.GetInt64("unitsBought") + " unit(s)");

                // 4. Deliver, in two sessions.
                var first = units - units / 2;
                var sessions = new[] { first, units - first };
                long remaining = units;
                for (var session = 0; session < sessions.Length; session++)
                {
                    if (sessions[session] == 0) continue;
                    var begun = client.BeginServiceDelivery(purchaseId, sessions[session]);
                    var supplied = begun.GetInt64("unitsToSupply").Value;
                    Say("delivery " + (session + 1) + " begun: " + supplied + " unit(s)");
                    var ended = client.EndServiceDelivery(purchaseId, supplied);
                    remaining = ended.GetInt64("unitsRemaining").Value;
                    Say("delivery " + (session + 1) + " ended: " + ended.GetInt64("unitsDelivered") + " delivered, " + remaining + " remaining");
                }
                if (remaining != 0) throw new Fatal(remaining + " unit(s) were not delivered");
            }
        }
        catch (Fatal error) { Console.Error.WriteLine("Consumer: " + error.Message); return 1; }
        catch (WPWithinException error) { Console.Error.WriteLine("Consumer: " + error.Message); return 1; }
        catch (WPWithinClientException error) { Console.Error.WriteLine("Consumer: " + error.Message); return 1; }
        Say("done");
        return 0;
    }
}
