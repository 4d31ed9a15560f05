// The example apps (clients/dotnet/examples), run as processes against real daemons, as the Python and Node.js
// examples are.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using NUnit.Framework;
using WPWithin;

namespace WPWithin.Tests
{
    [TestFixture]
    public class ExamplesTests
    {
        sealed class Example : IDisposable
        {
            public readonly Process Process;
            readonly List<string> lines = new List<string>();
            readonly StringBuilder errors = new StringBuilder();
            readonly ManualResetEvent done = new ManualResetEvent(false);

            public Example(string name, params string[] args)
            {
                var all = new List<string> { Path.Combine(Harness.BuildDir, name + ".exe") };
                all.AddRange(args);
                var psi = new ProcessStartInfo("mono", Harness.Quote(all))
                {
                    UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true,
                };
                psi.EnvironmentVariables.Remove("WPWITHIN_SOCKET");
                Process = Process.Start(psi);
                Process.ErrorDataReceived += (s, e) => { if (e.Data != null) lock (errors) errors.AppendLine(e.Data); };
                Process.OutputDataReceived += (s, e) =>
                {
                    if (e.Data == null) { done.Set(); return; }
                    lock (lines) { lines.Add(e.Data); Monitor.PulseAll(lines); }
                };
                Process.BeginErrorReadLine();
                Process.BeginOutputReadLine();
            }

            public string[] Lines { get { lock (lines) return lines.ToArray(); } }
            public string Errors { get { lock (errors) return errors.ToString(); } }
            public string Out { get { return string.Join("\n", Lines); } }

            public void WaitForLine(string needle, int timeoutMs = 30000)
            {
                var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
                lock (lines)
                {
                    while (!lines.Any(l => l.Contains(needle)))
                    {
                        var left = deadline - DateTime.UtcNow;
                        if (left <= TimeSpan.Zero || Process.HasExited && done.WaitOne(0))
                            Assert.Fail("no '" + needle + "' from the example; got:\n" + string.Join("\n", lines) + "\nstderr: " + Errors);
                        Monitor.Wait(lines, left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
                    }
                }
            }

            public int Wait(int timeoutMs)
            {
                if (!Process.WaitForExit(timeoutMs)) { Process.Kill(); Assert.Fail("the example did not finish:\n" + Out + "\nstderr: " + Errors); }
                Process.WaitForExit(); // the output is read to its end
                done.WaitOne(5000);
                return Process.ExitCode;
            }

            public void Dispose()
            {
                try { if (!Process.HasExited) { Process.Kill(); Process.WaitForExit(5000); } } catch (Exception) { }
            }
        }

        [Test]
        public void TheCarwashProducerAndTheConsumerExamples()
        {
            using (var world = new World(Session.Sandbox, name: "carwash"))
            using (var producer = new Example("CarwashProducer", "--socket", world.Producer.SocketPath, "--deliveries", "2"))
            {
                producer.WaitForLine("ready:");
                StringAssert.Contains("service 1 registered: Car wash, 5.00 GBP a wash", producer.Out);

                using (var consumer = new Example("Consumer", "--socket", world.Consumer.SocketPath, "--name", "carwash"))
                {
                    Assert.AreEqual(0, consumer.Wait(60000), consumer.Out + consumer.Errors);
                    var output = consumer.Out;
                    Assert.AreEqual(new[] { "discovered", "service 1", "price 1", "selected", "paid", "delivery 1 begun", "delivery 1 ended",
                        "delivery 2 begun", "delivery 2 ended", "done" }, consumer.Lines.Select(l => l.Split(':')[0]).ToArray(), output);
                    StringAssert.Contains("3 unit(s) for 15.00 GBP", output);
                    StringAssert.Contains(", 15.00 GBP, 3 unit(s)", output);
                    StringAssert.Contains(", 5.00 GBP per ", output);
                    StringAssert.Contains("delivery 1 begun: 2 unit(s)", output);
                    StringAssert.Contains("delivery 2 begun: 1 unit(s)", output);
                    StringAssert.Contains("3 delivered, 0 remaining", output);
                }

                Assert.AreEqual(0, producer.Wait(30000), producer.Out + producer.Errors);
                var said = producer.Out;
                Assert.AreEqual(2, producer.Lines.Count(l => l.StartsWith("delivery begun:")), said);
                Assert.AreEqual(2, producer.Lines.Count(l => l.StartsWith("delivery ended:")), said);
                StringAssert.Contains("3 of 3 delivered", said);
                StringAssert.Contains("stopped after 2 deliveries", said);
                StringAssert.DoesNotContain(Harness.Pan, said + world.Consumer.Log + world.Producer.Log);

                // Run again: the service is already there, and that is fine.
                using (var again = new Example("CarwashProducer", "--socket", world.Producer.SocketPath, "--deliveries", "1"))
                {
                    again.WaitForLine("ready:");
                    StringAssert.Contains("service 1 already registered", again.Out);
                }
            }
        }

        [Test]
        public void TheConsumerExampleWithoutADaemon()
        {
            var dir = Harness.TempDir("wpw-cs-none-");
            using (var consumer = new Example("Consumer", "--socket", Path.Combine(dir, "none.sock"), "--name", "x"))
            {
                Assert.AreEqual(1, consumer.Wait(30000));
                StringAssert.Contains("no such socket", consumer.Errors);
            }
        }
    }
}
