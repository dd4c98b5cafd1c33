using System.Net;
using Corral.Policy;
using Corral.Policy.Compilation;
using Corral.Policy.Model;
using Corral.Policy.Templates;

namespace Corral.Benchmarks;

/// <summary>
/// The reference pack exactly as <c>corral init --template azure-foundry</c> writes it, with a small threat feed,
/// compiled through the same path as <c>corral check</c>; and the representative flows the benchmarks decide.
/// </summary>
internal sealed class FoundryFixture
{
    public CompiledPolicy Policy { get; }
    public Flow PermitPlatformName { get; }
    public Flow PermitToolCall { get; }
    public Flow DenyUnknownHost { get; }
    public Flow DenyEastWest { get; }
    public Flow DenyThreatIp { get; }
    public Flow MultiAddress { get; }
    public Flow[] Mix { get; }

    public FoundryFixture()
    {
        var dir = Path.Combine(Path.GetTempPath(), "corral-bench-foundry-" + Environment.ProcessId);
        Directory.CreateDirectory(Path.Combine(dir, "feeds"));
        File.WriteAllText(Path.Combine(dir, "feeds", "threat-ips.txt"),
            AzureFoundryTemplate.FeedFileText("addresses") + "203.0.113.7\n198.51.100.0/24 ; SBL000001\n");
        File.WriteAllText(Path.Combine(dir, "feeds", "threat-domains.txt"),
            AzureFoundryTemplate.FeedFileText("domains") + "evil-c2.example\n");
        var text = AzureFoundryTemplate.Render(new AzureFoundryOptions());
        var result = PolicyChecker.CheckText(Path.Combine(dir, "corral.yaml"), text, dir);
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        Policy = result.Compiled ?? throw new InvalidOperationException(
            "the Foundry pack did not compile: " + string.Join("; ", result.Diagnostics.Select(d => d.ToString())));

        var agent = IPAddress.Parse("10.20.1.5");
        var publicIp = IPAddress.Parse("20.42.65.1");
        PermitPlatformName = new Flow { Source = agent, Host = "mcr.microsoft.com", Destinations = [publicIp], Port = 443, IsTls = true };
        PermitToolCall = new Flow { Source = agent, Host = "api.github.com", Destinations = [IPAddress.Parse("140.82.112.5")], Port = 443, IsTls = true };
        DenyUnknownHost = new Flow { Source = agent, Host = "evil.example", Destinations = [IPAddress.Parse("93.184.216.34")], Port = 443, IsTls = true };
        DenyEastWest = new Flow { Source = agent, Destinations = [IPAddress.Parse("10.30.4.20")], Port = 5432 };
        DenyThreatIp = new Flow { Source = agent, Destinations = [IPAddress.Parse("203.0.113.7")], Port = 443 };
        // A name that resolved to a spoke address (guarded), a threat-listed one, then a good one: the third is chosen.
        MultiAddress = new Flow
        {
            Source = agent, Host = "api.github.com", Port = 443, IsTls = true,
            Destinations = [IPAddress.Parse("10.30.0.9"), IPAddress.Parse("198.51.100.20"), IPAddress.Parse("140.82.112.6")],
        };
        Mix = [PermitPlatformName, PermitToolCall, DenyUnknownHost, DenyEastWest, DenyThreatIp, MultiAddress];

        // The benchmarks must measure the decisions their names say: check each one once.
        Expect(PermitPlatformName, "allow-aca-fqdn", RuleAction.Permit);
        Expect(PermitToolCall, "allow-tool-calls", RuleAction.Permit);
        Expect(DenyUnknownHost, "default-deny-internet", RuleAction.Deny);
        Expect(DenyEastWest, "deny-east-west", RuleAction.Deny);
        Expect(DenyThreatIp, "deny-threat-intel", RuleAction.Deny);
        Expect(MultiAddress, "allow-tool-calls", RuleAction.Permit, addressIndex: 2);
    }

    private void Expect(in Flow flow, string rule, RuleAction action, int? addressIndex = null) =>
        Check.Verdict(Policy.Decide(flow), flow, rule, action, addressIndex);
}

internal static class Check
{
    public static void Verdict(Verdict verdict, in Flow flow, string rule, RuleAction action, int? addressIndex = null)
    {
        if (verdict.Rule?.Name != rule || verdict.Action != action || (addressIndex is { } i && verdict.AddressIndex != i))
            throw new InvalidOperationException(
                $"benchmark flow {flow.Host ?? "(no host)"} -> {string.Join(",", flow.Destinations)} decided {verdict.Action} by " +
                $"'{verdict.Rule?.Name}' at address {verdict.AddressIndex}; expected {action} by '{rule}'");
    }
}
