// Events: a subscription on a connection of its own that survives daemon restarts. It keeps the seq of the last
// event it received and, whenever the connection is lost or the daemon sends subscriptionLost, subscribes again
// with resumeFrom = that seq: no event is lost or delivered twice.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace WPWithin
{
    /// <summary>One event: <see cref="Seq"/> (strictly increasing, carried on across daemon restarts),
    /// <see cref="Type"/> (e.g. "producer.deliveryBegun"), <see cref="Time"/> (RFC 3339) and the payload
    /// (<see cref="Params"/>: the whole notification params; read fields with the indexer or GetInt64/GetString).</summary>
    public sealed class WPWithinEvent : JsonBacked
    {
        public long Seq { get; private set; }
        public string Type { get; private set; }
        public string Time { get; private set; }
        /// <summary>How many times this subscription reset its cursor because the daemon's journal went back
        /// (a state directory restored from a backup) before this event: 0 normally.</summary>
        public int Epoch { get; private set; }
        public JsonObject Params { get { return Json; } }

        internal WPWithinEvent(JsonObject parameters, long seq, string type, int epoch) : base(parameters)
        {
            Seq = seq;
            Type = type;
            Time = parameters["time"].AsStringOrNull() ?? "";
            Epoch = epoch;
        }


        /// <summary>The time, parsed.</summary>
        public DateTimeOffset? Date
        {
            get
            {
                DateTimeOffset d;
                return DateTimeOffset.TryParse(Time, System.Globalization.CultureInfo.InvariantCulture,
                    System.Globalization.DateTimeStyles.AssumeUniversal, out d) ? d : (DateTimeOffset?)null;
            }
        }

        internal static WPWithinEvent From(JsonValue parameters, int epoch)
        {
            var p = parameters as JsonObject;
            if (p == null) return null;
            var seq = p["seq"].AsInt64OrNull();
            var type = p["type"].AsStringOrNull();
            return seq.HasValue && type != null ? new WPWithinEvent(p, seq.Value, type, epoch) : null;
        }

        public override string ToString() { return "Event(" + Seq + ", " + Type + ", " + Json.ToJson() + ")"; }
    }

    /// <summary>How a subscription reconnects and buffers.</summary>
    public sealed class SubscriptionOptions
    {
        /// <summary>Reconnect and resubscribe after a lost connection or subscriptionLost (default true). Off, the
        /// subscription ends with ConnectionClosed / SubscriptionLostException instead.</summary>
        public bool Reconnect = true;
        /// <summary>How long to keep trying to resubscribe before giving up (default 30 s).</summary>
        public TimeSpan ReconnectTimeout = TimeSpan.FromSeconds(30);
        /// <summary>First delay between attempts (doubled each time, up to <see cref="MaxReconnectDelay"/>).</summary>
        public TimeSpan ReconnectDelay = TimeSpan.FromMilliseconds(100);
        public TimeSpan MaxReconnectDelay = TimeSpan.FromSeconds(2);
        /// <summary>Events received but not yet taken, at most (default 10 000). When the application falls that
        /// far behind, the client stops reading; the daemon then drops the subscription and the client resumes
        /// from its last seq once the application catches up, so nothing is lost.</summary>
        public int EventBufferLimit = 10000;
    }

    /// <summary>The daemon's events (see <see cref="WPWithinClient.Subscribe"/>). <c>Next(timeout)</c> /
    /// <c>NextAsync(timeout)</c> wait for the next one; <c>foreach</c> blocks for each and ends when the
    /// subscription is closed. Dispose it to end it.</summary>
    public sealed class EventSubscription : IDisposable, IEnumerable<WPWithinEvent>
    {
        private readonly string path;
        private readonly WPWithinClientOptions clientOptions;
        private readonly SubscriptionOptions options;
        private readonly string[] types;
        private readonly object gate = new object();
        private readonly Queue<WPWithinEvent> queue = new Queue<WPWithinEvent>();
        private readonly List<TaskCompletionSource<bool>> takers = new List<TaskCompletionSource<bool>>();
        private readonly TaskCompletionSource<bool> started = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly AutoResetEvent wake = new AutoResetEvent(false);
        private readonly CancellationTokenSource closing = new CancellationTokenSource();
        private readonly Thread worker;

        private Connection connection;
        private long nextId;
        private long subscribeId = -1;      // the id of the subscribe call in flight, -1 when none
        private volatile bool subscribing;  // events are dropped until the subscribe answer (they come again)
        private bool resetPending;
        private bool lostNotified;
        private JsonObject lostParams;
        private Exception connectionEnded;
        private Exception failure;
        private bool closed;
        private long? lastSeq;
        private int epoch;

        internal EventSubscription(string path, WPWithinClientOptions clientOptions, string[] types, long? resumeFrom, SubscriptionOptions options)
        {
            if (options.EventBufferLimit <= 0) throw new ArgumentOutOfRangeException("options", "EventBufferLimit must be positive");
            this.path = path;
            this.clientOptions = clientOptions;
            this.options = options;
            this.types = types;
            lastSeq = resumeFrom;
            worker = new Thread(Run) { IsBackground = true, Name = "wpwithin-events" };
            worker.Start();
        }

        internal Task Started { get { return started.Task; } }

        /// <summary>The seq of the last event received (or the resume point): resubscribe from here.</summary>
        public long? LastSeq { get { lock (gate) return lastSeq; } }
        /// <summary>The daemon's answer to the latest subscribe (lastSeq, replayed, truncated).</summary>
        public Subscription Info { get; private set; }
        /// <summary>How many times the subscription resubscribed after a lost connection or subscription.</summary>
        public int Reconnects { get; private set; }
        /// <summary>How many times the daemon's journal was behind the cursor (restored backup) and the cursor was reset to 0.</summary>
        public int Resets { get { lock (gate) return epoch; } }
        /// <summary>The daemon's pid as last seen (getStatus): it changes when the daemon restarted.</summary>
        public long? DaemonPid { get; private set; }
        /// <summary>How many daemon restarts (a new pid) the subscription lived through.</summary>
        public int DaemonRestarts { get; private set; }
        public bool IsClosed { get { lock (gate) return closed; } }

        /// <summary>The next event; CallTimeoutException after <paramref name="timeout"/> (null: no limit), with
        /// nothing lost. After the subscription failed, the events already received come first, then the failure.</summary>
        public WPWithinEvent Next(TimeSpan? timeout = null)
        {
            return NextAsync(timeout).GetAwaiter().GetResult();
        }

        public async Task<WPWithinEvent> NextAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            var deadline = timeout.HasValue ? DateTime.UtcNow + timeout.Value : (DateTime?)null;
            while (true)
            {
                TaskCompletionSource<bool> taker;
                lock (gate)
                {
                    if (queue.Count > 0)
                    {
                        var e = queue.Dequeue();
                        Monitor.PulseAll(gate); // room again for the reader
                        return e;
                    }
                    if (closed) throw new WPWithinClientException(ClientErrorCode.NotConnected, "the event subscription was closed", path);
                    if (failure != null) throw Copy(failure);
                    taker = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                    takers.Add(taker);
                }
                var remaining = deadline.HasValue ? deadline.Value - DateTime.UtcNow : Timeout.InfiniteTimeSpan;
                if (deadline.HasValue && remaining < TimeSpan.Zero) remaining = TimeSpan.Zero;
                Task done;
                using (var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    done = await Task.WhenAny(taker.Task, Task.Delay(remaining, timer.Token)).ConfigureAwait(false);
                    timer.Cancel(); // no timer left behind for each event taken
                }
                if (done != taker.Task)
                {
                    lock (gate) takers.Remove(taker);
                    cancellationToken.ThrowIfCancellationRequested();
                    lock (gate) if (queue.Count > 0 || closed || failure != null) continue;
                    throw new CallTimeoutException("no event within " + timeout.Value.TotalSeconds + " s", path);
                }
            }
        }

        public IEnumerator<WPWithinEvent> GetEnumerator()
        {
            while (true)
            {
                WPWithinEvent e;
                try { e = Next(); }
                catch (WPWithinClientException error) when (error.ErrorCode == ClientErrorCode.NotConnected && IsClosed) { yield break; }
                yield return e;
            }
        }

        IEnumerator IEnumerable.GetEnumerator() { return GetEnumerator(); }

        /// <summary>Ends the subscription (its connection closes, which ends the daemon's subscription). Safe to call twice, from any thread.</summary>
        public void Close()
        {
            lock (gate)
            {
                if (closed) return;
                closed = true;
                WakeTakers();
                Monitor.PulseAll(gate);
            }
            closing.Cancel();
            wake.Set();
            var conn = connection;
            if (conn != null) conn.Dispose();
        }

        public void Dispose() { Close(); }

        private static Exception Copy(Exception failure)
        {
            var lost = failure as SubscriptionLostException;
            if (lost != null) return new SubscriptionLostException(lost.Message, null, lost.LastSeq);
            var client = failure as WPWithinClientException;
            if (client != null) return new WPWithinClientException(client.ErrorCode, client.Message, null, client);
            return failure;
        }

        private void WakeTakers()
        {
            foreach (var t in takers) t.TrySetResult(true);
            takers.Clear();
        }

        private void Fail(Exception error)
        {
            lock (gate)
            {
                if (failure == null) failure = error;
                WakeTakers();
            }
            started.TrySetException(error);
        }

        // ---- the worker thread: connect, subscribe, resubscribe ------------------------------------------------

        private void Run()
        {
            var first = true;
            var delay = options.ReconnectDelay;
            DateTime? lostSince = null;
            while (!IsClosed)
            {
                Connection conn = null;
                try
                {
                    conn = Open();
                    var status = Call(conn, "getStatus", null) as JsonObject;
                    var pid = status == null ? null : status["pid"].AsInt64OrNull();
                    if (DaemonPid.HasValue && pid.HasValue && pid != DaemonPid) DaemonRestarts++;
                    DaemonPid = pid;
                    SubscribeOn(conn);
                }
                catch (Exception error) when (Recoverable(error))
                {
                    if (conn != null) conn.Dispose();
                    if (IsClosed) return;
                    if (first || !options.Reconnect) { Fail(error); return; }
                    if (!lostSince.HasValue) lostSince = DateTime.UtcNow;
                    if (DateTime.UtcNow - lostSince.Value > options.ReconnectTimeout)
                    {
                        Fail(new WPWithinClientException(ClientErrorCode.ConnectionClosed,
                            "could not resubscribe for " + options.ReconnectTimeout.TotalSeconds + " s: " + error.Message, path, error));
                        return;
                    }
                    closing.Token.WaitHandle.WaitOne(delay);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, options.MaxReconnectDelay.Ticks));
                    continue;
                }
                catch (Exception error)
                {
                    if (conn != null) conn.Dispose();
                    Fail(error);
                    return;
                }
                if (first) started.TrySetResult(true);
                first = false;
                lostSince = null;
                delay = options.ReconnectDelay;

                // Serve this connection until it ends or the subscription is lost.
                Exception ended = null;
                while (ended == null && !IsClosed)
                {
                    wake.WaitOne();
                    bool lost;
                    JsonObject lostWhy;
                    lock (gate)
                    {
                        ended = connectionEnded;
                        lost = lostNotified;
                        lostWhy = lostParams;
                        lostNotified = false;
                    }
                    if (IsClosed) break;
                    if (ended == null && lost)
                    {
                        if (!options.Reconnect)
                        {
                            var seq = LastSeq;
                            Fail(new SubscriptionLostException("the daemon dropped the event subscription (" +
                                (lostWhy == null ? "unknown" : lostWhy["reason"].AsStringOrNull() ?? "unknown") +
                                "); subscribe again with resumeFrom=" + seq, path, seq));
                            conn.Dispose();
                            return;
                        }
                        Reconnects++;
                        try { SubscribeOn(conn); }
                        catch (Exception error) when (Recoverable(error)) { ended = error; }
                        catch (Exception error) { conn.Dispose(); Fail(error); return; }
                    }
                }
                conn.Dispose();
                if (IsClosed) return;
                if (!options.Reconnect) { Fail(ended); return; }
                Reconnects++;
                lostSince = DateTime.UtcNow;
            }
        }

        /// <summary>Worth retrying after a lost daemon: no socket yet, refused, lost, no answer, starting or stopping.</summary>
        private static bool Recoverable(Exception error)
        {
            var client = error as WPWithinClientException;
            if (client != null)
            {
                switch (client.ErrorCode)
                {
                    case ClientErrorCode.NoSuchSocket:
                    case ClientErrorCode.ConnectionRefused:
                    case ClientErrorCode.ConnectFailed:
                    case ClientErrorCode.ConnectionClosed:
                    case ClientErrorCode.Timeout:
                        return true;
                    default:
                        return false;
                }
            }
            return error is UnavailableException || error is OverloadedException;
        }

        private Connection Open()
        {
            lock (gate)
            {
                connectionEnded = null;
                lostNotified = false;
            }
            var conn = new Connection(path, clientOptions.ConnectTimeout, clientOptions.MaxLineLength);
            conn.OnNotification = OnNotification;
            conn.OnAnswer = OnAnswer;
            conn.OnEnd = reason =>
            {
                lock (gate) connectionEnded = reason;
                wake.Set();
            };
            connection = conn;
            if (IsClosed) conn.Dispose();
            return conn;
        }

        private JsonValue Call(Connection conn, string method, JsonObject parameters)
        {
            var id = Interlocked.Increment(ref nextId);
            return conn.CallAsync(id, method, parameters, clientOptions.Timeout, closing.Token).GetAwaiter().GetResult();
        }

        /// <summary>Subscribes on <paramref name="conn"/> from the last seq; again from 0 when the journal is
        /// behind the cursor.</summary>
        private void SubscribeOn(Connection conn)
        {
            for (var attempt = 0; attempt < 2; attempt++)
            {
                var parameters = new JsonObject();
                if (types != null)
                {
                    var array = new JsonArray();
                    foreach (var t in types) array.Add(t);
                    parameters.Add("types", array);
                }
                long id;
                lock (gate)
                {
                    if (lastSeq.HasValue) parameters.Add("resumeFrom", lastSeq.Value);
                    id = Interlocked.Increment(ref nextId);
                    subscribeId = id;
                    subscribing = true;
                    resetPending = false;
                }
                var result = conn.CallAsync(id, "subscribe", parameters, clientOptions.Timeout, closing.Token).GetAwaiter().GetResult();
                Info = Subscription.FromJson(result, "subscribe");
                bool again;
                lock (gate) again = resetPending;
                if (!again) return;
            }
            throw new WPWithinClientException(ClientErrorCode.InvalidResponse, "the daemon's journal went back twice while subscribing", path);
        }

        // ---- the reader thread ---------------------------------------------------------------------------------

        private void OnAnswer(long id, JsonObject message)
        {
            lock (gate)
            {
                if (id != subscribeId) return;
                subscribeId = -1;
                var result = message["result"] as JsonObject;
                var answerLast = result == null ? null : result["lastSeq"].AsInt64OrNull();
                if (answerLast == null) return; // an error or a bad answer: the caller gets it; events stay dropped
                if (!lastSeq.HasValue) lastSeq = answerLast;
                else if (answerLast.Value < lastSeq.Value)
                {
                    // The journal is behind the cursor (a state directory restored from a backup): replay it from
                    // its start; until that subscribe is answered, events stay dropped.
                    lastSeq = 0;
                    epoch++;
                    resetPending = true;
                    return;
                }
                subscribing = false;
            }
        }

        private void OnNotification(JsonObject message)
        {
            var method = message["method"].AsStringOrNull();
            if (method == "event")
            {
                if (subscribing) return; // of the replaced subscription: the new one sends it again
                WPWithinEvent e;
                lock (gate)
                {
                    e = WPWithinEvent.From(message["params"], epoch);
                    if (e == null || (lastSeq.HasValue && e.Seq <= lastSeq.Value)) return;
                    // Full: stop reading (the daemon drops the subscription later and we resume from lastSeq).
                    while (queue.Count >= options.EventBufferLimit && !closed) Monitor.Wait(gate, 200);
                    if (closed) return;
                    lastSeq = e.Seq;
                    queue.Enqueue(e);
                    WakeTakers();
                }
            }
            else if (method == "subscriptionLost")
            {
                lock (gate)
                {
                    lostNotified = true;
                    lostParams = message["params"] as JsonObject;
                    subscribing = true; // nothing more comes on the old subscription
                }
                wake.Set();
            }
        }
    }
}
