// The client's exceptions, in two families (as in the Swift, Python and Node.js clients):
//
// * WPWithinException: the daemon answered a call with a JSON-RPC error object. One subclass per stable code of
//   docs/rpc.md ("Errors"); an unknown code gives a plain WPWithinException. Code, CodeName, Data, Method.
// * WPWithinClientException: the client itself failed (cannot connect, connection lost, line too long,
//   unreadable answer, timeout, subscription lost, closed). ClientErrorCode says which.
//
// Wrong arguments are refused before anything is sent: ArgumentNullException, ArgumentException and
// ArgumentOutOfRangeException. Hand-written: the codes are docs/rpc.md's table.
using System;
using System.Collections.Generic;

namespace WPWithin
{
    /// <summary>The daemon refused a call. <see cref="Code"/> is stable API; the message is for humans.</summary>
    public class WPWithinException : Exception
    {
        /// <summary>The JSON-RPC error code (e.g. -32010).</summary>
        public int Code { get; private set; }
        /// <summary>The code's name in docs/rpc.md ("notFound"), or "error" for a code this client does not know.</summary>
        public string CodeName { get; private set; }
        /// <summary>The daemon's message.</summary>
        public string DaemonMessage { get; private set; }
        /// <summary>The error's data (e.g. Data["field"] for invalidParams), or null.</summary>
        public new JsonValue Data { get; private set; }
        /// <summary>The method that failed, when known.</summary>
        public string Method { get; private set; }

        public WPWithinException(int code, string message, JsonValue data, string method)
            : base(Format(code, message, data, method))
        {
            Code = code;
            CodeName = ErrorCodes.NameOf(code);
            DaemonMessage = message;
            Data = data;
            Method = method;
        }

        private static string Format(int code, string message, JsonValue data, string method)
        {
            var text = (method != null ? method + ": " : "") + message + " (" + ErrorCodes.NameOf(code) + " " + code + ")";
            if (data != null && !data.IsNull) text += " data=" + data.ToJson();
            return text;
        }

        /// <summary>The exception for a JSON-RPC error object: the subclass of its code, else WPWithinException.</summary>
        public static WPWithinException FromError(JsonValue error, string method)
        {
            var code = error == null ? null : error["code"].AsInt64OrNull();
            var message = error == null ? null : error["message"].AsStringOrNull();
            var data = error == null ? null : error["data"];
            var c = code.HasValue && code.Value >= int.MinValue && code.Value <= int.MaxValue ? (int)code.Value : 0;
            return ErrorCodes.Create(c, message ?? "(no message)", data, method);
        }
    }

