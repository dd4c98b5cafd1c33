using System.CommandLine;
using System.Net;
using Corral.Gateway;
using Corral.Gateway.Hosting;
using Corral.Gateway.Reload;
using Corral.Policy;
using Corral.Policy.Addressing;
using Corral.Policy.Compilation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Corral.Cli.Commands;

/// <summary><c>corral gateway</c>: run the egress proxy (explicit and/or transparent) that enforces the policy until SIGTERM.</summary>
internal static class GatewayCommand
{
    public static Command Create(TextWriter stderr)
    {
        var policy = CommonOptions.PolicyArgument();
        var listen = new Option<string?>("--listen") { Description = "Explicit proxy listener ADDR:PORT (HTTP_PROXY/HTTPS_PROXY); default 127.0.0.1:3128 when --transparent is not given" };
        var transparent = new Option<string?>("--transparent") { Description = "Transparent listener ADDR:PORT for connections redirected by iptables/nftables REDIRECT" };
        var flowLog = new Option<string?>("--flow-log") { Description = "Write flow records (JSON lines) to FILE, rotated by size" };
        var flowLogMax = new Option<long>("--flow-log-max-bytes") { Description = "Rotate the flow log past this size", DefaultValueFactory = _ => 64L * 1024 * 1024 };
        var flowLogFailClosed = new Option<bool>("--flow-log-fail-closed") { Description = "While the flow log cannot record (full disk, ...), refuse new connections (503 with a JSON refusal body) instead of serving flows whose records may be lost" };
        var flowLogKey = new Option<string?>("--flow-log-signing-key") { Description = "Sign flow-log checkpoints with this Ed25519 key (PEM, mode 600; 'corral log keygen' makes one); 'corral log verify' checks them" };
        var flowLogFormat = new Option<string>("--flow-log-format") { Description = "Write the flow log as Corral's records (corral) or as OCSF 1.5 events (ocsf: Network, HTTP and DNS Activity; docs/flow-log.md)", DefaultValueFactory = _ => "corral" };
        flowLogFormat.AcceptOnlyFromAmong("corral", "ocsf");
        var checkpointEvery = new Option<int>("--flow-log-checkpoint-every") { Description = "With --flow-log-signing-key: a signed checkpoint after this many records (and at start, rotation and shutdown)", DefaultValueFactory = _ => Gateway.FlowLog.FlowLogWriter.DefaultCheckpointEvery };
        var reusePort = new Option<bool>("--reuse-port") { Description = "Share the listeners' ports with other processes (SO_REUSEPORT); without it a busy address is an error" };
        var hosts = new Option<string?>("--hosts") { Description = "Static name -> address map (/etc/hosts format), consulted before DNS" };
        var standIns = CommonOptions.PublicStandInOption();
        var maxConnections = new Option<int?>("--max-connections") { Description = "Connections served at once. Default: as many as the open-file limit carries (ulimit -n); a larger value is lowered to that, with a warning" };
        var maxHead = new Option<int>("--max-head-bytes") { Description = "Largest HTTP request head", DefaultValueFactory = _ => 32 * 1024 };
        var helloTimeout = new Option<double>("--client-hello-timeout") { Description = "Seconds to wait for a complete TLS ClientHello (or a tunnel's first byte)", DefaultValueFactory = _ => 5 };
        var headTimeout = new Option<double>("--head-timeout") { Description = "Seconds a client may take to send a request head", DefaultValueFactory = _ => 10 };
        var connectTimeout = new Option<double>("--connect-timeout") { Description = "Seconds to wait when dialling an upstream", DefaultValueFactory = _ => 10 };
        var idleTimeout = new Option<double>("--idle-timeout") { Description = "Seconds without traffic before a connection is closed", DefaultValueFactory = _ => 300 };
        var drainTimeout = new Option<double>("--drain-timeout") { Description = "Seconds SIGTERM waits for open connections before cutting them", DefaultValueFactory = _ => 30 };
        var caCert = new Option<string?>("--ca-cert") { Description = "Interception CA certificate (PEM), from 'corral ca init' or your own CA; enables decryption for 'decrypt: allowed' rules" };
        var caKey = new Option<string?>("--ca-key") { Description = "Interception CA private key (PEM, mode 600)" };
        var upstreamCa = new Option<string?>("--upstream-ca") { Description = "Trust upstream certificates that chain to these PEM roots instead of the system store (private CAs, tests)" };
        var admin = new Option<string?>("--admin") { Description = "Serve the admin API, /metrics and the dashboard on ADDR:PORT (e.g. 127.0.0.1:9901); off when not given. A non-loopback address needs a token" };
        var adminTokenFile = new Option<string?>("--admin-token-file") { Description = $"Bearer token for the admin API (first line; mode 600): changes always need it, reads too when --admin is not loopback. Default: ${Corral.Admin.AdminToken.EnvironmentVariable}; without either, changes are refused" };
        var adminHosts = new Option<string[]>("--admin-host") { Description = "A name the admin server may be reached by (the Host header); its own address is always accepted. Other names are refused (DNS rebinding). Repeatable" };
        var dns = new Option<string?>("--dns") { Description = "Serve DNS for the agent subnet on ADDR:PORT (UDP and TCP): only names the policy could permit are resolved; off when not given" };
        var dnsUpstream = new Option<string?>("--dns-upstream") { Description = "The resolver --dns asks (ADDR:PORT). Default: the first nameserver of /etc/resolv.conf, port 53" };
        var dnsRate = new Option<double>("--dns-rate") { Description = "DNS queries a second each source may send (bursts of twice that); more are answered REFUSED", DefaultValueFactory = _ => 200 };
        var noWatch = new Option<bool>("--no-watch") { Description = "Do not reload the policy when it or a file it reads changes" };
        var command = new Command("gateway", "Run the egress gateway that enforces the policy")
        {
            policy, listen, transparent, flowLog, flowLogMax, flowLogFailClosed, flowLogKey, flowLogFormat, checkpointEvery, reusePort, hosts, standIns, maxConnections, maxHead, helloTimeout, headTimeout, connectTimeout, idleTimeout, drainTimeout,
            caCert, caKey, upstreamCa, admin, adminTokenFile, adminHosts, dns, dnsUpstream, dnsRate, noWatch,
        };
        command.SetAction(parse =>
        {
            string? Usage(string message)
            {
                stderr.WriteLine($"corral gateway: {message}");
                return message;
            }
            if (!CommonOptions.TryParseStandIns(parse.GetValue(standIns), out var prefixes, out var standInError)) { Usage(standInError!); return CorralCommand.UsageError; }
            IPEndPoint? listenAt = null, transparentAt = null;
            var listenText = parse.GetValue(listen);
            var transparentText = parse.GetValue(transparent);
            if (listenText is null && transparentText is null) listenText = "127.0.0.1:3128";
            if (listenText is not null && !IPEndPoint.TryParse(listenText, out listenAt)) { Usage($"--listen '{listenText}' is not ADDR:PORT"); return CorralCommand.UsageError; }
            if (transparentText is not null && !IPEndPoint.TryParse(transparentText, out transparentAt)) { Usage($"--transparent '{transparentText}' is not ADDR:PORT"); return CorralCommand.UsageError; }
            foreach (var (name, value) in new[] { ("--client-hello-timeout", parse.GetValue(helloTimeout)), ("--head-timeout", parse.GetValue(headTimeout)),
                         ("--connect-timeout", parse.GetValue(connectTimeout)), ("--idle-timeout", parse.GetValue(idleTimeout)), ("--drain-timeout", parse.GetValue(drainTimeout)) })
                if (value is <= 0 or > 86_400) { Usage($"{name} must be between 0 and 86400 seconds"); return CorralCommand.UsageError; }
            if (parse.GetValue(maxConnections) is < 1 || parse.GetValue(maxHead) < 1024) { Usage("--max-connections must be >= 1 and --max-head-bytes >= 1024"); return CorralCommand.UsageError; }

            var rate = parse.GetValue(dnsRate);
            if (rate is <= 0 or > 1_000_000) { Usage("--dns-rate must be between 0 and 1000000 queries a second"); return CorralCommand.UsageError; }
            Corral.Gateway.NameService.DnsOptions? dnsOptions = null;
            if (parse.GetValue(dns) is { } dnsText)
            {
                if (!IPEndPoint.TryParse(dnsText, out var dnsAt)) { Usage($"--dns '{dnsText}' is not ADDR:PORT"); return CorralCommand.UsageError; }
                IPEndPoint? upstreamAt;
                if (parse.GetValue(dnsUpstream) is { } upstreamText)
                {
                    if (!IPEndPoint.TryParse(upstreamText, out upstreamAt) || upstreamAt.Port == 0) { Usage($"--dns-upstream '{upstreamText}' is not ADDR:PORT"); return CorralCommand.UsageError; }
                }
                else
                {
                    try { upstreamAt = Corral.Gateway.NameService.DnsOptions.FirstNameServer("/etc/resolv.conf"); }
                    catch (IOException e) { upstreamAt = null; stderr.WriteLine($"corral gateway: /etc/resolv.conf: {e.Message}"); }
                    if (upstreamAt is null) { Usage("--dns needs --dns-upstream: /etc/resolv.conf names no nameserver"); return CorralCommand.UsageError; }
                }
                dnsOptions = new Corral.Gateway.NameService.DnsOptions { Listen = dnsAt, Upstream = upstreamAt, QueriesPerSecondPerSource = rate, Burst = 2 * rate };
            }
            else if (parse.GetValue(dnsUpstream) is not null) { Usage("--dns-upstream goes with --dns"); return CorralCommand.UsageError; }

            IPEndPoint? adminAt = null;
            if (parse.GetValue(admin) is { } adminText && !IPEndPoint.TryParse(adminText, out adminAt)) { Usage($"--admin '{adminText}' is not ADDR:PORT"); return CorralCommand.UsageError; }
            Corral.Admin.AdminToken? token;
            try
            {
                token = parse.GetValue(adminTokenFile) is { } tokenPath ? Corral.Admin.AdminToken.FromFile(tokenPath) : Corral.Admin.AdminToken.FromEnvironment();
            }
            catch (Exception e) when (e is Corral.Admin.AdminTokenException or IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"corral gateway: {e.Message}");
                return CorralCommand.InputError;
            }
            if (adminAt is not null && !IPAddress.IsLoopback(adminAt.Address) && token is null)
            {
                Usage($"--admin {adminAt} is not loopback: give --admin-token-file (or ${Corral.Admin.AdminToken.EnvironmentVariable}) so the API is never open on a network");
                return CorralCommand.UsageError;
            }

            if (parse.GetValue(flowLogFailClosed) && parse.GetValue(flowLog) is null) { Usage("--flow-log-fail-closed needs --flow-log"); return CorralCommand.UsageError; }
            if (parse.GetValue(flowLogKey) is not null && parse.GetValue(flowLog) is null) { Usage("--flow-log-signing-key needs --flow-log"); return CorralCommand.UsageError; }
            if (parse.GetValue(flowLogFormat) == "ocsf" && parse.GetValue(flowLog) is null) { Usage("--flow-log-format ocsf needs --flow-log"); return CorralCommand.UsageError; }
            if (parse.GetValue(checkpointEvery) < 1) { Usage("--flow-log-checkpoint-every must be at least 1"); return CorralCommand.UsageError; }
            Audit.CheckpointSigner? signer = null;
            try
            {
                if (parse.GetValue(flowLogKey) is { } keyPath) signer = Audit.CheckpointSigner.Load(keyPath);
            }
            catch (Audit.SigningKeyException e)
            {
                stderr.WriteLine($"corral gateway: {e.Message}");
                return CorralCommand.InputError;
            }
            var allowedHosts = new List<string>();
            foreach (var name in parse.GetValue(adminHosts) ?? [])
            {
                if (Uri.CheckHostName(name) != UriHostNameType.Dns) { Usage($"--admin-host '{name}' is not a host name"); return CorralCommand.UsageError; }
                allowedHosts.Add(name);
            }

            var policyPath = parse.GetValue(policy)!;
            var compileOptions = new CompileOptions { PublicStandIns = prefixes };
            var result = PolicyChecker.CheckFile(policyPath, options: compileOptions);
            if (!result.Succeeded)
            {
                CommonOptions.WriteDiagnostics(stderr, result.Diagnostics.Where(d => d.IsError));
                stderr.WriteLine($"{policyPath}: {result.ErrorCount} error(s); the gateway does not start with a policy that fails to load");
                return CorralCommand.InputError;
            }
            if ((parse.GetValue(caCert) is null) != (parse.GetValue(caKey) is null)) { Usage("--ca-cert and --ca-key go together"); return CorralCommand.UsageError; }
            GatewayInterception? interception = null;
            try
            {
                if (parse.GetValue(caCert) is { } certPath)
                {
                    System.Security.Cryptography.X509Certificates.X509Certificate2Collection? trust = null;
                    if (parse.GetValue(upstreamCa) is { } bundle)
                    {
                        trust = [];
                        trust.ImportFromPemFile(bundle);
                        if (trust.Count == 0) throw new Certificates.CaException($"--upstream-ca {bundle} holds no certificate");
                    }
                    interception = new GatewayInterception(Certificates.CertificateAuthority.Load(certPath, parse.GetValue(caKey)!), trust);
                }
            }
            catch (Exception e) when (e is Certificates.CaException or IOException or System.Security.Cryptography.CryptographicException)
            {
                stderr.WriteLine($"corral gateway: {e.Message}");
                return CorralCommand.InputError;
            }
            var options = new GatewayOptions
            {
                Interception = interception,
                Dns = dnsOptions,
                Listen = listenAt, Transparent = transparentAt, FlowLogPath = parse.GetValue(flowLog), FlowLogMaxBytes = parse.GetValue(flowLogMax), HostsFile = parse.GetValue(hosts),
                FlowLogFailClosed = parse.GetValue(flowLogFailClosed), FlowLogSigner = signer, FlowLogCheckpointEvery = parse.GetValue(checkpointEvery),
                FlowLogFormat = parse.GetValue(flowLogFormat) == "ocsf" ? Gateway.FlowLog.FlowLogFormat.Ocsf : Gateway.FlowLog.FlowLogFormat.Corral, ReusePort = parse.GetValue(reusePort),
                Limits = new GatewayLimits
                {
                    MaxConnections = parse.GetValue(maxConnections), MaxHeadBytes = parse.GetValue(maxHead),
                    ClientHelloTimeout = TimeSpan.FromSeconds(parse.GetValue(helloTimeout)), HeadTimeout = TimeSpan.FromSeconds(parse.GetValue(headTimeout)),
                    ConnectTimeout = TimeSpan.FromSeconds(parse.GetValue(connectTimeout)), IdleTimeout = TimeSpan.FromSeconds(parse.GetValue(idleTimeout)),
                    DrainTimeout = TimeSpan.FromSeconds(parse.GetValue(drainTimeout)),
                },
            };
            var live = new LiveSettings(policyPath, compileOptions, !parse.GetValue(noWatch), adminAt, token, allowedHosts);
            return Run(result.Compiled!, options, prefixes, live, stderr);
        });
        return command;
    }

    /// <summary>How the policy is kept current while the gateway runs.</summary>
    private sealed record LiveSettings(string PolicyPath, CompileOptions CompileOptions, bool Watch, IPEndPoint? Admin, Corral.Admin.AdminToken? Token, IReadOnlyList<string> AdminHosts);

    /// <summary>The runtime's switch for running socket completions on the socket event threads (read once, at first socket use).</summary>
    internal const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    private static int Run(CompiledPolicy policy, GatewayOptions options, IReadOnlyList<IpPrefix> standIns, LiveSettings live, TextWriter stderr)
    {
        // Spliced tunnels move a few bytes per socket event with non-blocking calls: running them on the event thread
        // saves a thread-pool hop per event (measured: about a third of the gateway's CPU and a millisecond per new
        // spliced connection, docs/performance.md). Streams the gateway parses or decrypts go back to the pool
        // (ResumingNetworkStream). Set before the first socket exists; an operator's own value (e.g. 0) is kept.
        if (Environment.GetEnvironmentVariable(InlineCompletions) is null) Environment.SetEnvironmentVariable(InlineCompletions, "1");
        var traces = TraceExport.FromEnvironment(Environment.GetEnvironmentVariable, out var traceError);
        if (traceError is not null) { stderr.WriteLine($"corral gateway: {traceError}"); return CorralCommand.UsageError; }
        using var tracer = traces?.Start(); // disposed after the host: the last spans are flushed
        var host = BuildHost(policy, options, live);
        try
        {
            var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("corral");
            var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
            try
            {
                // The host's console lifetime turns SIGTERM, SIGINT and SIGQUIT into a graceful stop from here on,
                // before the first listener: a signal that arrives while the gateway starts is a stop, not a kill.
                host.StartAsync().GetAwaiter().GetResult();
            }
            catch (Exception e) when (StartFailure(e) is { } failure)
            {
                stderr.WriteLine($"corral gateway: {failure.Message}");
                return CorralCommand.InputError;
            }
            catch (OperationCanceledException) when (lifetime.ApplicationStopping.IsCancellationRequested)
            {
                host.StopAsync().GetAwaiter().GetResult(); // stopped while starting: what did start drains and stops
                return CorralCommand.Ok;
            }
            if (standIns.Count > 0) logger.PublicStandIns(standIns);
            logger.PolicyInForce(policy.Document.Name, policy.Hash);
            // The transparent listener sees addresses only: a rule whose sources are all agents never matches there.
            var agentOnly = policy.Rules.Where(r => r.Rule.Source.Count > 0 && r.Rule.Source.All(s => policy.Agents.Find(s.Value) is not null)).Select(r => r.Name).ToList();
            if (options.Transparent is not null && agentOnly.Count > 0) logger.AgentRulesNotTransparent(agentOnly);
            if (traces is not null) logger.TracesExported(traces.Protocol, traces.Endpoint);
            host.WaitForShutdownAsync().GetAwaiter().GetResult();
            return CorralCommand.Ok;
        }
        finally
        {
            ((IAsyncDisposable)host).DisposeAsync().AsTask().GetAwaiter().GetResult(); // the gateway and the reloader, and the log's queue flushed
        }
    }

    /// <summary>
    /// The gateway, the policy reloader and (with <c>--admin</c>) the admin server as hosted services. They start in that
    /// order; on stop the gateway drains first while the admin server still answers, then the admin server, the
    /// reloader and the gateway stop in the reverse order.
    /// </summary>
    private static IHost BuildHost(CompiledPolicy policy, GatewayOptions options, LiveSettings live)
    {
        // No configuration files, environment-variable settings or file watchers: the command line is the configuration.
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = "corral" });
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
            .AddConsole(o =>
            {
                o.LogToStandardErrorThreshold = LogLevel.Trace;
                // A stalled stderr must never block the accept loop or a socket event thread, which log denials inline.
                o.QueueFullMode = Microsoft.Extensions.Logging.Console.ConsoleLoggerQueueFullMode.DropWrite;
            })
            // The host's own lines (a failed start, which the command reports itself) stay out of the gateway's log.
            .AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        // The gateway's drain has its own timeout; the host must not give up on it first.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.Limits.DrainTimeout + TimeSpan.FromSeconds(30));
        builder.Services.AddSingleton(sp => new GatewayServer(policy, options, sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton(sp => new PolicyReloader(sp.GetRequiredService<GatewayServer>(), live.PolicyPath, live.CompileOptions,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("Corral.Reload")));
        builder.Services.AddHostedService(sp => new GatewayService(sp.GetRequiredService<GatewayServer>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger("corral")));
        builder.Services.AddHostedService(sp => new PolicyReloadService(sp.GetRequiredService<PolicyReloader>(), live.Watch));
        if (live.Admin is { } adminAt)
            builder.Services.AddHostedService(sp => new Corral.Admin.AdminService(sp.GetRequiredService<GatewayServer>(), sp.GetRequiredService<PolicyReloader>(),
                new Corral.Admin.AdminOptions { Listen = adminAt, Token = live.Token, AllowedHosts = live.AdminHosts }, sp.GetRequiredService<ILoggerFactory>()));
        return builder.Build();
    }

    /// <summary>The start-up failure to report as bad input (a busy or unusable address, an unreadable file), or null for any other exception.</summary>
    private static Exception? StartFailure(Exception e) => e switch
    {
        AggregateException { InnerExceptions: [var single] } => StartFailure(single),
        FormatException or IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException or ArgumentException => e,
        _ => null,
    };
}
