// The client: one connection to the daemon (opened at the first call, opened again after it was lost), calls
// pipelined on it, each with a timeout. The typed methods (GetDevice, SelectServiceAsync, ...) are generated from
// the OpenRPC document into Generated.cs; this file is the hand-written core they call.
using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace WPWithin
{
    /// <summary>How a client connects and how long it waits.</summary>
    public sealed class WPWithinClientOptions
    {
        /// <summary>How long a call may take (default 60 s; null: no limit). A call with a timeoutMs parameter gets
        /// at least that long plus 10 s.</summary>
        public TimeSpan? Timeout = TimeSpan.FromSeconds(60);
        /// <summary>How long connecting may take (default 5 s).</summary>
        public TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);
        /// <summary>The longest line accepted from the daemon (default 16 MiB); a longer one closes the connection.</summary>
        public int MaxLineLength = 16 << 20;
        /// <summary>Whether the next call connects again after the connection was lost (default true). A call is
        /// never re-sent by the client: only some methods are idempotent (makePayment is).</summary>
        public bool Reconnect = true;

        internal WPWithinClientOptions Copy() { return (WPWithinClientOptions)MemberwiseClone(); }
    }

    /// <summary>A client for the wpwithind socket. Thread-safe: calls from many threads or tasks share the one
    /// connection, each answer matched to its call by id. Every method has an async (<c>...Async</c>, a Task) and a
    /// blocking form. Dispose it (or <see cref="Close"/>) when done.</summary>
    public sealed partial class WPWithinClient : IDisposable
    {
        /// <summary>Where the daemon listens unless told otherwise.</summary>
        public const string DefaultSocketPath = "/run/wpwithin.sock";
        /// <summary>The environment variable that overrides <see cref="DefaultSocketPath"/>.</summary>
        public const string SocketEnvironmentVariable = "WPWITHIN_SOCKET";

        private readonly WPWithinClientOptions options;
        private readonly object gate = new object();
        private readonly List<EventSubscription> subscriptions = new List<EventSubscription>();
        private Connection connection;
        private bool everConnected;
        private bool closed;
        private long nextId;

        /// <param name="socketPath">The daemon's socket: this path if given, else $WPWITHIN_SOCKET, else /run/wpwithin.sock.</param>
        /// <param name="options">Timeouts and limits (defaults when null).</param>
        public WPWithinClient(string socketPath = null, WPWithinClientOptions options = null)
        {
            SocketPath = ResolveSocketPath(socketPath);
            this.options = (options ?? new WPWithinClientOptions()).Copy();
            if (this.options.MaxLineLength <= 0) throw new ArgumentOutOfRangeException("options", "MaxLineLength must be positive");
        }

        /// <summary>The socket this client connects to.</summary>
        public string SocketPath { get; private set; }

        /// <summary><paramref name="explicitPath"/> if non-empty, else $WPWITHIN_SOCKET, else /run/wpwithin.sock.</summary>
        public static string ResolveSocketPath(string explicitPath = null)
        {
            if (!string.IsNullOrEmpty(explicitPath)) return explicitPath;
            var fromEnvironment = Environment.GetEnvironmentVariable(SocketEnvironmentVariable);
            return string.IsNullOrEmpty(fromEnvironment) ? DefaultSocketPath : fromEnvironment;
        }

        /// <summary>True while a connection is open.</summary>
        public bool IsConnected { get { lock (gate) return connection != null && connection.IsOpen; } }

        /// <summary>Connects now (calls connect by themselves). Throws a WPWithinClientException that says why not.</summary>
        public void Connect() { Acquire(); }

        public Task ConnectAsync() { return Task.Run(() => Connect()); }

        private Connection Acquire()
        {
            lock (gate)
            {
                if (closed) throw new WPWithinClientException(ClientErrorCode.NotConnected, "the client was closed", SocketPath);
                if (connection != null && connection.IsOpen) return connection;
                if (connection != null) connection.Dispose();
                connection = null;
                if (everConnected && !options.Reconnect)
                    throw new WPWithinClientException(ClientErrorCode.ConnectionClosed, "the connection was lost (Reconnect is off)", SocketPath);
                connection = new Connection(SocketPath, options.ConnectTimeout, options.MaxLineLength);
                everConnected = true;
                return connection;
            }
        }

        /// <summary>Calls any method by name with named params, unchecked (the typed methods check their
        /// arguments first). Returns the raw result; throws the daemon's error as its WPWithinException subclass,
        /// or a WPWithinClientException (CallTimeoutException after <paramref name="timeout"/>).</summary>
        /// <param name="timeout">This call's limit (default: the options' Timeout, stretched for timeoutMs).</param>
        public async Task<JsonValue> CallAsync(string method, JsonObject parameters = null, TimeSpan? timeout = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            if (method == null) throw new ArgumentNullException("method");
            var conn = Acquire();
            var id = Interlocked.Increment(ref nextId);
            try
            {
                return await conn.CallAsync(id, method, parameters, timeout ?? CallTimeout(parameters), cancellationToken).ConfigureAwait(false);
            }
            catch (WPWithinClientException error) when (error.ErrorCode == ClientErrorCode.ConnectionClosed && IsClosed)
            {
                throw new WPWithinClientException(ClientErrorCode.NotConnected, "the client was closed", SocketPath, error);
            }
        }

        /// <summary>The blocking form of <see cref="CallAsync"/>.</summary>
        public JsonValue Call(string method, JsonObject parameters = null, TimeSpan? timeout = null)
        {
            return Wait(CallAsync(method, parameters, timeout));
        }

        private bool IsClosed { get { lock (gate) return closed; } }

        /// <summary>The timeout for a call: the default, stretched to cover a timeoutMs the daemon will wait.</summary>
        private TimeSpan? CallTimeout(JsonObject parameters)
        {
            var limit = options.Timeout;
            if (!limit.HasValue || parameters == null) return limit;
            var waits = parameters["timeoutMs"].AsInt64OrNull();
            if (waits.HasValue && waits.Value > 0)
            {
                var stretched = TimeSpan.FromMilliseconds(waits.Value) + TimeSpan.FromSeconds(10);
                if (stretched > limit.Value) return stretched;
            }
            return limit;
        }

        /// <summary>What the generated methods call: checks the params against the method's schema (nothing is
        /// sent when they are wrong), calls, and converts the result.</summary>
        internal async Task<T> InvokeAsync<T>(string method, JsonObject parameters, Func<JsonValue, string, T> convert, CancellationToken cancellationToken)
        {
            ParamCheck.Check(method, parameters);
            var result = await CallAsync(method, parameters, null, cancellationToken).ConfigureAwait(false);
            try { return convert(result, method); }
            catch (FormatException error)
            {
                throw new WPWithinClientException(ClientErrorCode.InvalidResponse, method + ": unexpected result: " + error.Message, SocketPath, error);
            }
        }

        internal static T Wait<T>(Task<T> task)
        {
            return task.GetAwaiter().GetResult();
        }

        /// <summary>Subscribes to the daemon's events on a connection of its own and returns once the daemon
        /// accepted. The subscription reconnects after the daemon restarts (or drops it) and resumes from the
        /// last seq it received, so each event comes once, in order.</summary>
        /// <param name="types">Only these event types (default: all).</param>
        /// <param name="resumeFrom">Replay the kept events after this seq first.</param>
        public EventSubscription Subscribe(IEnumerable<string> types = null, long? resumeFrom = null, SubscriptionOptions subscriptionOptions = null)
        {
            return Wait(SubscribeAsync(types, resumeFrom, subscriptionOptions));
        }

        public async Task<EventSubscription> SubscribeAsync(IEnumerable<string> types = null, long? resumeFrom = null, SubscriptionOptions subscriptionOptions = null)
        {
            var parameters = new JsonObject();
            string[] list = null;
            if (types != null)
            {
                list = new List<string>(types).ToArray();
                var array = new JsonArray();
                foreach (var type in list)
                {
                    if (type == null) throw new ArgumentNullException("types", "an event type is null");
                    array.Add(type);
                }
                parameters.Add("types", array);
            }
            if (resumeFrom.HasValue) parameters.Add("resumeFrom", resumeFrom.Value);
            ParamCheck.Check("subscribe", parameters);
            EventSubscription subscription;
            lock (gate)
            {
                if (closed) throw new WPWithinClientException(ClientErrorCode.NotConnected, "the client was closed", SocketPath);
                subscription = new EventSubscription(SocketPath, options, list, resumeFrom, subscriptionOptions ?? new SubscriptionOptions());
                subscriptions.Add(subscription);
            }
            try
            {
                await subscription.Started.ConfigureAwait(false);
            }
            catch
            {
                subscription.Dispose();
                throw;
            }
            return subscription;
        }

        /// <summary>Ends every subscription made with this client (each ends its own connection, which drops the
        /// daemon's subscription).</summary>
        public void Unsubscribe()
        {
            EventSubscription[] all;
            lock (gate) { all = subscriptions.ToArray(); subscriptions.Clear(); }
            foreach (var s in all) s.Dispose();
        }

        public Task UnsubscribeAsync() { Unsubscribe(); return Task.FromResult(0); }

        /// <summary>Closes the connection and the subscriptions. Calls still waiting fail with NotConnected.
        /// Safe to call twice.</summary>
        public void Close()
        {
            Connection conn;
            lock (gate)
            {
                closed = true;
                conn = connection;
                connection = null;
            }
            if (conn != null) conn.Dispose();
            Unsubscribe();
        }

        public void Dispose() { Close(); }

        /// <summary>Money as the examples print it: minor units in major units with the currency's ISO 4217
        /// decimals, then the code: (1500, "GBP") is "15.00 GBP", (500, "JPY") is "500 JPY".</summary>
        public static string FormatMoney(long minorUnits, string currencyCode)
        {
            int decimals;
            switch (currencyCode)
            {
                case "BIF": case "CLP": case "DJF": case "GNF": case "ISK": case "JPY": case "KMF": case "KRW": case "PYG":
                case "RWF": case "UGX": case "UYI": case "VND": case "VUV": case "XAF": case "XOF": case "XPF":
                    decimals = 0; break;
                case "BHD": case "IQD": case "JOD": case "KWD": case "LYD": case "OMR": case "TND":
                    decimals = 3; break;
                case "CLF": case "UYW":
                    decimals = 4; break;
                default:
                    decimals = 2; break;
            }
            var sign = minorUnits < 0 ? "-" : "";
            var magnitude = minorUnits < 0 ? -(decimal)minorUnits : minorUnits;
            if (decimals == 0) return sign + magnitude + " " + currencyCode;
            decimal scale = 1;
            for (var k = 0; k < decimals; k++) scale *= 10;
            var major = decimal.Truncate(magnitude / scale);
            var minor = magnitude - major * scale;
            return sign + major + "." + minor.ToString(new string('0', decimals)) + " " + currencyCode;
        }
    }
}
