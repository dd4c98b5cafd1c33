using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Corral.Certificates;

namespace Corral.Lab;

/// <summary>
/// An HTTPS stand-in for internet hosts, for trying the gateway on one machine (`corral lab standin`): a throwaway
/// CA of its own (the gateway is told to trust it with --upstream-ca, as a real host's certificate chains to a
/// public CA), a certificate for each name, and an answer that says which name was asked, and what.
/// </summary>
public sealed class StandInSite : IAsyncDisposable
{
    private readonly CertificateAuthority _ca;
    private readonly Dictionary<string, X509Certificate2> _leaves;
    private readonly StandInServer _server;

    /// <param name="onRequest">Told of each request the stand-in answers (what reached the far end).</param>
    public StandInSite(IReadOnlyList<string> names, IPEndPoint listen, Action<StandInRequest>? onRequest = null)
    {
        if (names.Count == 0) throw new ArgumentException("a stand-in needs at least one name", nameof(names));
        _ca = CertificateAuthority.Create(new CaOptions { CommonName = "Corral Stand-in Public CA", Validity = TimeSpan.FromDays(2) });
        var minter = new LeafMinter(_ca);
        _leaves = names.Distinct(StringComparer.OrdinalIgnoreCase).ToDictionary(n => n, minter.Mint, StringComparer.OrdinalIgnoreCase);
        try
        {
            _server = StandInServer.ForNames(listen, _leaves, request =>
            {
                onRequest?.Invoke(request);
                return Answer(request);
            });
        }
        catch
        {
            DisposeCertificates();
            throw;
        }
    }

    public IPEndPoint LocalEndPoint => _server.LocalEndPoint;

    /// <summary>The stand-in CA's certificate (PEM): what a client or the gateway trusts to reach the stand-in.</summary>
    public string CaCertificatePem => _ca.Certificate.ExportCertificatePem() + "\n";

    public IReadOnlyList<StandInRequest> Requests => _server.Requests;

    private static StandInResponse Answer(StandInRequest request) =>
        new(200, "application/json", JsonSerializer.Serialize(new
        {
            standIn = request.Host,
            method = request.Method,
            path = request.Path,
            bodyBytes = System.Text.Encoding.UTF8.GetByteCount(request.Body),
            authorization = request.Authorization is { } a ? Masked(a) : null,
        }, OmitNulls) + "\n");

    private static readonly JsonSerializerOptions OmitNulls = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    /// <summary>
    /// An Authorization value as the far end received it, masked as a key list shows keys (its scheme, then the
    /// token's first four and last two characters): enough to see whether the placeholder or the real token arrived,
    /// without the stand-in echoing a credential to the agent.
    /// </summary>
    internal static string Masked(string authorization)
    {
        var space = authorization.IndexOf(' ', StringComparison.Ordinal);
        var (scheme, token) = space < 0 ? ("", authorization) : (authorization[..(space + 1)], authorization[(space + 1)..]);
        return scheme + (token.Length <= 8 ? new string('*', token.Length) : $"{token[..4]}...{token[^2..]}");
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        DisposeCertificates();
    }

    private void DisposeCertificates()
    {
        foreach (var leaf in _leaves.Values) leaf.Dispose();
        _ca.Dispose();
    }
}