    /// <summary>-32700 parseError: the line is not JSON / not UTF-8 (connection then closed).</summary>
    public class ParseErrorException : WPWithinException
    {
        public const int ErrorCode = -32700;
        public ParseErrorException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32600 invalidRequest: not an object, jsonrpc is not "2.0", method not a string, bad id, unknown member, empty batch.</summary>
    public class InvalidRequestException : WPWithinException
    {
        public const int ErrorCode = -32600;
        public InvalidRequestException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32601 methodNotFound: no such method (Data["method"]).</summary>
    public class MethodNotFoundException : WPWithinException
    {
        public const int ErrorCode = -32601;
        public MethodNotFoundException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32602 invalidParams: a missing, unknown or mistyped parameter; Data["field"] names it.</summary>
    public class InvalidParamsException : WPWithinException
    {
        public const int ErrorCode = -32602;
        public InvalidParamsException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32603 internalError: an unexpected failure; Data["errorId"] finds the log line.</summary>
    public class InternalErrorException : WPWithinException
    {
        public const int ErrorCode = -32603;
        public InternalErrorException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32000 unavailable: the daemon is starting or stopping, or a fleet member cannot reach its database.</summary>
    public class UnavailableException : WPWithinException
    {
        public const int ErrorCode = -32000;
        public UnavailableException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32001 messageTooLarge: the line exceeded rpc.maxLineBytes (connection then closed).</summary>
    public class MessageTooLargeException : WPWithinException
    {
        public const int ErrorCode = -32001;
        public MessageTooLargeException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32002 overloaded: too many connections (Data["reason"]); the connection is closed.</summary>
    public class OverloadedException : WPWithinException
    {
        public const int ErrorCode = -32002;
        public OverloadedException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32003 roleDisabled: the method needs a role (producer/consumer) this Thing does not run.</summary>
    public class RoleDisabledException : WPWithinException
    {
        public const int ErrorCode = -32003;
        public RoleDisabledException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32004 storageLow: the state volume is nearly full: new quotes and payments are refused.</summary>
    public class StorageLowException : WPWithinException
    {
        public const int ErrorCode = -32004;
        public StorageLowException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32010 notFound: unknown serverId, service, price, order or purchase.</summary>
    public class NotFoundException : WPWithinException
    {
        public const int ErrorCode = -32010;
        public NotFoundException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32011 conflict: the call conflicts with the current state.</summary>
    public class ConflictException : WPWithinException
    {
        public const int ErrorCode = -32011;
        public ConflictException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32012 expired: a quote or delivery token has expired, or the quote can no longer be paid (Data["state"]): select again.</summary>
    public class ExpiredException : WPWithinException
    {
        public const int ErrorCode = -32012;
        public ExpiredException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32013 insufficientUnits: more units asked than remain.</summary>
    public class InsufficientUnitsException : WPWithinException
    {
        public const int ErrorCode = -32013;
        public InsufficientUnitsException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32014 outOfStock: the service's stock cannot cover the request.</summary>
    public class OutOfStockException : WPWithinException
    {
        public const int ErrorCode = -32014;
        public OutOfStockException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32015 invalidToken: a forged, foreign or altered delivery token.</summary>
    public class InvalidTokenException : WPWithinException
    {
        public const int ErrorCode = -32015;
        public InvalidTokenException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32016 alreadyExists: a duplicate service or price id.</summary>
    public class AlreadyExistsException : WPWithinException
    {
        public const int ErrorCode = -32016;
        public AlreadyExistsException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32020 paymentDeclined: the gateway declined the payment.</summary>
    public class PaymentDeclinedException : WPWithinException
    {
        public const int ErrorCode = -32020;
        public PaymentDeclinedException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32021 invalidCard: the gateway refused the card (number, expiry).</summary>
    public class InvalidCardException : WPWithinException
    {
        public const int ErrorCode = -32021;
        public InvalidCardException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32022 gatewayUnavailable: the gateway could not be reached (nothing was sent).</summary>
    public class GatewayUnavailableException : WPWithinException
    {
        public const int ErrorCode = -32022;
        public GatewayUnavailableException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32023 gatewayTimeout: the gateway did not answer in time.</summary>
    public class GatewayTimeoutException : WPWithinException
    {
        public const int ErrorCode = -32023;
        public GatewayTimeoutException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32024 gatewayProtocol: the gateway answered something unreadable.</summary>
    public class GatewayProtocolException : WPWithinException
    {
        public const int ErrorCode = -32024;
        public GatewayProtocolException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32025 gatewayRejected: the gateway refused the request (4xx).</summary>
    public class GatewayRejectedException : WPWithinException
    {
        public const int ErrorCode = -32025;
        public GatewayRejectedException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32026 unsupportedCurrency: not an ISO 4217 currency the daemon knows.</summary>
    public class UnsupportedCurrencyException : WPWithinException
    {
        public const int ErrorCode = -32026;
        public UnsupportedCurrencyException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32027 amountInvalid: zero, negative or overflowing amount.</summary>
    public class AmountInvalidException : WPWithinException
    {
        public const int ErrorCode = -32027;
        public AmountInvalidException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32028 paymentOutcomeUnknown: the payment's outcome is not known yet: retry makePayment shortly.</summary>
    public class PaymentOutcomeUnknownException : WPWithinException
    {
        public const int ErrorCode = -32028;
        public PaymentOutcomeUnknownException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32029 credentials: card or merchant credentials missing or unsafe.</summary>
    public class CredentialsException : WPWithinException
    {
        public const int ErrorCode = -32029;
        public CredentialsException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32040 peerUnreachable: the other Thing cannot be reached.</summary>
    public class PeerUnreachableException : WPWithinException
    {
        public const int ErrorCode = -32040;
        public PeerUnreachableException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32041 peerRejected: the other Thing refused the request.</summary>
    public class PeerRejectedException : WPWithinException
    {
        public const int ErrorCode = -32041;
        public PeerRejectedException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32042 peerProtocol: the other Thing answered something unreadable.</summary>
    public class PeerProtocolException : WPWithinException
    {
        public const int ErrorCode = -32042;
        public PeerProtocolException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32043 discoveryTimeout: no matching Thing was found in time.</summary>
    public class DiscoveryTimeoutException : WPWithinException
    {
        public const int ErrorCode = -32043;
        public DiscoveryTimeoutException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32050 spendingLimitExceeded: the consumer's spending policy refused a payment before the card was used: a limit of one purchase or a budget would be exceeded (data.limit names it).</summary>
    public class SpendingLimitExceededException : WPWithinException
    {
        public const int ErrorCode = -32050;
        public SpendingLimitExceededException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32051 producerNotAllowed: the spending policy refused the producer (data.rule: allowProducers or denyProducers).</summary>
    public class ProducerNotAllowedException : WPWithinException
    {
        public const int ErrorCode = -32051;
        public ProducerNotAllowedException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32052 serviceTypeNotAllowed: the spending policy refused the service's type (data.rule: allowServiceTypes or denyServiceTypes).</summary>
    public class ServiceTypeNotAllowedException : WPWithinException
    {
        public const int ErrorCode = -32052;
        public ServiceTypeNotAllowedException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32053 currencyNotAllowed: the quote's currency is not in the spending policy's allowCurrencies.</summary>
    public class CurrencyNotAllowedException : WPWithinException
    {
        public const int ErrorCode = -32053;
        public CurrencyNotAllowedException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32060 refundNotOffered: the producer does not refund this purchase's undelivered units (no refund route, or a price without refunds); nothing changed.</summary>
    public class RefundNotOfferedException : WPWithinException
    {
        public const int ErrorCode = -32060;
        public RefundNotOfferedException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32061 nothingToRefund: every unit of the purchase was delivered or is in flight; nothing changed.</summary>
    public class NothingToRefundException : WPWithinException
    {
        public const int ErrorCode = -32061;
        public NothingToRefundException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>-32062 unitsRefunded: the purchase's undelivered units were refunded and can no longer be delivered.</summary>
    public class UnitsRefundedException : WPWithinException
    {
        public const int ErrorCode = -32062;
        public UnitsRefundedException(string message, JsonValue data, string method) : base(ErrorCode, message, data, method) { }
    }

