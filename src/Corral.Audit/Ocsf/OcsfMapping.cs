using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text.Json.Nodes;

namespace Corral.Audit.Ocsf;

/// <summary>Who wrote an OCSF event: <c>metadata.product</c>.</summary>
public sealed record OcsfProduct(string Name, string Vendor, string Version)
{
    /// <summary>Corral, at the version of this build.</summary>
    public static OcsfProduct Corral { get; } = new("Corral", "Corral project", BuildVersion());

    private static string BuildVersion()
    {
        var assembly = typeof(OcsfProduct).Assembly;
        var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        return informational ?? assembly.GetName().Version?.ToString() ?? "0.0.0";
    }
}

/// <summary>
/// The one mapping between the flow log's native records (docs/flow-log.md) and OCSF events: decision and close
/// records to Network Activity (4001), request records to HTTP Activity (4002), DNS records to DNS Activity (4003).
/// What OCSF has an attribute for goes there; every other field of the record is kept, by its native name, in
/// <c>unmapped.corral</c>, so that <see cref="ToNative"/> gives the record back and <c>corral replay</c> can decide an
/// exported flow again. Used by <c>corral log export</c>, the gateway's OCSF sink and the flow-log reader.
/// </summary>
public static class OcsfMapping
{
    /// <summary>The OCSF version the events follow (and are validated against in the tests).</summary>
    public const string SchemaVersion = "1.5.0";

    /// <summary>The OCSF profile whose attributes (action, disposition, firewall rule) the events use.</summary>
    public const string Profile = "security_control";

    /// <summary>The key in <c>unmapped</c> under which Corral's own fields are kept.</summary>
    public const string Extension = "corral";

    /// <summary><c>firewall_rule.type</c> of a policy rule, and of a gateway check that refused a flow by itself.</summary>
    public const string RuleType = "policy rule", CheckType = "gateway check";

    private const int NetworkActivity = 4001, HttpActivity = 4002, DnsActivity = 4003;

    // Native fields that have an OCSF attribute of their own (all others are kept in unmapped.corral).
    private static readonly HashSet<string> Common = ["time", "flow", "src", "dst", "host", "agent", "action", "rule", "reason"];
    private static readonly HashSet<string> Request = ["method", "url", "status", "bytes_up", "bytes_down"];
    private static readonly HashSet<string> Close = ["bytes_up", "bytes_down"];
    private static readonly HashSet<string> Dns = ["transport", "qtype", "rcode", "answers"];

    /// <summary>Whether a JSON line is an OCSF event rather than a native record.</summary>
    public static bool IsOcsf(JsonObject line) => line.ContainsKey("class_uid");

