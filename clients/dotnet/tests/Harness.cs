// Real daemons for the tests: a sandbox gateway, producer and consumer wpwithind daemons on loopback, from the
// binaries in $WPW_BIN (default <repo>/.build/debug), as clients/python/tests/conftest.py starts them.
// Network rule: HTE on 127.0.0.1 port 0, discovery broadcasts to 127.255.255.255 from 127.0.0.1 on a free UDP
// port, the gateway on 127.0.0.1 port 0. Sockets, state and credentials (mode 0600) live in temp dirs.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using NUnit.Framework;
using WPWithin;

namespace WPWithin.Tests
{
    public static class Harness
    {
        public const string ClientKey = "T_C_97e8cbaa-14e0-4b1c-b2af-469daf8f1356";
        public const string ServiceKey = "T_S_3bdadc9c-54e0-4587-8d91-29813060fecd";
        public const string Pan = "4444333322221111";

        static readonly List<Process> Processes = new List<Process>();
        static readonly List<string> Dirs = new List<string>();

        public static string Repo
        {
            get
            {
                var fromEnvironment = Environment.GetEnvironmentVariable("WPW_REPO");
                if (!string.IsNullOrEmpty(fromEnvironment)) return fromEnvironment;
                // build/ is clients/dotnet/build
                return Path.GetFullPath(Path.Combine(Path.GetDirectoryName(typeof(Harness).Assembly.Location), "..", "..", ".."));
            }
        }

        public static string BuildDir { get { return Path.GetDirectoryName(typeof(Harness).Assembly.Location); } }

        public static string Bin
        {
            get
            {
                var fromEnvironment = Environment.GetEnvironmentVariable("WPW_BIN");
                return Path.GetFullPath(string.IsNullOrEmpty(fromEnvironment) ? Path.Combine(Repo, ".build", "debug") : fromEnvironment);
            }
        }

        public static string Executable(string name)
        {
            var path = Path.Combine(Bin, name);
            if (!File.Exists(path)) Assert.Fail(path + " is not there: build first (swift build) or set WPW_BIN");
            return path;
        }

        /// <summary>A short temp dir (socket paths stay under 107 bytes), mode 0700.</summary>
        public static string TempDir(string prefix)
        {
            var dir = Path.Combine("/tmp", prefix + Guid.NewGuid().ToString("N").Substring(0, 10));
            Directory.CreateDirectory(dir);
            Run("chmod", "700", dir);
            lock (Dirs) Dirs.Add(dir);
            return dir;
        }

        public static void Run(string file, params string[] args)
        {
            var psi = new ProcessStartInfo(file, Quote(args)) { UseShellExecute = false };
            using (var p = Process.Start(psi))
            {
                if (!p.WaitForExit(10000)) { p.Kill(); throw new Exception(file + " did not finish"); }
                if (p.ExitCode != 0) throw new Exception(file + " " + string.Join(" ", args) + " exited with " + p.ExitCode);
            }
        }

        public static string Quote(IEnumerable<string> args)
        {
            var parts = new List<string>();
            foreach (var a in args) parts.Add("\"" + a.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"");
            return string.Join(" ", parts.ToArray());
        }

        /// <summary>Writes JSON to a file created 0600 (the daemons refuse credentials others can read).</summary>
        public static string WritePrivate(string path, JsonValue value)
        {
            File.WriteAllText(path, "");
            Run("chmod", "600", path);
            File.WriteAllText(path, value.ToJson());
            return path;
        }

