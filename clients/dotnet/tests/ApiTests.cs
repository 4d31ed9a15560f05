// The client against the daemon's self-description, typed results, and the JSON reader/writer.
using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using WPWithin;

namespace WPWithin.Tests
{
    [TestFixture]
    public class ApiTests
    {
        [Test]
        public void TheClientWasGeneratedFromWhatTheDaemonServes()
        {
            // Both roles: the snapshot is what a daemon running both answers.
            using (var daemon = new Daemon("both", Harness.LoopbackDiscovery(Harness.FreeUdpPort(), "producer,consumer")))
            using (var client = daemon.Client())
            {
                var live = client.Discover();
                var snapshot = JsonValue.Parse(File.ReadAllText(Path.Combine(Harness.Repo, "clients", "dotnet", "openrpc.json")));
                Assert.IsTrue(live.Equals(snapshot),
                    "rpc.discover differs from clients/dotnet/openrpc.json: update the snapshot and regenerate (see clients/dotnet/README.md)");
                var names = live["methods"].AsArray().Select(m => m["name"].AsString()).ToArray();
                Assert.AreEqual(names, WPWithinClient.Methods.ToArray());
                // Each method is a pair of client methods, FooAsync and Foo (subscribe and unsubscribe by hand).
                foreach (var name in names)
                {
                    var cs = name == "rpc.discover" ? "Discover" : char.ToUpperInvariant(name[0]) + name.Substring(1);
                    Assert.IsNotNull(typeof(WPWithinClient).GetMethod(cs), cs);
                    Assert.IsNotNull(typeof(WPWithinClient).GetMethod(cs + "Async"), cs + "Async");
                }
            }
        }

        [Test]
        public void ResultsAreTyped()
        {
            using (var client = Session.World.Producer.Client())
            {
                var device = client.GetDevice();
                Assert.AreEqual(Session.World.ServerId, device.ServerId);
                Assert.AreEqual(new[] { "producer" }, device.Roles.ToArray());
                var status = client.GetStatus();
                Assert.IsTrue(status.Ready);
                Assert.AreEqual(Session.World.Producer.SocketPath, status.SocketPath);
                Assert.That(status.Pid, Is.GreaterThan(0));
                Assert.IsTrue(status.Health.Store.Writable);
                Assert.IsNull(status.Health.Discovery.Scanner);
                var metrics = client.GetMetrics();
                StringAssert.StartsWith("text/plain", metrics.ContentType);
                StringAssert.Contains("# TYPE", metrics.Text);
                var services = client.ListServices();
                Assert.AreEqual("RoboWash", services.First(s => s.GetInt64("id") == 1).GetString("name"));
                Assert.AreEqual(false, client.StopServiceBroadcast().Broadcasting);
                // A result that does not fit its type is the daemon's fault, said plainly.
                var json = (JsonObject)JsonValue.Parse(device.Json.ToJson());
                json["serverId"] = 5;
                var bad = Assert.Throws<FormatException>(() => Device.FromJson(json, "getDevice"));
                Assert.AreEqual("getDevice.serverId is an integer, not a string", bad.Message);
                json.Remove("serverId");
                Assert.AreEqual("getDevice.serverId is missing", Assert.Throws<FormatException>(() => Device.FromJson(json, "getDevice")).Message);
            }
        }

        [Test]
        public void MoneyIsFormattedWithTheCurrencysDecimals()
        {
            Assert.AreEqual("15.00 GBP", WPWithinClient.FormatMoney(1500, "GBP"));
            Assert.AreEqual("500 JPY", WPWithinClient.FormatMoney(500, "JPY"));
            Assert.AreEqual("1.250 KWD", WPWithinClient.FormatMoney(1250, "KWD"));
            Assert.AreEqual("-0.05 EUR", WPWithinClient.FormatMoney(-5, "EUR"));
        }

        [Test]
        public void JsonRoundTripsExactly()
        {
            var text = "{\"a\":[1,-2,9223372036854775807,2.5,1e300,true,false,null],\"s\":\"\\u00e9\\n\\\"\\\\\\u2028\\u0001\",\"o\":{}}";
            var value = JsonValue.Parse(text);
            Assert.AreEqual(9223372036854775807L, value["a"][2].AsInt64());
            Assert.IsNull(value["a"][3].AsInt64());
            Assert.AreEqual(2.5, value["a"][3].AsDouble());
            Assert.AreEqual("\u00e9\n\"\\\u2028\u0001", value["s"].AsString());
            Assert.IsTrue(JsonValue.Parse(value.ToJson()).Equals(value));
            Assert.AreEqual("{\"x\":1,\"y\":\"\\u2028\"}", new JsonObject { { "x", 1 }, { "y", "\u2028" } }.ToJson());
            foreach (var bad in new[] { "", "[1,]", "{\"a\" 1}", "01", "1.", "\"\\x\"", "tru", "[1] x", "{\"a\":1,}", "\"\u0001\"", "NaN", new string('[', 600) })
                Assert.Throws<FormatException>(() => JsonValue.Parse(bad), bad);
            Assert.Throws<FormatException>(() => JsonValue.Parse(new byte[] { 0x22, 0xff, 0x22 }, 0, 3));
        }
    }
}
