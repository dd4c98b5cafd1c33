using System.Buffers;
using System.IO.Pipelines;
using System.Net;
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

    /// <summary>How long an upstream connection may sit idle in the pool; zero turns pooling off.</summary>
    public TimeSpan UpstreamIdleTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Idle upstream connections kept per (server name, dialled address).</summary>
    public int MaxIdleUpstreamsPerKey { get; init; } = 32;

    /// <summary>Idle upstream connections kept in all (each holds a socket).</summary>
    public int MaxIdleUpstreams { get; init; } = 256;
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
/// Upstream connections left clean when a client connection ends are pooled (see <see cref="UpstreamKey"/>) and lent
/// to later flows to the same name and address; dispose the interceptor to close them.
/// </summary>
public sealed class TlsInterceptor(LeafCertificateCache leaves, InterceptionOptions options) : IDisposable
{
    private static readonly List<SslApplicationProtocol> Http11Only = [SslApplicationProtocol.Http11];
    private static readonly HashSet<string> SafeToRetry = ["GET", "HEAD", "OPTIONS", "TRACE"];
    private readonly UpstreamPool _pool = new(options.MaxIdleUpstreamsPerKey, options.MaxIdleUpstreams, options.UpstreamIdleTimeout);

    /// <summary>Idle upstream connections held for reuse now.</summary>
    public int IdleUpstreams => _pool.Count;

    /// <summary>Closes the idle upstream connections; connections in use close when their client connection ends.</summary>
    public void Dispose() => _pool.Dispose();