    /// <summary>
    /// The OCSF event of a native flow record; null for a line that is not a flow record (the chain's checkpoint and
    /// gap lines, an unknown event).
    /// </summary>
    public static JsonObject? ToOcsf(JsonObject native, OcsfProduct product)
    {
        var evt = Text(native, "event");
        var (classUid, className, own) = evt switch
        {
            "decision" => (NetworkActivity, "Network Activity", null),
            "close" => (NetworkActivity, "Network Activity", Close),
            "request" => (HttpActivity, "HTTP Activity", Request),
            "dns" => (DnsActivity, "DNS Activity", Dns),
            _ => (0, "", null),
        };
        if (classUid == 0 || Text(native, "time") is not { } time || !DateTimeOffset.TryParse(time, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var when)) return null;

        var verdict = Verdict.Of(native);
        var (activityId, activity) = evt switch
        {
            "decision" => verdict is { LetsThrough: false } ? (5, "Refuse") : (1, "Open"),
            "close" => (2, "Close"),
            "request" => HttpMethodActivity(Text(native, "method")),
            _ => (2, "Response"),
        };
        var e = new JsonObject
        {
            ["activity_id"] = activityId,
            ["activity_name"] = activity,
            ["category_uid"] = 4,
            ["category_name"] = "Network Activity",
            ["class_uid"] = classUid,
            ["class_name"] = className,
            ["type_uid"] = classUid * 100L + activityId,
            ["type_name"] = $"{className}: {activity}",
            ["time"] = when.ToUnixTimeMilliseconds(),
        };
        var (severityId, severity) = verdict switch
        {
            null => (1, "Informational"),
            { Refused: true } => (4, "High"),
            { LetsThrough: false } => (3, "Medium"),
            { Permit: false } => (2, "Low"), // a watch-mode deny: let through, but the policy would refuse it
            _ => (1, "Informational"),
        };
        e["severity_id"] = severityId;
        e["severity"] = severity;
        if (verdict is { } v)
        {
            // What the gateway did with the flow (action) and what became of it (disposition): a watch-mode deny is
            // observed and detected, not blocked.
            var (actionId, action, dispositionId, disposition) = v switch
            {
                { LetsThrough: false } => (2, "Denied", 2, "Blocked"),
                { Permit: false } => (3, "Observed", 15, "Detected"),
                _ => (1, "Allowed", 1, "Allowed"),
            };
            e["action_id"] = actionId;
            e["action"] = action;
            e["disposition_id"] = dispositionId;
            e["disposition"] = disposition;
            if (Text(native, "rule") is { } rule) e["firewall_rule"] = new JsonObject { ["name"] = rule, ["uid"] = rule, ["type"] = RuleType };
            else if (Text(native, "check") is { } check) e["firewall_rule"] = new JsonObject { ["name"] = check, ["uid"] = check, ["type"] = CheckType };
        }
        var reason = Text(native, "reason");
        if (reason is not null) e["message"] = reason;
        if (evt == "close") { e["status_id"] = reason is null ? 1 : 2; e["status"] = reason is null ? "Success" : "Failure"; }

        var flow = Text(native, "flow");
        var metadata = new JsonObject
        {
            ["version"] = SchemaVersion,
            ["product"] = new JsonObject { ["name"] = product.Name, ["vendor_name"] = product.Vendor, ["version"] = product.Version },
            ["profiles"] = new JsonArray(Profile),
            ["log_name"] = "flow-log",
            ["original_time"] = time,
        };
        if (flow is not null) metadata["correlation_uid"] = flow;
        if (native["seq"] is JsonValue seq && seq.TryGetValue<long>(out var n)) metadata["sequence"] = n;
        e["metadata"] = metadata;

        if (Endpoint(Text(native, "src")) is { } src)
        {
            var endpoint = EndpointObject(src);
            if (Text(native, "agent") is { } agent) endpoint["name"] = agent; // the agent's identity (docs/flow-log.md)
            e["src_endpoint"] = endpoint;
        }
        var host = Text(native, "host");
        var dst = Endpoint(Text(native, "dst"));
        if (dst is not null || (host is not null && evt != "dns"))
        {
            var endpoint = dst is null ? new JsonObject() : EndpointObject(dst);
            if (host is not null && evt != "dns") endpoint["hostname"] = host;
            e["dst_endpoint"] = endpoint;
        }
        var connection = new JsonObject { ["direction_id"] = 2, ["direction"] = "Outbound", ["protocol_name"] = evt == "dns" ? Text(native, "transport") ?? "udp" : "tcp" };
        if (flow is not null) connection["uid"] = flow;
        e["connection_info"] = connection;

        if (evt is "request" or "close") e["traffic"] = Traffic(native);
        if (evt == "close" && native["duration_ms"] is JsonValue ms && ms.TryGetValue<double>(out var duration)) e["duration"] = (long)Math.Round(duration);
        if (evt == "request") HttpParts(native, host, e);
        if (evt == "dns") DnsParts(native, host, e);

        var corral = new JsonObject();
        foreach (var (key, value) in native)
            if (!Common.Contains(key) && own?.Contains(key) != true) corral[key] = value?.DeepClone();
        e["unmapped"] = new JsonObject { [Extension] = corral };
        return e;
    }

    /// <summary>
    /// The native record an OCSF event of <see cref="ToOcsf"/> came from; null when the event is not one (no
    /// <c>unmapped.corral</c>, or a class this mapping does not write).
    /// </summary>
    public static JsonObject? ToNative(JsonObject ocsf)
    {
        if (ocsf["unmapped"]?[Extension] is not JsonObject corral || Text(corral, "event") is not { } evt) return null;
        if (Number(ocsf, "class_uid") is not (NetworkActivity or HttpActivity or DnsActivity)) return null;
        var native = new JsonObject();
        foreach (var key in new[] { "v", "seq", "prev" })
            if (corral[key] is { } value) native[key] = value.DeepClone();
        var time = ocsf["metadata"]?["original_time"] is JsonValue original && original.TryGetValue<string>(out var t) ? t
            : Number(ocsf, "time") is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime.ToString("O", CultureInfo.InvariantCulture) : null;
        native["time"] = time;
        native["event"] = evt;
        native["flow"] = Text(ocsf["connection_info"], "uid") ?? Text(ocsf["metadata"], "correlation_uid");
        native["listener"] = corral["listener"]?.DeepClone();
        native["src"] = EndpointText(ocsf["src_endpoint"]);
        native["dst"] = EndpointText(ocsf["dst_endpoint"]);
        native["host"] = evt == "dns" ? Text(ocsf["query"], "hostname") : Text(ocsf["dst_endpoint"], "hostname");
        if (Text(ocsf["src_endpoint"], "name") is { } agent) native["agent"] = agent;
        if (evt == "request")
        {
            if (Text(ocsf["http_request"], "http_method") is { } method) native["method"] = method;
            if (Text(ocsf["http_request"]?["url"], "url_string") is { } url) native["url"] = url;
        }
        if (evt == "dns")
        {
            native["transport"] = Text(ocsf["connection_info"], "protocol_name");
            native["qtype"] = Text(ocsf["query"], "type");
        }
        if (Number(ocsf, "disposition_id") is { } disposition)
        {
            native["action"] = disposition == 1 ? "permit" : "deny";
            native["rule"] = ocsf["firewall_rule"] is JsonObject rule && Text(rule, "type") == RuleType ? Text(rule, "name") : null;
        }
        if (Text(ocsf, "message") is { } reason) native["reason"] = reason;
        if (evt == "dns")
        {
            native["rcode"] = Text(ocsf, "rcode");
            var answers = new JsonArray();
            if (ocsf["answers"] is JsonArray list)
                foreach (var answer in list) answers.Add(Text(answer, "rdata"));
            native["answers"] = answers;
        }
        if (evt == "request" && Number(ocsf["http_response"], "code") is { } status) native["status"] = status;
        if (evt is "request" or "close")
        {
            native["bytes_up"] = Number(ocsf["traffic"], "bytes_out") ?? 0;
            native["bytes_down"] = Number(ocsf["traffic"], "bytes_in") ?? 0;
        }
        foreach (var (key, value) in corral)
            if (!native.ContainsKey(key)) native[key] = value?.DeepClone();
        return native;
    }

