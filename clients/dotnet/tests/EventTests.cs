// Event subscriptions: order, resumeFrom, resuming across a daemon restart (SIGTERM and SIGKILL), after
// subscriptionLost, and timeouts that never hang.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using WPWithin;

namespace WPWithin.Tests
{
    [TestFixture]
    public class EventTests
    {
        Daemon daemon;

        [SetUp]
        public void StartALoneDaemon()
        {
            daemon = new Daemon("lone", Harness.LoopbackDiscovery(Harness.FreeUdpPort(), "producer,consumer"));
        }

        [TearDown]
        public void StopIt()
        {
            Harness.Signal(daemon.Process, "CONT");
            daemon.Dispose();
        }

        static JsonObject Service(long id) { return Harness.Robowash(id, "Wash " + id); }

        static List<long> AddedIds(IEnumerable<WPWithinEvent> events)
        {
            return events.Where(e => e.Type == EventTypes.ProducerServiceAdded).Select(e => e.GetInt64("serviceId").Value).ToList();
        }

        [Test]
        public void EventsComeInSeqOrderAndResumeFromReplays()
        {
            using (var client = daemon.Client())
            using (var stream = client.Subscribe(new[] { EventTypes.ProducerServiceAdded }))
            {
                Assert.AreEqual(true, stream.Info.Subscribed);
                for (var i = 1; i <= 3; i++) client.AddService(Service(i));
                var events = Enumerable.Range(0, 3).Select(_ => stream.Next(TimeSpan.FromSeconds(10))).ToList();
                Assert.AreEqual(new long[] { 1, 2, 3 }, AddedIds(events).ToArray());
                Assert.AreEqual(events.Select(e => e.Seq).OrderBy(s => s).ToArray(), events.Select(e => e.Seq).ToArray());
                Assert.AreEqual(events[2].Seq, stream.LastSeq);
                StringAssert.EndsWith("Z", events[0].Time);
                Assert.IsTrue(events[0].Date.HasValue);
                // Nothing more is waiting: Next times out, and nothing is lost by that.
                Assert.Throws<CallTimeoutException>(() => stream.Next(TimeSpan.FromMilliseconds(200)));
                client.AddService(Service(4));
                Assert.AreEqual(4, stream.Next(TimeSpan.FromSeconds(10)).GetInt64("serviceId"));

                // A new subscription resuming from the first event's seq replays the others.
                using (var again = client.Subscribe(new[] { EventTypes.ProducerServiceAdded }, resumeFrom: events[0].Seq))
                {
                    Assert.AreEqual(3, again.Info.Replayed);
                    Assert.AreEqual(new long[] { 2, 3, 4 }, AddedIds(Enumerable.Range(0, 3).Select(_ => again.Next(TimeSpan.FromSeconds(10)))).ToArray());
                }
            }
        }

        [Test]
        public void AJournalBehindTheCursorIsReplayedFromItsStart()
        {
            // What a state directory restored from a backup looks like: the daemon's lastSeq is below resumeFrom.
            using (var client = daemon.Client())
            {
                client.AddService(Service(1));
                client.AddService(Service(2));
                using (var stream = client.Subscribe(new[] { EventTypes.ProducerServiceAdded }, resumeFrom: 1000000))
                {
                    Assert.AreEqual(1, stream.Resets);
                    var replayed = Enumerable.Range(0, 2).Select(_ => stream.Next(TimeSpan.FromSeconds(10))).ToList();
                    Assert.AreEqual(new long[] { 1, 2 }, AddedIds(replayed).ToArray());
                    Assert.AreEqual(1, replayed[0].Epoch);
                    client.AddService(Service(3));
                    Assert.AreEqual(3, stream.Next(TimeSpan.FromSeconds(10)).GetInt64("serviceId"));
                }
            }
        }

