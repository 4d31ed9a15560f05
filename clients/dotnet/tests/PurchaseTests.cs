// Discover -> select -> pay -> deliver through the client (blocking and async), and the daemon's refusals as
// typed exceptions.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using NUnit.Framework;
using WPWithin;

namespace WPWithin.Tests
{
    [TestFixture]
    public class PurchaseTests
    {
        [Test]
        public void AConsumerBuysThreeUnitsAndUsesThemInTwoSessions()
        {
            var world = Session.World;
            using (var producer = world.Producer.Client())
            using (var consumer = world.Consumer.Client())
            using (var deliveries = producer.Subscribe(new[] { EventTypes.ProducerDeliveryBegun, EventTypes.ProducerDeliveryEnded }))
            {
                // Discover.
                var device = world.Discover(consumer);
                Assert.AreEqual(world.ServerId, device.ServerId);
                Assert.AreEqual("127.0.0.1", device.Hostname);
                var services = consumer.RequestServices(serverId: world.ServerId)["services"].AsArray();
                Assert.AreEqual(new[] { "RoboWash" }, services.Select(s => s["name"].AsString()).ToArray());
                var prices = consumer.GetServicePrices(services[0]["serviceId"].AsInt64().Value, serverId: world.ServerId)["prices"].AsArray();
                Assert.AreEqual(500, prices[0]["amount"].AsInt64());
                Assert.AreEqual("GBP", prices[0]["currencyCode"].AsString());

                // Select.
                var quote = consumer.SelectService(1, prices[0]["priceId"].AsInt64().Value, 3, serverId: world.ServerId);
                Assert.AreEqual(1500, quote.GetInt64("totalPrice"));
                Assert.AreEqual(3, quote.GetInt64("unitsToSupply"));

                // Pay, twice: the same purchase, charged once.
                var purchase = consumer.MakePayment(quote.GetString("paymentReferenceId"));
                Assert.AreEqual(3, purchase.GetInt64("unitsBought"));
                Assert.AreEqual(1500, purchase.GetInt64("totalPaid"));
                var pid = purchase.GetInt64("purchaseId").Value;
                Assert.AreEqual(pid, consumer.MakePayment(quote.GetString("paymentReferenceId")).GetInt64("purchaseId"));

                // Deliver: 2 units, then 1.
                Assert.AreEqual(2, consumer.BeginServiceDelivery(pid, 2).GetInt64("unitsToSupply"));
                Assert.AreEqual(1, consumer.EndServiceDelivery(pid, 2).GetInt64("unitsRemaining"));
                Assert.AreEqual(1, consumer.BeginServiceDelivery(pid, 1).GetInt64("unitsToSupply"));
                var ended = consumer.EndServiceDelivery(pid, 1);
                Assert.AreEqual(0, ended.GetInt64("unitsRemaining"));
                Assert.AreEqual(3, ended.GetInt64("unitsDelivered"));
                var listed = consumer.ListPurchases().Single(p => p.GetInt64("purchaseId") == pid);
                Assert.AreEqual(3, listed.GetInt64("unitsDelivered"));

                // The producer's app heard every begin and end, in order.
                var types = Enumerable.Range(0, 4).Select(_ => deliveries.Next(TimeSpan.FromSeconds(10)).Type).ToArray();
                Assert.AreEqual(new[] { "producer.deliveryBegun", "producer.deliveryEnded", "producer.deliveryBegun", "producer.deliveryEnded" }, types);

                // The card number is nowhere: not in the daemons' logs, not in what the client sees.
                var status = consumer.GetStatus();
                StringAssert.DoesNotContain(Harness.Pan.Substring(0, 12), status.Payments.Card ?? "");
                StringAssert.DoesNotContain(Harness.Pan, world.Consumer.Log + world.Producer.Log);
            }
        }

