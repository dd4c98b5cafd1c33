using System.Net;
using Corral.ProxyBench;

// The client and upstream of bench/run.sh: every target (Corral, Squid, direct) is measured by this same program.
//   serve     --write-ca FILE --ready FILE [--tls-port N] [--http-port N]   the loopback upstream (HTTPS + plain HTTP)
//   MEASURE   (--proxy ADDR:PORT | --direct) --tls-port N --http-port N [options]   one measurement, one JSON line
// MEASURE is one of: throughput (--mib, --streams), connect (--host, --seconds, --concurrency, --warmup),
//   agent (as connect, but each connection's one GET says Connection: close and is read to the server's close),
//   http (--seconds, --concurrency), keepalive (--host, ...), idle (--count, --pid),
//   denied (--host: a name outside the allowlist must be refused). The rate measures report p50/p99 per operation.
// --pid PID adds the proxy's CPU time and context switches (with its child processes) per operation to the result.
var a = new BenchArgs(args);
var verb = args.Length > 0 ? args[0] : "";
try
{
    if (verb == "serve") return await Upstream.RunAsync(a);
    if (a.Has("--proxy") == a.Has("--direct")) throw new ArgumentException("give exactly one of --proxy ADDR:PORT and --direct");
    var proxyText = a.Text("--proxy", "");
    IPEndPoint? proxy = null;
    if (proxyText != "" && !IPEndPoint.TryParse(proxyText, out proxy)) throw new ArgumentException($"--proxy '{proxyText}' is not ADDR:PORT");
    var target = new Target(proxy, a.Int("--tls-port", 0), a.Int("--http-port", 0));
    if (target.TlsPort == 0 || target.HttpPort == 0) throw new ArgumentException("--tls-port and --http-port are required (from the upstream's ready file)");
    var m = new Measures(target, a);
    var result = verb switch
    {
        "throughput" => await m.ThroughputAsync(),
        "connect" => await m.ConnectRateAsync(agentStyle: false),
        "agent" => await m.ConnectRateAsync(agentStyle: true),
        "http" => await m.PlainKeepAliveAsync(),
        "keepalive" => await m.TlsKeepAliveAsync(),
        "idle" => await m.IdleTunnelsAsync(),
        "denied" => await m.DeniedAsync(),
        _ => throw new ArgumentException($"unknown measurement '{verb}'; one of: serve, throughput, connect, agent, http, keepalive, idle, denied"),
    };
    result["measure"] = verb;
    Console.WriteLine(result.ToJsonString());
    return 0;
}
catch (ArgumentException e)
{
    Console.Error.WriteLine("proxybench: " + e.Message);
    return 2;
}
catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or System.Security.Authentication.AuthenticationException)
{
    Console.Error.WriteLine($"proxybench {verb}: {e.GetType().Name}: {e.Message}");
    return 1;
}
