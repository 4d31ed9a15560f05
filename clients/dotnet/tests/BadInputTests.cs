// Wrong arguments are refused before anything is sent; every documented error code has its exception type;
// connect failures say why.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using NUnit.Framework;
using WPWithin;

namespace WPWithin.Tests
{
    [TestFixture]
    public class BadInputTests
    {
        [Test]
        public void TypedMethodsRefuseBadArgumentsBeforeSendingAnything()
        {
            var world = Session.World;
            int purchasesBefore;
            using (var probe = world.Consumer.Client()) purchasesBefore = probe.ListPurchases().Count;
            using (var consumer = world.Consumer.Client())
            using (var producer = world.Producer.Client())
            {
                var units = Assert.Throws<ArgumentOutOfRangeException>(() => consumer.SelectService(1, 1, 0, serverId: world.ServerId));
                Assert.AreEqual("numberOfUnits", units.ParamName);
                Assert.Throws<ArgumentOutOfRangeException>(() => consumer.SelectService(1, 1, 1L << 40, serverId: world.ServerId));
                Assert.AreEqual("paymentReferenceId", Assert.Throws<ArgumentNullException>(() => consumer.MakePayment(null)).ParamName);
                Assert.Throws<ArgumentOutOfRangeException>(() => consumer.BeginServiceDelivery(1, 0));
                Assert.Throws<ArgumentOutOfRangeException>(() => consumer.EndServiceDelivery(1, -1));
                Assert.Throws<ArgumentOutOfRangeException>(() => consumer.DeviceDiscovery(600001));
                Assert.Throws<ArgumentOutOfRangeException>(() => consumer.SearchForDevice(name: "x", timeoutMs: -1));
                Assert.AreEqual("service", Assert.Throws<ArgumentNullException>(() => producer.AddService(null)).ParamName);
                Assert.Throws<ArgumentException>(() => consumer.Subscribe(new[] { "no.such.event" }));
                Assert.Throws<ArgumentOutOfRangeException>(() => consumer.Subscribe(resumeFrom: -1));
                Assert.Throws<ArgumentNullException>(() => consumer.Subscribe(new string[] { null }));
                Assert.Throws<ArgumentNullException>(() => consumer.Call(null));
                // Nothing was sent: the clients never even connected, and the daemon's state is as it was.
                Assert.IsFalse(consumer.IsConnected);
                Assert.IsFalse(producer.IsConnected);
                Assert.AreEqual(purchasesBefore, consumer.ListPurchases().Count);
            }
        }

        [Test]
        public void ParamChecksFollowTheSchema()
        {
            Assert.Throws<ArgumentException>(() => ParamCheck.Check("selectService", new JsonObject { { "serviceId", "1" }, { "priceId", 1 }, { "numberOfUnits", 1 } }));
            Assert.Throws<ArgumentException>(() => ParamCheck.Check("selectService", new JsonObject { { "serviceId", 1.5 }, { "priceId", 1 }, { "numberOfUnits", 1 } }));
            Assert.Throws<ArgumentException>(() => ParamCheck.Check("getDevice", new JsonObject { { "verbose", true } }));
            Assert.Throws<ArgumentNullException>(() => ParamCheck.Check("removeService", new JsonObject()));
            Assert.Throws<ArgumentException>(() => ParamCheck.Check("addService", new JsonObject { { "service", new JsonArray() } }));
            ParamCheck.Check("selectService", new JsonObject { { "serverId", "s" }, { "serviceId", 1 }, { "priceId", 1 }, { "numberOfUnits", 2147483647 } });
            Assert.Throws<ArgumentOutOfRangeException>(() => ParamCheck.Check("selectService",
                new JsonObject { { "serverId", "s" }, { "serviceId", 1 }, { "priceId", 1 }, { "numberOfUnits", 2147483648L } }));
        }