        [Test]
        public void ASubscriptionResumesAcrossADaemonRestart()
        {
            using (var client = daemon.Client())
            using (var stream = client.Subscribe(new[] { EventTypes.DaemonStarted, EventTypes.DaemonStopping, EventTypes.ProducerServiceAdded }))
            {
                client.AddService(Service(1));
                client.AddService(Service(2));
                Assert.AreEqual(new long[] { 1, 2 }, AddedIds(Enumerable.Range(0, 2).Select(_ => stream.Next(TimeSpan.FromSeconds(10)))).ToArray());
                var pid = stream.DaemonPid;

                // SIGTERM, restart on the same state dir; events happen before the subscription is back.
                Assert.AreEqual(0, daemon.Stop("TERM"));
                daemon.Start();
                for (var i = 3; i <= 6; i++) client.AddService(Service(i)); // the client connects again by itself

                var seen = new List<WPWithinEvent>();
                while (AddedIds(seen).Count < 4) seen.Add(stream.Next(TimeSpan.FromSeconds(30)));
                Assert.AreEqual(new[] { "daemon.stopping", "daemon.started", "producer.serviceAdded", "producer.serviceAdded", "producer.serviceAdded", "producer.serviceAdded" },
                    seen.Select(e => e.Type).ToArray(), string.Join("\n", seen));
                Assert.AreEqual(new long[] { 3, 4, 5, 6 }, AddedIds(seen).ToArray());
                Assert.That(seen.Select(e => e.Seq).Zip(seen.Skip(1).Select(e => e.Seq), (a, b) => a < b).All(x => x), "seqs go on rising across the restart");
                Assert.That(stream.Reconnects, Is.GreaterThanOrEqualTo(1));
                Assert.AreNotEqual(pid, stream.DaemonPid);
                Assert.AreEqual(1, stream.DaemonRestarts);
                Assert.AreEqual(0, stream.Resets);
                client.AddService(Service(7));
                Assert.AreEqual(7, stream.Next(TimeSpan.FromSeconds(10)).GetInt64("serviceId"));
                Assert.Throws<CallTimeoutException>(() => stream.Next(TimeSpan.FromMilliseconds(200))); // and nothing twice
            }
        }

        [Test]
        public void AnAsyncSubscriptionResumesAfterTheDaemonWasKilled()
        {
            Task.Run(async () =>
            {
                using (var client = daemon.Client())
                using (var stream = await client.SubscribeAsync(new[] { EventTypes.ProducerServiceAdded }))
                {
                    await client.AddServiceAsync(Service(1));
                    Assert.AreEqual(1, (await stream.NextAsync(TimeSpan.FromSeconds(10))).GetInt64("serviceId"));
                    daemon.Stop("KILL");
                    daemon.Start();
                    await client.AddServiceAsync(Service(2));
                    await client.AddServiceAsync(Service(3));
                    Assert.AreEqual(2, (await stream.NextAsync(TimeSpan.FromSeconds(30))).GetInt64("serviceId"));
                    Assert.AreEqual(3, (await stream.NextAsync(TimeSpan.FromSeconds(10))).GetInt64("serviceId"));
                    Assert.That(stream.Reconnects, Is.GreaterThanOrEqualTo(1));
                }
            }).GetAwaiter().GetResult();
        }

        [Test]
        public void WithoutReconnectASubscriptionEndsWithConnectionClosed()
        {
            using (var client = daemon.Client())
            {
                var stream = client.Subscribe(subscriptionOptions: new SubscriptionOptions { Reconnect = false });
                daemon.Stop("KILL");
                var error = Assert.Throws<WPWithinClientException>(() => { while (true) stream.Next(TimeSpan.FromSeconds(10)); });
                Assert.AreEqual(ClientErrorCode.ConnectionClosed, error.ErrorCode);
                stream.Close();
                Assert.AreEqual(ClientErrorCode.NotConnected, Assert.Throws<WPWithinClientException>(() => stream.Next(TimeSpan.FromSeconds(1))).ErrorCode);
                // And a call on the dead daemon fails at once too: it never hangs.
                Assert.IsTrue(Assert.Throws<WPWithinClientException>(() => client.GetDevice()).IsConnectFailure);
            }
        }

        [Test]
        public void ASubscriptionGivesUpAfterItsReconnectTimeout()
        {
            using (var client = daemon.Client())
            using (var stream = client.Subscribe(subscriptionOptions: new SubscriptionOptions { ReconnectTimeout = TimeSpan.FromMilliseconds(500) }))
            {
                daemon.Stop("KILL");
                var error = Assert.Throws<WPWithinClientException>(() => { while (true) stream.Next(TimeSpan.FromSeconds(20)); });
                StringAssert.Contains("could not resubscribe", error.Message);
            }
        }

