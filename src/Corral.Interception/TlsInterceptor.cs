using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Corral.Certificates;
using Corral.Interception.Http;
using Corral.Policy.Addressing;
using Corral.Policy.Compilation;
using Corral.Policy.Inspection;

namespace Corral.Interception;

/// <summary>Settings for intercepted flows.</summary>
public sealed record InterceptionOptions
{
    public HttpLimits Limits { get; init; } = new();

    /// <summary>Request bodies up to this size are read whole and scanned before anything is sent upstream.</summary>
    public int BufferedBodyLimit { get; init; } = 1 << 20;

    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Roots that upstream certificates must chain to; null means the system's trust store.</summary>
    public X509Certificate2Collection? UpstreamTrust { get; init; }
}

/// <summary>What the gateway supplies for one intercepted flow: the per-request decision and where results go.</summary>
public interface IRequestPolicy
{
    /// <summary>Decides one request by its normalized path, through the policy's one decision function.</summary>
    Verdict Decide(string path);

    /// <summary>Called once per request with its outcome (the flow log's request record).</summary>
    void OnRequest(InspectedRequest request);
}

/// <summary>One inspected request: method, URL, verdict, and what denied it when something did.</summary>
public sealed record InspectedRequest(string Method, string Url, Verdict Verdict, bool Forwarded, int Status, string? DeniedBy, long BytesUp, long BytesDown);

/// <summary>
/// Terminates the client's TLS with a leaf minted for the SNI name, opens verified TLS to the upstream, and relays
/// HTTP/1.1 request by request: Host must equal the SNI, each request is decided on its own path, and its head and
/// body are scanned for secrets before they are forwarded. The client is offered ALPN http/1.1 only.
/// </summary>
public sealed class TlsInterceptor(LeafCertificateCache leaves, InterceptionOptions options)
{
    private static readonly List<SslApplicationProtocol> Http11Only = [SslApplicationProtocol.Http11];