    /// <summary>The stable codes of docs/rpc.md, by name.</summary>
    public static class ErrorCodes
    {
        public const int ParseError = -32700;
        public const int InvalidRequest = -32600;
        public const int MethodNotFound = -32601;
        public const int InvalidParams = -32602;
        public const int InternalError = -32603;
        public const int Unavailable = -32000;
        public const int MessageTooLarge = -32001;
        public const int Overloaded = -32002;
        public const int RoleDisabled = -32003;
        public const int StorageLow = -32004;
        public const int NotFound = -32010;
        public const int Conflict = -32011;
        public const int Expired = -32012;
        public const int InsufficientUnits = -32013;
        public const int OutOfStock = -32014;
        public const int InvalidToken = -32015;
        public const int AlreadyExists = -32016;
        public const int PaymentDeclined = -32020;
        public const int InvalidCard = -32021;
        public const int GatewayUnavailable = -32022;
        public const int GatewayTimeout = -32023;
        public const int GatewayProtocol = -32024;
        public const int GatewayRejected = -32025;
        public const int UnsupportedCurrency = -32026;
        public const int AmountInvalid = -32027;
        public const int PaymentOutcomeUnknown = -32028;
        public const int Credentials = -32029;
        public const int PeerUnreachable = -32040;
        public const int PeerRejected = -32041;
        public const int PeerProtocol = -32042;
        public const int DiscoveryTimeout = -32043;
        public const int SpendingLimitExceeded = -32050;
        public const int ProducerNotAllowed = -32051;
        public const int ServiceTypeNotAllowed = -32052;
        public const int CurrencyNotAllowed = -32053;
        public const int RefundNotOffered = -32060;
        public const int NothingToRefund = -32061;
        public const int UnitsRefunded = -32062;

