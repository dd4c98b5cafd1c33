using System.Net;
using System.Text;
using Corral.Policy;
using Corral.Policy.Compilation;

namespace Corral.Benchmarks;

/// <summary>
/// <c>verdict-dump FILE</c>: decides many flows (the benchmark flows, variants of them, and awkward names) against the
/// Foundry pack, the big policy and a small policy with long and odd labels, and writes one line per verdict. Run it
/// before and after a change to the compiler and diff the files: an optimization must not change a single verdict.
/// </summary>
internal static class VerdictDump
{
    public static int Run(string path)
    {
        var output = new StringBuilder();
        var foundry = new FoundryFixture();
        var big = new BigPolicyFixture(4096);
        var samples = BigPolicy.Ensure();

        var dir = Path.Combine(Path.GetTempPath(), "corral-bench-odd-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "bad.txt"), "evil.example\nverylonglabelnamethatexceedssixteen.example.org\n*.c2.example\n203.0.113.0/24\n");
        var odd = PolicyChecker.CheckText(Path.Combine(dir, "p.yaml"), """
            version: 1
            defaultAction: deny
            smartGroups:
              agents: { cidrs: [10.0.0.0/8] }
            webGroups:
              long: { domains: ["averyveryverylonglabelname.example.com", "*.sixteencharsxyz.example.com", "seventeencharsxyz.example.com", "xn--bcher-kva.example", "*.a-b_c.example"] }
              urls: { urls: ["api.example.net/v1/*"] }
            threatGroups:
              bad: { feeds: [bad.txt] }
            rules:
              - { name: deny-bad, priority: 1, destination: [bad], action: deny }
              - { name: allow-long, priority: 2, source: [agents], webGroups: [long], action: permit }
              - { name: allow-urls, priority: 3, source: [agents], webGroups: [urls], action: permit, decrypt: allowed }
            """, dir).Compiled ?? throw new InvalidOperationException("odd policy did not compile");
        Directory.Delete(dir, true);

        var names = new List<string>
        {
            "", ".", "com", "example", "example.com", "a..example.com", ".example.com", "example.com.", "EXAMPLE.COM",
            "averyveryverylonglabelname.example.com", "x.averyveryverylonglabelname.example.com", "sixteencharsxyz.example.com",
            "a.sixteencharsxyz.example.com", "seventeencharsxyz.example.com", "a.seventeencharsxyz.example.com",
            "seventeencharsxyy.example.com", "xn--bcher-kva.example", "bücher.example", "x.a-b_c.example", "a-b_c.example",
            "api.example.net", "evil.example", "a.b.evil.example", "verylonglabelnamethatexceedssixteen.example.org",
            "x.verylonglabelnamethatexceedssixteen.example.org", "c2.example", "x.c2.example", "mcr.microsoft.com",
            "x.data.mcr.microsoft.com", "data.mcr.microsoft.com", "login.microsoftonline.com", "a.login.microsoftonline.com",
            "api.github.com", "x.api.github.com", "github.com", "packages.aks.azure.com", "ab\u00e9.example.com",
        };
        var rnd = new Random(99);
        for (var i = 0; i < 3000; i++)
        {
            var e = samples.ExactNames[rnd.Next(samples.ExactNames.Length)];
            var w = samples.WildcardSuffixes[rnd.Next(samples.WildcardSuffixes.Length)];
            names.Add(e); names.Add("q." + e); names.Add(e[(e.IndexOf('.') + 1)..]);
            names.Add(w); names.Add("q." + w); names.Add("q.r." + w); names.Add(w[(w.IndexOf('.') + 1)..]);
        }
        var addresses = new List<IPAddress> { IPAddress.Parse("93.184.216.34"), IPAddress.Parse("10.30.1.1"), IPAddress.Parse("203.0.113.7"),
            IPAddress.Parse("198.51.100.9"), IPAddress.Parse("168.63.129.16"), IPAddress.Parse("::ffff:203.0.113.7"), IPAddress.Parse("2001:db8::1"),
            IPAddress.Parse("0.0.0.0"), IPAddress.Parse("255.255.255.255"), IPAddress.Parse("10.20.1.5") };
        for (var i = 0; i < 3000; i++) addresses.Add(BigPolicy.ToAddress((uint)rnd.NextInt64(1L << 32)));
        foreach (var h in samples.ThreatHosts.Take(2000)) { addresses.Add(BigPolicy.ToAddress(h)); addresses.Add(BigPolicy.ToAddress(h + 1)); addresses.Add(BigPolicy.ToAddress(h - 1)); }

        var sources = new[] { IPAddress.Parse("10.20.1.5"), IPAddress.Parse("10.20.3.4"), IPAddress.Parse("192.168.1.1") };
        foreach (var (policyName, policy) in new[] { ("foundry", foundry.Policy), ("big", big.Policy), ("odd", odd) })
        {
            var flows = new List<Flow>();
            flows.AddRange(foundry.Mix); flows.AddRange(big.Mixed);
            for (var i = 0; i < names.Count; i++)
                flows.Add(new Flow { Source = sources[i % 3], Host = names[i], Destinations = [addresses[i % addresses.Count]], Port = i % 5 == 0 ? 80 : 443, IsTls = i % 7 != 0, Path = i % 11 == 0 ? "/v1/x" : null });
            for (var i = 0; i < addresses.Count; i++)
                flows.Add(new Flow { Source = sources[i % 3], Destinations = [addresses[i], addresses[(i * 7) % addresses.Count]], Port = 443 });
            flows.Add(new Flow { Source = sources[0], Host = "mcr.microsoft.com", Port = 443 });
            foreach (var f in flows)
            {
                var v = policy.Decide(f);
                // Decide and explain are the same evaluator with and without a trace; they must agree.
                if (policy.Explain(f).Verdict != v)
                    throw new InvalidOperationException($"{policyName}: Decide and the general path disagree on {f.Host ?? "-"} -> {string.Join(",", f.Destinations)}");
                output.Append(policyName).Append(' ').Append(f.Source).Append(' ').Append(f.Host ?? "-").Append(' ')
                    .Append(string.Join(",", f.Destinations)).Append(' ').Append(f.Port).Append(' ').Append(f.Path ?? "-").Append(" => ")
                    .Append(v.Action).Append(' ').Append(v.Rule?.Name ?? "-").Append(' ').Append(v.Enforced).Append(' ').Append(v.Decrypt)
                    .Append(' ').Append(v.Reason).Append(' ').Append(v.AddressIndex).Append(' ').Append(v.UrlFiltersPending)
                    .Append(' ').Append(v.GuardSkippedRule?.Name ?? "-").Append('\n');
            }
        }
        // The loaded feed itself, entry by entry (hashed): a parser change must read every line the same way.
        var prefixes = big.Policy.Document.ThreatGroups.SelectMany(t => t.AllPrefixes).ToList();
        var fnv = 14695981039346656037UL;
        foreach (var p in prefixes) foreach (var c in p.ToString()) fnv = (fnv ^ c) * 1099511628211UL;
        output.Append("big feed: ").Append(prefixes.Count).Append(" prefixes, fnv ").Append(fnv.ToString("x16")).Append('\n');
        File.WriteAllText(path, output.ToString());
        Console.WriteLine($"wrote {output.Length:N0} characters to {path}");
        return 0;
    }
}