    /// <summary>Runs one intercepted connection to completion. <paramref name="connectUpstream"/> opens the raw TCP stream to the permitted address.</summary>
    /// <param name="destination">The address <paramref name="connectUpstream"/> dials: with the server name, what a pooled connection is keyed by.</param>
    /// <param name="inspector">The payload patterns of the policy in force when the flow started.</param>
    public async Task RunAsync(Stream client, string serverName, IPEndPoint destination, Func<CancellationToken, ValueTask<Stream>> connectUpstream, IRequestPolicy policy,
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
        var key = new UpstreamKey(serverName, destination);
        UpstreamConnection? upstream = null;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var keepGoing = await RelayOneAsync(clientReader, clientTls, key, () => upstream, u => upstream = u, connectUpstream, policy, inspector, ct);
                if (!keepGoing) break;
            }
        }
        finally
        {
            // A connection whose last response was read to its end, with neither side asking to close, is lent on;
            // anything else (mid-request, an error, Connection: close) is closed.
            if (upstream is not null) _pool.Return(key, upstream);
            await clientReader.CompleteAsync();
        }
    }

    private async Task<bool> RelayOneAsync(PipeReader clientReader, Stream clientTls, UpstreamKey key, Func<UpstreamConnection?> current, Action<UpstreamConnection?> set,
        Func<CancellationToken, ValueTask<Stream>> connectUpstream, IRequestPolicy policy, PayloadInspector inspector, CancellationToken ct)
    {
        var serverName = key.ServerName;
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

        // ---- upstream: kept per client connection, lent from the pool or connected and verified ----
        // A reused connection (one that already served a response) may have been closed by the upstream while idle;
        // when it fails before any response byte, a request that is safe to send again (idempotent method, no body)
        // is sent once more on a fresh connection. Anything else gets a 502: it may have reached the upstream.
        var canRetry = SafeToRetry.Contains(request.Method) && (request.Framing == BodyFraming.None || (request.Framing == BodyFraming.ContentLength && request.ContentLength == 0));
        var retried = false;
        long up, down = 0;
        UpstreamConnection upstream;
        (ReadOnlySequence<byte> Head, byte[] Bytes, bool Ended) first;
        // A new, verified upstream connection; or null once the client has its 502 and the request its record.
        async Task<UpstreamConnection?> ConnectOrDenyAsync()
        {
            try
            {
                return await ConnectUpstreamAsync(serverName, connectUpstream, ct);
            }
            catch (UpstreamCertificateException ex)
            {
                await DenyAsync(clientTls, policy, request.Method, url, verdict, 502, ex.Message, ct);
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or TimeoutException or IOException)
            {
                await DenyAsync(clientTls, policy, request.Method, url, verdict, 502, $"upstream {serverName} unreachable: {ex.Message}", ct);
            }
            return null;
        }
        while (true)
        {
            var existing = current() ?? _pool.TryRent(key);
            if (existing is null && (existing = await ConnectOrDenyAsync()) is null) return false;
            upstream = existing;
            set(upstream);
            var reused = upstream.Served > 0;
            upstream.Clean = false;
            if (HttpHeaders.Values(request.Headers, "Authorization").Any(IsConnectionBoundAuth)) upstream.Poolable = false;

            up = headBytes.Length;
            var failed = false;
            first = (default, [], false);
            var forwardedHead = SerializeRequestHead(request);
            var sending = upstream;
            async Task UpstreamFailedAsync(IOException ex)
            {
                await sending.DisposeAsync();
                set(null);
                await DenyAsync(clientTls, policy, request.Method, url, verdict, 502, $"upstream {serverName} connection failed: {ex.Message}", ct);
            }
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
            catch (IOException) when (reused && canRetry && !retried)
            {
                failed = true;
            }
            catch (IOException ex)
            {
                // Not retryable (a body, an unsafe method, or already a fresh connection): answer and record it, never just drop.
                await UpstreamFailedAsync(ex);
                return false;
            }
            if (!failed)
            {
                try
                {
                    first = await ReadHeadAsync(upstream.Reader, ct);
                }
                catch (IOException) when (reused && canRetry && !retried)
                {
                    failed = true;
                }
                catch (IOException ex)
                {
                    await UpstreamFailedAsync(ex);
                    return false;
                }
            }
            if (failed || first.Ended && reused && canRetry && !retried)
            {
                await upstream.DisposeAsync();
                set(null);
                retried = true;
                // Straight to a fresh connection: another pooled one may be just as stale.
                if (await ConnectOrDenyAsync() is not { } fresh) return false;
                set(fresh);
                continue;
            }
            break;
        }

        // ---- the response ----
        HttpResponseHead response;
        while (true)
        {
            var (head, bytes, ended) = first;
            if (ended)
            {
                policy.OnRequest(new InspectedRequest(request.Method, url, verdict, true, 502, "upstream closed without a response", up, down));
                await WriteErrorAsync(clientTls, 502, null, "upstream closed without a response", ct);
                return false;
            }
            response = Http1Parser.ParseResponse(head, options.Limits, request.Method);
            if (response.Status is >= 100 and < 200 && response.Status != 101)
            {
                await clientTls.WriteAsync(bytes, ct);
                down += bytes.Length;
                first = await ReadHeadAsync(upstream.Reader, ct);
                continue;
            }
            break;
        }
        // A small Content-Length body that has already arrived goes out with its head in one write (one TLS record,
        // one send) instead of two; everything else is relayed as it comes.
        if (TryTakeWholeBody(upstream.Reader, response, first.Bytes) is { } whole)
        {
            await clientTls.WriteAsync(whole, ct);
            down += whole.Length;
        }
        else
        {
            await clientTls.WriteAsync(first.Bytes, ct);
            down += first.Bytes.Length;
            down += await BodyCopier.CopyAsync(upstream.Reader, clientTls, response.Framing, response.ContentLength, null, ct);
        }
        await clientTls.FlushAsync(ct);
        policy.OnRequest(new InspectedRequest(request.Method, url, verdict, true, response.Status, null, up, down));
        var keepAlive = !request.WantsClose && !response.WantsClose && response.Status != 101;
        upstream.Served++;
        if (HttpHeaders.Values(response.Headers, "WWW-Authenticate").Any(IsConnectionBoundAuth)) upstream.Poolable = false;
        upstream.Clean = keepAlive;
        return keepAlive;
    }

    private const int CoalescedBodyLimit = 16 * 1024;

    // The head and its whole body in one array when the body is Content-Length framed, small, and already buffered
    // in the reader (consumed from it); null otherwise, leaving the reader untouched.
    private static byte[]? TryTakeWholeBody(PipeReader reader, HttpResponseHead response, byte[] head)
    {
        if (response.Framing != BodyFraming.ContentLength || response.ContentLength > CoalescedBodyLimit) return null;
        if (!reader.TryRead(out var result)) return null;
        var buffer = result.Buffer;
        if (buffer.Length < response.ContentLength)
        {
            reader.AdvanceTo(buffer.Start);
            return null;
        }
        var body = buffer.Slice(0, response.ContentLength);
        var whole = new byte[head.Length + body.Length];
        head.CopyTo(whole, 0);
        body.CopyTo(whole.AsSpan(head.Length));
        reader.AdvanceTo(body.End);
        return whole;
    }

    // NTLM and Negotiate authenticate the connection, not the request: such a connection must stay with its client.
    private static bool IsConnectionBoundAuth(string value) =>
        value.TrimStart().StartsWith("NTLM", StringComparison.OrdinalIgnoreCase) || value.TrimStart().StartsWith("Negotiate", StringComparison.OrdinalIgnoreCase);

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

    /// <summary>Opens and verifies a new TLS connection to the real destination.</summary>
    private async Task<UpstreamConnection> ConnectUpstreamAsync(string serverName, Func<CancellationToken, ValueTask<Stream>> connect, CancellationToken ct)
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
        catch
        {
            await tls.DisposeAsync();
            throw;
        }
        return new UpstreamConnection(tls, (raw as System.Net.Sockets.NetworkStream)?.Socket);
    }

    private sealed class UpstreamCertificateException(string message) : Exception(message);
}