        [Test]
        public void ACallToAStoppedDaemonTimesOutAndTheConnectionStaysUsable()
        {
            using (var client = daemon.Client(new WPWithinClientOptions { Timeout = TimeSpan.FromMilliseconds(500) }))
            {
                client.GetDevice();
                Harness.Signal(daemon.Process, "STOP");
                var watch = Stopwatch.StartNew();
                var error = Assert.Throws<CallTimeoutException>(() => client.GetStatus());
                Assert.AreEqual(ClientErrorCode.Timeout, error.ErrorCode);
                StringAssert.Contains("getStatus", error.Message);
                Assert.That(watch.ElapsedMilliseconds, Is.InRange(400, 5000));
                Harness.Signal(daemon.Process, "CONT");
                // The late answer to getStatus is dropped; the next call gets its own answer.
                Assert.IsNotNull(client.GetDevice().ServerId);
            }
        }

        [Test]
        public void APerCallTimeoutCutsALongCallShort()
        {
            using (var client = daemon.Client())
            {
                var watch = Stopwatch.StartNew();
                Assert.Throws<CallTimeoutException>(() => client.Call("deviceDiscovery", new JsonObject { { "timeoutMs", 5000 } }, TimeSpan.FromMilliseconds(200)));
                Assert.That(watch.ElapsedMilliseconds, Is.LessThan(3000));
                Assert.AreEqual(new[] { "producer", "consumer" }, client.GetDevice().Roles.ToArray());
                // A typed call waiting timeoutMs gets that long plus 10 s, whatever the default.
                using (var brief = daemon.Client(new WPWithinClientOptions { Timeout = TimeSpan.FromMilliseconds(100) }))
                    Assert.IsNotNull(brief.DeviceDiscovery(300));
            }
        }

        [Test]
        public void ASubscriptionThatFallsBehindIsResumedWithoutLossOrDuplicates()
        {
            using (var lossy = new Daemon("lossy", Harness.LoopbackDiscovery(Harness.FreeUdpPort(), "producer"),
                new JsonObject { { "rpc", new JsonObject { { "eventBufferPerSubscriber", 16 } } } }))
            using (var client = lossy.Client())
            {
                var types = new[] { EventTypes.ProducerServiceAdded, EventTypes.ProducerServiceRemoved };
                // A client buffer of 4 events: the client stops reading, the daemon drops the subscription.
                var resuming = client.Subscribe(types, subscriptionOptions: new SubscriptionOptions { EventBufferLimit = 4 });
                var raising = client.Subscribe(types, subscriptionOptions: new SubscriptionOptions { EventBufferLimit = 4, Reconnect = false });
                var first = resuming.Info.LastSeq;
                const int workers = 4, pairs = 150;
                Task.WaitAll(Enumerable.Range(1, workers).Select(k => Task.Run(async () =>
                {
                    using (var flooder = lossy.Client())
                        for (var i = 0; i < pairs; i++)
                        {
                            await flooder.AddServiceAsync(Service(k));
                            await flooder.RemoveServiceAsync(k);
                        }
                })).ToArray());
                const int total = workers * pairs * 2;
                var seqs = Enumerable.Range(0, total).Select(_ => resuming.Next(TimeSpan.FromSeconds(20)).Seq).ToArray();
                Assert.AreEqual(Enumerable.Range(1, total).Select(k => first + k).ToArray(), seqs, "each once, in order");
                Assert.That(resuming.Reconnects, Is.GreaterThanOrEqualTo(1), "the daemon never sent subscriptionLost");
                Assert.Throws<CallTimeoutException>(() => resuming.Next(TimeSpan.FromMilliseconds(200)));

                var lost = Assert.Throws<SubscriptionLostException>(() => { while (true) raising.Next(TimeSpan.FromSeconds(20)); });
                Assert.That(lost.LastSeq > first && lost.LastSeq < first + total);
                StringAssert.Contains("resumeFrom=" + lost.LastSeq, lost.Message);
                resuming.Close();
                raising.Close();
            }
        }
    }
}