    /// <summary>Runs one intercepted connection to completion. <paramref name="connectUpstream"/> opens the raw TCP stream to the permitted address.</summary>
    /// <param name="inspector">The payload patterns of the policy in force when the flow started.</param>
    public async Task RunAsync(Stream client, string serverName, Func<CancellationToken, ValueTask<Stream>> connectUpstream, IRequestPolicy policy,
        PayloadInspector inspector, CancellationToken ct)
    {
        await using var clientTls = new SslStream(client, leaveInnerStreamOpen: false);
        using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            handshake.CancelAfter(options.HandshakeTimeout);
            await clientTls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = leaves.Get(serverName),
                ApplicationProtocols = Http11Only,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            }, handshake.Token);
        }
        var clientReader = PipeReader.Create(clientTls, new StreamPipeReaderOptions(leaveOpen: true));
        Upstream? upstream = null;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var keepGoing = await RelayOneAsync(clientReader, clientTls, serverName, () => upstream, u => upstream = u, connectUpstream, policy, inspector, ct);
                if (!keepGoing) break;
            }
        }
        finally
        {
            if (upstream is not null) await upstream.DisposeAsync();
            await clientReader.CompleteAsync();
        }
    }

    private async Task<bool> RelayOneAsync(PipeReader clientReader, Stream clientTls, string serverName, Func<Upstream?> current, Action<Upstream?> set,
        Func<CancellationToken, ValueTask<Stream>> connectUpstream, IRequestPolicy policy, PayloadInspector inspector, CancellationToken ct)
    {
        // ---- the request head ----
        HttpRequestHead request;
        byte[] headBytes;
        try
        {
            var (head, bytes, ended) = await ReadHeadAsync(clientReader, ct);
            if (ended) return false;
            headBytes = bytes;
            request = Http1Parser.ParseRequest(head, options.Limits);
        }
        catch (HttpMessageRefusedException ex)
        {
            await DenyAsync(clientTls, policy, "?", "?", default, ex.Status, $"malformed request: {ex.Message}", ct);
            return false;
        }
        var url = serverName + request.Target;

        // ---- the checks: Host = SNI, the path's verdict, secrets in the head ----
        if (!HostMatches(request, serverName, out var hostProblem))
        {
            await DenyAsync(clientTls, policy, request.Method, url, default, 403, hostProblem, ct);
            return false;
        }
        if (!TryPath(request, out var path))
        {
            await DenyAsync(clientTls, policy, request.Method, url, default, 400, "malformed request path", ct);
            return false;
        }
        url = serverName + path;
        var verdict = policy.Decide(path);
        if (!verdict.LetsThrough)
        {
            await DenyAsync(clientTls, policy, request.Method, url, verdict, 403, verdict.ReasonText, ct);
            return false;
        }
        if (HttpHeaders.Values(request.Headers, "Upgrade").Any())
        {
            await DenyAsync(clientTls, policy, request.Method, url, verdict, 501, "protocol upgrades cannot be inspected", ct);
            return false;
        }
        var inspect = verdict.Enforced && !inspector.IsEmpty;
        var scan = inspect ? inspector.StartStream() : null;
        if (scan?.Feed(ScannableHead(request, inspector)) is { } headSecret)
        {
            await DenyAsync(clientTls, policy, request.Method, url, verdict, 403, $"payload inspection: {headSecret}", ct);
            return false;
        }
        if (HttpHeaders.HasToken(request.Headers, "Expect", "100-continue"))
            await clientTls.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), ct);

        // Small bodies are read whole and scanned before anything goes upstream.
        byte[]? bufferedBody = null;
        if (request.Framing == BodyFraming.ContentLength && request.ContentLength <= options.BufferedBodyLimit)
        {
            using var collected = new MemoryStream((int)request.ContentLength);
            try
            {
                await BodyCopier.CopyExactAsync(clientReader, collected, request.ContentLength, scan, ct);
            }
            catch (BodyCopier.SecretFoundException secret)
            {
                await DenyAsync(clientTls, policy, request.Method, url, verdict, 403, $"payload inspection: {secret.Pattern}", ct);
                return false;
            }
            bufferedBody = collected.ToArray();
        }

        // ---- upstream: connect once per client connection, verified ----
        var upstream = current();
        if (upstream is null)
        {
            try
            {
                upstream = await Upstream.ConnectAsync(serverName, connectUpstream, options, ct);
                set(upstream);
            }
            catch (UpstreamCertificateException ex)
            {
                await DenyAsync(clientTls, policy, request.Method, url, verdict, 502, ex.Message, ct);
                return false;
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or TimeoutException or IOException)
            {
                await DenyAsync(clientTls, policy, request.Method, url, verdict, 502, $"upstream {serverName} unreachable: {ex.Message}", ct);
                return false;
            }
        }

        long up = headBytes.Length, down = 0;
        var forwardedHead = SerializeRequestHead(request);
        try
        {
            await upstream.Stream.WriteAsync(forwardedHead, ct);
            if (bufferedBody is not null) await upstream.Stream.WriteAsync(bufferedBody, ct);
            else up += await BodyCopier.CopyAsync(clientReader, upstream.Stream, request.Framing, request.ContentLength, scan, ct);
            up += bufferedBody?.Length ?? 0;
            await upstream.Stream.FlushAsync(ct);
        }
        catch (BodyCopier.SecretFoundException secret)
        {
            // The upstream saw an unfinished request; drop the connection so it is never completed.
            await upstream.DisposeAsync();
            set(null);
            await DenyAsync(clientTls, policy, request.Method, url, verdict, 403, $"payload inspection: {secret.Pattern}", ct);
            return false;
        }
        catch (HttpMessageRefusedException ex)
        {
            await DenyAsync(clientTls, policy, request.Method, url, verdict, ex.Status, $"malformed request body: {ex.Message}", ct);
            return false;
        }

        // ---- the response ----
        HttpResponseHead response;
        while (true)
        {
            var (head, bytes, ended) = await ReadHeadAsync(upstream.Reader, ct);
            if (ended)
            {
                policy.OnRequest(new InspectedRequest(request.Method, url, verdict, true, 502, "upstream closed without a response", up, down));
                await WriteErrorAsync(clientTls, 502, null, "upstream closed without a response", ct);
                return false;
            }
            response = Http1Parser.ParseResponse(head, options.Limits, request.Method);
            await clientTls.WriteAsync(bytes, ct);
            down += bytes.Length;
            if (response.Status is >= 100 and < 200 && response.Status != 101) continue;
            break;
        }
        down += await BodyCopier.CopyAsync(upstream.Reader, clientTls, response.Framing, response.ContentLength, null, ct);
        await clientTls.FlushAsync(ct);
        policy.OnRequest(new InspectedRequest(request.Method, url, verdict, true, response.Status, null, up, down));
        return !request.WantsClose && !response.WantsClose && response.Status != 101;
    }

    private async Task<(ReadOnlySequence<byte> Head, byte[] Bytes, bool Ended)> ReadHeadAsync(PipeReader reader, CancellationToken ct)
    {
        while (true)
        {
            var result = await reader.ReadAsync(ct);
            var buffer = result.Buffer;
            if (Http1Parser.TryReadHead(buffer, options.Limits, out var head, out var after))
            {
                var all = buffer.Slice(0, after).ToArray();
                var parsedHead = new ReadOnlySequence<byte>(all, 0, (int)head.Length);
                reader.AdvanceTo(after);
                return (parsedHead, all, false);
            }
            if (result.IsCompleted)
            {
                if (buffer.IsEmpty) return (default, [], true);
                throw new HttpMessageRefusedException(400, "connection closed inside a head");
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static bool HostMatches(HttpRequestHead request, string serverName, out string problem)
    {
        problem = "";
        var host = StripPort(request.Host);
        if (!HostName.TryNormalize(host, out var normalized, out _) || normalized != serverName)
        {
            problem = $"Host '{Printable(request.Host)}' does not match the TLS server name '{serverName}' (domain fronting)";
            return false;
        }
        if (Uri.TryCreate(request.Target, UriKind.Absolute, out var absolute) && absolute.IsAbsoluteUri && request.Target.Contains("://"))
        {
            if (!HostName.TryNormalize(absolute.Host, out var targetHost, out _) || targetHost != serverName)
            {
                problem = $"request target names '{Printable(absolute.Host)}', not the TLS server name '{serverName}' (domain fronting)";
                return false;
            }
        }
        return true;
    }

    private static bool TryPath(HttpRequestHead request, out string path)
    {
        var target = request.Target;
        if (target == "*" && request.Method == "OPTIONS") { path = "/"; return true; }
        if (target.Contains("://") && Uri.TryCreate(target, UriKind.Absolute, out var absolute)) target = absolute.PathAndQuery;
        return UrlPath.TryNormalize(target, out path, out _);
    }

    // What payload inspection sees of a head: everything but the credentials meant for the destination itself.
    private static ReadOnlySpan<byte> ScannableHead(HttpRequestHead request, PayloadInspector inspector)
    {
        var sb = new StringBuilder();
        sb.Append(request.Method).Append(' ').Append(request.Target).Append("\r\n");
        foreach (var h in request.Headers)
        {
            if (!inspector.Settings.ScanAuthorizationHeader && h.Name.Equals("Authorization", StringComparison.OrdinalIgnoreCase)) continue;
            sb.Append(h.Name).Append(": ").Append(h.Value).Append("\r\n");
        }
        return Encoding.Latin1.GetBytes(sb.ToString());
    }

    // The upstream gets a canonical head built from what was parsed, never the client's raw bytes.
    private static byte[] SerializeRequestHead(HttpRequestHead request)
    {
        var sb = new StringBuilder();
        sb.Append(request.Method).Append(' ').Append(request.Target).Append(' ').Append(request.Version).Append("\r\n");
        foreach (var h in request.Headers)
        {
            if (h.Name.StartsWith("Proxy-", StringComparison.OrdinalIgnoreCase)) continue;
            if (h.Name.Equals("Expect", StringComparison.OrdinalIgnoreCase)) continue; // answered here
            sb.Append(h.Name).Append(": ").Append(h.Value).Append("\r\n");
        }
        sb.Append("\r\n");
        return Encoding.Latin1.GetBytes(sb.ToString());
    }

    private static async Task DenyAsync(Stream client, IRequestPolicy policy, string method, string url, Verdict verdict, int status, string reason, CancellationToken ct)
    {
        policy.OnRequest(new InspectedRequest(method, url, verdict, false, status, reason, 0, 0));
        try
        {
            await WriteErrorAsync(client, status, verdict.Rule?.Name, reason, ct);
        }
        catch (IOException) { } // the client went away; the record is written
    }

    /// <summary>A short JSON refusal that tells an agent the policy blocked it and not to retry another way.</summary>
    internal static async Task WriteErrorAsync(Stream client, int status, string? rule, string reason, CancellationToken ct)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new
        {
            error = status == 403 ? "blocked by egress policy" : "refused by the egress gateway",
            rule,
            reason,
            advice = "This destination or request is not allowed by policy. Do not retry it another way.",
        });
        var head = $"HTTP/1.1 {status} {Reason(status)}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n" +
                   (rule is null ? "" : $"X-Corral-Rule: {rule}\r\n") + "Connection: close\r\n\r\n";
        await client.WriteAsync(Encoding.ASCII.GetBytes(head), ct);
        await client.WriteAsync(body, ct);
        await client.FlushAsync(ct);
    }

    private static string Reason(int status) => status switch
    {
        400 => "Bad Request", 403 => "Forbidden", 431 => "Request Header Fields Too Large", 501 => "Not Implemented",
        502 => "Bad Gateway", 505 => "HTTP Version Not Supported", _ => "Error",
    };

    private static string StripPort(string host)
    {
        if (host.StartsWith('[')) return host;
        var colon = host.LastIndexOf(':');
        return colon > 0 && host[(colon + 1)..].All(char.IsAsciiDigit) ? host[..colon] : host;
    }

    private static string Printable(string s) => new(s.Take(80).Select(c => c is >= ' ' and < (char)0x7F ? c : '?').ToArray());

    /// <summary>The verified TLS connection to the real destination, reused for the client connection's requests.</summary>
    private sealed class Upstream(SslStream stream) : IAsyncDisposable
    {
        public SslStream Stream { get; } = stream;
        public PipeReader Reader { get; } = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));

        public static async Task<Upstream> ConnectAsync(string serverName, Func<CancellationToken, ValueTask<Stream>> connect, InterceptionOptions options, CancellationToken ct)
        {
            var raw = await connect(ct);
            var tls = new SslStream(raw, leaveInnerStreamOpen: false);
            var client = new SslClientAuthenticationOptions
            {
                TargetHost = serverName,
                ApplicationProtocols = Http11Only,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            };
            if (options.UpstreamTrust is { } trust)
            {
                var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
                policy.CustomTrustStore.AddRange(trust);
                client.CertificateChainPolicy = policy;
            }
            SslPolicyErrors errors = SslPolicyErrors.None;
            X509ChainStatusFlags chainStatus = X509ChainStatusFlags.NoError;
            client.RemoteCertificateValidationCallback = (_, _, chain, sslErrors) =>
            {
                errors = sslErrors;
                if (chain is not null) foreach (var s in chain.ChainStatus) chainStatus |= s.Status;
                return sslErrors == SslPolicyErrors.None;
            };
            try
            {
                using var handshake = CancellationTokenSource.CreateLinkedTokenSource(ct);
                handshake.CancelAfter(options.HandshakeTimeout);
                await tls.AuthenticateAsClientAsync(client, handshake.Token);
            }
            catch (AuthenticationException ex)
            {
                await tls.DisposeAsync();
                var detail = errors == SslPolicyErrors.None ? ex.Message : $"{errors}{(chainStatus == X509ChainStatusFlags.NoError ? "" : $" ({chainStatus})")}";
                throw new UpstreamCertificateException($"upstream {serverName} failed TLS verification: {detail}");
            }
            return new Upstream(tls);
        }

        public async ValueTask DisposeAsync()
        {
            await Reader.CompleteAsync();
            await Stream.DisposeAsync();
        }
    }

    private sealed class UpstreamCertificateException(string message) : Exception(message);
}
