// One Unix-socket connection to the daemon: newline-delimited JSON-RPC 2.0, calls pipelined and matched by id.
// A background thread reads lines (at most MaxLineLength bytes each) and completes the waiting calls; every call
// has a deadline, so nothing waits forever. When the connection ends, every waiting call fails at once.
using System;
using System.Collections.Concurrent;
using System.IO;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace WPWithin
{
    internal static class UnixSocket
    {
        /// <summary>The longest path a sockaddr_un holds (bytes, without the terminating NUL).</summary>
        internal const int MaxPathBytes = 107;

        /// <summary>A connected stream socket, or a WPWithinClientException saying why not.</summary>
        internal static Socket Connect(string path, TimeSpan timeout)
        {
            if (Encoding.UTF8.GetByteCount(path) > MaxPathBytes)
                throw new WPWithinClientException(ClientErrorCode.PathTooLong, "the socket path is longer than " + MaxPathBytes + " bytes", path);
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                var result = socket.BeginConnect(EndPoint(path), null, null);
                if (!result.AsyncWaitHandle.WaitOne(timeout))
                    throw new CallTimeoutException("connect did not finish within " + timeout.TotalSeconds + " s", path);
                socket.EndConnect(result);
                return socket;
            }
            catch (SocketException error)
            {
                socket.Close();
                throw Explain(error, path);
            }
            catch
            {
                socket.Close();
                throw;
            }
        }

        private static System.Net.EndPoint EndPoint(string path)
        {
#if NETSTANDARD2_0
            // UnixDomainSocketEndPoint is not in the netstandard2.0 surface, but every runtime we target has it
            // (.NET Core 2.1+ in System.Net.Sockets, Mono in System.Core).
            var type = Type.GetType("System.Net.Sockets.UnixDomainSocketEndPoint, System.Net.Sockets")
                ?? Type.GetType("System.Net.Sockets.UnixDomainSocketEndPoint, System.Core")
                ?? Type.GetType("System.Net.Sockets.UnixDomainSocketEndPoint, netstandard");
            if (type == null) throw new PlatformNotSupportedException("this runtime has no UnixDomainSocketEndPoint");
            return (System.Net.EndPoint)Activator.CreateInstance(type, path);
#else
            return new UnixDomainSocketEndPoint(path);
#endif
        }

        // Mono reports ENOENT as "connection refused": the file system says which it was.
        private static WPWithinClientException Explain(SocketException error, string path)
        {
            if (!File.Exists(path) && !Directory.Exists(path))
                return new WPWithinClientException(ClientErrorCode.NoSuchSocket, "no such socket (is wpwithind running?)", path, error);
            if (error.SocketErrorCode == SocketError.AccessDenied)
                return new WPWithinClientException(ClientErrorCode.PermissionDenied, "permission denied", path, error);
            if (error.SocketErrorCode == SocketError.ConnectionRefused)
            {
                if (IsRegularFile(path))
                    return new WPWithinClientException(ClientErrorCode.NotASocket, "the path is a file but not a socket", path, error);
                return new WPWithinClientException(ClientErrorCode.ConnectionRefused, "stale socket, daemon not running", path, error);
            }
            return new WPWithinClientException(ClientErrorCode.ConnectFailed, "connect failed: " + error.Message, path, error);
        }

        private static bool IsRegularFile(string path)
        {
            try
            {
                if (Directory.Exists(path)) return true;
                using (new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite)) { return true; }
            }
            catch (UnauthorizedAccessException) { return true; }
            catch (IOException) { return false; } // a socket cannot be opened as a file (ENXIO)
        }
    }

    internal sealed class Connection : IDisposable
    {
        private readonly string path;
        private readonly int maxLineLength;
        private readonly Socket socket;
        private readonly Thread reader;
        private readonly object sendLock = new object();
        private readonly ConcurrentDictionary<long, Waiter> waiting = new ConcurrentDictionary<long, Waiter>();
        private volatile Exception ended;
        private int closed;

        /// <summary>Called on the reader thread for every notification (a message with a method and no id).</summary>
        internal Action<JsonObject> OnNotification;
        /// <summary>Called once on the reader thread when the connection ends (with the reason).</summary>
        internal Action<Exception> OnEnd;
        /// <summary>Called on the reader thread with every answer (id, message) before its call completes, so an
        /// answer and the notifications after it are handled in the order they came.</summary>
        internal Action<long, JsonObject> OnAnswer;

        private sealed class Waiter
        {
            internal readonly string Method;
            internal readonly TaskCompletionSource<JsonValue> Source =
                new TaskCompletionSource<JsonValue>(TaskCreationOptions.RunContinuationsAsynchronously);
            internal Waiter(string method) { Method = method; }
        }

        internal Connection(string path, TimeSpan connectTimeout, int maxLineLength, Action<JsonObject> onNotification = null)
        {
            this.path = path;
            this.maxLineLength = maxLineLength;
            OnNotification = onNotification;
            socket = UnixSocket.Connect(path, connectTimeout);
            reader = new Thread(ReadLoop) { IsBackground = true, Name = "wpwithin-reader" };
            reader.Start();
        }

        /// <summary>False once the connection ended (a call on it would fail: make a new one).</summary>
        /// <remarks>The reader thread notices the daemon's end of stream at once, so a connection the daemon
        /// closed between two calls is not used for the second one.</remarks>
        internal bool IsOpen { get { return ended == null && Volatile.Read(ref closed) == 0; } }

        /// <summary>Sends one request and waits for its answer until <paramref name="timeout"/> (null: no limit).</summary>
        internal async Task<JsonValue> CallAsync(long id, string method, JsonObject parameters, TimeSpan? timeout, CancellationToken cancellation)
        {
            var request = new JsonObject { { "jsonrpc", "2.0" }, { "id", id }, { "method", method } };
            if (parameters != null) request.Add("params", parameters);
            var waiter = new Waiter(method);
            waiting[id] = waiter;
            var failure = ended;
            if (failure != null) { waiting.TryRemove(id, out waiter); throw Rethrowable(failure); }

            CancellationTokenSource timer = null;
            CancellationTokenRegistration timerRegistration = default(CancellationTokenRegistration), userRegistration = default(CancellationTokenRegistration);
            try
            {
                if (timeout.HasValue)
                {
                    timer = new CancellationTokenSource(timeout.Value);
                    var seconds = timeout.Value.TotalSeconds;
                    timerRegistration = timer.Token.Register(() =>
                    {
                        Waiter w;
                        // The late answer, if it ever comes, finds no waiter and is dropped.
                        if (waiting.TryRemove(id, out w))
                            w.Source.TrySetException(new CallTimeoutException(method + ": no answer within " + seconds + " s", path));
                    });
                }
                if (cancellation.CanBeCanceled)
                {
                    userRegistration = cancellation.Register(() =>
                    {
                        Waiter w;
                        if (waiting.TryRemove(id, out w)) w.Source.TrySetCanceled();
                    });
                }
                Send(request.ToJson(), timeout);
                return await waiter.Source.Task.ConfigureAwait(false);
            }
            finally
            {
                timerRegistration.Dispose();
                userRegistration.Dispose();
                if (timer != null) timer.Dispose();
                waiting.TryRemove(id, out waiter);
            }
        }

        /// <summary>Sends one line (a notification or request) without waiting for an answer.</summary>
        internal void Send(string json, TimeSpan? timeout)
        {
            var bytes = Encoding.UTF8.GetBytes(json + "\n");
            lock (sendLock)
            {
                var failure = ended;
                if (failure != null) throw Rethrowable(failure);
                try
                {
                    socket.SendTimeout = timeout.HasValue ? (int)Math.Max(1, Math.Min(int.MaxValue, timeout.Value.TotalMilliseconds)) : 0;
                    var sent = 0;
                    while (sent < bytes.Length) sent += socket.Send(bytes, sent, bytes.Length - sent, SocketFlags.None);
                }
                catch (Exception error) when (error is SocketException || error is ObjectDisposedException)
                {
                    // Part of the line may be out: the stream can no longer be trusted.
                    var lost = new WPWithinClientException(ClientErrorCode.ConnectionClosed, "connection lost while sending: " + error.Message, path, error);
                    End(lost);
                    throw lost;
                }
            }
        }

        private static Exception Rethrowable(Exception failure)
        {
            var client = failure as WPWithinClientException;
            if (client != null) return new WPWithinClientException(client.ErrorCode, client.Message.Replace(" (" + client.SocketPath + ")", ""), client.SocketPath, client);
            var daemon = failure as WPWithinException;
            if (daemon != null) return ErrorCodes.Create(daemon.Code, daemon.DaemonMessage, daemon.Data, daemon.Method);
            return failure;
        }

        private void ReadLoop()
        {
            var buffer = new byte[Math.Min(65536, maxLineLength + 1)];
            var line = new MemoryStream();
            Exception reason = null;
            try
            {
                while (reason == null)
                {
                    int n;
                    try { n = socket.Receive(buffer, 0, buffer.Length, SocketFlags.None); }
                    catch (Exception error) when (error is SocketException || error is ObjectDisposedException)
                    {
                        reason = new WPWithinClientException(ClientErrorCode.ConnectionClosed, "connection lost: " + error.Message, path, error);
                        break;
                    }
                    if (n == 0)
                    {
                        reason = new WPWithinClientException(ClientErrorCode.ConnectionClosed,
                            "the daemon closed the connection" + (line.Length > 0 ? " in the middle of a message" : ""), path);
                        break;
                    }
                    var start = 0;
                    for (var k = 0; k < n && reason == null; k++)
                    {
                        if (buffer[k] != (byte)'\n') continue;
                        line.Write(buffer, start, k - start);
                        start = k + 1;
                        if (line.Length > maxLineLength) { reason = TooLong(); break; }
                        reason = Handle(line.GetBuffer(), (int)line.Length);
                        line.SetLength(0);
                    }
                    if (reason != null) break;
                    line.Write(buffer, start, n - start);
                    if (line.Length > maxLineLength) reason = TooLong();
                }
            }
            catch (Exception unexpected)
            {
                reason = new WPWithinClientException(ClientErrorCode.InvalidResponse, "reading the connection failed: " + unexpected.Message, path, unexpected);
            }
            End(reason);
        }

        private Exception TooLong()
        {
            return new WPWithinClientException(ClientErrorCode.LineTooLong,
                "the daemon sent a line longer than " + maxLineLength + " bytes; connection closed", path);
        }

        /// <summary>One line: completes a call or passes a notification on. Returns a reason to end, or null.</summary>
        private Exception Handle(byte[] bytes, int count)
        {
            if (count > 0 && bytes[count - 1] == (byte)'\r') count--;
            var blank = true;
            for (var k = 0; k < count && blank; k++) blank = bytes[k] == ' ' || bytes[k] == '\t';
            if (blank) return null;
            JsonValue value;
            try { value = JsonValue.Parse(bytes, 0, count); }
            catch (FormatException bad)
            {
                return new WPWithinClientException(ClientErrorCode.InvalidResponse, "the daemon sent a line that is not JSON: " + bad.Message, path);
            }
            var message = value as JsonObject;
            if (message == null)
                return new WPWithinClientException(ClientErrorCode.InvalidResponse, "the daemon sent " + JsonValue.Describe(value) + " instead of a JSON-RPC message", path);
            var hasResult = message.ContainsKey("result");
            var error = message["error"];
            if (hasResult || error != null)
            {
                var id = message["id"].AsInt64OrNull();
                if (id == null)
                {
                    // An error the daemon could not tie to a call (overloaded, line too long, parse error):
                    // it closes the connection next. Every waiting call gets it.
                    return error != null ? WPWithinException.FromError(error, null)
                        : (Exception)new WPWithinClientException(ClientErrorCode.InvalidResponse, "an answer without an id", path);
                }
                var onAnswer = OnAnswer;
                if (onAnswer != null) onAnswer(id.Value, message);
                Waiter waiter;
                if (waiting.TryRemove(id.Value, out waiter))
                {
                    if (error != null) waiter.Source.TrySetException(WPWithinException.FromError(error, waiter.Method));
                    else waiter.Source.TrySetResult(message["result"]);
                }
                return null; // else: the late answer of a call that timed out
            }
            if (message["method"] != null)
            {
                var handler = OnNotification;
                if (handler != null) handler(message);
            }
            return null;
        }

        private void End(Exception reason)
        {
            lock (sendLock)
            {
                if (ended != null) return;
                ended = reason;
            }
            try { socket.Shutdown(SocketShutdown.Both); } catch (Exception) { }
            socket.Close();
            foreach (var id in waiting.Keys)
            {
                Waiter w;
                if (waiting.TryRemove(id, out w)) w.Source.TrySetException(Rethrowable(reason));
            }
            var onEnd = OnEnd;
            if (onEnd != null) onEnd(reason);
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref closed, 1) != 0) return;
            End(new WPWithinClientException(ClientErrorCode.NotConnected, "the client was closed", path));
        }
    }
}