        private static readonly Dictionary<int, string> Names = new Dictionary<int, string>
        {
            { -32700, "parseError" },
            { -32600, "invalidRequest" },
            { -32601, "methodNotFound" },
            { -32602, "invalidParams" },
            { -32603, "internalError" },
            { -32000, "unavailable" },
            { -32001, "messageTooLarge" },
            { -32002, "overloaded" },
            { -32003, "roleDisabled" },
            { -32004, "storageLow" },
            { -32010, "notFound" },
            { -32011, "conflict" },
            { -32012, "expired" },
            { -32013, "insufficientUnits" },
            { -32014, "outOfStock" },
            { -32015, "invalidToken" },
            { -32016, "alreadyExists" },
            { -32020, "paymentDeclined" },
            { -32021, "invalidCard" },
            { -32022, "gatewayUnavailable" },
            { -32023, "gatewayTimeout" },
            { -32024, "gatewayProtocol" },
            { -32025, "gatewayRejected" },
            { -32026, "unsupportedCurrency" },
            { -32027, "amountInvalid" },
            { -32028, "paymentOutcomeUnknown" },
            { -32029, "credentials" },
            { -32040, "peerUnreachable" },
            { -32041, "peerRejected" },
            { -32042, "peerProtocol" },
            { -32043, "discoveryTimeout" },
            { -32050, "spendingLimitExceeded" },
            { -32051, "producerNotAllowed" },
            { -32052, "serviceTypeNotAllowed" },
            { -32053, "currencyNotAllowed" },
            { -32060, "refundNotOffered" },
            { -32061, "nothingToRefund" },
            { -32062, "unitsRefunded" },
        };

        /// <summary>Every stable code this client maps to its own exception type.</summary>
        public static IEnumerable<int> All { get { return Names.Keys; } }

        /// <summary>"notFound" for -32010; "error" for a code not in docs/rpc.md.</summary>
        public static string NameOf(int code) { string n; return Names.TryGetValue(code, out n) ? n : "error"; }

        /// <summary>The exception type for a code (typeof(WPWithinException) for an unknown one).</summary>
        public static Type ExceptionTypeOf(int code) { return Create(code, "", null, null).GetType(); }

        internal static WPWithinException Create(int code, string message, JsonValue data, string method)
        {
            switch (code)
            {
                case -32700: return new ParseErrorException(message, data, method);
                case -32600: return new InvalidRequestException(message, data, method);
                case -32601: return new MethodNotFoundException(message, data, method);
                case -32602: return new InvalidParamsException(message, data, method);
                case -32603: return new InternalErrorException(message, data, method);
                case -32000: return new UnavailableException(message, data, method);
                case -32001: return new MessageTooLargeException(message, data, method);
                case -32002: return new OverloadedException(message, data, method);
                case -32003: return new RoleDisabledException(message, data, method);
                case -32004: return new StorageLowException(message, data, method);
                case -32010: return new NotFoundException(message, data, method);
                case -32011: return new ConflictException(message, data, method);
                case -32012: return new ExpiredException(message, data, method);
                case -32013: return new InsufficientUnitsException(message, data, method);
                case -32014: return new OutOfStockException(message, data, method);
                case -32015: return new InvalidTokenException(message, data, method);
                case -32016: return new AlreadyExistsException(message, data, method);
                case -32020: return new PaymentDeclinedException(message, data, method);
                case -32021: return new InvalidCardException(message, data, method);
                case -32022: return new GatewayUnavailableException(message, data, method);
                case -32023: return new GatewayTimeoutException(message, data, method);
                case -32024: return new GatewayProtocolException(message, data, method);
                case -32025: return new GatewayRejectedException(message, data, method);
                case -32026: return new UnsupportedCurrencyException(message, data, method);
                case -32027: return new AmountInvalidException(message, data, method);
                case -32028: return new PaymentOutcomeUnknownException(message, data, method);
                case -32029: return new CredentialsException(message, data, method);
                case -32040: return new PeerUnreachableException(message, data, method);
                case -32041: return new PeerRejectedException(message, data, method);
                case -32042: return new PeerProtocolException(message, data, method);
                case -32043: return new DiscoveryTimeoutException(message, data, method);
                case -32050: return new SpendingLimitExceededException(message, data, method);
                case -32051: return new ProducerNotAllowedException(message, data, method);
                case -32052: return new ServiceTypeNotAllowedException(message, data, method);
                case -32053: return new CurrencyNotAllowedException(message, data, method);
                case -32060: return new RefundNotOfferedException(message, data, method);
                case -32061: return new NothingToRefundException(message, data, method);
                case -32062: return new UnitsRefundedException(message, data, method);
                default: return new WPWithinException(code, message, data, method);
            }
        }
    }

