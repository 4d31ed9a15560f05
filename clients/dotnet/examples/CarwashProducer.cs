// A car wash that sells washes through wpwithind (the producer side of Worldpay Within).
//
// Registers a car-wash service with its daemon (addService), broadcasts it on the discovery port
// (startServiceBroadcast) and prints every delivery the daemon reports: a consumer that paid begins a delivery
// (the wash starts) and ends it (the washes it received). Exits after --deliveries finished deliveries
// (0: run until Ctrl-C).
//
//   mono CarwashProducer.exe --socket /run/wpwithin.sock --deliveries 2
using System;
using System.Threading;
using WPWithin;

public static class CarwashProducer
{
    static void Say(string text) { Console.WriteLine(text); Console.Out.Flush(); }

    static JsonObject CarWash(long serviceId, long amount, string currency)
    {
        return new JsonObject
        {
            { "id", serviceId },
            { "name", "Car wash" },
            { "description", "Car washed by robot" },
            { "serviceType", "car-wash" },
            { "prices", new JsonArray
                {
                    new JsonObject
                    {
                        { "id", 1 }, { "description", "One wash" }, { "amount", amount }, { "currencyCode", currency },
                        { "unitId", 1 }, { "unitDescription", "Single wash" }, { "stock", JsonValue.Null },
                    },
                }
            },
        };
    }

    public static int Main(string[] args)
    {
        string socket = null, currency = "GBP";
        long deliveries = 0, serviceId = 1, amount = 500;
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i])
            {
                case "--socket": socket = value; i++; break;
                case "--deliveries": deliveries = long.Parse(value); i++; break;
                case "--service-id": serviceId = long.Parse(value); i++; break;
                case "--amount": amount = long.Parse(value); i++; break;
                case "--currency": currency = value; i++; break;
                default:
                    Console.Error.WriteLine("usage: CarwashProducer.exe [--socket PATH] [--deliveries N] [--service-id ID] [--amount MINOR] [--currency CODE]");
                    return 2;
            }
        }
        var finished = 0;
        var interrupted = false;
        try
        {
            using (var client = new WPWithinClient(socket))
            {
                var device = client.GetDevice();
                Say("producer: " + device.Name + " (" + device.ServerId + ")");
                // Subscribe first, so no delivery that follows is missed.
                using (var events = client.Subscribe(new[] { EventTypes.ProducerDeliveryBegun, EventTypes.ProducerDeliveryEnded }))
                {
                    Console.CancelKeyPress += (sender, e) => { e.Cancel = true; interrupted = true; events.Close(); };
                    try
                    {
                        var service = client.AddService(CarWash(serviceId, amount, currency));
                        Say("service " + service.GetInt64("id") + " registered: " + service.GetString("name") + ", " +
                            WPWithinClient.FormatMoney(amount, currency) + " a wash");
                    }
                    catch (AlreadyExistsException)
                    {
                        Say("service " + serviceId + " already registered");
                    }
                    client.StartServiceBroadcast(timeoutMs: 0);
                    Say("ready: broadcasting, waiting for customers");
                    try
                    {
                        foreach (var e in events)
                        {
                            if (e.Type == EventTypes.ProducerDeliveryBegun)
                            {
                                Say("delivery begun: " + e.GetInt64("unitsGranted") + " wash(es) for payment " + e.GetString("paymentReferenceId"));
                                continue;
                            }
                            finished++;
                            Say("delivery ended: " + e.GetInt64("unitsCommitted") + " wash(es) done, " +
                                e.GetInt64("unitsDelivered") + " of " + e.GetInt64("unitsPurchased") + " delivered");
                            if (deliveries > 0 && finished >= deliveries) break;
                        }
                    }
                    finally
                    {
                        try { client.StopServiceBroadcast(); }
                        catch (WPWithinException) { }
                        catch (WPWithinClientException) { }
                    }
                }
            }
        }
        catch (WPWithinException error) { Console.Error.WriteLine("CarwashProducer: " + error.Message); return 1; }
        catch (WPWithinClientException error) { Console.Error.WriteLine("CarwashProducer: " + error.Message); return 1; }
        Say(interrupted ? "interrupted" : "stopped after " + finished + " deliveries");
        return 0;
    }
}
