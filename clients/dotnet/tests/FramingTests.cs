// The client against a fake daemon on a Unix socket of the test's own: what it does with answers that are too
// long, unreadable, missing or cut off. It never hangs, and the next call connects again.
using System;
using System.Diagnostics;
using System.IO;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using NUnit.Framework;
using WPWithin;

namespace WPWithin.Tests
{
    [TestFixture]
    public class FramingTests
    {
        /// <summary>Accepts connections; for each, reads one request line and hands it to <paramref name="answer"/>.</summary>
        sealed class FakeDaemon : IDisposable
        {
            public readonly string Path;
            readonly Socket listener;
            public int Accepted;

            public FakeDaemon(Action<Socket, JsonObject> answer)
            {
                Path = System.IO.Path.Combine(Harness.TempDir("wpw-cs-fake-"), "fake.sock");
                listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                listener.Bind(new UnixDomainSocketEndPoint(Path));
                listener.Listen(8);
                new Thread(() =>
                {
                    while (true)
                    {
                        Socket connection;
                        try { connection = listener.Accept(); } catch (Exception) { return; }
                        Interlocked.Increment(ref Accepted);
                        new Thread(() =>
                        {
                            try
                            {
                                var line = new MemoryStream();
                                var one = new byte[1];
                                while (connection.Receive(one) == 1)
                                {
                                    if (one[0] != (byte)'\n') { line.WriteByte(one[0]); continue; }
                                    answer(connection, (JsonObject)JsonValue.Parse(Encoding.UTF8.GetString(line.ToArray())));
                                    line.SetLength(0);
                                }
                            }
                            catch (Exception) { }
                        }) { IsBackground = true }.Start();
                    }
                }) { IsBackground = true }.Start();
            }

            public void Dispose() { listener.Close(); }
        }

        static void Send(Socket socket, string text) { socket.Send(Encoding.UTF8.GetBytes(text)); }

        static string Answer(JsonObject request, string result)
        {
            return "{\"jsonrpc\":\"2.0\",\"id\":" + request["id"].ToJson() + ",\"result\":" + result + "}\n";
        }

        [Test]
        public void ALineOverTheLimitClosesTheConnectionAndTheNextCallReconnects()
        {
            using (var fake = new FakeDaemon((socket, request) =>
            {
                if (request["method"].AsString() == "big") Send(socket, Answer(request, "\"" + new string('x', 2 << 20) + "\""));
                else Send(socket, "\r\n" + Answer(request, "{\"ok\":true}").Replace("\n", "\r\n"));
            }))
            using (var client = new WPWithinClient(fake.Path, new WPWithinClientOptions { MaxLineLength = 1 << 20 }))
            {
                var error = Assert.Throws<WPWithinClientException>(() => client.Call("big"));
                Assert.AreEqual(ClientErrorCode.LineTooLong, error.ErrorCode);
                Assert.AreEqual(true, client.Call("small")["ok"].AsBoolean());
                Assert.AreEqual(2, fake.Accepted);
            }
        }

        [Test]
        public void AnUnreadableAnswerIsInvalidResponse()
        {
            using (var fake = new FakeDaemon((socket, request) => Send(socket, request["method"].AsString() == "bad" ? "{nope\n" : "[1]\n")))
            using (var client = new WPWithinClient(fake.Path))
            {
                Assert.AreEqual(ClientErrorCode.InvalidResponse, Assert.Throws<WPWithinClientException>(() => client.Call("bad")).ErrorCode);
                Assert.AreEqual(ClientErrorCode.InvalidResponse, Assert.Throws<WPWithinClientException>(() => client.Call("array")).ErrorCode);
            }
        }

        [Test]
        public void AResultThatDoesNotFitItsTypeIsInvalidResponse()
        {
            using (var fake = new FakeDaemon((socket, request) => Send(socket, Answer(request, "{\"serverId\":1}"))))
            using (var client = new WPWithinClient(fake.Path))
            {
                var error = Assert.Throws<WPWithinClientException>(() => client.GetDevice());
                Assert.AreEqual(ClientErrorCode.InvalidResponse, error.ErrorCode);
                StringAssert.Contains("getDevice", error.Message);
            }
        }

        [Test]
        public void ADaemonThatNeverAnswersGivesATimeoutNotAHang()
        {
            using (var fake = new FakeDaemon((socket, request) => { }))
            using (var client = new WPWithinClient(fake.Path, new WPWithinClientOptions { Timeout = TimeSpan.FromMilliseconds(300) }))
            {
                var watch = Stopwatch.StartNew();
                Assert.Throws<CallTimeoutException>(() => client.GetDevice());
                Assert.Throws<CallTimeoutException>(() => client.GetDeviceAsync().GetAwaiter().GetResult());
                Assert.That(watch.ElapsedMilliseconds, Is.LessThan(5000));
            }
        }

        [Test]
        public void ACutConnectionFailsEveryWaitingCallAtOnce()
        {
            using (var fake = new FakeDaemon((socket, request) => { if (request["method"].AsString() == "cut") socket.Close(); }))
            using (var client = new WPWithinClient(fake.Path))
            {
                var waiting = client.CallAsync("wait");
                Thread.Sleep(100);
                var watch = Stopwatch.StartNew();
                var cut = Assert.Throws<WPWithinClientException>(() => client.Call("cut"));
                Assert.AreEqual(ClientErrorCode.ConnectionClosed, cut.ErrorCode);
                var other = Assert.Throws<WPWithinClientException>(() => waiting.GetAwaiter().GetResult());
                Assert.AreEqual(ClientErrorCode.ConnectionClosed, other.ErrorCode);
                Assert.That(watch.ElapsedMilliseconds, Is.LessThan(5000));
            }
        }

        [Test]
        public void AnErrorWithoutIdReachesTheWaitingCall()
        {
            // What the daemon sends to a connection over its limits: one -32002 line with id null, then it closes.
            using (var fake = new FakeDaemon((socket, request) =>
            {
                Send(socket, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32002,\"message\":\"too many connections\",\"data\":{\"reason\":\"maxConnections\"}}}\n");
                socket.Close();
            }))
            using (var client = new WPWithinClient(fake.Path))
            {
                var error = Assert.Throws<OverloadedException>(() => client.GetStatus());
                Assert.AreEqual("maxConnections", error.Data["reason"].AsString());
            }
        }
    }
}