        [Test]
        public void TheSameFlowWithTheAsyncMethods()
        {
            var world = Session.World;
            Task.Run(async () =>
            {
                using (var consumer = world.Consumer.Client())
                {
                    using (var producer = world.Producer.Client())
                        Assert.AreEqual(true, (await producer.StartServiceBroadcastAsync(0)).Broadcasting);
                    await consumer.SearchForDeviceAsync(serverId: world.ServerId, timeoutMs: 20000);
                    using (var events = await consumer.SubscribeAsync(new[] { EventTypes.ConsumerPurchaseRecorded, EventTypes.ConsumerDeliveryEnded }))
                    {
                        var quote = await consumer.SelectServiceAsync(1, 1, 3, serverId: world.ServerId);
                        var purchase = await consumer.MakePaymentAsync(quote.GetString("paymentReferenceId"));
                        var pid = purchase.GetInt64("purchaseId").Value;
                        // Pipelined on the one connection: both answers find their call.
                        var status = consumer.GetStatusAsync();
                        var device = consumer.GetDeviceAsync();
                        await Task.WhenAll(status, device);
                        Assert.AreEqual(new[] { "consumer" }, device.Result.Roles.ToArray());
                        Assert.IsTrue(status.Result.Ready);
                        await consumer.BeginServiceDeliveryAsync(pid, 2);
                        await consumer.EndServiceDeliveryAsync(pid, 2);
                        await consumer.BeginServiceDeliveryAsync(pid, 1);
                        Assert.AreEqual(0, (await consumer.EndServiceDeliveryAsync(pid, 1)).GetInt64("unitsRemaining"));
                        var seen = new List<WPWithinEvent>();
                        for (var i = 0; i < 3; i++) seen.Add(await events.NextAsync(TimeSpan.FromSeconds(10)));
                        Assert.AreEqual(new[] { "consumer.purchaseRecorded", "consumer.deliveryEnded", "consumer.deliveryEnded" }, seen.Select(e => e.Type).ToArray());
                        Assert.That(seen[0].Seq < seen[1].Seq && seen[1].Seq < seen[2].Seq);
                        Assert.AreEqual(pid, seen[0].GetInt64("purchaseId"));
                    }
                }
            }).GetAwaiter().GetResult();
        }

        [Test]
        public void TheDaemonsRefusalsAreTypedExceptionsAndChangeNothing()
        {
            var world = Session.World;
            using (var producer = world.Producer.Client())
            using (var consumer = world.Consumer.Client())
            {
                world.Discover(consumer);
                var server = world.ServerId;
                var before = consumer.ListPurchases().Count;

                var unknown = Assert.Throws<NotFoundException>(() => consumer.RequestServices(serverId: "00000000-0000-4000-8000-000000000000"));
                Assert.AreEqual(-32010, unknown.Code);
                Assert.AreEqual("notFound", unknown.CodeName);
                Assert.AreEqual("requestServices", unknown.Method);
                Assert.Throws<NotFoundException>(() => consumer.SelectService(1, 9, 1, serverId: server));
                Assert.Throws<NotFoundException>(() => consumer.MakePayment("no-such-reference"));
                Assert.Throws<NotFoundException>(() => consumer.BeginServiceDelivery(999999, 1));
                // numberOfUnits 0 is caught by the typed layer; sent raw, the daemon refuses it by name.
                var zero = Assert.Throws<InvalidParamsException>(() => consumer.Call("selectService", new JsonObject
                    { { "serverId", server }, { "serviceId", 1 }, { "priceId", 1 }, { "numberOfUnits", 0 } }));
                Assert.AreEqual("numberOfUnits", zero.Data["field"].AsString());
                Assert.AreEqual(-32602, Assert.Throws<InvalidParamsException>(() => consumer.SearchForDevice(serverId: "x", name: "y")).Code);
                Assert.Throws<DiscoveryTimeoutException>(() => consumer.SearchForDevice(serverId: "00000000-0000-4000-8000-000000000000", timeoutMs: 100));
                var missing = Assert.Throws<MethodNotFoundException>(() => consumer.Call("noSuchMethod"));
                Assert.AreEqual("noSuchMethod", missing.Data["method"].AsString());
                Assert.Throws<RoleDisabledException>(() => consumer.StartServiceBroadcast());
                Assert.Throws<AlreadyExistsException>(() => producer.AddService(Harness.Robowash(1, "Again")));
                Assert.Throws<AmountInvalidException>(() => producer.AddService(Harness.Robowash(80, "Free", 0)));
                Assert.Throws<NotFoundException>(() => producer.RemoveService(4242));
                Assert.AreEqual(before, consumer.ListPurchases().Count, "a refused call bought nothing");
                Assert.IsFalse(producer.ListServices().Any(s => s.GetInt64("id") == 80), "a refused service was not added");

                // Ending more than begun, and beginning more than bought.
                var quote = consumer.SelectService(1, 1, 1, serverId: server);
                var purchase = consumer.MakePayment(quote.GetString("paymentReferenceId"));
                var pid = purchase.GetInt64("purchaseId").Value;
                Assert.Throws<ConflictException>(() => consumer.EndServiceDelivery(pid, 1)); // nothing begun
                consumer.BeginServiceDelivery(pid, 1);
                consumer.EndServiceDelivery(pid, 1);
                var usedUp = Assert.Throws<InsufficientUnitsException>(() => consumer.BeginServiceDelivery(pid, 1));
                Assert.IsInstanceOf<WPWithinException>(usedUp);
                Assert.AreEqual(-32013, usedUp.Code);
                StringAssert.Contains("insufficientUnits -32013", usedUp.Message);
                // The connection is still in step after every refusal.
                Assert.AreEqual(new[] { "consumer" }, consumer.GetDevice().Roles.ToArray());
            }
        }
    }
}