        [Test]
        public void EveryCodeInRpcMdHasItsExceptionType()
        {
            var table = File.ReadAllLines(Path.Combine(Harness.Repo, "docs", "rpc.md"))
                .Select(line => Regex.Match(line, @"^\| (-32\d\d\d) \| (\w+) \|"))
                .Where(m => m.Success)
                .ToDictionary(m => int.Parse(m.Groups[1].Value), m => m.Groups[2].Value);
            Assert.That(table.Count, Is.GreaterThanOrEqualTo(31));
            foreach (var entry in table)
            {
                var error = WPWithinException.FromError(new JsonObject { { "code", entry.Key }, { "message", "m" }, { "data", new JsonObject { { "x", 1 } } } }, "m");
                Assert.AreNotEqual(typeof(WPWithinException), error.GetType(), "code " + entry.Key + " has no exception type");
                Assert.AreEqual(entry.Value, error.CodeName);
                Assert.AreEqual(entry.Key, error.Code);
                Assert.AreEqual(1, error.Data["x"].AsInt64());
                StringAssert.StartsWith(char.ToUpperInvariant(entry.Value[0]) + entry.Value.Substring(1), error.GetType().Name);
            }
            Assert.That(ErrorCodes.All.OrderBy(c => c), Is.EqualTo(table.Keys.OrderBy(c => c)), "the client maps exactly the documented codes");
            var unknown = WPWithinException.FromError(new JsonObject { { "code", -32999 }, { "message", "new" } }, null);
            Assert.AreEqual(typeof(WPWithinException), unknown.GetType());
            Assert.AreEqual(-32999, unknown.Code);
            Assert.AreEqual("error", unknown.CodeName);
        }

        [Test]
        public void ConnectFailuresSayWhy()
        {
            var dir = Harness.TempDir("wpw-cs-sock-");
            Func<string, WPWithinClientException> connect = path =>
                Assert.Throws<WPWithinClientException>(() => new WPWithinClient(path).GetDevice());

            var none = connect(Path.Combine(dir, "none.sock"));
            Assert.AreEqual(ClientErrorCode.NoSuchSocket, none.ErrorCode);
            Assert.IsTrue(none.IsConnectFailure);
            StringAssert.Contains("no such socket", none.Message);
            StringAssert.Contains("none.sock", none.Message);

            var stale = Path.Combine(dir, "stale.sock");
            using (var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)) s.Bind(new UnixDomainSocketEndPoint(stale));
            Assert.AreEqual(ClientErrorCode.ConnectionRefused, connect(stale).ErrorCode);

            var file = Path.Combine(dir, "file");
            File.WriteAllText(file, "x");
            Assert.AreEqual(ClientErrorCode.NotASocket, connect(file).ErrorCode);

            Assert.AreEqual(ClientErrorCode.PathTooLong, connect("/tmp/" + new string('x', 120)).ErrorCode);

            var closed = new WPWithinClient(Path.Combine(dir, "none.sock"));
            closed.Close();
            Assert.AreEqual(ClientErrorCode.NotConnected, Assert.Throws<WPWithinClientException>(() => closed.GetDevice()).ErrorCode);
        }

        [Test]
        public void TheSocketPathComesFromTheArgumentThenTheEnvironment()
        {
            var saved = Environment.GetEnvironmentVariable("WPWITHIN_SOCKET");
            try
            {
                Environment.SetEnvironmentVariable("WPWITHIN_SOCKET", null);
                Assert.AreEqual("/run/wpwithin.sock", new WPWithinClient().SocketPath);
                Environment.SetEnvironmentVariable("WPWITHIN_SOCKET", "/tmp/env.sock");
                Assert.AreEqual("/tmp/env.sock", new WPWithinClient().SocketPath);
                Assert.AreEqual("/tmp/arg.sock", new WPWithinClient("/tmp/arg.sock").SocketPath);
            }
            finally { Environment.SetEnvironmentVariable("WPWITHIN_SOCKET", saved); }
        }
    }
}