    /// <summary>Why the client failed (not the daemon).</summary>
    public enum ClientErrorCode
    {
        /// <summary>ENOENT: no socket at the path (is wpwithind running?).</summary>
        NoSuchSocket,
        /// <summary>ECONNREFUSED: a stale socket file; the daemon is not running.</summary>
        ConnectionRefused,
        /// <summary>EACCES / EPERM.</summary>
        PermissionDenied,
        /// <summary>The path is a file but not a socket.</summary>
        NotASocket,
        /// <summary>Longer than a sockaddr_un holds (107 bytes).</summary>
        PathTooLong,
        /// <summary>Any other connect failure.</summary>
        ConnectFailed,
        /// <summary>The daemon closed the connection, or it broke, while the call waited.</summary>
        ConnectionClosed,
        /// <summary>The daemon sent a line longer than MaxLineLength; the connection is closed.</summary>
        LineTooLong,
        /// <summary>Not JSON, not a JSON-RPC message, or a result that does not fit its type.</summary>
        InvalidResponse,
        /// <summary>The client (or the subscription) was closed.</summary>
        NotConnected,
        /// <summary>No answer (or no event) within the timeout.</summary>
        Timeout,
        /// <summary>The daemon dropped the event subscription and the subscription does not reconnect.</summary>
        SubscriptionLost,
    }

    /// <summary>The client failed: <see cref="ErrorCode"/> says why; <see cref="SocketPath"/> names the socket.</summary>
    public class WPWithinClientException : Exception
    {
        public ClientErrorCode ErrorCode { get; private set; }
        public string SocketPath { get; private set; }

        public WPWithinClientException(ClientErrorCode code, string message, string socketPath, Exception inner = null)
            : base(message + (socketPath != null ? " (" + socketPath + ")" : ""), inner)
        {
            ErrorCode = code;
            SocketPath = socketPath;
        }

        /// <summary>True when the client could not connect at all (nothing was sent).</summary>
        public bool IsConnectFailure
        {
            get
            {
                return ErrorCode == ClientErrorCode.NoSuchSocket || ErrorCode == ClientErrorCode.ConnectionRefused
                    || ErrorCode == ClientErrorCode.PermissionDenied || ErrorCode == ClientErrorCode.NotASocket
                    || ErrorCode == ClientErrorCode.PathTooLong || ErrorCode == ClientErrorCode.ConnectFailed;
            }
        }
    }

    /// <summary>A call got no answer, or no event came, within its timeout. Nothing hangs.</summary>
    public class CallTimeoutException : WPWithinClientException
    {
        public CallTimeoutException(string message, string socketPath) : base(ClientErrorCode.Timeout, message, socketPath) { }
    }

    /// <summary>The daemon dropped the subscription (a subscription made with reconnect off):
    /// subscribe again with resumeFrom = <see cref="LastSeq"/> and nothing is lost.</summary>
    public class SubscriptionLostException : WPWithinClientException
    {
        public long? LastSeq { get; private set; }
        public SubscriptionLostException(string message, string socketPath, long? lastSeq)
            : base(ClientErrorCode.SubscriptionLost, message, socketPath) { LastSeq = lastSeq; }
    }

    internal static class JsonNullSafe
    {
        internal static long? AsInt64OrNull(this JsonValue v) { return v == null ? null : v.AsInt64(); }
        internal static string AsStringOrNull(this JsonValue v) { return v == null ? null : v.AsString(); }
    }
}