        public static int FreeUdpPort()
        {
            using (var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0)))
                return ((IPEndPoint)udp.Client.LocalEndPoint).Port;
        }

        public static Dictionary<string, string> LoopbackDiscovery(int port, string roles)
        {
            return new Dictionary<string, string>
            {
                { "WPWITHIND_ROLES", roles },
                { "WPWITHIND_BROADCAST_ADDRESS", "127.255.255.255" },
                { "WPWITHIND_BROADCAST_SOURCE", "127.0.0.1" },
                { "WPWITHIND_DISCOVERY_PORT", port.ToString() },
                { "WPWITHIND_SCAN_BIND_ADDRESS", "127.255.255.255" },
                { "WPWITHIND_ADVERTISED_HOST", "127.0.0.1" },
                { "WPWITHIND_HTE_HOST", "127.0.0.1" },
            };
        }

        /// <summary>Starts a process with stderr appended to <paramref name="log"/> (through sh, which execs it,
        /// so the pid is the program's).</summary>
        public static Process Spawn(string file, IEnumerable<string> args, IDictionary<string, string> environment, string log, bool readStdout = false)
        {
            var all = new List<string> { "-c", "exec \"$0\" \"$@\" 2>>\"$WPW_TEST_LOG\" </dev/null" + (readStdout ? "" : " >/dev/null"), file };
            all.AddRange(args);
            var psi = new ProcessStartInfo("/bin/sh", Quote(all)) { UseShellExecute = false, RedirectStandardOutput = readStdout };
            var keys = new List<string>();
            foreach (string k in psi.EnvironmentVariables.Keys) keys.Add(k);
            foreach (var k in keys)
            {
                if (k.StartsWith("WPWITHIND_") || k.StartsWith("LISTEN_") || k.StartsWith("WATCHDOG_") ||
                    k == "CREDENTIALS_DIRECTORY" || k == "NOTIFY_SOCKET" || k == "WPWITHIN_SOCKET")
                    psi.EnvironmentVariables.Remove(k);
            }
            if (environment != null) foreach (var kv in environment) psi.EnvironmentVariables[kv.Key] = kv.Value;
            psi.EnvironmentVariables["WPW_TEST_LOG"] = log;
            var process = Process.Start(psi);
            lock (Processes) Processes.Add(process);
            return process;
        }

        public static void Signal(Process process, string signal)
        {
            if (!process.HasExited) Run("kill", "-" + signal, process.Id.ToString());
        }

        /// <summary>Stops a process (SIGTERM by default) and returns its exit code.</summary>
        public static int? Stop(Process process, string signal = "TERM", int timeoutMs = 15000)
        {
            if (process == null) return null;
            if (!process.HasExited)
            {
                try { Signal(process, signal); } catch (Exception) { }
                if (!process.WaitForExit(timeoutMs)) { process.Kill(); process.WaitForExit(); }
            }
            process.WaitForExit();
            return process.ExitCode;
        }

        /// <summary>One call on a fresh connection, without the client (the harness must not depend on it).</summary>
        public static JsonObject RawCall(string socketPath, string method, JsonObject parameters = null, int timeoutMs = 5000)
        {
            using (var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
            {
                socket.ReceiveTimeout = timeoutMs;
                socket.SendTimeout = timeoutMs;
                socket.Connect(new UnixDomainSocketEndPoint(socketPath));
                var request = new JsonObject { { "jsonrpc", "2.0" }, { "id", 1 }, { "method", method } };
                if (parameters != null) request.Add("params", parameters);
                socket.Send(Encoding.UTF8.GetBytes(request.ToJson() + "\n"));
                var data = new MemoryStream();
                var buffer = new byte[65536];
                while (true)
                {
                    var n = socket.Receive(buffer);
                    if (n == 0) throw new IOException("closed");
                    data.Write(buffer, 0, n);
                    var text = Encoding.UTF8.GetString(data.ToArray());
                    var lines = text.Split('\n');
                    for (var k = 0; k < lines.Length - 1; k++) // the last part is not a whole line yet
                    {
                        var line = lines[k];
                        if (line.Trim().Length == 0) continue;
                        JsonValue message;
                        try { message = JsonValue.Parse(line); } catch (FormatException) { continue; }
                        if (message["id"] != null && message["id"].AsInt64() == 1) return (JsonObject)message;
                    }
                }
            }
        }

        public static void CleanupAll()
        {
            lock (Processes)
            {
                foreach (var p in Processes)
                {
                    try { if (!p.HasExited) { p.Kill(); p.WaitForExit(5000); } } catch (Exception) { }
                }
                Processes.Clear();
            }
            lock (Dirs)
            {
                foreach (var d in Dirs) { try { Directory.Delete(d, true); } catch (Exception) { } }
                Dirs.Clear();
            }
        }

        public static JsonObject Robowash(long id = 1, string name = "RoboWash", long amount = 500)
        {
            return new JsonObject
            {
                { "id", id }, { "name", name }, { "description", "Car washed by robot" }, { "serviceType", "car-wash" },
                { "prices", new JsonArray { new JsonObject {
                    { "id", 1 }, { "description", "Car wash" }, { "amount", amount }, { "currencyCode", "GBP" },
                    { "unitId", 1 }, { "unitDescription", "Single wash" }, { "stock", JsonValue.Null } } } },
            };
        }
    }

    /// <summary>A wpwithind on a temp socket and state dir; restartable on the same state.</summary>
    public sealed class Daemon : IDisposable
    {
        public readonly string Name, Dir, SocketPath, StateDir, LogPath;
        readonly Dictionary<string, string> environment;
        readonly List<string> extra = new List<string>();
        public Process Process;

        public Daemon(string name, Dictionary<string, string> env, JsonObject config = null)
        {
            Name = name;
            Dir = Harness.TempDir("wpw-cs-" + name.Substring(0, Math.Min(4, name.Length)) + "-");
            SocketPath = Path.Combine(Dir, "rpc.sock");
            StateDir = Path.Combine(Dir, "state");
            LogPath = Path.Combine(Dir, "daemon.log");
            if (config != null)
            {
                var path = Path.Combine(Dir, "config.json");
                File.WriteAllText(path, config.ToJson());
                extra.Add("--config");
                extra.Add(path);
            }
            environment = new Dictionary<string, string>
            {
                { "WPWITHIND_HTE_HOST", "127.0.0.1" }, { "WPWITHIND_HTE_PORT", "0" },
                { "WPWITHIND_STORE_SYNCHRONOUS", "normal" }, { "WPWITHIND_DEVICE_NAME", name },
            };
            foreach (var kv in env) environment[kv.Key] = kv.Value;
            Start();
        }

        public void Start(bool wait = true)
        {
            var args = new List<string> { "--socket", SocketPath, "--state-dir", StateDir, "--log-level", "debug" };
            args.AddRange(extra);
            Process = Harness.Spawn(Harness.Executable("wpwithind"), args, environment, LogPath);
            if (wait) WaitReady();
        }

        public void WaitReady(int timeoutMs = 30000)
        {
            var watch = Stopwatch.StartNew();
            while (watch.ElapsedMilliseconds < timeoutMs)
            {
                if (Process.HasExited) throw new Exception(Name + " exited with " + Process.ExitCode + ":\n" + Log);
                try
                {
                    var answer = Harness.RawCall(SocketPath, "getStatus");
                    if (answer["result"] != null && answer["result"]["ready"] != null && answer["result"]["ready"].AsBoolean() == true) return;
                }
                catch (Exception) { }
                Thread.Sleep(20);
            }
            throw new Exception(Name + " did not get ready:\n" + Log);
        }

        public int? Stop(string signal = "TERM") { return Harness.Stop(Process, signal); }

        public string Log
        {
            get
            {
                try
                {
                    using (var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
                    using (var reader = new StreamReader(stream)) return reader.ReadToEnd();
                }
                catch (IOException) { return ""; }
            }
        }

        public WPWithinClient Client(WPWithinClientOptions options = null) { return new WPWithinClient(SocketPath, options); }

        public void Dispose() { Stop(); }
    }

    public sealed class Sandbox : IDisposable
    {
        public readonly Process Process;
        public readonly string Endpoint;

        public Sandbox()
        {
            var dir = Harness.TempDir("wpw-cs-gw-");
            Process = Harness.Spawn(Harness.Executable("wpw-sandbox-gateway"), new[] { "--port", "0" }, null, Path.Combine(dir, "sandbox.log"), readStdout: true);
            var line = Process.StandardOutput.ReadLineAsync();
            if (!line.Wait(30000) || line.Result == null) throw new Exception("the sandbox gateway did not say where it listens");
            Endpoint = "http://127.0.0.1:" + JsonValue.Parse(line.Result)["port"].AsInt64();
        }

        public void Dispose() { Harness.Stop(Process); }
    }

    /// <summary>A sandbox gateway, a producer and a consumer that find each other on loopback.</summary>
    public sealed class World : IDisposable
    {
        public readonly Daemon Producer, Consumer;
        public readonly string ServerId;

        public World(Sandbox sandbox, JsonObject producerConfig = null, string name = "producer")
        {
            var dir = Harness.TempDir("wpw-cs-cred-");
            var merchant = Harness.WritePrivate(Path.Combine(dir, "merchant.json"),
                new JsonObject { { "clientKey", Harness.ClientKey }, { "serviceKey", Harness.ServiceKey } });
            var card = Harness.WritePrivate(Path.Combine(dir, "card.json"), new JsonObject
            {
                { "firstName", "Joe" }, { "lastName", "Bloggs" }, { "expMonth", 12 }, { "expYear", 2099 },
                { "cardNumber", Harness.Pan }, { "type", "Card" }, { "cvc", "123" },
            });
            var port = Harness.FreeUdpPort();
            var producerEnv = Harness.LoopbackDiscovery(port, "producer");
            producerEnv["WPWITHIND_GATEWAY_ENDPOINT"] = sandbox.Endpoint;
            producerEnv["WPWITHIND_MERCHANT_FILE"] = merchant;
            var consumerEnv = Harness.LoopbackDiscovery(port, "consumer");
            consumerEnv["WPWITHIND_GATEWAY_ENDPOINT"] = sandbox.Endpoint;
            consumerEnv["WPWITHIND_CARD_FILE"] = card;
            Producer = new Daemon(name, producerEnv, producerConfig);
            Consumer = new Daemon("consumer", consumerEnv);
            ServerId = Harness.RawCall(Producer.SocketPath, "getDevice")["result"]["serverId"].AsString();
        }

        /// <summary>Starts the producer's broadcast and waits until the consumer hears it.</summary>
        public DiscoveredDevice Discover(WPWithinClient consumer)
        {
            Harness.RawCall(Producer.SocketPath, "startServiceBroadcast", new JsonObject { { "timeoutMs", 0 } });
            return consumer.SearchForDevice(serverId: ServerId, timeoutMs: 20000);
        }

        public void Dispose() { Producer.Dispose(); Consumer.Dispose(); }
    }

    /// <summary>What the fixtures share: one sandbox gateway for the whole run; everything stopped at the end.</summary>
    [SetUpFixture]
    public class Session
    {
        static Sandbox sandbox;
        static World world;

        public static Sandbox Sandbox { get { lock (typeof(Session)) return sandbox ?? (sandbox = new Sandbox()); } }

        /// <summary>Shared by the tests that only add to it: RoboWash (service 1) in the producer's catalog.</summary>
        public static World World
        {
            get
            {
                lock (typeof(Session))
                    return world ?? (world = new World(Sandbox, new JsonObject { { "producer", new JsonObject { { "services", new JsonArray { Harness.Robowash() } } } } }));
            }
        }

        [TearDown]
        public void StopEverything()
        {
            if (world != null) world.Dispose();
            if (sandbox != null) sandbox.Dispose();
            Harness.CleanupAll();
        }
    }
}