    /// <summary>What a record's verdict fields say: null on a record without a verdict (a close record).</summary>
    private readonly record struct Verdict(bool Permit, bool Enforced, bool Refused)
    {
        /// <summary>Bytes flow: a permit, or a deny that is only watched.</summary>
        public bool LetsThrough => !Refused && (Permit || !Enforced);

        public static Verdict? Of(JsonObject native)
        {
            if (Text(native, "action") is not { } action) return null;
            var enforced = native["enforced"] is JsonValue e && e.TryGetValue<bool>(out var b) ? b : true;
            var refused = native["refused"] is JsonValue r && r.TryGetValue<bool>(out var x) && x;
            return new Verdict(action == "permit", enforced, refused);
        }
    }

    private static (int, string) HttpMethodActivity(string? method) => method switch
    {
        "CONNECT" => (1, "Connect"),
        "DELETE" => (2, "Delete"),
        "GET" => (3, "Get"),
        "HEAD" => (4, "Head"),
        "OPTIONS" => (5, "Options"),
        "POST" => (6, "Post"),
        "PUT" => (7, "Put"),
        "TRACE" => (8, "Trace"),
        _ => (99, "Other"),
    };

    private static JsonObject Traffic(JsonObject native)
    {
        var up = Number(native, "bytes_up") ?? 0;
        var down = Number(native, "bytes_down") ?? 0;
        return new JsonObject { ["bytes_out"] = up, ["bytes_in"] = down, ["bytes"] = up + down };
    }

    private static void HttpParts(JsonObject native, string? host, JsonObject e)
    {
        var request = new JsonObject();
        if (Text(native, "method") is { } method) request["http_method"] = method;
        if (Text(native, "url") is { } url)
        {
            var parts = new JsonObject { ["url_string"] = url };
            if (host is not null) parts["hostname"] = host;
            if (native["facts"]?["path"] is JsonValue p && p.TryGetValue<string>(out var path)) parts["path"] = path;
            request["url"] = parts;
        }
        e["http_request"] = request;
        if (Number(native, "status") is { } status) e["http_response"] = new JsonObject { ["code"] = status };
    }

    private static void DnsParts(JsonObject native, string? host, JsonObject e)
    {
        var query = new JsonObject { ["hostname"] = host ?? "", ["class"] = "IN" };
        if (Text(native, "qtype") is { } type) query["type"] = type;
        e["query"] = query;
        var answers = new JsonArray();
        if (native["answers"] is JsonArray list)
            foreach (var answer in list)
                if (answer is JsonValue a && a.TryGetValue<string>(out var rdata))
                    answers.Add(new JsonObject { ["rdata"] = rdata, ["type"] = rdata.Contains(':', StringComparison.Ordinal) ? "AAAA" : "A", ["class"] = "IN" });
        e["answers"] = answers;
        if (Text(native, "rcode") is { } rcode)
        {
            e["rcode"] = rcode;
            e["rcode_id"] = rcode.ToUpperInvariant() switch
            {
                "NOERROR" => 0, "FORMERR" => 1, "SERVFAIL" => 2, "NXDOMAIN" => 3, "NOTIMP" => 4, "REFUSED" => 5, _ => 99,
            };
        }
    }

    private static IPEndPoint? Endpoint(string? text) => text is not null && IPEndPoint.TryParse(text, out var endPoint) ? endPoint : null;

    private static JsonObject EndpointObject(IPEndPoint endPoint) => new() { ["ip"] = endPoint.Address.ToString(), ["port"] = endPoint.Port };

    private static string? EndpointText(JsonNode? endpoint) =>
        Text(endpoint, "ip") is { } ip && IPAddress.TryParse(ip, out var address) && Number(endpoint, "port") is { } port and >= 0 and <= 65535
            ? new IPEndPoint(address, (int)port).ToString() : null;

    private static string? Text(JsonNode? node, string name) =>
        node is JsonObject o && o[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static long? Number(JsonNode? node, string name)
    {
        if (node is not JsonObject o || o[name] is not JsonValue v) return null;
        if (v.TryGetValue<long>(out var n)) return n;
        return v.TryGetValue<int>(out var i) ? i : null; // a value built in memory rather than parsed
    }
}
